"""Hooks that run in every process of a gate run (the only one, or each xdist worker):
start each check, attach what the gate must know to its reports, scrub secrets out of every
report before it leaves the process, and turn SIGTERM into an interrupt so teardown runs."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Generator
from typing import Any

import pytest

from pytest_prodsmoke.errors import LatencyBudgetError, ProdsmokeError
from pytest_prodsmoke.fixtures import TARGET_FIXTURE
from pytest_prodsmoke.gate.facts import (
    MISSING_VERSION,
    SECRET_FREE_PROPERTIES,
    CheckFacts,
    to_properties,
)
from pytest_prodsmoke.http.requestlog import (
    format_request_log,
    latency_budget,
    latency_summary,
    percentile,
    timed,
    trace_link,
)
from pytest_prodsmoke.http.tagging import new_trace_id
from pytest_prodsmoke.methods.variants import require_confirmed, variant_of
from pytest_prodsmoke.safety.redact import REGISTRY
from pytest_prodsmoke.safety.signals import TermSignalHandler, announce_worker, finish_teardown
from pytest_prodsmoke.state import (
    ATTEMPT_REPORTED_KEY,
    CANARY_KEY,
    CANARY_RESULT_KEY,
    CRITICAL_KEY,
    FAILED_KEY,
    LATENCY_KEY,
    LEFTOVERS_KEY,
    MARKER_ERROR_KEY,
    PARALLEL_KEY,
    RECORDS_KEY,
    SYNTHETIC_KEY,
    TEARDOWN_KEY,
    TRACE_ID_KEY,
    VARIANT_KEY,
    WORKER_SECRETS_KEY,
    ProcessState,
    forget,
)

STOP_FILE = "fail-fast-stop"  # in the run directory shared by all processes of the run


def scrub_report(report: Any) -> None:
    """Mask secrets in everything a report carries: traceback (with -l locals and assertion
    details), skip reason, captured output and logs, user properties."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, lineno, reason)
        report.longrepr = (longrepr[0], longrepr[1], REGISTRY.scrub(str(longrepr[2])))
    elif longrepr is not None:
        text = str(longrepr)
        clean = REGISTRY.scrub(text)
        if clean != text:
            # The structured traceback cannot be edited in place; its masked text replaces it.
            report.longrepr = clean
    if report.sections:
        report.sections = [(title, REGISTRY.scrub(content)) for title, content in report.sections]
    if getattr(report, "user_properties", None):
        report.user_properties = [
            (name, value) if name in SECRET_FREE_PROPERTIES or not isinstance(value, str)
            else (name, REGISTRY.scrub(value))
            for name, value in report.user_properties
        ]


def _scrubbing_record_factory(previous: Callable[..., logging.LogRecord]
                              ) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return record
        clean = REGISTRY.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Format the traceback now, so that the text every handler prints is masked.
            record.exc_text = REGISTRY.scrub(logging.Formatter().formatException(record.exc_info))
        return record

    factory.prodsmoke = True  # type: ignore[attr-defined]
    return factory


class CheckMarking:
    def __init__(self, state: ProcessState, signals: TermSignalHandler,
                 allure_attach: Callable[..., object] | None = None) -> None:
        self.state = state
        self.signals = signals
        self.allure_attach = allure_attach  # allure.attach when --alluredir is given
        self._previous_factory: Callable[..., logging.LogRecord] | None = None
        # Code objects of the shared (not function-scoped) fixtures set up in this process, to
        # tell whose a teardown error is (gate/teardown.py). Any: types.CodeType -> FixtureCode.
        self.shared_fixture_code: dict[Any, Any] = {}

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.signals.install()
        workerinput = getattr(session.config, "workerinput", None)
        if workerinput is not None and self.state.run_dir is not None:
            # Where the controller's cancel can reach this worker (safety/signals.py).
            announce_worker(self.state.run_dir, str(workerinput.get("workerid", "gw?")))
        # Log records are masked when they are made, so live logs (log_cli), captured logs and
        # log files all see the masked text.
        self._previous_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_scrubbing_record_factory(self._previous_factory))

    @pytest.hookimpl
    def pytest_unconfigure(self) -> None:
        self.signals.uninstall()
        self.state.close()
        current = logging.getLogRecordFactory()
        if self._previous_factory is not None and getattr(current, "prodsmoke", False):
            logging.setLogRecordFactory(self._previous_factory)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            # An interrupted check's cleanup runs here, its failure caught: the cleanup
            # journal tells the controller what it left (pytest's own teardown would raise).
            finish_teardown(session)
            # Secrets learnt in this worker (login tokens) reach the controller, which masks
            # them in the files other tools wrote (Allure).
            workeroutput[WORKER_SECRETS_KEY] = sorted(REGISTRY.values())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        forget(item.stash, FAILED_KEY, CANARY_RESULT_KEY, TEARDOWN_KEY,  # facts of one run
               ATTEMPT_REPORTED_KEY)
        self.state.begin(item)

    @pytest.hookimpl(tryfirst=True)
    def pytest_fixture_setup(self, fixturedef: Any) -> None:
        if fixturedef.scope != "function":
            func = getattr(fixturedef.func, "__func__", fixturedef.func)  # methods of a class
            code = getattr(func, "__code__", None)
            if code is not None and code not in self.shared_fixture_code:
                from pytest_prodsmoke.gate.teardown import FixtureCode

                self.shared_fixture_code[code] = FixtureCode(
                    fixturedef.argname, fixturedef.scope, fixturedef.baseid or "")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        # Not a wrapper (those cost several times more on every report): the facts go to the
        # stash, and the teardown report picks them up in pytest_runtest_logreport.
        if call.when != "teardown" or call.excinfo is None or not self.shared_fixture_code:
            return
        from pytest_prodsmoke.gate.teardown import attribute

        try:
            item.stash[TEARDOWN_KEY] = attribute(
                call.excinfo.value, item, list(item.session.items), self.shared_fixture_code,
                lambda check: check.stash.get(CRITICAL_KEY, True))
        except Exception:  # unknown: the gate counts it as the check's own
            forget(item.stash, TEARDOWN_KEY)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]
                                      ) -> None:
        if self.state.not_ready is not None:
            # The candidate never became ready: checking it would test the wrong thing.
            config.hook.pytest_deselected(items=list(items))
            items.clear()
            return
        allure = bool(config.getoption("allure_report_dir", None))
        for item in items:
            critical = item.get_closest_marker("noncritical") is None
            synthetic = item.get_closest_marker("synthetic") is not None
            item.stash[SYNTHETIC_KEY] = synthetic
            item.stash[CRITICAL_KEY] = critical
            latency = item.get_closest_marker("latency")
            if latency is not None:
                item.stash[LATENCY_KEY] = latency_budget(latency.args, latency.kwargs)
            callspec = getattr(item, "callspec", None)
            params = callspec.params if callspec is not None else {}
            # The facts known now go on every report of the check (JUnit shows them too).
            item.user_properties.extend(to_properties(CheckFacts(
                critical=critical, synthetic=synthetic,
                target=str(params.get(TARGET_FIXTURE, "")), variant=variant_of(item)),
                at_collection=True))
            canary = item.get_closest_marker("canary")
            if canary is not None:
                self._stash_canary_policy(item, canary)
            if allure:
                # Labels through allure-pytest's own marker: no allure import in user code.
                # (noncritical and synthetic, argument-less markers, become Allure tags.)
                item.add_marker(pytest.mark.allure_label("blocker" if critical else "normal",
                                                         label_type="severity"))
                trace_template = self.state.settings.trace_url
                if trace_template:
                    # Allure reads links before the check starts, so its trace id is chosen now.
                    trace_id = item.stash[TRACE_ID_KEY] = new_trace_id()
                    item.add_marker(pytest.mark.allure_link(
                        trace_link(trace_template, trace_id), link_type="link", name="trace"))

    def _stash_canary_policy(self, item: pytest.Item, marker: pytest.Mark) -> None:
        if marker.args:
            item.stash[MARKER_ERROR_KEY] = ("@pytest.mark.canary takes keyword arguments only, "
                                            "e.g. canary(samples=50)")
            return
        if not isinstance(item, pytest.Function):
            item.stash[MARKER_ERROR_KEY] = "@pytest.mark.canary works on test functions only"
            return
        from pytest_prodsmoke.compare.canary import CanaryPolicy

        try:
            item.stash[CANARY_KEY] = CanaryPolicy().with_overrides(
                {**dict(self.state.settings.canary_overrides), **marker.kwargs})
        except ValueError as exc:
            item.stash[MARKER_ERROR_KEY] = f"@pytest.mark.canary: {exc}"

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        policy = pyfuncitem.stash.get(CANARY_KEY, None)
        if policy is None:
            return None
        from pytest_prodsmoke.methods.canary import run_canary

        __tracebackhide__ = True
        baseline = self.state.baseline("a canary check")
        result, failure = run_canary(pyfuncitem, policy, baseline, pyfuncitem.stash[RECORDS_KEY])
        pyfuncitem.stash[CANARY_RESULT_KEY] = result.as_dict()
        if failure is not None:
            pytest.fail(failure, pytrace=False)
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector
                                   ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        if not report.passed:
            scrub_report(report)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        result = yield  # a failing check keeps its own failure
        try:
            self._after_the_body(item)
        except ProdsmokeError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            return result
        # The plugin's own rules, broken after the check's body: one line, not a traceback
        # through this hook (raised outside the except: no "during handling" echo either).
        pytest.fail(problem, pytrace=False)

    def _after_the_body(self, item: pytest.Item) -> None:
        """The rules that hold once a check's body passed: variant confirmed, version (from the
        endpoint) as expected, p95 within its budget."""
        settings = self.state.settings
        variant = item.stash.get(VARIANT_KEY, None)
        if variant is not None:
            require_confirmed(self.state, variant)
        if settings.version_header is None and settings.version_path is not None:
            self._check_version_endpoint(item)
        budget = item.stash.get(LATENCY_KEY, (None, None))
        p95_budget = budget[1] if isinstance(budget, tuple) and budget[1] is not None else (
            self.state.settings.latency_p95_ms)
        records = timed(item.stash.get(RECORDS_KEY, ()))
        if p95_budget is not None and records:
            p95 = percentile([r.elapsed_s * 1000 for r in records], 0.95)
            if p95 > p95_budget:
                slowest = max(records, key=lambda r: r.elapsed_s)
                raise LatencyBudgetError(
                    f"p95 latency of {len(records)} requests is {p95:.0f} ms, over the budget of "
                    f"{p95_budget:g} ms (slowest: {slowest.method} {slowest.path}, "
                    f"{slowest.elapsed_s * 1000:.0f} ms)")

    def _check_version_endpoint(self, item: pytest.Item) -> None:
        """No version header to pin each response: ask the version endpoint once after a check
        that talked to the candidate, as that check (same trace, same tags)."""
        __tracebackhide__ = True
        if not any(r.target == "candidate" for r in item.stash.get(RECORDS_KEY, ())):
            return
        candidate = next((c for c in self.state.clients if c.target == "candidate"), None)
        if candidate is not None:
            settings = self.state.settings
            assert settings.version_path is not None
            candidate.check_version_endpoint(settings.version_path, settings.version_field)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # tryfirst: before xdist sends the report to the controller, and before the JUnit
        # writer, the terminal and the gate read it. (A plain hook, not a makereport wrapper:
        # this runs for every report and wrappers cost several times more.)
        item = self.state.current
        if item is not None and item.nodeid == report.nodeid:
            if report.failed:
                self._add_request_log(item, report)
                if self.state.settings.fail_fast and item.stash.get(CRITICAL_KEY, True):
                    self._stop_everything(item)
            if report.when == "call" and self.allure_attach is not None:
                records = item.stash.get(RECORDS_KEY, [])
                if records:
                    self.allure_attach(REGISTRY.scrub(format_request_log(
                        records, self._trace_url())), name="prodsmoke requests")
            if (report.when == "teardown" or report.outcome == "rerun") and \
                    ATTEMPT_REPORTED_KEY not in item.stash:
                # The facts of one run of the check go on the last report of that run: its
                # teardown, or the failed report pytest-rerunfailures repeats (before version 15
                # it logs no teardown report for a repeated attempt).
                item.stash[ATTEMPT_REPORTED_KEY] = True
                self._add_check_properties(item, report)
        if report.longrepr is not None or report.sections or any(
                name not in SECRET_FREE_PROPERTIES for name, _ in report.user_properties):
            scrub_report(report)

    def _stop_everything(self, item: pytest.Item) -> None:
        """--gate-fail-fast: this process stops after the current check, and so does every other
        worker of the run, which would otherwise work through the checks already queued to it."""
        reason = f"--gate-fail-fast: critical check {item.nodeid} failed"
        item.session.shouldfail = reason
        if self.state.run_dir is not None:
            (self.state.run_dir / STOP_FILE).write_text(reason)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> bool | None:
        if not self.state.settings.fail_fast or self.state.run_dir is None:
            return None
        stop = self.state.run_dir / STOP_FILE
        if not stop.exists():
            return None
        # Another process hit a critical failure: do not start this check (it stays "not run"
        # in the report) and end this process's loop.
        item.session.shouldfail = stop.read_text()
        return True

    def _trace_url(self) -> str | None:
        context = self.state.context
        return trace_link(self.state.settings.trace_url, context.trace_id if context else "")

    def _add_request_log(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """A failed check shows what its requests did (and where its trace is)."""
        item.stash[FAILED_KEY] = True
        records = item.stash.get(RECORDS_KEY, [])
        if records or self.state.settings.trace_url:
            report.sections.append(("prodsmoke requests",
                                    format_request_log(records, self._trace_url())))

    def _add_check_properties(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """The facts of this run of the check, written once, on its last report."""
        records = item.stash.get(RECORDS_KEY, ())
        by_header = self.state.settings.version_header is not None
        # Without a version header only the version endpoint's answers name a version.
        # A followed redirect that named no version is not counted (a proxy's redirect may
        # not); every final answer is.
        versions = Counter(record.version or MISSING_VERSION for record in records
                           if record.target == "candidate" and (by_header or record.version)
                           and not ((record.redirect or record.retried or record.error)
                                    and record.version is None))
        parallel = item.stash.get(PARALLEL_KEY, None)
        context = self.state.context
        own_context = context is not None and context.check_id == item.nodeid
        url = self._trace_url() if own_context else None
        facts = CheckFacts(
            versions=versions or None,
            requests=latency_summary(records) if records else None,
            parallel_run=parallel.as_dict() if parallel is not None else None,
            mismatches=parallel.mismatches if parallel is not None else None,
            canary=item.stash.get(CANARY_RESULT_KEY, None),
            teardown=item.stash.get(TEARDOWN_KEY, None) if report.failed else None,
            leftovers=tuple((left.description, left.error)
                            for left in item.stash.get(LEFTOVERS_KEY, None) or ()),
            trace_id=context.trace_id if own_context and context is not None else "",
            trace_url=url if url and item.stash.get(FAILED_KEY, False) else "",
        )
        report.user_properties.extend(to_properties(facts, at_collection=False))
