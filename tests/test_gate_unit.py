"""gate.decide on hand-made facts: every rule as a plain function, no pytest session."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_prodsmoke.gate.facts import CheckFacts
from pytest_prodsmoke.gate.rules import (
    CollectionProblem,
    PhaseEvent,
    RunFacts,
    decide,
    exit_status_for,
    summarize_check,
)

_FACT_NAMES = frozenset(CheckFacts.__dataclass_fields__)


def event(nodeid: str, when: str, outcome: str, **fields) -> PhaseEvent:
    """A report of a check; the keywords that name facts (critical=, versions=, ...) go into
    the facts it carries, the others are the report's own."""
    carried = {k: fields.pop(k) for k in list(fields) if k in _FACT_NAMES}
    return PhaseEvent(nodeid, when, outcome, facts=CheckFacts(**carried), **fields)


def passed(nodeid: str, critical: bool = True, versions: dict | None = None) -> list[PhaseEvent]:
    return [event(nodeid, when, "passed", critical=critical,
                       versions=(versions or {}) if when == "teardown" else {})
            for when in ("setup", "call", "teardown")]


def failed(nodeid: str, when: str = "call", critical: bool = True) -> list[PhaseEvent]:
    events = []
    for phase in ("setup", "call", "teardown"):
        outcome = "failed" if phase == when else "passed"
        events.append(event(nodeid, phase, outcome, message=f"boom in {phase}",
                                 critical=critical))
        if phase == "setup" and when == "setup":
            events.append(event(nodeid, "teardown", "passed", critical=critical))
            break
    return events


def facts(*event_lists: list[PhaseEvent], collected: tuple[str, ...] | None = None,
          **kwargs) -> RunFacts:
    events = [e for group in event_lists for e in group]
    ids = collected if collected is not None else tuple(dict.fromkeys(e.nodeid for e in events))
    return RunFacts(collected=ids, events=events, **kwargs)


def codes(verdict) -> list[str]:
    return [r.code for r in verdict.reasons]


def test_all_passed_is_a_pass() -> None:
    verdict = decide(facts(passed("a"), passed("b")))
    assert verdict.status == "pass" and verdict.exit_status == 0 and verdict.reasons == ()


def test_critical_failure_in_any_phase_fails() -> None:
    for when in ("setup", "call", "teardown"):
        verdict = decide(facts(passed("a"), failed("b", when), pytest_exit_status=1))
        assert verdict.status == "fail" and codes(verdict) == ["check_failed"], when
        assert verdict.exit_status == 1


def test_noncritical_failure_degrades_and_strict_fails() -> None:
    base = dict(pytest_exit_status=1)
    verdict = decide(facts(passed("a"), failed("b", critical=False), **base))
    assert verdict.status == "degraded" and verdict.exit_status == 0
    strict = decide(facts(passed("a"), failed("b", critical=False), strict=True, **base))
    assert strict.status == "degraded" and strict.exit_status == 1


def test_collected_but_never_reported_fails() -> None:
    verdict = decide(facts(passed("a"), collected=("a", "b")))
    assert codes(verdict) == ["not_run"]
    assert verdict.checks[1].outcome == "not_run"


def test_started_but_unfinished_is_incomplete() -> None:
    events = [event("a", "setup", "passed", critical=True),
              event("a", "call", "passed", critical=True)]
    verdict = decide(facts(events, passed("b")))
    assert verdict.checks[0].outcome == "incomplete" and codes(verdict) == ["not_run"]


def test_crash_report_without_properties_counts_as_critical() -> None:
    crash = [event("a", "???", "failed", message="worker 'gw0' crashed")]
    verdict = decide(facts(crash, passed("b"), crashed_workers=("worker gw0 went down",),
                           pytest_exit_status=1))
    assert verdict.checks[0].critical and verdict.checks[0].outcome == "crashed"
    assert codes(verdict) == ["worker_crashed"]


@pytest.mark.parametrize(("status", "code"), [(2, "interrupted"), (3, "internal_error"),
                                              (5, "no_checks"), (4, "pytest_status"),
                                              (6, "pytest_status")])
def test_pytest_statuses_are_never_lowered(status: int, code: str) -> None:
    verdict = decide(facts(passed("a"), pytest_exit_status=status))
    assert verdict.status == "fail" and code in codes(verdict)
    assert verdict.exit_status == status


def test_unexplained_failure_status_fails() -> None:
    verdict = decide(facts(passed("a"), pytest_exit_status=1))
    assert codes(verdict) == ["pytest_status"] and verdict.exit_status == 1


def test_nothing_collected_or_run_fails() -> None:
    assert codes(decide(facts())) == ["no_checks"]
    skipped = [event("a", "setup", "skipped", critical=False),
               event("a", "teardown", "passed", critical=False)]
    assert codes(decide(facts(skipped))) == ["no_checks"]


def test_only_noncritical_checks_fail() -> None:
    assert codes(decide(facts(passed("a", critical=False)))) == ["no_checks"]


def test_skipped_or_xfailed_critical_fails_unless_allowed() -> None:
    skipped = [event("s", "setup", "skipped", message="later", critical=True),
               event("s", "teardown", "passed", critical=True)]
    xfailed = [event("x", "setup", "passed", critical=True),
               event("x", "call", "skipped", wasxfail=True, critical=True),
               event("x", "teardown", "passed", critical=True)]
    verdict = decide(facts(passed("a"), skipped, xfailed))
    assert codes(verdict) == ["critical_skipped"] and verdict.status == "fail"
    assert [c.outcome for c in verdict.checks] == ["passed", "skipped", "xfailed"]
    allowed = decide(facts(passed("a"), skipped, xfailed, allow_skips=True))
    assert codes(allowed) == ["skips_allowed"] and allowed.status == "degraded"


def test_allowed_skips_never_make_a_pass_without_a_passing_critical_check() -> None:
    skipped = [event("s", "setup", "skipped", critical=True),
               event("s", "teardown", "passed", critical=True)]
    verdict = decide(facts(skipped, passed("n", critical=False), allow_skips=True))
    assert verdict.status == "fail" and "no_checks" in codes(verdict)


def test_wrong_version_fails_even_if_checks_passed() -> None:
    verdict = decide(facts(passed("a", versions={"2.0.0": 3, "1.9.0": 1}),
                           expected_version="2.0.0"))
    assert codes(verdict) == ["wrong_version"]
    assert verdict.observed_versions == {"1.9.0": 1, "2.0.0": 3}
    assert "1.9.0 instead of 2.0.0" in verdict.reasons[0].message


def test_versions_are_not_judged_without_an_expected_version() -> None:
    assert decide(facts(passed("a", versions={"1.9.0": 1}))).status == "pass"


def test_collection_problems() -> None:
    error = decide(facts(passed("a"), collection_errors=(CollectionProblem("t.py", "boom"),),
                         pytest_exit_status=1))
    assert codes(error) == ["collection_error"]
    skip = decide(facts(passed("a"), collection_skips=(CollectionProblem("t.py", "no sdk"),)))
    assert codes(skip) == ["collection_skipped"]


def test_internal_and_hook_errors_fail() -> None:
    verdict = decide(facts(passed("a"), internal_errors=("oops",), hook_errors=("hook",)))
    assert codes(verdict) == ["internal_error", "hook_error"]


def test_interruption_message_is_kept() -> None:
    verdict = decide(facts(passed("a"), interruptions=("SIGTERM received",),
                           pytest_exit_status=2))
    assert verdict.reasons[0].message == "the run was interrupted: SIGTERM received"


def test_summarize_xpass_and_rerun_order() -> None:
    xpass = [event("x", "setup", "passed"), event("x", "call", "passed", wasxfail=True),
             event("x", "teardown", "passed")]
    assert summarize_check("x", xpass).outcome == "xpassed"
    assert summarize_check("x", []).outcome == "not_run"


def test_exit_status_table() -> None:
    assert exit_status_for("pass", 0, strict=True) == 0
    assert exit_status_for("degraded", 1, strict=False) == 0
    assert exit_status_for("degraded", 0, strict=True) == 1
    assert exit_status_for("fail", 0, strict=False) == 1
    assert exit_status_for("fail", 2, strict=False) == 2


def test_any_failed_report_of_a_phase_fails_the_check() -> None:
    """A failed subtest report before the test's own passed one; one worker of --dist each."""
    subtest = [event("s", "setup", "passed", critical=True),
               event("s", "call", "failed", message="subtest broke", critical=True),
               event("s", "call", "passed", critical=True),
               event("s", "teardown", "passed", critical=True)]
    verdict = decide(facts(subtest, passed("a"), pytest_exit_status=1))
    assert verdict.checks[0].outcome == "failed" and codes(verdict) == ["check_failed"]
    assert verdict.checks[0].message == "subtest broke"
    each = [*failed("e", "teardown"), *passed("e")]
    assert summarize_check("e", each).outcome == "error"


def test_one_unfinished_run_of_several_is_incomplete() -> None:
    """--dist each: one run per worker; the one on gw1 never finished."""
    each = [*(e._replace(runner="gw0") for e in passed("e")),
            event("e", "setup", "passed", runner="gw1"),
            event("e", "call", "passed", runner="gw1")]
    assert summarize_check("e", each).outcome == "incomplete"
    both = [*(e._replace(runner=w) for w in ("gw0", "gw1") for e in passed("e"))]
    assert summarize_check("e", both).outcome == "passed"


def test_passing_only_on_a_rerun_is_flaky_and_degrades() -> None:
    rerun = [event("f", "setup", "passed", critical=True),
             event("f", "call", "rerun", message="timeout", critical=True),
             event("f", "teardown", "passed", critical=True),
             *(e._replace(attempt=1) for e in passed("f"))]
    verdict = decide(facts(rerun, passed("a")))
    check = verdict.checks[0]
    assert check.outcome == "flaky" and verdict.status == "degraded"
    assert codes(verdict) == ["flaky"] and verdict.reasons[0].checks == ("f",)
    assert [a["outcome"] for a in check.attempts] == ["failed", "passed"]
    assert check.attempts[0]["message"] == "timeout"
    assert verdict.counts["flaky"] == 1 and verdict.counts["passed"] == 1
    assert decide(facts(rerun, passed("a"), strict=True)).exit_status == 1
    # A flaky check alone still passed in the end: degraded, not "nothing passed".
    assert codes(decide(facts(rerun))) == ["flaky"]


def test_a_rerun_without_its_teardown_report_is_no_unfinished_run() -> None:
    """pytest-rerunfailures before 15 logs no teardown report for an attempt it repeats."""
    old_style = [event("f", "setup", "passed"), event("f", "call", "rerun"),
                 *(e._replace(attempt=1) for e in passed("f"))]
    assert summarize_check("f", old_style).outcome == "flaky"
    interrupted = [*old_style[:2], event("f", "setup", "passed", attempt=1),
                   event("f", "call", "passed", attempt=1)]
    assert summarize_check("f", interrupted).outcome == "incomplete"


def test_setup_rerun_is_an_error_attempt_and_a_final_failure_keeps_all() -> None:
    events = [event("f", "setup", "rerun", message="no db"),
              event("f", "teardown", "passed"), *(e._replace(attempt=1) for e in failed("f"))]
    check = summarize_check("f", events)
    assert check.outcome == "failed"
    assert [a["outcome"] for a in check.attempts] == ["error", "failed"]


def test_a_version_pin_no_response_confirmed_fails() -> None:
    verdict = decide(facts(passed("a"), expected_version="2.0.0"))
    assert codes(verdict) == ["version_unconfirmed"] and verdict.status == "fail"
    assert "2.0.0" in verdict.reasons[0].message
    confirmed = decide(facts(passed("a", versions={"2.0.0": 1}), passed("b"),
                             expected_version="2.0.0"))
    assert confirmed.status == "pass"
    # Without a pin there is nothing to confirm; a wrong version already says enough.
    assert decide(facts(passed("a"))).status == "pass"
    wrong = decide(facts(passed("a", versions={"1.0.0": 1}), expected_version="2.0.0"))
    assert codes(wrong) == ["wrong_version"]


def test_every_target_must_confirm_the_pin() -> None:
    def on(target: str, nodeid: str, versions: dict | None = None) -> list[PhaseEvent]:
        return [event(nodeid, when, "passed", critical=True, target=target,
                           versions=versions if when == "teardown" else None)
                for when in ("setup", "call", "teardown")]

    verdict = decide(facts(on("eu", "a[eu]", {"2.0.0": 1}), on("us", "a[us]"),
                           expected_version="2.0.0"))
    assert codes(verdict) == ["version_unconfirmed"]
    assert "of us named" in verdict.reasons[0].message


def _booked(nodeid: str, critical: bool, teardown: dict | None) -> list[PhaseEvent]:
    return [event(nodeid, "setup", "passed", critical=critical),
            event(nodeid, "call", "passed", critical=critical),
            event(nodeid, "teardown", "failed", message="RuntimeError: x",
                       critical=critical, teardown=teardown)]


def test_shared_fixture_teardown_is_judged_by_its_users() -> None:
    fixture = {"fixture": "order", "scope": "module", "node": "t.py", "message": "boom",
               "critical": True, "users": ["a", "b"]}
    on_noncritical = _booked("z", False, {"own": False, "fixtures": [fixture]})
    verdict = decide(facts(passed("a"), passed("b"), on_noncritical, pytest_exit_status=1))
    assert codes(verdict) == ["fixture_failed"] and verdict.status == "fail"
    assert verdict.reasons[0].checks == ("a", "b")
    assert "module-scoped fixture 'order' of t.py failed: boom" in verdict.reasons[0].message
    assert "booked the error on z" in verdict.reasons[0].message

    only_noncritical = {**fixture, "critical": False, "users": ["n"]}
    on_critical = _booked("c", True, {"own": False, "fixtures": [only_noncritical]})
    verdict = decide(facts(passed("n", critical=False), on_critical, pytest_exit_status=1))
    assert codes(verdict) == ["noncritical_fixture_failed"] and verdict.status == "degraded"
    assert verdict.checks[1].outcome == "error" and not verdict.failed_critical()


def test_unknown_or_own_teardown_errors_are_the_checks_own() -> None:
    for teardown in (None, {"own": True, "fixtures": []}, {"unreadable": "x"}):
        verdict = decide(facts(passed("a"), _booked("c", True, teardown), pytest_exit_status=1))
        assert codes(verdict) == ["check_failed"], teardown
    # The same fixture failing in two workers is one fixture error.
    fixture = {"fixture": "order", "scope": "session", "node": "", "message": "boom",
               "critical": False, "users": ["n1"]}
    worker = [_booked(f"n{i}", False, {"own": False, "fixtures": [fixture]}) for i in (1, 2)]
    verdict = decide(facts(passed("a"), *worker, pytest_exit_status=1))
    assert codes(verdict) == ["noncritical_fixture_failed"]


def test_cleanup_still_journalled_at_the_end_is_an_unknown_leftover() -> None:
    journal = ({"check": "a", "state": "pending", "actions": ["order 1"], "leftovers": []},)
    verdict = decide(facts(passed("a"), passed("b"), journal=journal))
    assert codes(verdict) == ["leftovers"] and verdict.status == "fail"
    assert verdict.checks[0].leftovers[0][0] == "order 1"
    assert verdict.checks[0].leftovers[0][1].startswith("unknown: ")
    assert "never finished" in verdict.reasons[0].message
    # A done entry whose leftovers the report already carries is not counted twice.
    done = ({"check": "a", "state": "done", "actions": [], "leftovers": [["order 2", "404"]]},)
    reported = [event("a", "setup", "passed", critical=True),
                event("a", "call", "passed", critical=True),
                event("a", "teardown", "failed", critical=True,
                           leftovers=(("order 2", "404"),))]
    verdict = decide(facts(reported, passed("b"), journal=done, pytest_exit_status=1))
    assert verdict.checks[0].leftovers == (("order 2", "404"),)
    assert "1 undo action failed" in verdict.reasons[-1].message


def test_journal_of_an_unknown_check_still_fails() -> None:
    journal = ({"check": "", "state": "pending", "actions": ["x.json"], "leftovers": []},)
    verdict = decide(facts(passed("a"), journal=journal))
    assert codes(verdict) == ["leftovers"]
    assert "<unknown check>" in verdict.reasons[0].message


def test_cleanup_journal_lives_while_undo_actions_are_pending(tmp_path) -> None:
    from pytest_prodsmoke.safety.cleanup import Cleanup, CleanupJournal, read_journal

    cleanup = Cleanup(CleanupJournal(tmp_path, "t.py::a", "main"))
    cleanup.add(lambda: None, description="order 1")
    assert [(e["check"], e["state"], e["actions"]) for e in read_journal(tmp_path)] == [
        ("t.py::a", "pending", ["order 1"])]
    cleanup.run()
    assert list(read_journal(tmp_path)) == []

    def fail() -> None:
        raise RuntimeError("404")

    failing = Cleanup(CleanupJournal(tmp_path, "t.py::b", "main"))
    failing.add(fail, description="order 2")
    failing.run()
    [entry] = read_journal(tmp_path)
    assert entry["state"] == "done" and entry["leftovers"] == [["order 2", "RuntimeError: 404"]]



# -------------------------------------------------- what mutation testing found untested (#11)
# Every message, subject and number of decide() for facts that raise every reason at once.

def _run(n, critical=True, **props):
    return [event(n, "setup", "passed", critical=critical),
            event(n, "call", "passed", critical=critical, **props),
            event(n, "teardown", "passed", critical=critical)]


def _fail(n, critical=True, message="boom", **props):
    return [event(n, "setup", "passed", critical=critical),
            event(n, "call", "failed", critical=critical, message=message,
                       location=("t.py", 3), **props),
            event(n, "teardown", "passed", critical=critical)]


def _everything() -> RunFacts:
    E = event
    fixture = {"fixture": "order", "scope": "module", "node": "t.py",
               "message": "RuntimeError: x", "critical": True, "users": ["t.py::ok"]}
    quiet = {"fixture": "cache", "scope": "session", "node": "", "message": "OSError: y",
             "critical": False, "users": ["t.py::n1"]}
    events = [
        *_run("t.py::ok", synthetic=True),
        *_fail("t.py::pr", parallel_run={"mismatches": 1}),
        *_fail("t.py::cf", canary={"verdict": "fail", "reasons": ["r1", "r2"]}),
        *_fail("t.py::ci", canary={"verdict": "inconclusive", "reasons": ["few"]}),
        E("t.py::crash", "???", "failed", message="worker 'gw0' crashed"),
        E("t.py::half", "setup", "passed", critical=True),
        E("t.py::skip", "setup", "skipped", critical=True, message="later"),
        E("t.py::skip", "teardown", "passed", critical=True),
        *_run("t.py::old"),
        E("t.py::old", "teardown", "passed", critical=True, versions={"1.0.0": 2}),
        *_run("t.py::dirty"),
        E("t.py::dirty", "teardown", "failed", critical=True, message="undo failed",
          leftovers=(("order 1", "404"),), teardown={"own": True, "fixtures": []}),
        *_fail("t.py::n1", critical=False),
        E("t.py::fl", "setup", "passed", critical=True),
        E("t.py::fl", "call", "rerun", critical=True, message="first"),
        E("t.py::fl", "teardown", "passed", critical=True),
        *[e._replace(attempt=1) for e in _run("t.py::fl")],
        E("t.py::nb", "setup", "passed", critical=False),
        E("t.py::nb", "call", "passed", critical=False),
        E("t.py::nb", "teardown", "failed", critical=False, message="RuntimeError: x",
          teardown={"own": False, "fixtures": [fixture]}),
        E("t.py::cb", "setup", "passed", critical=True),
        E("t.py::cb", "call", "passed", critical=True),
        E("t.py::cb", "teardown", "failed", critical=True, message="OSError: y",
          teardown={"own": False, "fixtures": [quiet]}),
        *[e for i in range(6) for e in _fail(f"t.py::many{i}")],
    ]
    collected = tuple(dict.fromkeys([e.nodeid for e in events] + ["t.py::never"]))
    journal = ({"check": "t.py::dirty", "state": "pending", "actions": ["order 2"],
                "leftovers": []},
               {"check": "t.py::gone", "state": "pending", "actions": ["order 3"],
                "leftovers": []})
    return RunFacts(
        collected=collected, events=events,
        collection_errors=tuple(CollectionProblem(f"e{i}.py" if i else "", f"err{i}")
                                for i in range(6)),
        collection_skips=(CollectionProblem("s.py", "no sdk"),),
        interruptions=("SIGTERM received", "worker gw1 was interrupted"),
        crashed_workers=("worker gw0 went down: boom", "worker gw2 went down: x"),
        internal_errors=("oops",), hook_errors=("hook raised",),
        command_errors=("rollback failed",), pytest_exit_status=2, expected_version="2.0.0",
        journal=journal)


def test_every_reason_word_for_word() -> None:
    from pytest_prodsmoke.gate.rules import Reason

    verdict = decide(_everything())
    assert (verdict.status, verdict.exit_status) == ("fail", 2)
    many = tuple(f"t.py::many{i}" for i in range(6))
    assert verdict.reasons == (
        Reason("check_failed", "10 critical checks failed: t.py::pr, t.py::cf, t.py::ci, "
               "t.py::dirty, t.py::many0 and 5 more",
               ("t.py::pr", "t.py::cf", "t.py::ci", "t.py::dirty", *many)),
        Reason("parallel_run_mismatch", "the candidate answered differently from the baseline "
               "in t.py::pr", ("t.py::pr",)),
        Reason("canary_failed", "canary found the candidate worse: t.py::cf: r1, r2",
               ("t.py::cf",)),
        Reason("canary_inconclusive", "canary was inconclusive, which is never a pass: "
               "t.py::ci: few", ("t.py::ci",)),
        Reason("worker_crashed", "worker gw0 went down: boom; worker gw2 went down: x while "
               "running t.py::crash", ("t.py::crash",)),
        Reason("collection_error", "6 collection errors: <session>: err0; e1.py: err1; "
               "e2.py: err2; e3.py: err3; e4.py: err4"),
        Reason("interrupted", "the run was interrupted: SIGTERM received; worker gw1 was "
               "interrupted"),
        Reason("not_run", "2 collected checks did not run to the end: t.py::half, t.py::never",
               ("t.py::half", "t.py::never")),
        Reason("critical_skipped", "1 critical check skipped or xfail-marked: t.py::skip; "
               "1 module skipped at collection: s.py (no sdk) (a gate cannot pass on a check "
               "that did not run; --gate-allow-skips accepts this)", ("t.py::skip",)),
        Reason("wrong_version", "responses from 1.0.0 instead of 2.0.0 in t.py::old",
               ("t.py::old",)),
        Reason("leftovers", "1 undo action failed: fake data left in production by "
               "t.py::dirty; 2 undo actions never finished (the run was cancelled or a process "
               "died first): fake data may be left in production by t.py::dirty, t.py::gone",
               ("t.py::dirty",)),
        Reason("internal_error", "internal error: oops"),
        Reason("hook_error", "hook raised"),
        Reason("command_failed", "rollback failed"),
        Reason("noncritical_failed", "1 noncritical check failed: t.py::n1", ("t.py::n1",)),
        Reason("fixture_failed", "teardown of module-scoped fixture 'order' of t.py failed: "
               "RuntimeError: x; critical checks use it: t.py::ok (pytest booked the error on "
               "t.py::nb)", ("t.py::ok",)),
        Reason("noncritical_fixture_failed", "teardown of session-scoped fixture 'cache' "
               "failed: OSError: y; only noncritical checks use it (pytest booked the error "
               "on t.py::cb)", ("t.py::n1",)),
        Reason("flaky", "1 check passed only on a rerun (flaky): t.py::fl (2 attempts, first "
               "failure: first)", ("t.py::fl",)),
    )
    assert dict(verdict.counts) == {
        "collected": 20, "passed": 2, "flaky": 1, "failed": 10, "error": 3, "skipped": 1,
        "xfailed": 0, "xpassed": 0, "crashed": 1, "incomplete": 1, "not_run": 1,
        "critical": 18, "noncritical": 2, "synthetic": 1}
    assert verdict.observed_versions == {"1.0.0": 2}
    dirty = next(c for c in verdict.checks if c.nodeid == "t.py::dirty")
    assert dirty.leftovers == (("order 1", "404"), (
        "order 2", "unknown: its cleanup never finished (the run was cancelled or the "
        "process running it died first)"))
    flaky = next(c for c in verdict.checks if c.nodeid == "t.py::fl")
    assert flaky.message == "passed on attempt 2 after 1 failed attempt: first"
    assert next(c for c in verdict.checks if c.nodeid == "t.py::skip").message == "later"
    assert {c.nodeid for c in verdict.failed_critical()} == {
        "t.py::pr", "t.py::cf", "t.py::ci", "t.py::crash", "t.py::dirty", *many}


def test_run_level_messages_word_for_word() -> None:
    from pytest_prodsmoke.gate.rules import Reason

    not_ready = decide(RunFacts(collected=("a",), not_ready="the candidate was not ready",
                                pytest_exit_status=5))
    assert not_ready.reasons == (Reason("not_ready", "the candidate was not ready"),)
    assert (not_ready.exit_status, not_ready.counts["collected"], not_ready.checks) == (1, 0, ())
    plain_not_ready = decide(RunFacts(not_ready="nope", pytest_exit_status=1))
    assert plain_not_ready.exit_status == 1 and codes(plain_not_ready) == ["not_ready"]
    assert decide(facts(passed("a"), pytest_exit_status=2)).reasons == (Reason(
        "interrupted", "the run was interrupted: pytest reported an interrupted run (exit "
        "status 2)"),)
    crash = [event("c", "???", "failed", message="x")]
    assert decide(facts(passed("a"), crash, pytest_exit_status=1)).reasons[0] == Reason(
        "worker_crashed", "a worker process died while running c", ("c",))
    assert decide(facts(passed("a"), crashed_workers=("worker gw0 went down: x",))
                  ).reasons[0] == Reason("worker_crashed", "worker gw0 went down: x")
    assert decide(facts(passed("a"), pytest_exit_status=3)).reasons == (Reason(
        "internal_error", "pytest reported an internal error (exit status 3)"),)
    assert decide(facts(passed("a"), pytest_exit_status=4)).reasons == (Reason(
        "pytest_status", "pytest exited with status 4, which the gate cannot explain by its "
        "checks"),)
    assert decide(facts()).reasons == (Reason(
        "no_checks", "no check was collected: a gate with nothing to check cannot pass"),)
    skipped = [event("s", "setup", "skipped", critical=False),
               event("s", "teardown", "passed", critical=False)]
    assert decide(facts(skipped)).reasons == (Reason(
        "no_checks", "no check ran (all were skipped, deselected or not run)"),)
    assert decide(facts(passed("n", critical=False))).reasons == (Reason(
        "no_checks", "every check is marked noncritical: a gate needs at least one critical "
        "check"),)
    critical_skip = [event("s", "setup", "skipped", critical=True),
                     event("s", "teardown", "passed", critical=True)]
    allowed = decide(facts(critical_skip, passed("n", critical=False), allow_skips=True))
    assert allowed.reasons == (
        Reason("skips_allowed", "1 critical check skipped or xfail-marked: s (accepted by "
               "--gate-allow-skips)", ("s",)),
        Reason("no_checks", "no critical check ran and passed"))
    # Nothing ran: no pin can be confirmed, and that is not what fails the gate.
    assert "version_unconfirmed" not in codes(decide(facts(skipped, expected_version="2")))
    assert decide(facts(passed("a"), expected_version="2.0.0")).reasons[0].message == (
        "--expect-version 2.0.0: no response named a version, so nothing confirmed that 2.0.0 "
        "answered (no check reached the candidate)")


def test_summaries_keep_every_fact() -> None:
    from pytest_prodsmoke.gate.rules import CheckResult

    assert summarize_check("x", []) == CheckResult("x", "not_run", critical=True,
                                                   synthetic=False, duration_s=0.0)
    events = [
        event("x", "setup", "passed", critical=False, synthetic=True, duration_s=0.1234567,
                   target="eu", variant="B"),
        event("x", "call", "failed", critical=False, synthetic=True, duration_s=0.2,
                   message="AssertionError: no", location=("t.py", 7),
                   parallel_run={"mismatches": 2}, canary={"verdict": "pass"},
                   requests={"count": 3, "p50_ms": 1.0}, trace_id="abc",
                   trace_url="https://t/abc"),
        event("x", "teardown", "passed", critical=False, synthetic=True,
                   duration_s=0.0000001, leftovers=(("o", "e"),), versions={"2": 1}),
    ]
    assert summarize_check("x", events) == CheckResult(
        "x", "failed", critical=False, synthetic=True, duration_s=0.323457,
        message="AssertionError: no", versions={"2": 1}, leftovers=(("o", "e"),),
        facts=CheckFacts(
            critical=False, synthetic=True, versions={"2": 1}, leftovers=(("o", "e"),),
            trace_id="abc", trace_url="https://t/abc", requests={"count": 3, "p50_ms": 1.0},
            target="eu", parallel_run={"mismatches": 2}, canary={"verdict": "pass"},
            variant="B"),
        location=("t.py", 7))
    # The crash's location, else the call's, else the fixture's.
    setup_error = [event("x", "setup", "failed", message="m", location=("c.py", 1)),
                   event("x", "teardown", "passed")]
    assert summarize_check("x", setup_error).location == ("c.py", 1)
    assert summarize_check("x", [event("x", "???", "failed", location=("w.py", 2))]
                           ).location == ("w.py", 2)


def test_fixture_errors_with_missing_facts_count_as_critical() -> None:
    from pytest_prodsmoke.gate.rules import Reason

    bare = [event("b", "setup", "passed", critical=False),
            event("b", "call", "passed", critical=False),
            event("b", "teardown", "failed", critical=False,
                       teardown={"own": False, "fixtures": [{}]})]
    verdict = decide(facts(passed("a"), bare, pytest_exit_status=1))
    assert verdict.reasons == (Reason("fixture_failed", "teardown of ?-scoped fixture '?' "
                                      "failed: ; critical checks use it:  (pytest booked the "
                                      "error on b)"),)
    two_nodes = [event("b", "setup", "passed", critical=False),
                 event("b", "call", "passed", critical=False),
                 event("b", "teardown", "failed", critical=False, teardown={
                     "own": False, "fixtures": [
                         {"fixture": "f", "scope": "module", "node": "m1.py", "critical": False,
                          "users": ["u1"]},
                         {"fixture": "f", "scope": "module", "node": "m2.py", "critical": False,
                          "users": ["u2"]}]})]
    reasons = decide(facts(passed("a"), two_nodes, pytest_exit_status=1)).reasons
    assert [r.checks for r in reasons] == [("u1",), ("u2",)]


def test_names_and_plurals() -> None:
    from pytest_prodsmoke.gate.rules import CheckResult, _names, _plural

    checks = [CheckResult(f"c{i}", "failed", True, False, 0.0) for i in range(6)]
    assert _names(checks[:5]) == "c0, c1, c2, c3, c4"
    assert _names(checks) == "c0, c1, c2, c3, c4 and 1 more"
    assert _names(checks, limit=2) == "c0, c1 and 4 more"
    assert (_plural(1, "check"), _plural(2, "check"), _plural(0, "check")) == (
        "1 check", "2 checks", "0 checks")


def test_journal_entries_in_detail() -> None:
    done = ({"check": "a", "state": "done", "leftovers": [["order 1", "404"]]},)
    verdict = decide(facts(passed("a"), passed("b"), journal=done))
    assert verdict.checks[0].leftovers == (("order 1", "404"),)
    assert verdict.reasons[0].message == ("1 undo action failed: fake data left in production "
                                          "by a")
    pending = ({"check": "a", "state": "pending", "actions": ["order 2"],
                "leftovers": [["order 1", "no answer"]]},)
    left = decide(facts(passed("a"), passed("b"), journal=pending)).checks[0].leftovers
    assert [d for d, _ in left] == ["order 1", "order 2"] and left[0][1] == "no answer"


def test_lists_are_joined_and_cut_where_the_message_says() -> None:
    """Two or more of everything, and one more than each message lists."""
    def canary(n: str, verdict: str, **extra) -> list[PhaseEvent]:
        return _fail(n, canary={"verdict": verdict, **extra})

    judged = decide(facts(*(canary(f"c{i}", "fail", reasons=[f"r{i}"]) for i in range(4)),
                          canary("bare", "inconclusive"), pytest_exit_status=1))
    assert judged.reasons[1].message == "canary found the candidate worse: c0: r0; c1: r1; c2: r2"
    assert judged.reasons[2].message == "canary was inconclusive, which is never a pass: bare: "

    skips = tuple(CollectionProblem(f"s{i}.py", "no sdk") for i in range(6))
    skipped = decide(facts(passed("a"), collection_skips=skips)).reasons[0].message
    assert skipped.startswith("6 modules skipped at collection: s0.py (no sdk), s1.py (no sdk), "
                              "s2.py (no sdk), s3.py (no sdk), s4.py (no sdk) (a gate")

    versions = decide(facts(passed("a", versions={"1.0": 1, "1.1": 1, "2": 1}),
                            expected_version="2"))
    assert versions.reasons[0].message == "responses from 1.0, 1.1 instead of 2 in a"

    def on(target: str) -> list[PhaseEvent]:
        return [e._replace(facts=replace(e.facts, target=target))
                for e in passed(f"a[{target}]")]

    unconfirmed = decide(facts(on("eu"), on("us"), expected_version="2")).reasons[0].message
    assert unconfirmed.startswith("--expect-version 2: no response of eu, us named a version")

    journal = tuple({"check": f"j{i}", "state": "pending", "actions": ["x"]} for i in range(6))
    left = decide(facts(passed("a"), journal=journal)).reasons[0].message
    assert left.endswith("fake data may be left in production by j0, j1, j2, j3, j4")

    fixture = {"fixture": "db", "scope": "session", "node": "", "message": "m",
               "critical": True, "users": [f"u{i}" for i in range(6)]}
    booked = [_booked(f"b{i}", False, {"own": False, "fixtures": [fixture]}) for i in range(4)]
    reason = decide(facts(passed("a"), *booked, pytest_exit_status=1)).reasons[-1]
    assert reason.message == ("teardown of session-scoped fixture 'db' failed: m; critical "
                              "checks use it: u0, u1, u2, u3, u4 (pytest booked the error on "
                              "b0, b1, b2)")
    assert reason.checks == tuple(f"u{i}" for i in range(6))


def _flaky(n: str) -> list[PhaseEvent]:
    return [event(n, "setup", "passed", critical=True),
            event(n, "call", "rerun", critical=True, message=f"{n} broke"),
            event(n, "teardown", "passed", critical=True),
            *(e._replace(attempt=1) for e in passed(n))]


@pytest.mark.parametrize("count", [5, 6, 7])
def test_flaky_checks_are_listed_five_at_most(count: int) -> None:
    verdict = decide(facts(*(_flaky(f"f{i}") for i in range(count))))
    listed = "; ".join(f"f{i} (2 attempts, first failure: f{i} broke)" for i in range(5))
    more = f" and {count - 5} more" if count > 5 else ""
    assert verdict.reasons[0].message == (
        f"{count} checks passed only on a rerun (flaky): {listed}{more}")


def test_a_lone_crash_or_failure_is_not_also_nothing_passed() -> None:
    crash = [event("c", "???", "failed", message="x")]
    assert codes(decide(facts(crash, pytest_exit_status=1))) == ["worker_crashed"]
    assert codes(decide(facts(failed("f"), pytest_exit_status=1))) == ["check_failed"]
    half = [event("h", "setup", "passed", critical=True)]
    assert codes(decide(facts(half))) == ["not_run"]


def test_journal_entries_with_missing_keys() -> None:
    """A done entry's actions ran; keys a torn write lost fail closed, never crash."""
    done = ({"check": "a", "state": "done", "actions": ["order 1"]},)
    assert decide(facts(passed("a"), journal=done)).status == "pass"
    no_leftovers = ({"check": "a", "state": "pending", "actions": ["order 1"]},)
    assert [d for d, _ in decide(facts(passed("a"), journal=no_leftovers)).checks[0].leftovers
            ] == ["order 1"]
    no_actions = ({"check": "a", "leftovers": [["order 2", "404"]]},)
    assert decide(facts(passed("a"), journal=no_actions)).checks[0].leftovers == (
        ("order 2", "404"),)
    no_check = ({"state": "pending", "actions": ["x.json"]},)
    assert decide(facts(passed("a"), journal=no_check)).reasons[0].message == (
        "1 undo action never finished (the run was cancelled or a process died first): fake "
        "data may be left in production by <unknown check>")


def test_summaries_of_plain_and_repeated_runs() -> None:
    from pytest_prodsmoke.gate.rules import CheckResult

    assert summarize_check("x", passed("x")) == CheckResult(
        "x", "passed", critical=True, synthetic=False, duration_s=0.0, own_failure=False,
        facts=CheckFacts(critical=True))
    half = [event("x", "setup", "passed"), event("x", "call", "passed")]
    assert summarize_check("x", half).message == "the check started but never finished"
    flaky = summarize_check("f", _flaky("f"))
    assert flaky.attempts == ({"outcome": "failed", "message": "f broke"},
                              {"outcome": "passed", "message": ""})
    broke_again = [*_flaky("f")[:3], *(e._replace(attempt=1) for e in failed("f"))]
    assert summarize_check("f", broke_again).attempts[-1] == {
        "outcome": "failed", "message": "boom in call"}
    # --dist each: one worker's teardown passed, the other's failed on a shared fixture only.
    shared = {"own": False, "fixtures": [{"fixture": "db", "node": "t.py"},
                                         {"fixture": "cache", "node": "t.py"}]}
    each = [*(e._replace(runner="gw0") for e in passed("e")),
            *(e._replace(runner="gw1") for e in _booked("e", True, shared))]
    check = summarize_check("e", each)
    assert check.outcome == "error" and not check.own_failure
    assert [f["fixture"] for f in check.fixture_errors] == ["db", "cache"]


def test_undo_actions_an_earlier_run_left_and_could_not_replay_fail_the_gate() -> None:
    undone = {"check": "t.py::a", "run_id": "0123456789ab", "description": "order 1",
              "outcome": "undone", "error": ""}
    verdict = decide(facts(passed("a"), replayed=(undone,)))
    assert verdict.status == "pass" and verdict.replayed == (undone,)
    failed_replay = {**undone, "description": "order 2", "outcome": "failed", "error": "404"}
    unknown = {"check": "", "run_id": "", "description": "order 3", "outcome": "unknown",
               "error": "could not be replayed"}
    verdict = decide(facts(passed("a"), replayed=(undone, failed_replay, unknown)))
    assert codes(verdict) == ["leftovers"] and verdict.status == "fail"
    assert verdict.reasons[0].message == (
        "2 undo actions an earlier run left could not be replayed: fake data may be left in "
        "production by t.py::a (run 01234567), <unknown check> (run ?)")
    assert verdict.replayed == (undone, failed_replay, unknown)


def test_chaos_verdicts_fail_the_gate_with_their_own_reason() -> None:
    def experiment(verdict: str) -> list[PhaseEvent]:
        chaos = {"fault": "pause the payments", "verdict": verdict, "reason": f"it {verdict}"}
        events = failed("x") if verdict != "passed" else passed("x")
        return [e._replace(facts=replace(e.facts, chaos=chaos)) if e.when == "call" else e
                for e in events]

    assert decide(facts(experiment("passed"))).status == "pass"
    for verdict in ("deviated", "aborted", "not_recovered", "rollback_failed"):
        judged = decide(facts(experiment(verdict), pytest_exit_status=1))
        assert codes(judged) == ["check_failed", f"chaos_{verdict}"], verdict
        loud = "THE FAULT IS STILL IN PRODUCTION: " if verdict == "rollback_failed" else ""
        assert judged.reasons[1].message == (f"{loud}chaos experiment "
                                             f"{verdict.replace('_', ' ')}: x: it {verdict}")
        assert judged.reasons[1].checks == ("x",)


def test_a_fault_an_earlier_run_left_that_stays_fails_the_gate() -> None:
    left = {"check": "t.py::c", "run_id": "r", "fault": "pause pid 9", "outcome":
            "rollback_failed", "error": "no permission", "manual": "kill -CONT 9"}
    rolled = {**left, "outcome": "rolled_back", "error": ""}
    assert decide(facts(passed("a"), chaos_recovered=(rolled,))).status == "pass"
    verdict = decide(facts(passed("a"), chaos_recovered=(rolled, left)))
    assert codes(verdict) == ["chaos_rollback_failed"]
    assert verdict.reasons[0].message == (
        "THE FAULT IS STILL IN PRODUCTION: an earlier run's fault could not be rolled back: "
        "pause pid 9 (no permission); kill -CONT 9")
    assert verdict.chaos_recovered == (rolled, left)


def test_chaos_and_replay_reasons_name_at_most_a_few() -> None:
    def experiment(name: str, chaos: dict) -> list[PhaseEvent]:
        return [e._replace(facts=replace(e.facts, chaos=chaos)) if e.when == "call" else e
                for e in failed(name)]

    runs = [experiment(f"x{i}", {"verdict": "deviated", "reason": f"r{i}"}) for i in range(3)]
    runs.append(experiment("x3", {"verdict": "deviated"}))  # no reason recorded
    verdict = decide(facts(*runs, pytest_exit_status=1))
    assert verdict.reasons[1].message == ("chaos experiment deviated: x0: r0; x1: r1; x2: r2")
    assert verdict.reasons[1].checks == ("x0", "x1", "x2", "x3")
    only = decide(facts(experiment("y", {"verdict": "aborted"}), pytest_exit_status=1))
    assert only.reasons[1].message == "chaos experiment aborted: y: "
    left = [{"check": f"t.py::c{i}", "description": "d", "outcome": "failed", "error": "e"}
            for i in range(6)]  # no run id recorded
    verdict = decide(facts(passed("a"), replayed=tuple(left)))
    assert verdict.reasons[0].message == (
        "6 undo actions an earlier run left could not be replayed: fake data may be left in "
        "production by " + ", ".join(f"t.py::c{i} (run ?)" for i in range(5)))


def test_a_report_without_user_properties_is_still_read() -> None:
    # An xdist crash report ("???") may come without user properties: it still counts as the
    # check's crash, read like any other report, never as a lost report.
    from types import SimpleNamespace

    from pytest_prodsmoke.gate.recorder import GateRecorder

    recorder = GateRecorder()
    recorder.on_collected(["t.py::a"])
    recorder.on_test_report(SimpleNamespace(nodeid="t.py::a", when="???", outcome="failed",
                                            longrepr="worker 'gw0' crashed", node=None))
    facts = recorder.facts(1, SimpleNamespace(expect_version=None, gate_strict=False,
                                              allow_skips=False))
    assert facts.internal_errors == ()
    assert [(e.nodeid, e.when, e.outcome) for e in facts.events] == [("t.py::a", "???", "failed")]
    assert decide(facts).checks[0].outcome == "crashed"
