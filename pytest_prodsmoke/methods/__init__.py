"""The testing-in-production methods beyond a plain smoke check: readiness waiting, parallel
runs (released vs candidate), canary runs, A/B variants, several targets. A new method gets its
own module here (and its plugin object or module registered in plugin.py)."""
