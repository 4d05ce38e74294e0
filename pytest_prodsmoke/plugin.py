"""The pytest shell: options, fixtures and hook wiring. The logic lives in the other modules.

Without a candidate URL the plugin registers only its options, markers and fixtures, so a run
that does not use it behaves exactly like plain pytest. With a URL (the gate is active):

- every process registers ``CheckMarking``: per-check properties on each report;
- the process that owns the gate (xdist controller, or the only process) registers ``GateOwner``:
  it records reports, decides the verdict, writes reports and sets the exit status;
- an xdist controller also registers ``XdistControllerHooks`` (imported only then).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import types
import uuid
from collections import Counter
from collections.abc import Generator
from typing import Any

import pytest
from requests.adapters import HTTPAdapter

from pytest_prodsmoke import __version__, hookspecs
from pytest_prodsmoke.client import ProdClient, ResponseRecord, build_adapter
from pytest_prodsmoke.collector import PROP_CRITICAL, PROP_SYNTHETIC, PROP_VERSIONS, GateRecorder
from pytest_prodsmoke.errors import SettingsError
from pytest_prodsmoke.gate import MISSING_VERSION, Verdict, decide
from pytest_prodsmoke.interrupts import SIGTERM_MESSAGE, TermSignalHandler
from pytest_prodsmoke.junit import add_suite_properties, find_logxml, junit_requested
from pytest_prodsmoke.report import (
    RunInfo,
    build_report,
    failure_report,
    remove_stale,
    render_gate_block,
    write_json_atomic,
)
from pytest_prodsmoke.settings import Settings, Target, add_options, display_url, load_settings

SETTINGS_KEY = pytest.StashKey[Settings]()
RECORDS_KEY = pytest.StashKey[list[ResponseRecord]]()

MARKERS = (
    "noncritical: a failure of this check degrades the gate verdict instead of failing it",
    "synthetic: a synthetic transaction (a scripted user journey as a fake user)",
)
# pytest prints the terminal summary only for these exit statuses (see TerminalReporter).
_SUMMARY_STATUSES = (0, 1, 2, 4, 5)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_xdist_controller(config: pytest.Config) -> bool:
    if is_worker(config) or config.getoption("collectonly", False):
        return False
    return config.getoption("dist", "no") != "no" and bool(
        config.getoption("numprocesses", None) or config.getoption("tx", None)
    )


def _read_ini(config: pytest.Config, name: str) -> Any:
    # pytest raises UsageError (9.x) or ValueError/TypeError (8.x) for a malformed ini value,
    # without naming the key; settings turns ValueError into a message that names it.
    try:
        return config.getini(name)
    except (pytest.UsageError, ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    try:
        settings = load_settings(
            cli=lambda dest: config.getoption(dest, None),
            ini=lambda name: _read_ini(config, name),
            environ=os.environ,
            base_dir=config.invocation_params.dir,
        )
    except SettingsError as exc:
        # Workers get the same arguments and environment as the controller, which validated
        # them first; this is reached on the controller (or the only process).
        raise pytest.UsageError(f"pytest-prodsmoke: {exc}") from None
    config.stash[SETTINGS_KEY] = settings
    scope = CheckScope()
    config.pluginmanager.register(make_fixtures(settings, scope), "prodsmoke-fixtures")
    if not settings.gate_active:
        return
    signals = TermSignalHandler()
    config.pluginmanager.register(CheckMarking(signals, scope), "prodsmoke-checks")
    if not is_worker(config):
        owner = GateOwner(config, settings, signals, distributed=is_xdist_controller(config))
        config.pluginmanager.register(owner, "prodsmoke-gate")
        if owner.distributed:
            from pytest_prodsmoke.xdist import XdistControllerHooks

            owner.xdist = XdistControllerHooks(owner.recorder, owner.run_id)
            config.pluginmanager.register(owner.xdist, "prodsmoke-xdist")


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None or not settings.gate_active or settings.prod_url is None:
        return []
    return [f"prodsmoke: gate active; target {display_url(settings.prod_url)}, expected version "
            f"{settings.expect_version or '(not pinned)'}"]


# --------------------------------------------------------------------------- fixtures

_NO_URL = ("needs a candidate URL: pass --prod-url URL (or set PRODSMOKE_URL, or ini "
           "prodsmoke_url)")


class CheckScope:
    """Which check is running in this process, so shared clients record into the right one."""

    def __init__(self) -> None:
        self.records: list[ResponseRecord] = []
        self.clients: list[ProdClient] = []
        # One connection pool per process (xdist worker) shared by all clients: keep-alive.
        self.pool: HTTPAdapter | None = None

    def begin(self, item: pytest.Item) -> None:
        self.records = item.stash.setdefault(RECORDS_KEY, [])
        for client in self.clients:
            client.reset_for_check()

    def record(self, record: ResponseRecord) -> None:
        self.records.append(record)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def _gate_settings(settings: Settings, fixture: str) -> Settings:
    if not settings.gate_active:
        pytest.fail(f"the {fixture} fixture {_NO_URL}", pytrace=False)
    return settings


def make_fixtures(settings: Settings, scope: CheckScope) -> types.ModuleType:
    """The plugin's fixtures, bound to this run's settings, in a module registered as a plugin.

    Why not plain module-level fixtures: they would have to ask for ``request`` or
    ``pytestconfig`` to reach the settings, and pytest then builds a new FixtureDef for
    ``request`` on every check, even for a cached session-scoped fixture (~40 us per check, 5 %
    of a fast suite). Why not methods of a plugin object: pytest 9 deprecates session-scoped
    fixtures defined as instance methods. Closures in a module have neither problem.
    """

    def client(base_url: str, target: str, **options: Any) -> ProdClient:
        if scope.pool is None:
            scope.pool = build_adapter(settings.retries)
        made = ProdClient(base_url, target=target, timeout_s=settings.timeout_s,
                          version_header=settings.version_header, adapter=scope.pool,
                          on_response=scope.record, **options)
        scope.clients.append(made)
        return made

    @pytest.fixture(scope="session")
    def prod() -> ProdClient:
        """A requests.Session bound to the candidate (``--prod-url``): ``prod.get("/healthz")``.

        One per worker process; each check starts with the configured headers and no cookies.
        """
        _gate_settings(settings, "prod")
        assert settings.prod_url is not None
        return client(settings.prod_url, "candidate", headers=settings.headers,
                      expected_version=settings.expect_version)

    @pytest.fixture(scope="session")
    def baseline() -> ProdClient:
        """A requests.Session bound to the released version (``--baseline-url``)."""
        _gate_settings(settings, "baseline")
        if settings.baseline_url is None:
            pytest.fail("the baseline fixture needs a baseline URL: pass --baseline-url URL (or "
                        "set PRODSMOKE_BASELINE_URL, or ini prodsmoke_baseline_url)",
                        pytrace=False)
        return client(settings.baseline_url, "baseline")

    @pytest.fixture(scope="session")
    def prod_target() -> Target:
        """Read-only description of the candidate: url, expected_version, header_names, ..."""
        return Target.from_settings(_gate_settings(settings, "prod_target"))

    def pytest_unconfigure() -> None:
        scope.close()

    module = types.ModuleType("pytest_prodsmoke.fixtures")
    for function in (prod, baseline, prod_target, pytest_unconfigure):
        setattr(module, function.__name__, function)
    return module


# --------------------------------------------------------------------------- every process

class CheckMarking:
    """Attaches what the gate must know about each check to its reports (survives xdist), and
    turns SIGTERM into an interrupt in every process, workers included, so teardown runs."""

    def __init__(self, signals: TermSignalHandler, scope: CheckScope) -> None:
        self.signals = signals
        self.scope = scope

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.scope.begin(item)

    @pytest.hookimpl
    def pytest_sessionstart(self) -> None:
        self.signals.install()

    @pytest.hookimpl
    def pytest_unconfigure(self) -> None:
        self.signals.uninstall()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            critical = item.get_closest_marker("noncritical") is None
            synthetic = item.get_closest_marker("synthetic") is not None
            item.user_properties.append((PROP_CRITICAL, "true" if critical else "false"))
            item.user_properties.append((PROP_SYNTHETIC, "true" if synthetic else "false"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "teardown":
            versions = Counter(record.version or MISSING_VERSION
                               for record in item.stash.get(RECORDS_KEY, ())
                               if record.target == "candidate")
            if versions:
                report.user_properties.append((PROP_VERSIONS, json.dumps(dict(versions))))
        return report


# --------------------------------------------------------------------------- gate owner

class GateOwner:
    """Lives in the xdist controller (or the only process) and turns the run into a verdict."""

    def __init__(self, config: pytest.Config, settings: Settings, signals: TermSignalHandler,
                 distributed: bool) -> None:
        self.config = config
        self.settings = settings
        self.distributed = distributed
        self.recorder = GateRecorder()
        self.signals = signals
        self.run_id = uuid.uuid4().hex
        self.started_at = time.time()
        self.xdist: Any = None
        self.verdict: Verdict | None = None
        self.report_error: str | None = None
        self.block_printed = False

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.started_at = time.time()
        if self.settings.gate_report is not None:
            problem = remove_stale(self.settings.gate_report)
            if problem:
                self.recorder.on_internal_error(problem)

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.distributed:
            self.recorder.on_collected([item.nodeid for item in session.items])

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.passed:
            self._guard(self.recorder.on_collect_report, report)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._guard(self.recorder.on_test_report, report)

    @pytest.hookimpl
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if self.signals.received:
            self.recorder.on_interrupt(SIGTERM_MESSAGE)
        else:
            self.recorder.on_interrupt(excinfo.exconly().strip().splitlines()[-1][:300])

    @pytest.hookimpl
    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        lines = str(excrepr).strip().splitlines()
        self.recorder.on_internal_error(lines[-1][:300] if lines else "unknown internal error")

    def _guard(self, handler: Any, *args: Any) -> None:
        """Record our own bugs as internal errors (which fail the gate) instead of crashing."""
        try:
            handler(*args)
        except Exception as exc:
            self.recorder.on_internal_error(f"pytest-prodsmoke: {type(exc).__name__}: {exc}")

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int
                             ) -> Generator[None, None, None]:
        # Runs before the non-wrapper sessionfinish hooks, in particular before the JUnit
        # writer, so the suite properties make it into the file.
        if not self.config.getoption("collectonly", False):
            self.signals.finishing = True
            try:
                self._finish(session, int(exitstatus))
            except Exception as exc:  # the gate itself broke: never a quiet pass
                self._emergency(session, exc)
        try:
            return (yield)
        finally:
            if self.verdict is not None and not self.verdict.ok and session.exitstatus == 0:
                session.exitstatus = self.verdict.exit_status
            if self.verdict is not None and int(exitstatus) not in _SUMMARY_STATUSES:
                self._print_block()  # pytest will not call pytest_terminal_summary

    def _decide(self, session: pytest.Session, exitstatus: int) -> Verdict:
        stops = tuple(str(s) for s in (session.shouldfail, session.shouldstop) if s)
        return decide(self.recorder.facts(exitstatus, self.settings, stops))

    def _run_info(self, exitstatus: int) -> RunInfo:
        return RunInfo(
            run_id=self.run_id,
            started_at=self.started_at,
            finished_at=time.time(),
            plugin_version=__version__,
            pytest_version=pytest.__version__,
            workers=len(self.xdist.workers_seen) if self.xdist else 0,
            pytest_exit_status=exitstatus,
        )

    def _write_report(self, verdict: Verdict, exitstatus: int) -> None:
        path = self.settings.gate_report
        if path is None:
            return
        try:
            write_json_atomic(path, build_report(verdict, self.settings,
                                                 self._run_info(exitstatus)))
            self.report_error = None
        except OSError as exc:
            self.report_error = f"{type(exc).__name__}: {exc}"

    def _finish(self, session: pytest.Session, exitstatus: int) -> None:
        logxml = find_logxml(self.config)
        if junit_requested(self.config) and logxml is None:
            self.recorder.on_internal_error(
                "cannot add gate properties to the JUnit XML (pytest's LogXML API moved)")
        verdict = self._decide(session, exitstatus)
        self._write_report(verdict, exitstatus)
        if self.report_error:
            self.recorder.on_internal_error(f"gate report not written: {self.report_error}")
            verdict = self._decide(session, exitstatus)
        try:
            self.config.hook.pytest_prodsmoke_gate(config=self.config, verdict=verdict)
        except Exception as exc:
            self.recorder.hook_errors.append(
                f"pytest_prodsmoke_gate hook raised {type(exc).__name__}: {exc}")
            verdict = self._decide(session, exitstatus)
            self._write_report(verdict, exitstatus)
        self.verdict = verdict
        if logxml is not None:
            add_suite_properties(logxml, {
                "prodsmoke.verdict": verdict.status,
                "prodsmoke.target": display_url(self.settings.prod_url or ""),
                "prodsmoke.expected_version": self.settings.expect_version or "",
                "prodsmoke.exit_status": str(verdict.exit_status),
            })
        session.exitstatus = verdict.exit_status

    def _emergency(self, session: pytest.Session, exc: Exception) -> None:
        message = f"pytest-prodsmoke failed to decide the gate: {type(exc).__name__}: {exc}"
        exit_status = 3  # pytest's INTERNAL_ERROR
        session.exitstatus = exit_status
        self.report_error = message
        if self.settings.gate_report is not None:
            with contextlib.suppress(OSError):
                write_json_atomic(self.settings.gate_report, failure_report(
                    message, self.settings, self._run_info(exit_status), exit_status))
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_sep("=", "prodsmoke gate: FAIL (internal error)", red=True, bold=True)
            terminal.write_line(f"  [internal_error] {message}", red=True)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Generator[None, None, None]:
        # Outermost wrapper: the block comes after pytest's short test summary, right above
        # the final stats line, where nobody can miss it.
        try:
            return (yield)
        finally:
            self._print_block(terminalreporter)

    def _print_block(self, terminal: Any = None) -> None:
        terminal = terminal or self.config.pluginmanager.get_plugin("terminalreporter")
        if self.verdict is None or terminal is None or self.block_printed:
            return
        self.block_printed = True
        title, lines = render_gate_block(self.verdict, self.settings, self.settings.gate_report,
                                         self.report_error)
        colour = {"pass": "green", "degraded": "yellow", "fail": "red"}[self.verdict.status]
        terminal.write_sep("=", title, bold=True, **{colour: True})
        for line in lines:
            terminal.write_line(line, **{colour: True})

