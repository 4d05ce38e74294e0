"""Gathers what the gate decides from, as plain data, while the run goes on.

The owner of the gate (the xdist controller, or the only process) feeds pytest reports and
events in; ``facts()`` hands ``gate.decide`` a frozen ``RunFacts``. Reports are read by duck
typing, so this works the same for local reports and for reports rebuilt from xdist workers.
A check's reports are kept as they arrive and read when the gate decides, all at once: read
one by one between the checks they cost each check several times as much.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_prodsmoke.faults import inject
from pytest_prodsmoke.gate.events import CollectionProblem, PhaseEvent, RunFacts
from pytest_prodsmoke.gate.facts import from_properties
from pytest_prodsmoke.settings import Settings

MAX_MESSAGE_CHARS = 500


def cwd_relative(rootdir: Path, invocation_dir: Path) -> Callable[[str], str]:
    """Node ids as pytest prints them: relative to where pytest was started, not to its rootdir.

    pytest's ``Config.cwd_relative_nodeid`` does this, but takes a string in pytest 8 and a
    structured node id in 9.2, so the same rule is written out here.
    """
    if rootdir == invocation_dir:
        return str
    cache: dict[str, str] = {}

    def display(nodeid: str) -> str:
        path, sep, rest = str(nodeid).partition("::")
        if path not in cache:
            cache[path] = os.path.relpath(rootdir / path, invocation_dir).replace(os.sep, "/")
        return cache[path] + sep + rest

    return display


def short_message(longrepr: Any) -> str:
    """A one-line summary of a report's failure or skip text."""
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, lineno, reason)
        text = str(longrepr[2])
    else:
        crash = getattr(longrepr, "reprcrash", None)
        text = getattr(crash, "message", None) or _exception_line(str(longrepr))
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    for prefix in ("Skipped: ", "Failed: "):  # pytest.skip() / pytest.fail(): the text alone
        if first.startswith(prefix):
            first = first[len(prefix):]
    return first if len(first) <= MAX_MESSAGE_CHARS else first[: MAX_MESSAGE_CHARS - 1] + "…"


def _exception_line(text: str) -> str:
    """The exception a plain-text traceback ends in (its first ``E`` line): a report whose
    secrets were masked carries its traceback as text, without the structured crash line."""
    found = next((line[1:].strip() for line in text.splitlines()
                  if line.startswith("E ") and line[1:].strip()), None)
    return found or text


def failure_location(report: Any) -> tuple[str, int] | None:
    """The failing line in the check's own file, else the check's definition: where a code
    annotation (GitHub) should point. Paths stay relative to pytest's rootdir."""
    location = getattr(report, "location", None)
    if not location or not location[0]:
        return None
    path, line = str(location[0]), location[1]
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    crash_path = str(getattr(crash, "path", "") or "")
    if crash is not None and crash_path.replace("\\", "/").endswith("/" + path.lstrip("/")):
        return path, int(crash.lineno)
    return path, int(line) + 1 if line is not None else 1  # report lines are 0-based


def event_from_report(report: Any, display_id: Callable[[str], str] = str,
                      properties: Any = None) -> PhaseEvent:
    """The gate's view of one report; ``properties``: its user properties as they were when it
    was logged (the owner then takes ours off for JUnit), else the report's own."""
    if properties is None:
        properties = getattr(report, "user_properties", ())
    facts = from_properties(properties or ())
    teardown = facts.teardown
    if teardown and isinstance(teardown.get("fixtures"), list):
        # The checks that used a failed shared fixture, named as every output names checks.
        facts = replace(facts, teardown={**teardown, "fixtures": [
            {**f, "users": [display_id(str(u)) for u in f.get("users", ())]}
            if isinstance(f, dict) else f for f in teardown["fixtures"]]})
    return PhaseEvent(
        nodeid=display_id(report.nodeid),
        when=str(report.when),
        outcome=str(report.outcome),
        wasxfail=hasattr(report, "wasxfail"),
        duration_s=float(getattr(report, "duration", 0.0) or 0.0),
        message=short_message(report.longrepr) if report.outcome != "passed" else "",
        facts=facts,
        location=failure_location(report) if report.outcome == "failed" else None,
        attempt=int(getattr(report, "rerun", 0) or 0),
        runner=str(getattr(getattr(getattr(report, "node", None), "gateway", None), "id", "")),
    )


class GateRecorder:
    """Mutable accumulator owned by the gate's process; everything else is derived.

    ``display_id`` turns pytest's node ids (relative to its rootdir) into the form pytest itself
    prints (relative to where it was started), so every output names a check as pytest does.
    """

    def __init__(self, display_id: Callable[[str], str] = str) -> None:
        self.display_id = display_id
        self.collected: dict[str, None] = {}  # ordered set
        self.events: list[PhaseEvent] = []
        # Reports not read yet, each with its user properties as logged. pytest and its plugins
        # do not change a report once it is logged (pytest's terminal keeps them all, too).
        self.unread: list[tuple[Any, Any]] = []
        self.collection_errors: list[CollectionProblem] = []
        self.collection_skips: list[CollectionProblem] = []
        self.interruptions: list[str] = []
        self.crashed_workers: dict[str, str] = {}
        self.interrupted_workers: set[str] = set()
        self.internal_errors: list[str] = []
        self.hook_errors: list[str] = []
        self.command_errors: list[str] = []

    def on_collected(self, nodeids: list[str]) -> None:
        # Under xdist every worker reports the same ids; a replaced worker reports them again.
        for nodeid in nodeids:
            self.collected.setdefault(self.display_id(nodeid))

    def on_test_report(self, report: Any) -> None:
        node = getattr(report, "node", None)
        if report.when == "???" and node is not None and \
                getattr(node.gateway, "id", None) in self.interrupted_workers:
            # xdist's "crashed while running" for the check an interrupted worker was running:
            # not a crash; without the rest of its reports the check stays incomplete.
            return
        # Every report counts, also several for one phase (subtests, --dist each) and the
        # failed attempts pytest-rerunfailures repeats (outcome "rerun"): a check that needed
        # a rerun is flaky, never a clean pass.
        # (getattr: a crash report from xdist may carry no user properties at all.)
        self.unread.append((report, getattr(report, "user_properties", None) or ()))

    def read_reports(self) -> None:
        """Every report kept so far, read into the events the gate decides from. A report that
        cannot be read is an internal error (which fails the gate), not a lost report."""
        unread, self.unread = self.unread, []
        for report, properties in unread:
            try:
                inject("record")
                self.events.append(event_from_report(report, self.display_id, properties))
            except Exception as exc:
                self.on_internal_error(f"pytest-prodsmoke: {type(exc).__name__}: {exc}")

    def on_collect_report(self, report: Any) -> None:
        problem = CollectionProblem(self.display_id(report.nodeid) if report.nodeid else "",
                                    short_message(report.longrepr))
        if report.failed:
            self.collection_errors.append(problem)
        elif report.skipped:
            self.collection_skips.append(problem)

    def on_interrupt(self, message: str) -> None:
        self.interruptions.append(message)

    def on_worker_down(self, worker_id: str, error: object) -> None:
        # pytest_testnodedown can fire twice for one node: keyed by worker id.
        if error == "keyboard-interrupt":  # xdist's word for a worker that ended interrupted
            if worker_id not in self.interrupted_workers:
                self.interrupted_workers.add(worker_id)
                self.interruptions.append(f"worker {worker_id} was interrupted")
        elif error is not None:
            self.crashed_workers.setdefault(worker_id, f"worker {worker_id} went down: {error}")

    def on_internal_error(self, message: str) -> None:
        self.internal_errors.append(message)

    def facts(self, pytest_exit_status: int, settings: Settings,
              extra_interruptions: tuple[str, ...] = (), not_ready: str | None = None
              ) -> RunFacts:
        self.read_reports()
        return RunFacts(
            collected=tuple(self.collected),
            events=tuple(self.events),
            collection_errors=tuple(self.collection_errors),
            collection_skips=tuple(self.collection_skips),
            interruptions=tuple(self.interruptions) + extra_interruptions,
            crashed_workers=tuple(self.crashed_workers.values()),
            internal_errors=tuple(self.internal_errors),
            hook_errors=tuple(self.hook_errors),
            command_errors=tuple(self.command_errors),
            not_ready=not_ready,
            pytest_exit_status=int(pytest_exit_status),
            expected_version=settings.expect_version,
            strict=settings.gate_strict,
            allow_skips=settings.allow_skips,
        )
