"""Names of the per-check properties that travel on ``report.user_properties`` from the process
that ran a check to the gate (and into JUnit XML). A module of its own so that xdist workers,
which only write them, need not import the gate."""

PROPERTY_PREFIX = "prodsmoke."
PROP_CRITICAL = "prodsmoke.critical"
PROP_SYNTHETIC = "prodsmoke.synthetic"
PROP_VERSIONS = "prodsmoke.versions"
PROP_LEFTOVERS = "prodsmoke.leftovers"
PROP_TRACE_ID = "prodsmoke.trace_id"
PROP_TARGET = "prodsmoke.target"  # the target label, when there are several --prod-url
PROP_TRACE_URL = "prodsmoke.trace_url"  # on failed checks, with --trace-url
PROP_REQUESTS = "prodsmoke.requests"  # JSON: count, p50_ms, p95_ms, max_ms
PROP_PARALLEL = "prodsmoke.parallel_run"  # JSON: requests, mismatches, noise, ignored
PROP_MISMATCHES = "prodsmoke.mismatches"  # parallel-run requests answered differently
PROP_CANARY = "prodsmoke.canary"  # JSON: verdict, reasons and the numbers behind them
PROP_VARIANT = "prodsmoke.variant"  # the A/B variant the check ran as
PROP_TEARDOWN = "prodsmoke.teardown"  # JSON, failed teardowns: own part, failed shared fixtures

MISSING_VERSION = "<missing>"  # the version key of a response that carried no version header
