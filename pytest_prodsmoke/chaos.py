"""The faults chaos experiments inject, for suites to return from their fixtures:

    from pytest_prodsmoke.chaos import CommandPair, HaproxyServerState, PauseProcess, ...

See methods/chaos/faults.py (and ``Fault`` for your own).
"""

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
           "HttpCallPair", "KillProcess", "PauseProcess"]
