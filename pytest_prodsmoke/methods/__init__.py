"""The testing-in-production methods beyond a plain smoke check: readiness waiting, parallel
runs (released vs candidate), canary runs. A new method gets its own module here."""
