"""The faults chaos experiments inject, for suites to return from their fixtures:

    from pytest_prodsmoke.chaos import CommandPair, HttpCallPair, KillProcess, PauseProcess

See methods/chaos/faults.py (and ``Fault`` for your own).
"""

from pytest_prodsmoke.methods.chaos.faults import (
    CommandPair,
    Fault,
    FaultError,
    HttpCallPair,
    KillProcess,
    PauseProcess,
)

__all__ = ["CommandPair", "Fault", "FaultError", "HttpCallPair", "KillProcess", "PauseProcess"]
