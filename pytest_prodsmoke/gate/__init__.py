"""The fail-closed gate: the per-check facts record (``facts``), what a run observed
(``events``: a check's reports, collection problems, ``RunFacts``), the rules that turn it into
a verdict (``rules``, pure, loaded when the gate decides), the recorder that gathers it on the
gate's owner (``recorder``) and the attribution of teardown errors to shared fixtures
(``teardown``)."""
