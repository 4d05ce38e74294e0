"""The pytest shell of the traces: which span starts and ends when.

- ``CheckSpans`` (every process that runs checks): a check span from the start of a run of a
  check (the check recorder's setup) to its last report (the check recorder hands it every report
  of the running check), and the CLIENT span of each request (the clients call it);
- ``WorkerExport`` (each xdist worker): flushes the worker's spans at the end of its session
  and hands the counts to the controller;
- ``RunTraces`` (the gate's owner): the run span, started when the run starts (its context
  goes to the workers, every check span links to it) and ended with the final verdict; the
  counts for the gate report and the terminal line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from pytest_prodsmoke.gate.events import PASSED
from pytest_prodsmoke.gate.facts import fold, from_properties
from pytest_prodsmoke.gate.recorder import event_from_report
from pytest_prodsmoke.outputs.traces import FLUSH_BOUND_S, RUN_SPAN_SHARE_S
from pytest_prodsmoke.outputs.traces.export import Tracing, random_id
from pytest_prodsmoke.outputs.traces.model import (
    RUN_SPAN_NAME,
    attempt_outcome,
    check_attributes,
    check_result,
    failure_text,
    request_attributes,
    request_failed,
    response_attributes,
    run_attributes,
)
from pytest_prodsmoke.state import TRACES_OUTPUT_KEY


class CheckSpans:
    """The check span of the running check and the request spans under it (one process)."""

    def __init__(self, tracing: Tracing, urls: Mapping[str, str],
                 expected_version: str | None, run_span: tuple[str, str] | None,
                 display_id: Callable[[str], str] = str) -> None:
        self.tracing = tracing
        self.display_id = display_id  # checks named as every other output names them
        self.urls = dict(urls)  # target label -> URL
        self.expected_version = expected_version
        self.links = [tracing.link_to(*run_span)] if run_span else []
        self.span: Any = None
        self.parent: Any = None  # the context of the running check's span
        self.sampled = True  # whether the sampler kept it (its requests' traceparent says so)
        self.nodeid = ""
        self.target_url = ""
        self.reports: list[Any] = []  # of the running check's current run

    # -- check spans
    def start_check(self, nodeid: str, trace_id: str, critical: bool, synthetic: bool,
                    target: str) -> None:
        if self.span is not None:
            self.end_check()  # the previous run never reported its end (an interruption)
        nodeid = self.display_id(nodeid)
        self.nodeid = nodeid
        self.target_url = self.urls.get(target) or next(iter(self.urls.values()), "")
        self.reports = []
        # Its attributes come at its end, with everything known.
        self.span = self.tracing.start_span(nodeid, {}, trace_id=trace_id, links=self.links)
        self.parent = self.tracing.context_of(self.span)  # of its request spans
        self.sampled = self.tracing.ids_of(self.span)[2]

    def on_report(self, report: Any, last: bool) -> None:
        """A report of the running check; ``last``: the last of this run of it."""
        if self.span is None:
            return
        self.reports.append(report)
        if last:
            self.end_check()

    def end_check(self) -> None:
        span, reports = self.span, self.reports
        if span is None:
            return
        self.span, self.reports, self.parent = None, [], None
        if _passed_cleanly(reports):  # most checks: no event to build, the facts read once
            outcome, events = PASSED, ()
            facts = from_properties(reports[-1].user_properties)
        else:
            events = tuple(event_from_report(r, self.display_id) for r in reports)
            outcome = attempt_outcome(events)
            facts = fold(e.facts for e in events)
        critical = facts.critical if facts.critical is not None else True
        _, error = check_result(outcome, critical)
        attempt = int(getattr(reports[-1], "rerun", 0) or 0) if reports else 0
        self.tracing.end_span(
            span, check_attributes(self.nodeid, facts, outcome, critical, attempt,
                                   self.target_url, self.expected_version),
            failure_text(events, outcome) if error else None)

    # -- request spans (http.client.RequestSpans)
    def start_request(self, method: str, url: str, target: str) -> tuple[Any, str, bool] | None:
        """The id of the CLIENT span of a request about to be sent under the running check, for
        its traceparent: (what ``end_request`` needs, the span id, sampled); None outside a
        check. The span itself is made once the answer is in, with everything known: one call
        per request, none before it is sent."""
        parent = self.parent
        if parent is None:
            return None
        span_id = random_id(64)
        return ((span_id, time.time_ns(), method, url, target, parent), f"{span_id:016x}",
                self.sampled)

    def end_request(self, handle: Any, status: int, resend_count: int, error: str,
                    duration_s: float | None = None) -> None:
        span_id, start_ns, method, url, target, parent = handle
        attributes = request_attributes(method, url, target)
        attributes.update(response_attributes(status, resend_count, error))
        span = self.tracing.start_span(method, attributes, span_id=span_id, context=parent,
                                       kind="CLIENT", start_ns=start_ns)
        end_ns = start_ns + int(duration_s * 1e9) if duration_s is not None else None
        self.tracing.end_span(span, {}, (error or f"HTTP {status}")
                              if request_failed(status, error) else None, end_ns=end_ns)


def _passed_cleanly(reports: list[Any]) -> bool:
    """Setup, call and teardown, each passed (not an xfail): the outcome without the gate's
    rules (the other cases take them)."""
    return len(reports) == 3 and all(r.outcome == "passed" and not hasattr(r, "wasxfail")
                                     for r in reports) and reports[1].when == "call"


class WorkerExport:
    """An xdist worker's spans: flushed when its session ends, counted for the controller."""

    def __init__(self, check_spans: CheckSpans) -> None:
        self.check_spans = check_spans

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        tracing = self.check_spans.tracing
        self.check_spans.end_check()  # an interrupted check's span still goes out
        tracing.flush(FLUSH_BOUND_S - RUN_SPAN_SHARE_S)  # the controller keeps the rest
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[TRACES_OUTPUT_KEY] = tracing.counts()
        tracing.shutdown()


def sum_counts(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The counts of several processes as one."""
    total: dict[str, Any] = {"spans": 0, "exported": 0, "failed": 0, "not_exported": 0,
                             "flush_s": 0.0, "last_error": ""}
    for part in parts:
        for key in ("spans", "exported", "failed", "not_exported"):
            total[key] += int(part.get(key, 0) or 0)
        total["flush_s"] = max(total["flush_s"], float(part.get("flush_s", 0.0) or 0.0))
        total["last_error"] = str(part.get("last_error") or "") or total["last_error"]
    return total


class RunTraces:
    """The gate owner's side: the run span and what every process exported."""

    def __init__(self, tracing: Tracing, run_id: str) -> None:
        self.tracing = tracing
        self.run_id = run_id
        self.span = tracing.start_span(RUN_SPAN_NAME, {"prodsmoke.run_id": run_id})
        self.trace_id, self.span_id, _ = tracing.ids_of(self.span)
        self.worker_counts: list[Mapping[str, Any]] = []
        self.workers = 0  # xdist workers that took part
        self.deadline = 0.0
        self.final: dict[str, Any] | None = None

    def add_worker(self, counts: Mapping[str, Any] | None) -> None:
        if counts:
            self.worker_counts.append(counts)

    def checks_done(self, check_spans: CheckSpans | None, workers: int) -> dict[str, Any]:
        """The checks' spans flushed (this process's; the ``workers`` xdist started flushed
        theirs): the traces section of the gate report."""
        self.workers = workers
        # The workers used their share of the bound before this process got here.
        self.deadline = time.monotonic() + (RUN_SPAN_SHARE_S if workers else FLUSH_BOUND_S)
        if check_spans is not None:
            check_spans.end_check()
        if self.tracing.ended:
            self.tracing.flush(FLUSH_BOUND_S - RUN_SPAN_SHARE_S)
        return self.summary()

    def summary(self) -> dict[str, Any]:
        counts = sum_counts([*self.worker_counts, self.tracing.counts()])
        # A worker that crashed took its spans and their counts with it: said, not hidden.
        unreported = max(self.workers - len(self.worker_counts), 0)
        return {"endpoint": self.tracing.endpoint, "run_trace_id": self.trace_id,
                "run_span_id": self.span_id, **counts, "workers_unreported": unreported}

    def end_run(self, status: str, exit_status: int, reasons: Iterable[tuple[str, str]],
                counts: Mapping[str, int], targets: Iterable[str],
                expected_version: str | None) -> None:
        """The run span, with the final verdict, exported within what is left of the bound."""
        self.tracing.end_span(self.span, run_attributes(status, exit_status, reasons, counts,
                                                        self.run_id, targets,
                                                        expected_version),
                              None if status == "pass" else f"gate verdict: {status}")
        left = max(self.deadline - time.monotonic(), RUN_SPAN_SHARE_S) if self.deadline \
            else RUN_SPAN_SHARE_S
        self.tracing.flush(min(left, FLUSH_BOUND_S))
        self.final = self.summary()
        self.tracing.shutdown()

    def line(self) -> str:
        """The one line of the terminal block."""
        found = self.final or self.summary()
        where = f"to {found['endpoint']} (run trace {self.trace_id})"
        lost = found["workers_unreported"]
        gone = (f"; {lost} xdist worker(s) went down before saying what they exported"
                if lost else "")
        if not found["failed"] and not found["not_exported"] and not lost:
            return f"traces: {found['exported']} spans exported {where}"
        problem = f"; last error: {found['last_error']}" if found["last_error"] else ""
        return (f"traces: {found['exported']} of {found['spans']} spans exported {where}, "
                f"{found['failed']} failed, {found['not_exported']} not sent within "
                f"{FLUSH_BOUND_S:g} s{problem}{gone} (the verdict does not depend on them)")
