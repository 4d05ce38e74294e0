"""The faults chaos experiments inject, for suites to return from their fixtures, and the
probes a hypothesis may use besides plain asserts:

    from pytest_prodsmoke.chaos import CommandPair, HaproxyServerState, PauseProcess, ...
    from pytest_prodsmoke.chaos import error_rate

See methods/chaos/faults.py (and ``Fault`` for your own).
"""

from typing import Any

from pytest_prodsmoke.methods.chaos.faults import (
    ChaosToolkitAction,
    CommandPair,
    Fault,
    FaultError,
    HaproxyServerState,
    HttpCallPair,
    KillProcess,
    PauseProcess,
)

__all__ = ["ChaosToolkitAction", "CommandPair", "Fault", "FaultError", "HaproxyServerState",
           "HttpCallPair", "KillProcess", "PauseProcess", "error_rate"]


def error_rate(client: Any, path: str, requests: int = 20, method: str = "GET") -> float:
    """The share of ``requests`` calls of ``method path`` through ``client`` (``prod``) that
    got no answer or a 5xx: a probe for "the error rate stays under X while the fault is in",
    ``assert error_rate(prod, "/catalog") <= 0.05``."""
    import requests as http

    if requests < 1:
        raise ValueError("error_rate needs at least one request")
    failed = 0
    for _ in range(requests):
        try:
            failed += client.request(method, path).status_code >= 500
        except http.RequestException:
            failed += 1
    return failed / requests
