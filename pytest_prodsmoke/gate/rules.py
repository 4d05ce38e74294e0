"""The gate's verdict: plain data in, plain data out. No pytest import.

This is the single place where the fail-closed rules live. ``decide`` receives everything the
run observed (``RunFacts``) and returns a ``Verdict``. Anything that did not positively pass is
not a pass: a check that never reported, a crash, an interruption, a skipped critical check, a
collection problem, a wrong version, an internal error, or a pytest exit status the gate cannot
explain all make the verdict ``fail``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

# The inputs of the rules (gate/events.py), named here too: what the rules speak of.
from pytest_prodsmoke.gate.events import (
    CRASHED,
    ERROR,
    EXIT_INTERNAL_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NO_TESTS,
    EXIT_OK,
    EXIT_TESTS_FAILED,
    FAILED,
    FLAKY,
    INCOMPLETE,
    NOT_RUN,
    OUTCOMES,
    PASSED,
    RERUN,
    SKIPPED,
    UNKNOWN_LEFTOVER,
    XFAILED,
    XPASSED,
    CollectionProblem,  # noqa: F401 (a rule input too: importable from here)
    PhaseEvent,
    RunFacts,
)
from pytest_prodsmoke.gate.facts import NO_FACTS, CheckFacts, fold

Status = Literal["pass", "degraded", "fail"]

_BROKEN = (FAILED, ERROR, CRASHED)
_NOT_REALLY_RUN = (SKIPPED, XFAILED, XPASSED)

# Reason codes (documented in the README; later features add their own).
CHECK_FAILED = "check_failed"
NO_CHECKS = "no_checks"
COLLECTION_ERROR = "collection_error"
COLLECTION_SKIPPED = "collection_skipped"
INTERRUPTED = "interrupted"
WORKER_CRASHED = "worker_crashed"
NOT_RUN_CODE = "not_run"
CRITICAL_SKIPPED = "critical_skipped"
WRONG_VERSION = "wrong_version"
VERSION_UNCONFIRMED = "version_unconfirmed"
INTERNAL_ERROR = "internal_error"
HOOK_ERROR = "hook_error"
COMMAND_FAILED = "command_failed"
NOT_READY = "not_ready"
LEFTOVERS = "leftovers"
PARALLEL_RUN_MISMATCH = "parallel_run_mismatch"
CANARY_FAILED = "canary_failed"
CANARY_INCONCLUSIVE = "canary_inconclusive"
# A chaos experiment's verdict other than "passed" (methods/chaos): chaos_<verdict>.
CHAOS_CODES = {verdict: f"chaos_{verdict}" for verdict in
               ("deviated", "aborted", "not_recovered", "rollback_failed")}
PYTEST_STATUS = "pytest_status"
FIXTURE_FAILED = "fixture_failed"  # the teardown of a shared fixture a critical check used
# Reasons that only degrade.
NONCRITICAL_FAILED = "noncritical_failed"
NONCRITICAL_FIXTURE_FAILED = "noncritical_fixture_failed"
SKIPS_ALLOWED = "skips_allowed"
FLAKY_CODE = "flaky"
DEGRADING_CODES = frozenset({NONCRITICAL_FAILED, NONCRITICAL_FIXTURE_FAILED, SKIPS_ALLOWED,
                             FLAKY_CODE})

@dataclass(frozen=True)
class CheckResult:
    """One check as the gate judged it: what the gate derived from its reports, and the facts
    they carried (``facts``: target, variant, requests, method results, trace)."""

    nodeid: str
    outcome: str
    critical: bool  # unknown (a crash report) counts as critical
    synthetic: bool
    duration_s: float
    message: str = ""
    versions: Mapping[str, int] = field(default_factory=dict)  # summed over its reports
    # Its own leftovers and those its cleanup journal still holds (never finished undos).
    leftovers: tuple[tuple[str, str], ...] = ()
    facts: CheckFacts = NO_FACTS
    # Every attempt of a check that was rerun (pytest-rerunfailures), oldest first:
    # {"outcome": "failed" | "error" | <the final outcome>, "message": ...}; () when run once.
    attempts: tuple[Mapping[str, str], ...] = ()
    # False when the check's only failure is the teardown of shared fixtures (pytest booked
    # it here because the check ran last): those are judged by their users instead.
    own_failure: bool = True
    fixture_errors: tuple[Mapping[str, Any], ...] = ()  # the shared fixtures that failed here
    location: tuple[str, int] | None = None  # where its failure was (rootdir-relative path, line)

    @property
    def broken(self) -> bool:
        """Failed in a way that counts against this check (its criticality decides)."""
        return self.outcome in _BROKEN and self.own_failure


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    status: Status
    reasons: tuple[Reason, ...]
    checks: tuple[CheckResult, ...]
    counts: Mapping[str, int]
    observed_versions: Mapping[str, int]
    exit_status: int
    replayed: tuple[Mapping[str, Any], ...] = ()  # RunFacts.replayed, for the outputs
    chaos_recovered: tuple[Mapping[str, Any], ...] = ()  # RunFacts.chaos_recovered

    @property
    def ok(self) -> bool:
        """True when the release may go ahead (pass, or degraded without --gate-strict)."""
        return self.exit_status == EXIT_OK

    def failed_critical(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.critical and c.broken)


def _attempt(event: PhaseEvent) -> dict[str, str]:
    return {"outcome": FAILED if event.when == "call" else ERROR, "message": event.message}


def summarize_check(nodeid: str, events: Sequence[PhaseEvent]) -> CheckResult:
    """Fold the reports of one check into its outcome. No reports at all means not run.

    A check may have several reports for one phase: a report per failed subtest next to the
    test's own, one run per worker (``--dist each``), failed attempts before a rerun. Any
    failed report is a failure of the check, whichever report came last.
    """
    if not events:
        return CheckResult(nodeid, NOT_RUN, critical=True, synthetic=False, duration_s=0.0)
    carried = fold(e.facts for e in events)
    duration = sum(e.duration_s for e in events)
    reruns = [e for e in events if e.outcome == RERUN]
    final = [e for e in events if e.outcome != RERUN]

    def first(whens: tuple[str, ...], outcome: str) -> PhaseEvent | None:
        return next((e for e in final if e.when in whens and e.outcome == outcome), None)

    crash = first(("???",), "failed")
    failed_call = first(("call",), "failed")
    failed_fixture = first(("setup",), "failed") or first(("teardown",), "failed")
    # One run of the check per (worker, attempt): every run that was not repeated must have
    # ended with a teardown report. (pytest-rerunfailures before 15 logs no teardown report for
    # a failed attempt it repeats; later versions do.)
    runs: dict[tuple[str, int], set[str]] = {}
    for event in events:
        phases = runs.setdefault((event.runner, event.attempt), set())
        phases.add(RERUN if event.outcome == RERUN else event.when)
    kept = [phases for phases in runs.values() if RERUN not in phases]
    unfinished = not any("teardown" in phases for phases in kept) or any(
        "setup" in phases and "teardown" not in phases for phases in kept)
    failure = crash or failed_call or failed_fixture
    if crash is not None:
        outcome, message = CRASHED, crash.message
    elif failed_call is not None:
        outcome, message = FAILED, failed_call.message
    elif failed_fixture is not None:
        outcome, message = ERROR, failed_fixture.message
    elif unfinished:
        outcome, message = INCOMPLETE, "the check started but never finished"
    else:
        skipped = first(("setup", "call"), "skipped")
        xpassed = next((e for e in final if e.when == "call" and e.wasxfail
                        and e.outcome == "passed"), None)
        if skipped is not None:
            outcome = XFAILED if skipped.wasxfail else SKIPPED
            message = skipped.message
        elif xpassed is not None:
            outcome, message = XPASSED, xpassed.message
        elif reruns:
            outcome = FLAKY
            message = (f"passed on attempt {len(reruns) + 1} after "
                       f"{_plural(len(reruns), 'failed attempt')}: {reruns[0].message}")
        else:
            outcome, message = PASSED, ""
    failed_teardowns = [e for e in final if e.when == "teardown" and e.outcome == "failed"]
    fixture_errors = tuple({(f.get("fixture"), f.get("node")): f
                            for e in failed_teardowns if e.facts.teardown
                            for f in e.facts.teardown.get("fixtures", ()) if isinstance(f, Mapping)
                            }.values())
    own_failure = outcome in (CRASHED, FAILED) or (outcome == ERROR and (
        first(("setup",), "failed") is not None
        or any(e.facts.teardown is None or e.facts.teardown.get("own", True)
               for e in failed_teardowns)))
    attempts: tuple[Mapping[str, str], ...] = ()
    if reruns:
        last = {"outcome": PASSED if outcome == FLAKY else outcome,
                "message": "" if outcome == FLAKY else message}
        attempts = (*(_attempt(e) for e in reruns), last)
    return CheckResult(
        nodeid,
        outcome,
        # Unknown criticality (a crash report) counts as critical: fail closed.
        critical=True if carried.critical is None else carried.critical,
        synthetic=carried.synthetic,
        duration_s=round(duration, 6),
        message=message,
        versions=dict(carried.versions or {}),
        leftovers=carried.leftovers,
        facts=carried,
        attempts=attempts,
        own_failure=own_failure,
        fixture_errors=fixture_errors,
        location=failure.location if failure is not None else None,
    )


def _with_journal(check: CheckResult, entries: Sequence[Mapping[str, Any]]) -> CheckResult:
    """A check's leftovers with what its cleanup journal still says: an undo action still
    pending at the end never ran to completion, so its fake data may still be there."""
    if not entries:
        return check
    leftovers = list(check.leftovers)
    known = {description for description, _ in leftovers}
    for entry in entries:
        pending = entry.get("state") != "done"
        recorded = [(str(d), str(e)) for d, e in entry.get("leftovers", ())]
        if pending:
            recorded += [(str(d), f"{UNKNOWN_LEFTOVER}its cleanup never finished (the run was "
                                  "cancelled or the process running it died first)")
                         for d in entry.get("actions", ())]
        leftovers += [left for left in recorded if left[0] not in known]
        known.update(description for description, _ in recorded)
    return replace(check, leftovers=tuple(leftovers))


def _fixture_errors(checks: Sequence[CheckResult]) -> list[dict[str, Any]]:
    """Failed shared-fixture teardowns, one per fixture instance however many processes and
    checks reported it (under xdist every worker has its own instance)."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for check in checks:
        for error in check.fixture_errors:
            key = (str(error.get("fixture", "?")), str(error.get("scope", "?")),
                   str(error.get("node", "")))
            entry = merged.setdefault(key, {
                "fixture": key[0], "scope": key[1], "node": key[2],
                "message": str(error.get("message", "")), "critical": False,
                "users": {}, "booked": []})
            # Unreadable facts count as critical: fail closed.
            entry["critical"] = entry["critical"] or error.get("critical", True) is not False
            entry["users"].update(dict.fromkeys(str(u) for u in error.get("users", ())))
            entry["booked"].append(check.nodeid)
    return list(merged.values())


def ran_any(checks: Sequence[CheckResult]) -> bool:
    return any(c.outcome not in (NOT_RUN, *_NOT_REALLY_RUN) for c in checks)


def _by_target(checks: Sequence[CheckResult]) -> dict[str, list[CheckResult]]:
    groups: dict[str, list[CheckResult]] = {}
    for check in checks:
        groups.setdefault(check.facts.target, []).append(check)
    return groups


def _ordered_nodeids(collected: Sequence[str], events: Iterable[PhaseEvent]) -> list[str]:
    seen = dict.fromkeys(collected)
    for event in events:
        seen.setdefault(event.nodeid)
    return list(seen)


def _names(checks: Sequence[CheckResult], limit: int = 5) -> str:
    names = ", ".join(c.nodeid for c in checks[:limit])
    return names + (f" and {len(checks) - limit} more" if len(checks) > limit else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def count_checks(checks: Sequence[CheckResult]) -> dict[str, int]:
    counts = {"collected": len(checks)}
    tally = Counter(c.outcome for c in checks)
    counts.update({outcome: tally.get(outcome, 0) for outcome in OUTCOMES})
    counts["critical"] = sum(1 for c in checks if c.critical)
    counts["noncritical"] = len(checks) - counts["critical"]
    counts["synthetic"] = sum(1 for c in checks if c.synthetic)
    return counts


def exit_status_for(status: Status, pytest_status: int, strict: bool) -> int:
    """The process exit status: 0 exactly for pass (and degraded unless strict).

    A failing gate is never 0; pytest's own, more specific non-zero status is kept.
    """
    if status == "pass" or (status == "degraded" and not strict):
        return EXIT_OK
    return pytest_status if pytest_status != EXIT_OK else EXIT_TESTS_FAILED


def decide(facts: RunFacts) -> Verdict:
    """Apply every gate rule to what the run observed."""
    if facts.not_ready is not None and facts.pytest_exit_status == EXIT_NO_TESTS:
        # The plugin itself deselected every check, so pytest's "no tests collected" says
        # nothing of its own: the run simply failed.
        facts = facts._replace(pytest_exit_status=EXIT_TESTS_FAILED, collected=())
    events_by_id: dict[str, list[PhaseEvent]] = {}
    for event in facts.events:
        events_by_id.setdefault(event.nodeid, []).append(event)
    journal_by_check: dict[str, list[Mapping[str, Any]]] = {}
    for entry in facts.journal:
        journal_by_check.setdefault(str(entry.get("check", "")), []).append(entry)
    checks = tuple(_with_journal(summarize_check(nodeid, events_by_id.get(nodeid, [])),
                                 journal_by_check.pop(nodeid, ()))
                   for nodeid in _ordered_nodeids(facts.collected, facts.events))
    counts = count_checks(checks)
    reasons: list[Reason] = []

    def add(code: str, message: str, subjects: Sequence[CheckResult | str] = ()) -> None:
        reasons.append(Reason(code, message, tuple(
            c if isinstance(c, str) else c.nodeid for c in subjects)))

    if facts.not_ready is not None:
        add(NOT_READY, facts.not_ready)

    broken_critical = [c for c in checks if c.critical and c.broken and c.outcome != CRASHED]
    if broken_critical:
        add(CHECK_FAILED, f"{_plural(len(broken_critical), 'critical check')} failed: "
                          f"{_names(broken_critical)}", broken_critical)
        # What kind of comparison failed, for pipelines that react differently (e.g. rerun an
        # inconclusive canary with more samples).
        mismatched = [c for c in broken_critical
                      if c.facts.parallel_run and c.facts.parallel_run.get("mismatches")]
        if mismatched:
            add(PARALLEL_RUN_MISMATCH, "the candidate answered differently from the baseline in "
                f"{_names(mismatched)}", mismatched)
        for code, word in ((CANARY_FAILED, "fail"), (CANARY_INCONCLUSIVE, "inconclusive")):
            judged = [c for c in broken_critical
                      if c.facts.canary and c.facts.canary.get("verdict") == word]
            if judged:
                detail = "; ".join(f"{c.nodeid}: {', '.join(c.facts.canary.get('reasons', []))}"
                                   for c in judged[:3] if c.facts.canary is not None)
                what = ("found the candidate worse" if word == "fail"
                        else "was inconclusive, which is never a pass")
                add(code, f"canary {what}: {detail}", judged)

    for verdict, code in CHAOS_CODES.items():
        judged = [c for c in checks if c.facts.chaos and c.facts.chaos.get("verdict") == verdict]
        if judged:
            detail = "; ".join(f"{c.nodeid}: {c.facts.chaos.get('reason', '')}"
                               for c in judged[:3] if c.facts.chaos is not None)
            loud = "THE FAULT IS STILL IN PRODUCTION: " if verdict == "rollback_failed" else ""
            add(code, f"{loud}chaos experiment {verdict.replace('_', ' ')}: {detail}", judged)
    for recovered in facts.chaos_recovered:
        if recovered.get("outcome") == "rollback_failed":
            add(CHAOS_CODES["rollback_failed"], "THE FAULT IS STILL IN PRODUCTION: an earlier "
                f"run's fault could not be rolled back: {recovered.get('fault')} "
                f"({recovered.get('error')}); {recovered.get('manual')}")

    crashed = [c for c in checks if c.outcome == CRASHED]
    if facts.crashed_workers or crashed:
        detail = "; ".join(facts.crashed_workers) or "a worker process died"
        suffix = f" while running {_names(crashed)}" if crashed else ""
        add(WORKER_CRASHED, f"{detail}{suffix}", crashed)

    if facts.collection_errors:
        add(COLLECTION_ERROR, f"{_plural(len(facts.collection_errors), 'collection error')}: "
            + "; ".join(f"{p.nodeid or '<session>'}: {p.message}"
                        for p in facts.collection_errors[:5]))

    interrupted = list(dict.fromkeys(facts.interruptions))
    if facts.pytest_exit_status == EXIT_INTERRUPTED and not interrupted:
        interrupted.append("pytest reported an interrupted run (exit status 2)")
    if interrupted:
        add(INTERRUPTED, "the run was interrupted: " + "; ".join(interrupted))

    unfinished = [c for c in checks if c.outcome in (NOT_RUN, INCOMPLETE)]
    if unfinished:
        add(NOT_RUN_CODE, f"{_plural(len(unfinished), 'collected check')} did not run to the "
                          f"end: {_names(unfinished)}", unfinished)

    skipped_critical = [c for c in checks if c.critical and c.outcome in _NOT_REALLY_RUN]
    skipped_collection = list(facts.collection_skips)
    if skipped_critical or skipped_collection:
        parts = []
        if skipped_critical:
            parts.append(f"{_plural(len(skipped_critical), 'critical check')} skipped or "
                         f"xfail-marked: {_names(skipped_critical)}")
        if skipped_collection:
            parts.append(f"{_plural(len(skipped_collection), 'module')} skipped at collection: "
                         + ", ".join(f"{p.nodeid} ({p.message})" for p in skipped_collection[:5]))
        text = "; ".join(parts)
        if facts.allow_skips:
            add(SKIPS_ALLOWED, f"{text} (accepted by --gate-allow-skips)", skipped_critical)
        else:
            code = CRITICAL_SKIPPED if skipped_critical else COLLECTION_SKIPPED
            add(code, f"{text} (a gate cannot pass on a check that did not run; "
                      "--gate-allow-skips accepts this)", skipped_critical)

    observed: Counter[str] = Counter()
    for check in checks:
        observed.update(check.versions)
    if facts.expected_version is not None:
        wrong = [c for c in checks if any(v != facts.expected_version for v in c.versions)]
        if wrong:
            others = sorted(v for v in observed if v != facts.expected_version)
            add(WRONG_VERSION, f"responses from {', '.join(others)} instead of "
                               f"{facts.expected_version} in {_names(wrong)}", wrong)
        elif facts.not_ready is None and ran_any(checks):
            # A pin nobody confirmed is no pin: per target, some check's response must have
            # named the expected version.
            unconfirmed = [label for label, group in _by_target(checks).items()
                           if not any(c.versions for c in group)]
            if unconfirmed:
                where = (f" of {', '.join(unconfirmed)}" if any(unconfirmed) else "")
                add(VERSION_UNCONFIRMED, f"--expect-version {facts.expected_version}: no "
                    f"response{where} named a version, so nothing confirmed that "
                    f"{facts.expected_version} answered (no check reached the candidate)")

    ran = [c for c in checks
           if c.outcome in (PASSED, FLAKY, FAILED, ERROR, CRASHED, INCOMPLETE)]
    # Flaky checks did pass in the end, and so did a check whose only error is another
    # fixture's teardown; their own reasons (below) keep the verdict from pass.
    critical_passed = [c for c in checks if c.critical and (
        c.outcome in (PASSED, FLAKY) or (c.outcome == ERROR and not c.own_failure))]
    if facts.not_ready is not None:
        pass  # nothing was meant to run: not_ready says it all
    elif not checks or facts.pytest_exit_status == EXIT_NO_TESTS:
        add(NO_CHECKS, "no check was collected: a gate with nothing to check cannot pass")
    elif not ran:
        add(NO_CHECKS, "no check ran (all were skipped, deselected or not run)")
    elif counts["critical"] == 0:
        add(NO_CHECKS, "every check is marked noncritical: a gate needs at least one "
                       "critical check")
    elif not critical_passed and not (broken_critical or crashed or unfinished):
        add(NO_CHECKS, "no critical check ran and passed")

    dirty = [c for c in checks if c.leftovers]
    if dirty or journal_by_check:
        failed = [c for c in dirty if any(not e.startswith(UNKNOWN_LEFTOVER)
                                          for _, e in c.leftovers)]
        unknown = [c for c in dirty if any(e.startswith(UNKNOWN_LEFTOVER) for _, e in c.leftovers)]
        parts = []
        if failed:
            total = sum(1 for c in failed for _, e in c.leftovers
                        if not e.startswith(UNKNOWN_LEFTOVER))
            parts.append(f"{_plural(total, 'undo action')} failed: fake data left in "
                         f"production by {_names(failed)}")
        if unknown or journal_by_check:
            orphans = sum(max(1, len(entry.get("actions", ()) or ()))
                          for entries in journal_by_check.values() for entry in entries)
            total = sum(1 for c in unknown for _, e in c.leftovers
                        if e.startswith(UNKNOWN_LEFTOVER)) + orphans
            names = [c.nodeid for c in unknown] + [n or "<unknown check>" for n in journal_by_check]
            parts.append(f"{_plural(total, 'undo action')} never finished (the run was "
                         f"cancelled or a process died first): fake data may be left in "
                         f"production by {', '.join(names[:5])}")
        add(LEFTOVERS, "; ".join(parts), dirty)

    not_undone = [r for r in facts.replayed if r.get("outcome") != "undone"]
    if not_undone:
        add(LEFTOVERS, f"{_plural(len(not_undone), 'undo action')} an earlier run left could "
            "not be replayed: fake data may be left in production by "
            + ", ".join(dict.fromkeys(f"{r.get('check') or '<unknown check>'} (run "
                                      f"{str(r.get('run_id', ''))[:8] or '?'})"
                                      for r in not_undone[:5])))

    for message in facts.internal_errors:
        add(INTERNAL_ERROR, f"internal error: {message}")
    if facts.pytest_exit_status == EXIT_INTERNAL_ERROR and not facts.internal_errors:
        add(INTERNAL_ERROR, "pytest reported an internal error (exit status 3)")
    for message in facts.hook_errors:
        add(HOOK_ERROR, message)
    for message in facts.command_errors:
        add(COMMAND_FAILED, message)

    broken_noncritical = [c for c in checks if not c.critical and c.broken]
    if broken_noncritical:
        add(NONCRITICAL_FAILED, f"{_plural(len(broken_noncritical), 'noncritical check')} "
                                f"failed: {_names(broken_noncritical)}", broken_noncritical)
    for error in _fixture_errors(checks):
        users = list(error["users"])
        what = (f"teardown of {error['scope']}-scoped fixture {error['fixture']!r}"
                f"{' of ' + error['node'] if error['node'] else ''} failed: {error['message']}")
        booked = f"(pytest booked the error on {', '.join(error['booked'][:3])})"
        if error["critical"]:
            add(FIXTURE_FAILED, f"{what}; critical checks use it: {', '.join(users[:5])} "
                                f"{booked}", users)
        else:
            add(NONCRITICAL_FIXTURE_FAILED, f"{what}; only noncritical checks use it "
                                            f"{booked}", users)

    flaky = [c for c in checks if c.outcome == FLAKY]
    if flaky:
        add(FLAKY_CODE, f"{_plural(len(flaky), 'check')} passed only on a rerun (flaky): "
            + "; ".join(f"{c.nodeid} ({len(c.attempts)} attempts, first failure: "
                        f"{c.attempts[0]['message']})"
                        for c in flaky[:5])
            + (f" and {len(flaky) - 5} more" if len(flaky) > 5 else ""), flaky)

    explained = {EXIT_OK, EXIT_INTERRUPTED, EXIT_INTERNAL_ERROR, EXIT_NO_TESTS}
    any_failure = (any(c.outcome in _BROKEN for c in checks) or facts.collection_errors
                   or facts.not_ready is not None)
    if facts.pytest_exit_status == EXIT_TESTS_FAILED and any_failure:
        explained.add(EXIT_TESTS_FAILED)
    if facts.pytest_exit_status not in explained:
        add(PYTEST_STATUS, f"pytest exited with status {facts.pytest_exit_status}, which the "
                           "gate cannot explain by its checks")

    status: Status
    if any(r.code not in DEGRADING_CODES for r in reasons):
        status = "fail"
    elif reasons:
        status = "degraded"
    else:
        status = "pass"
    return Verdict(
        status=status,
        reasons=tuple(reasons),
        checks=checks,
        counts=counts,
        observed_versions=dict(sorted(observed.items())),
        exit_status=exit_status_for(status, facts.pytest_exit_status, facts.strict),
        replayed=tuple(facts.replayed),
        chaos_recovered=tuple(facts.chaos_recovered),
    )
