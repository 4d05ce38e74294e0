"""The life of one chaos experiment, as a function of its parts: a probe (the hypothesis: the
check's own body), a fault, the timing, a clock. No pytest, no I/O of its own.

1. steady state before: the probe must pass, else ``aborted`` and nothing is injected;
2. inject the fault (the caller has put it in the ledger first);
3. during: the probe every ``interval_s`` for ``duration_s``; a failed probe stops the
   experiment at once (``deviated``), as does a halt;
4. rollback, always: after success, deviation, a halt, an exception, an interrupt;
5. steady state after: the probe must pass again within ``recovery_s`` (``not_recovered``).

Verdicts: ``passed``, ``deviated``, ``aborted``, ``not_recovered``, ``rollback_failed`` (the
fault is still in production: the loudest of all).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

PASSED, DEVIATED, ABORTED, NOT_RECOVERED, ROLLBACK_FAILED = (
    "passed", "deviated", "aborted", "not_recovered", "rollback_failed")
VERDICTS = (PASSED, DEVIATED, ABORTED, NOT_RECOVERED, ROLLBACK_FAILED)


class Fault(Protocol):
    """What an experiment injects. ``inject`` and ``rollback`` raise on failure; both are
    bounded in time by the fault itself."""

    description: str

    def inject(self) -> None: ...

    def rollback(self) -> None: ...


class Timing(NamedTuple):
    duration_s: float = 10.0  # how long the fault stays in
    interval_s: float = 1.0  # between probes while it is in
    recovery_s: float = 30.0  # how long the steady state may take to return after rollback


@dataclass
class PhaseRecord:
    name: str  # "before", "inject", "during", "rollback", "after"
    started_s: float  # seconds since the experiment began
    ended_s: float = 0.0
    probes: int = 0
    failures: int = 0
    outcome: str = "ok"  # "ok", or what went wrong, one line
    failure_lines: list[str] = field(default_factory=list)  # the first few probe failures

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.name, "started_s": round(self.started_s, 3),
                "ended_s": round(self.ended_s, 3), "probes": self.probes,
                "failures": self.failures, "outcome": self.outcome,
                "failure_lines": self.failure_lines[:3]}


@dataclass
class ExperimentResult:
    fault: str
    verdict: str = PASSED
    reason: str = ""
    phases: list[PhaseRecord] = field(default_factory=list)
    injected: bool = False
    rolled_back: bool = False
    manual: str = ""  # how to undo the fault by hand (said when the rollback failed)

    def as_dict(self) -> dict[str, Any]:
        return {"fault": self.fault, "verdict": self.verdict, "reason": self.reason,
                "injected": self.injected, "rolled_back": self.rolled_back,
                "manual": self.manual, "phases": [p.as_dict() for p in self.phases]}


MAX_FAILURE_LINES = 3


def run_experiment(probe: Callable[[], str | None], fault: Fault, timing: Timing,
                   clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep,
                   halted: Callable[[], str | None] = lambda: None,
                   on_phase: Callable[[PhaseRecord], None] = lambda phase: None,
                   protect: Callable[[Callable[[], None]], None] = lambda step: step(),
                   on_phase_start: Callable[[PhaseRecord], None] = lambda phase: None
                   ) -> ExperimentResult:
    """Run the experiment; ``probe`` returns None when the hypothesis holds, else the failure's
    line. ``halted`` returns why to stop now (a halt file), ``on_phase`` sees each phase as it
    ends (``on_phase_start`` as it begins), ``protect`` runs the rollback shielded from
    signals. Exceptions (an interrupt) pass through, after the rollback."""
    start = clock()
    result = ExperimentResult(fault.description,
                              manual=str(getattr(fault, "manual", "") or ""))

    def phase(name: str) -> PhaseRecord:
        record = PhaseRecord(name, clock() - start)
        result.phases.append(record)
        on_phase_start(record)
        return record

    def close(record: PhaseRecord) -> None:
        record.ended_s = clock() - start
        on_phase(record)

    def run_probe(record: PhaseRecord) -> str | None:
        record.probes += 1
        failure = probe()
        if failure is not None:
            record.failures += 1
            if len(record.failure_lines) < MAX_FAILURE_LINES:
                record.failure_lines.append(failure)
        return failure

    before = phase("before")
    why = halted()
    if why:
        before.outcome = f"halted: {why}"
        close(before)
        result.verdict, result.reason = ABORTED, f"{before.outcome}; nothing was injected"
        return result
    failure = run_probe(before)
    if failure is not None:
        before.outcome = f"steady state did not hold: {failure}"
        close(before)
        result.verdict, result.reason = ABORTED, f"{before.outcome}; nothing was injected"
        return result
    close(before)

    try:
        injecting = phase("inject")
        try:
            result.injected = True  # it may be partly in even if inject raises: roll back
            fault.inject()
        except Exception as exc:
            injecting.outcome = f"injection failed: {type(exc).__name__}: {exc}"
            result.verdict, result.reason = ABORTED, injecting.outcome
        finally:
            close(injecting)
        if result.verdict == PASSED:
            during = phase("during")
            try:
                deadline = clock() + timing.duration_s
                while True:
                    why = halted()
                    if why:
                        during.outcome = f"halted: {why}"
                        result.verdict, result.reason = ABORTED, during.outcome
                        break
                    failure = run_probe(during)
                    if failure is not None:
                        during.outcome = f"the hypothesis broke under the fault: {failure}"
                        result.verdict, result.reason = DEVIATED, during.outcome
                        break
                    left = deadline - clock()
                    if left <= 0:
                        break
                    sleep(min(timing.interval_s, left))
            finally:
                close(during)
    finally:
        rolling = phase("rollback")

        def undo() -> None:
            fault.rollback()

        try:
            protect(undo)
            result.rolled_back = True
        except Exception as exc:
            rolling.outcome = f"rollback failed: {type(exc).__name__}: {exc}"
            result.verdict, result.reason = ROLLBACK_FAILED, (
                f"{rolling.outcome}; the fault is still in production: {fault.description}"
                + (f"; {result.manual}" if result.manual else ""))
        finally:
            close(rolling)

    if result.verdict in (ROLLBACK_FAILED, ABORTED) and not result.rolled_back:
        return result
    after = phase("after")
    deadline = clock() + timing.recovery_s
    while True:
        failure = run_probe(after)
        if failure is None:
            break
        if clock() >= deadline:
            after.outcome = (f"the steady state did not return within {timing.recovery_s:g} s "
                             f"after the rollback: {failure}")
            if result.verdict == PASSED:
                result.verdict, result.reason = NOT_RECOVERED, after.outcome
            break
        sleep(min(timing.interval_s, max(0.0, deadline - clock())))
    close(after)
    return result
