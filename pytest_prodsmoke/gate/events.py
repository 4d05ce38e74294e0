"""What the gate decides from, as plain records: the outcomes a check can have, one pytest
report of a check (``PhaseEvent``), a collection problem, and everything the run observed
(``RunFacts``). No pytest import.

The gate's owner gathers these while the run goes on (``recorder``); the rules that turn them
into a verdict (``rules``) are loaded only when the gate decides, at the end of the run.
"""

# No ``from __future__ import annotations`` in this module: typing.NamedTuple compiles every
# annotation given as a string, which made its records several times dearer to define, on
# the start-up of every run (tests/test_startup.py keeps it so).

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from pytest_prodsmoke.gate.facts import NO_FACTS, CheckFacts

# Outcomes of one check.
PASSED = "passed"
FAILED = "failed"  # the test body failed
ERROR = "error"  # setup or teardown failed
SKIPPED = "skipped"
XFAILED = "xfailed"
XPASSED = "xpassed"
CRASHED = "crashed"  # the process running it died (xdist reports when == "???")
INCOMPLETE = "incomplete"  # started but never finished (interrupted)
NOT_RUN = "not_run"  # collected, never reported
FLAKY = "flaky"  # passed only on a rerun (pytest-rerunfailures): never a clean pass
OUTCOMES = (PASSED, FLAKY, FAILED, ERROR, SKIPPED, XFAILED, XPASSED, CRASHED, INCOMPLETE,
            NOT_RUN)
RERUN = "rerun"  # the outcome pytest-rerunfailures gives a failed attempt it will repeat
# The error of a leftover nobody knows the fate of (its undo never finished or never ran).
UNKNOWN_LEFTOVER = "unknown: "

# pytest's exit codes, named here to keep this module free of pytest.
EXIT_OK, EXIT_TESTS_FAILED, EXIT_INTERRUPTED, EXIT_INTERNAL_ERROR, EXIT_NO_TESTS = 0, 1, 2, 3, 5


class PhaseEvent(NamedTuple):
    """One pytest report (setup, call, teardown, or an xdist crash ``???``) of one check."""

    nodeid: str
    when: str
    outcome: str  # "passed" | "failed" | "skipped" | "rerun" (a failed attempt, repeated)
    wasxfail: bool = False
    duration_s: float = 0.0
    message: str = ""
    facts: CheckFacts = NO_FACTS  # what the report carried of the check (crash reports: none)
    # Where it failed: (path relative to pytest's rootdir, 1-based line); None when it passed.
    location: tuple[str, int] | None = None
    attempt: int = 0  # which run of the check (pytest-rerunfailures counts reruns from 1)
    runner: str = ""  # the xdist worker that ran it ("" in a serial run)


class CollectionProblem(NamedTuple):
    nodeid: str
    message: str


class RunFacts(NamedTuple):
    """Everything the owner of the gate observed during the run."""

    collected: Sequence[str] = ()
    events: Sequence[PhaseEvent] = ()
    collection_errors: Sequence[CollectionProblem] = ()
    collection_skips: Sequence[CollectionProblem] = ()
    interruptions: Sequence[str] = ()
    crashed_workers: Sequence[str] = ()
    internal_errors: Sequence[str] = ()
    hook_errors: Sequence[str] = ()
    command_errors: Sequence[str] = ()
    not_ready: str | None = None  # --wait-ready gave up: no check was run on purpose
    # What the cleanup journal still holds at the end (safety/cleanup.py): {"check", "state":
    # "pending" | "done", "actions": [descriptions], "leftovers": [[description, error]]}.
    journal: Sequence[Mapping[str, Any]] = ()
    # Undo actions earlier runs left in the state directory, replayed before this run's checks
    # (safety/replay.py): {"check", "run_id", "description", "outcome": "undone" | "failed" |
    # "unknown", "error"}.
    replayed: Sequence[Mapping[str, Any]] = ()
    # Faults earlier runs left in the chaos ledger, rolled back at the start of this one
    # (methods/chaos/ledger.py): {"check", "run_id", "fault", "outcome", "error", "manual"}.
    chaos_recovered: Sequence[Mapping[str, Any]] = ()
    pytest_exit_status: int = EXIT_OK
    expected_version: str | None = None
    strict: bool = False
    allow_skips: bool = False
