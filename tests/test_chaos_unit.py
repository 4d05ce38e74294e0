"""The experiment lifecycle on hand-made parts: a probe that says what it says, a fault that
records what was done to it, a clock that moves only when slept."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_prodsmoke.methods.chaos.experiment import Timing, run_experiment
from pytest_prodsmoke.methods.chaos.faults import CommandPair, FaultError, PauseProcess, from_spec
from tests.support import FakeClock


class Recorded:
    description = "a recorded fault"

    def __init__(self, inject_error: bool = False, rollback_error: bool = False) -> None:
        self.done: list[str] = []
        self.inject_error = inject_error
        self.rollback_error = rollback_error

    def inject(self) -> None:
        self.done.append("inject")
        if self.inject_error:
            raise RuntimeError("cannot inject")

    def rollback(self) -> None:
        self.done.append("rollback")
        if self.rollback_error:
            raise RuntimeError("cannot roll back")


def probes(results: list[str | None]):
    """A probe answering from a list (its last answer repeats)."""
    answers = list(results)

    def probe() -> str | None:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return probe


TIMING = Timing(duration_s=1.0, interval_s=0.25, recovery_s=1.0)


def run(probe, fault, halted=lambda: None):
    clock = FakeClock()
    return run_experiment(probe, fault, TIMING, clock=clock, sleep=clock.sleep, halted=halted)


def test_a_holding_system_passes_and_every_phase_is_timed() -> None:
    fault = Recorded()
    result = run(probes([None]), fault)
    assert (result.verdict, result.injected, result.rolled_back) == ("passed", True, True)
    assert fault.done == ["inject", "rollback"]
    phases = {p.name: p for p in result.phases}
    assert list(phases) == ["before", "inject", "during", "rollback", "after"]
    assert phases["during"].probes == 5 and phases["during"].ended_s == 1.0  # 0, .25 .. 1.0
    assert phases["after"].probes == 1


@pytest.mark.parametrize(("answers", "verdict", "reason"), [
    (["down"], "aborted", "steady state did not hold: down; nothing was injected"),
    ([None, None, "slow"], "deviated", "the hypothesis broke under the fault: slow"),
    ([None] * 6 + ["still down"], "not_recovered",
     "the steady state did not return within 1 s after the rollback: still down"),
])
def test_verdicts(answers: list[str | None], verdict: str, reason: str) -> None:
    fault = Recorded()
    result = run(probes(answers), fault)
    assert (result.verdict, result.reason) == (verdict, reason)
    assert fault.done == ([] if verdict == "aborted" else ["inject", "rollback"])


def test_a_deviation_stops_at_once_and_still_rolls_back() -> None:
    fault = Recorded()
    result = run(probes([None, "broken"]), fault)
    during = next(p for p in result.phases if p.name == "during")
    assert during.probes == 1 and during.failures == 1 and during.failure_lines == ["broken"]
    assert fault.done == ["inject", "rollback"]


def test_a_failed_injection_is_rolled_back_anyway() -> None:
    fault = Recorded(inject_error=True)
    result = run(probes([None]), fault)
    assert result.verdict == "aborted"
    assert result.reason == "injection failed: RuntimeError: cannot inject"
    assert fault.done == ["inject", "rollback"]  # it may be partly in


def test_a_failed_rollback_says_the_fault_is_still_in() -> None:
    fault = Recorded(rollback_error=True)
    result = run(probes([None]), fault)
    assert result.verdict == "rollback_failed" and result.rolled_back is False
    assert result.reason == ("rollback failed: RuntimeError: cannot roll back; the fault is still "
                             "in production: a recorded fault")
    assert [p.name for p in result.phases][-1] == "rollback"  # no steady state after it


def test_an_interrupt_during_the_fault_rolls_back_and_goes_on() -> None:
    fault = Recorded()

    def probe() -> str | None:
        if fault.done == ["inject"]:
            raise KeyboardInterrupt
        return None

    with pytest.raises(KeyboardInterrupt):
        run(probe, fault)
    assert fault.done == ["inject", "rollback"]


def test_a_halt_stops_the_experiment() -> None:
    fault = Recorded()
    assert run(probes([None]), fault, halted=lambda: "the halt file x exists").reason == (
        "halted: the halt file x exists; nothing was injected")
    assert fault.done == []
    halts = iter([None, None, "stop"])
    result = run(probes([None]), fault, halted=lambda: next(halts, "stop"))
    assert (result.verdict, result.reason) == ("aborted", "halted: stop")
    assert fault.done == ["inject", "rollback"]


def test_faults_rebuild_from_their_spec() -> None:
    pair = CommandPair(["true"], ["false"], description="d", timeout_s=3)
    assert from_spec(pair.spec()).spec() == pair.spec()
    pause = PauseProcess(123, name="x", timeout_s=2)
    assert from_spec(pause.spec()).spec() == pause.spec()
    with pytest.raises(FaultError):
        from_spec({"kind": "nonsense"})
    with pytest.raises(FaultError, match="argv"):
        CommandPair("rm -rf /", ["true"])  # a string is no argv: no shell, ever


def test_signals_wait_while_a_fault_is_rolled_back() -> None:
    import os
    import signal

    from pytest_prodsmoke.methods.chaos.runs import signals_held

    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append("handled"))
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            seen.append("rollback went on")
        assert seen == ["rollback went on", "handled"]  # delivered right after, once
        with signals_held():
            pass
        assert signal.getsignal(signal.SIGTERM) is not None and seen[-1] == "handled"
        # Nothing is blocked for the processes a rollback starts.
        with signals_held():
            status = Path(f"/proc/{os.getpid()}/status").read_text()
        blocked = next(line for line in status.splitlines() if line.startswith("SigBlk:"))
        assert int(blocked.split()[1], 16) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
