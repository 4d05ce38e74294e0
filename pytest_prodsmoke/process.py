"""The plugins of every process that runs checks (the only one, or each xdist worker), one per
concern: ``CheckRecorder`` (each check's facts, onto its reports), ``BodyRules`` (the plugin's
rules after a check's body), ``TeardownAttribution`` (whose a teardown error is) and
``FailFast`` (--gate-fail-fast across processes).

Other concerns have their plugins where their kind of change lives: secret scrubbing
(safety/scrubbing.py), SIGTERM (safety/signals.py), canary runs, A/B variants and several
targets (methods/), Allure labels (outputs/allure.py).
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_prodsmoke.errors import LatencyBudgetError, ProdsmokeError
from pytest_prodsmoke.faults import inject
from pytest_prodsmoke.gate.facts import MISSING_VERSION, CheckFacts, to_properties
from pytest_prodsmoke.http.client import CheckContext, ResponseRecord
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
from pytest_prodsmoke.safety.scrubbing import needs_scrubbing, scrub_report
from pytest_prodsmoke.settings import Settings
from pytest_prodsmoke.state import (
    ATTEMPT_REPORTED_KEY,
    CRITICAL_KEY,
    FAILED_KEY,
    LATENCY_KEY,
    MARKER_ERROR_KEY,
    RECORDS_KEY,
    RUN_FACTS_KEY,
    SYNTHETIC_KEY,
    TARGET_FIXTURE,
    TRACE_ID_KEY,
    VARIANT_KEY,
    ProcessState,
    forget,
    record_facts,
    stashed,
)

STOP_FILE = "fail-fast-stop"  # in the run directory shared by all processes of the run
NO_BUDGET = (None, None)  # (max_ms, p95_ms) of a check without @pytest.mark.latency


def closest_markers(item: pytest.Item) -> dict[str, pytest.Mark]:
    """The closest marker of each name on a check, in one walk up its nodes (what
    ``get_closest_marker`` returns, without a walk per name)."""
    found: dict[str, pytest.Mark] = {}
    for mark in item.iter_markers():  # closest first
        found.setdefault(mark.name, mark)
    return found


@functools.lru_cache(maxsize=64)
def collection_properties(critical: bool, synthetic: bool, target: str, variant: str
                          ) -> tuple[tuple[str, str], ...]:
    """The properties of the facts known at collection; most checks of a run share them."""
    return tuple(to_properties(CheckFacts(critical=critical, synthetic=synthetic, target=target,
                                          variant=variant), at_collection=True))


class CheckRecorder:
    """Each check from collection to its last report: what is known at collection (critical,
    synthetic, budgets), a fresh start for each run of it, and its facts (gate/facts.py)
    written once, on the last report of each run."""

    def __init__(self, state: ProcessState) -> None:
        self.state = state

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]
                                      ) -> None:
        if self.state.not_ready is not None:
            # The candidate never became ready: checking it would test the wrong thing.
            config.hook.pytest_deselected(items=list(items))
            items.clear()
            return
        for item in items:
            markers = closest_markers(item)
            critical = "noncritical" not in markers
            synthetic = "synthetic" in markers
            item.stash[SYNTHETIC_KEY] = synthetic
            item.stash[CRITICAL_KEY] = critical
            latency = markers.get("latency")
            if latency is not None:
                item.stash[LATENCY_KEY] = latency_budget(latency.args, latency.kwargs)
            callspec = getattr(item, "callspec", None)
            params = callspec.params if callspec is not None else {}
            # The facts known now go on every report of the check (JUnit shows them too).
            item.user_properties.extend(collection_properties(
                critical, synthetic, str(params.get(TARGET_FIXTURE, "")), variant_of(item)))
        if BodyRules.needed(self.state.settings, items) and \
                not config.pluginmanager.has_plugin("prodsmoke-body-rules"):
            # Only then: a wrapper around every check's body costs every check.
            config.pluginmanager.register(BodyRules(self.state), "prodsmoke-body-rules")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Each run of a check starts afresh: a rerun (pytest-rerunfailures) reports its own
        requests and leftovers, not again those of the attempts before it."""
        stash, state = item.stash, self.state
        forget(stash, FAILED_KEY, RUN_FACTS_KEY, ATTEMPT_REPORTED_KEY)  # of one run
        state.current = item
        state.records = stash[RECORDS_KEY] = []
        budget = stashed(stash, LATENCY_KEY, NO_BUDGET)
        if isinstance(budget, str):
            pytest.fail(budget, pytrace=False)
        if MARKER_ERROR_KEY in stash:
            pytest.fail(stash[MARKER_ERROR_KEY], pytrace=False)
        context = CheckContext(
            check_id=item.nodeid,
            trace_id=stashed(stash, TRACE_ID_KEY, None) or new_trace_id(),
            synthetic=stashed(stash, SYNTHETIC_KEY, False),
            uses_fake_user="fake_user" in getattr(item, "fixturenames", ()),
            latency_max_ms=budget[0] if budget[0] is not None else state.settings.latency_max_ms,
            variant=stashed(stash, VARIANT_KEY, None),
        )
        for client in state.clients:
            client.reset_for_check(context)
        state.context = context
        if state.spans is not None:
            callspec = getattr(item, "callspec", None)
            target = str(callspec.params.get(TARGET_FIXTURE, "")) if callspec is not None else ""
            state.spans.start_check(item.nodeid, context.trace_id,
                                    stashed(stash, CRITICAL_KEY, True),
                                    context.synthetic, target)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # tryfirst: before xdist sends the report to the controller, and before the JUnit
        # writer, the terminal and the gate read it. (A plain hook, not a makereport wrapper:
        # this runs for every report and wrappers cost several times more.)
        inject("check-hook")
        item = self.state.current
        if item is not None and item.nodeid == report.nodeid:
            if report.failed:
                self._add_request_log(item, report)
            last = (report.when == "teardown" or report.outcome == "rerun") and \
                ATTEMPT_REPORTED_KEY not in item.stash
            if last:
                # The facts of one run of the check go on the last report of that run: its
                # teardown, or the failed report pytest-rerunfailures repeats (before version 15
                # it logs no teardown report for a repeated attempt).
                item.stash[ATTEMPT_REPORTED_KEY] = True
                self._add_facts(item, report)
            if self.state.spans is not None:
                self.state.spans.on_report(report, last)  # its facts are on it now
        # Last, after everything this plugin added, before the report leaves this hook.
        if needs_scrubbing(report):
            scrub_report(report)

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

    def _add_facts(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """The facts of this run of the check, written once, on its last report."""
        stash = item.stash
        records = stashed(stash, RECORDS_KEY, ())
        context = self.state.context
        own_context = context is not None and context.check_id == item.nodeid
        found = stashed(stash, RUN_FACTS_KEY, None)  # by the methods the check used
        if found and "teardown" in found and not report.failed:
            found = {k: v for k, v in found.items() if k != "teardown"}  # e.g. skipped in it
        facts = CheckFacts(
            versions=self._versions(records) if records else None,
            requests=latency_summary(records) if records else None,
            trace_id=context.trace_id if own_context and context is not None else "",
            trace_url=(self._trace_url() or "") if own_context and FAILED_KEY in stash else "",
            **(found or {}),
        )
        report.user_properties.extend(to_properties(facts, at_collection=False))

    def _versions(self, records: list[ResponseRecord]) -> dict[str, int] | None:
        """How often each version answered the check (``MISSING_VERSION``: no version named)."""
        # Without a version header only the version endpoint's answers name a version.
        # A followed redirect that named no version is not counted (a proxy's redirect may
        # not); every final answer is.
        by_header = self.state.settings.version_header is not None
        versions: dict[str, int] = {}
        for record in records:
            version = record.version
            if record.target != "candidate" or not (by_header or version) or (
                    version is None and (record.redirect or record.retried or record.error)):
                continue
            key = version or MISSING_VERSION
            versions[key] = versions.get(key, 0) + 1
        return versions or None


class BodyRules:
    """The plugin's own rules, checked once a check's body passed: its A/B variant confirmed,
    its version asked of the version endpoint (without a version header), the p95 of its
    requests within budget. Registered by CheckRecorder when a collected check needs one."""

    def __init__(self, state: ProcessState) -> None:
        self.state = state

    @staticmethod
    def needed(settings: Settings, items: list[pytest.Item]) -> bool:
        return (settings.latency_p95_ms is not None
                or (settings.version_header is None and settings.version_path is not None)
                or any(bool(variant_of(item)) or LATENCY_KEY in item.stash
                       for item in items))

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
            settings.latency_p95_ms)
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


class TeardownAttribution:
    """Whose a teardown error is: pytest books the error of a shared fixture's teardown on
    whichever check ran last; gate/teardown.py finds the fixture and the checks that used it."""

    def __init__(self) -> None:
        # Code objects of the shared (not function-scoped) fixtures set up in this process.
        # Any: types.CodeType -> gate.teardown.FixtureCode.
        self.shared_fixture_code: dict[Any, Any] = {}

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
        # stash, and the teardown report picks them up (CheckRecorder).
        if call.when != "teardown" or call.excinfo is None or not self.shared_fixture_code:
            return
        from pytest_prodsmoke.gate.teardown import attribute

        try:
            whose = attribute(call.excinfo.value, item, list(item.session.items),
                              self.shared_fixture_code,
                              lambda check: check.stash.get(CRITICAL_KEY, True))
        except Exception:  # unknown: the gate counts it as the check's own
            return
        record_facts(item, teardown=whose)


class FailFast:
    """--gate-fail-fast: at the first critical failure this process stops after the current
    check, and so does every other worker of the run, which would otherwise work through the
    checks already queued to it. Registered only with the option."""

    def __init__(self, state: ProcessState, run_dir: Path) -> None:
        self.state = state
        self.stop = run_dir / STOP_FILE

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> bool | None:
        if not self.stop.exists():
            return None
        # Another process hit a critical failure: do not start this check (it stays "not run"
        # in the report) and end this process's loop.
        item.session.shouldfail = self.stop.read_text()
        return True

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        item = self.state.current
        if report.failed and item is not None and item.nodeid == report.nodeid and \
                item.stash.get(CRITICAL_KEY, True):
            reason = f"--gate-fail-fast: critical check {item.nodeid} failed"
            item.session.shouldfail = reason
            self.stop.write_text(reason)
