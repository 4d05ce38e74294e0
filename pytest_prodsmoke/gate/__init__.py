"""The fail-closed gate: the per-check facts record (``facts``), the rules that turn the facts
of a run into a verdict (``rules``, pure), the recorder that gathers them on the gate's owner
(``recorder``) and the attribution of teardown errors to shared fixtures (``teardown``)."""
