"""The pytest shell of chaos experiments: ``--chaos``, ``@pytest.mark.chaos(...)``, and the
experiment run in place of the check's body.

    @pytest.fixture
    def frozen_payments(payment_service):
        return PauseProcess(payment_service.pid, name="the payment service")

    @pytest.mark.chaos(duration=10, interval=1, recovery=30)
    def test_orders_survive_a_frozen_payment_service(prod, frozen_payments):
        assert prod.post("/orders", ...).status_code == 201   # the hypothesis

The check's body is the steady-state hypothesis: probed before the fault (else ``aborted``,
nothing injected), every ``interval`` seconds while the fault is in, and after the rollback
until it holds again (within ``recovery`` seconds). The fault is the one ``Fault`` among the
check's fixtures. The result is the check's ``chaos`` fact (gate report, JUnit); a verdict other
than ``passed`` fails the check and the gate (``chaos_<verdict>``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import inspect
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_prodsmoke.methods.chaos import MARKER
from pytest_prodsmoke.methods.chaos.experiment import (
    ABORTED,
    PASSED,
    ROLLBACK_FAILED,
    ExperimentResult,
    PhaseRecord,
    Timing,
    run_experiment,
)
from pytest_prodsmoke.methods.chaos.faults import Fault
from pytest_prodsmoke.methods.chaos.ledger import (
    HALT_FILE,
    Entry,
    host_chaos_directory,
    ledger_directory,
    one_at_a_time,
    recover,
)
from pytest_prodsmoke.state import ProcessState, record_facts

TIMING_KEYS = ("duration", "interval", "recovery")
WATCHDOG_MARGIN_S = 5.0


def timing_of(marker: Any, max_duration_s: float) -> Timing | str:
    """The marker's timing, or what is wrong with it (one line)."""
    unknown = set(marker.kwargs) - set(TIMING_KEYS) - {"hypothesis"}
    if marker.args or unknown:
        return (f"@pytest.mark.chaos takes only {', '.join(k + '=' for k in TIMING_KEYS)} "
                f"(seconds) and hypothesis=[check names]; got "
                f"{sorted(unknown) or list(marker.args)}")
    values = {**Timing()._asdict()}
    for key in TIMING_KEYS:
        if key in marker.kwargs:
            value = marker.kwargs[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not 0 < value <= 86_400:
                return f"@pytest.mark.chaos: {key}={value!r} is not a positive number of seconds"
            values[f"{key}_s"] = float(value)
    timing = Timing(**values)
    if timing.duration_s > max_duration_s:
        return (f"@pytest.mark.chaos: duration={timing.duration_s:g} s is over "
                f"--chaos-max-duration {max_duration_s:g} s")
    return timing


def phase_line(nodeid: str, phase: Mapping[str, Any]) -> str:
    """One phase on the terminal: as it ends (serial), or as its check's report arrives at the
    xdist controller (xdist.py)."""
    seconds = float(phase.get("ended_s", 0)) - float(phase.get("started_s", 0))
    return (f"prodsmoke chaos {nodeid}: {phase.get('phase')} {phase.get('outcome')} "
            f"({phase.get('probes')} probes, {phase.get('failures')} failed, {seconds:.1f} s)")


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait while a fault is rolled back (a second Ctrl-C must not stop a
    rollback half-way); a signal that came meanwhile is delivered right after.

    Handlers, not a blocked signal mask: a mask is inherited by every process the rollback
    starts (a restarted service would ignore SIGTERM for ever); handlers are not."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    came: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, frame: came.append(signum))
                for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(came):
            signal.raise_signal(signum)


class _Ledgered(Fault):
    """A fault that is in the ledger (and watched) exactly while it may be in production."""

    def __init__(self, fault: Fault, entry: Entry) -> None:
        self.fault = fault
        self.entry = entry
        self.description = fault.description
        self.watchdog: Any = None

    @property
    def manual(self) -> str:
        return self.fault.manual

    def inject(self) -> None:
        from pytest_prodsmoke.methods.chaos import watchdog

        self.entry.write()  # before the fault: a kill from here on is not silent
        self.watchdog = watchdog.start(self.entry.path)
        self.fault.inject()

    def rollback(self) -> None:
        from pytest_prodsmoke.methods.chaos import watchdog

        self.fault.rollback()  # raises: the entry stays, and the watchdog with it
        self.entry.remove()
        if self.watchdog is not None:
            watchdog.stop(self.watchdog)
            self.entry.path.with_suffix(watchdog.LOG_SUFFIX).unlink(missing_ok=True)


class ChaosRuns:
    """Runs each experiment in place of its check's body (registered only when --chaos
    collected one)."""

    def __init__(self, state: ProcessState, config: pytest.Config) -> None:
        self.state = state
        self.config = config
        self.directory = ledger_directory(state.settings.state_dir, state.run_dir or Path("."))
        self.host_directory = host_chaos_directory(state.run_dir or Path("."))

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        marker = pyfuncitem.get_closest_marker(MARKER)
        if marker is None:
            return None
        __tracebackhide__ = True
        settings = self.state.settings
        timing = timing_of(marker, settings.chaos_max_duration_s)
        if isinstance(timing, str):
            pytest.fail(timing, pytrace=False)
        faults = [value for value in pyfuncitem.funcargs.values() if isinstance(value, Fault)]
        if len(faults) != 1:
            pytest.fail(f"a chaos experiment needs exactly one fault among its fixtures (a "
                        f"fixture that returns a pytest_prodsmoke.chaos Fault); it has "
                        f"{len(faults)}", pytrace=False)
        probe = self._hypothesis(pyfuncitem, marker.kwargs.get("hypothesis", ()))
        if isinstance(probe, str):
            pytest.fail(probe, pytrace=False)
        result = self._run(pyfuncitem, faults[0], timing, probe)
        record_facts(pyfuncitem, chaos=result.as_dict())
        if result.verdict != PASSED:
            loud = "THE FAULT IS STILL IN PRODUCTION: " if result.verdict == ROLLBACK_FAILED \
                else ""
            pytest.fail(f"{loud}chaos experiment {result.verdict}: {result.reason}",
                        pytrace=False)
        return True

    def _run(self, item: pytest.Function, fault: Fault, timing: Timing,
             probe: Callable[[], str | None]) -> Any:
        settings = self.state.settings
        if not allowed(fault.target, settings.chaos_allow):
            refused = ExperimentResult(fault.description, ABORTED, (
                f"its target {fault.target!r} is not allowed: pass --chaos-allow "
                f"{fault.target!r} (or ini prodsmoke_chaos_allow); nothing was injected"))
            return refused
        directory = self.directory
        # The watchdog waits for the fault's planned time in, two probe intervals, and the
        # time its own rollback may take, plus a margin.
        ttl = timing.duration_s + 2 * timing.interval_s + fault.timeout_s + WATCHDOG_MARGIN_S
        entry = Entry(directory, fault, item.nodeid, self.state.run_id, ttl)
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")

        def on_phase(phase: PhaseRecord) -> None:
            if terminal is None:  # an xdist worker: the phases are in the report
                return
            line = phase_line(item.nodeid, phase.as_dict())
            # Each phase as it happens, past the check's output capture.
            with capture.global_and_fixture_disabled() if capture is not None \
                    else contextlib.nullcontext():
                terminal.write_line(line)

        def phase_ended(phase: PhaseRecord) -> None:
            if steps is not None:
                steps.end(phase)
            on_phase(phase)

        def protect(step: Callable[[], None]) -> None:
            with signals_held():
                step()

        steps = AllureSteps() if self.config.getoption("allure_report_dir", None) else None

        try:
            with one_at_a_time(self.host_directory,
                               wait_s=2 * settings.chaos_max_duration_s + 60):
                return run_experiment(
                    probe, _Ledgered(fault, entry), timing, halted=self._halted,
                    on_phase=phase_ended, protect=protect,
                    on_phase_start=steps.begin if steps is not None else lambda phase: None)
        except TimeoutError as exc:
            problem = str(exc)  # failed outside the except block: one line, no echo
        pytest.fail(f"chaos experiment not started: {problem}", pytrace=False)

    def _halted(self) -> str | None:
        """Why to stop now: --chaos-halt-file exists, or ``prodsmoke chaos halt`` was run."""
        settings = self.state.settings
        for halt in (settings.chaos_halt_file, self.host_directory / HALT_FILE):
            if halt is not None and halt.exists():
                return f"the halt file {halt} exists"
        return None

    @staticmethod
    def _hypothesis(item: pytest.Function, named: Any) -> Callable[[], str | None] | str:
        """The probe: the check's own body, then the bodies of the suite's checks named in
        ``hypothesis=[...]``, each called with this check's fixtures (it must request what
        they need). Or what is wrong, one line."""
        if isinstance(named, str) or not all(isinstance(n, str) for n in named):
            return "@pytest.mark.chaos: hypothesis= takes a list of check names"
        bodies: list[tuple[str, Callable[..., object]]] = [("", item.obj)]
        for name in named:
            found = [other for other in item.session.items if isinstance(other, pytest.Function)
                     and other is not item and (other.name == name or other.nodeid == name
                                                or other.nodeid.endswith("::" + name))]
            if len(found) != 1:
                return (f"@pytest.mark.chaos: hypothesis check {name!r} "
                        f"{'is not among the collected checks' if not found else 'is ambiguous'}")
            missing = [p for p in inspect.signature(found[0].obj).parameters
                       if p not in item.funcargs]
            if missing:
                return (f"@pytest.mark.chaos: the hypothesis check {name!r} needs "
                        f"{', '.join(missing)}: request it in {item.name} too")
            bodies.append((f"{name}: ", found[0].obj))
        calls = [(label, body, {p: item.funcargs[p] for p in inspect.signature(body).parameters
                                if p in item.funcargs}) for label, body in bodies]

        def probe() -> str | None:
            for label, body, arguments in calls:
                try:
                    body(**arguments)
                except (Exception, pytest.fail.Exception, pytest.skip.Exception) as exc:
                    lines = str(exc).strip().splitlines() or [""]
                    return f"{label}{type(exc).__name__}: {lines[0]}"[:300]
            return None

        return probe


class AllureSteps:
    """Each phase as an Allure step of the check (with --alluredir), failed when the phase
    went wrong, through allure-pytest's own ``allure.step``."""

    def __init__(self) -> None:
        self.open: Any = None

    def begin(self, phase: PhaseRecord) -> None:
        import allure

        self.open = allure.step(f"chaos: {phase.name}")
        self.open.__enter__()

    def end(self, phase: PhaseRecord) -> None:
        step, self.open = self.open, None
        if step is None:
            return
        summary = f"{phase.outcome}: {phase.probes} probes, {phase.failures} failed"
        if phase.outcome == "ok":
            step.__exit__(None, None, None)
        else:
            failure = AssertionError(summary)
            step.__exit__(AssertionError, failure, None)


def allowed(target: str, patterns: tuple[str, ...]) -> bool:
    """Whether --chaos-allow names this target (exactly, or by a shell-style pattern)."""
    return any(fnmatch.fnmatchcase(target, pattern) for pattern in patterns)


class ChaosRecovery:
    """At the start of a --chaos run, on the gate's owner: roll back the faults earlier runs
    left in the ledger (their process is gone), and report what was done."""

    def __init__(self, state: ProcessState) -> None:
        self.state = state
        self.results: list[dict[str, Any]] = []

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        directory = ledger_directory(self.state.settings.state_dir,
                                     self.state.run_dir or Path("."))
        try:
            self.results = recover(directory)
        except Exception as exc:  # never a quiet pass: the gate fails on it
            self.results = [{"check": "", "run_id": "", "fault": f"the chaos ledger {directory}",
                             "outcome": "rollback_failed", "error": f"{type(exc).__name__}: "
                             f"{exc}", "manual": f"inspect {directory} by hand"}]
