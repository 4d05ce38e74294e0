"""Default canary policy, apart from ``canary.py`` so that settings can name the defaults in
option help without importing the statistics (every gate run pays for its imports)."""

CANARY_DEFAULTS: dict[str, float] = {
    "samples": 30,  # runs per side
    "min_samples": 20,  # fewer per side (or fewer latency values) is inconclusive
    "confidence": 0.95,  # a difference counts when p < 1 - confidence
    "max_slowdown": 0.20,  # the candidate's median may be up to 20 % higher ...
    "min_slowdown_ms": 5.0,  # ... and up to 5 ms higher, before "slower" can fail
    "max_error_rate": 0.10,  # above this the candidate fails, whatever the baseline does
}
