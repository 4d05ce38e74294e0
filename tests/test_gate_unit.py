"""gate.decide on hand-made facts: every rule as a plain function, no pytest session."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_prodsmoke.gate import (
    CollectionProblem,
    PhaseEvent,
    RunFacts,
    decide,
    exit_status_for,
    summarize_check,
)


def passed(nodeid: str, critical: bool = True, versions: dict | None = None) -> list[PhaseEvent]:
    return [PhaseEvent(nodeid, when, "passed", critical=critical,
                       versions=(versions or {}) if when == "teardown" else {})
            for when in ("setup", "call", "teardown")]


def failed(nodeid: str, when: str = "call", critical: bool = True) -> list[PhaseEvent]:
    events = []
    for phase in ("setup", "call", "teardown"):
        outcome = "failed" if phase == when else "passed"
        events.append(PhaseEvent(nodeid, phase, outcome, message=f"boom in {phase}",
                                 critical=critical))
        if phase == "setup" and when == "setup":
            events.append(PhaseEvent(nodeid, "teardown", "passed", critical=critical))
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
    events = [PhaseEvent("a", "setup", "passed", critical=True),
              PhaseEvent("a", "call", "passed", critical=True)]
    verdict = decide(facts(events, passed("b")))
    assert verdict.checks[0].outcome == "incomplete" and codes(verdict) == ["not_run"]


def test_crash_report_without_properties_counts_as_critical() -> None:
    crash = [PhaseEvent("a", "???", "failed", message="worker 'gw0' crashed")]
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
    skipped = [PhaseEvent("a", "setup", "skipped", critical=False),
               PhaseEvent("a", "teardown", "passed", critical=False)]
    assert codes(decide(facts(skipped))) == ["no_checks"]


def test_only_noncritical_checks_fail() -> None:
    assert codes(decide(facts(passed("a", critical=False)))) == ["no_checks"]


def test_skipped_or_xfailed_critical_fails_unless_allowed() -> None:
    skipped = [PhaseEvent("s", "setup", "skipped", message="later", critical=True),
               PhaseEvent("s", "teardown", "passed", critical=True)]
    xfailed = [PhaseEvent("x", "setup", "passed", critical=True),
               PhaseEvent("x", "call", "skipped", wasxfail=True, critical=True),
               PhaseEvent("x", "teardown", "passed", critical=True)]
    verdict = decide(facts(passed("a"), skipped, xfailed))
    assert codes(verdict) == ["critical_skipped"] and verdict.status == "fail"
    assert [c.outcome for c in verdict.checks] == ["passed", "skipped", "xfailed"]
    allowed = decide(facts(passed("a"), skipped, xfailed, allow_skips=True))
    assert codes(allowed) == ["skips_allowed"] and allowed.status == "degraded"


def test_allowed_skips_never_make_a_pass_without_a_passing_critical_check() -> None:
    skipped = [PhaseEvent("s", "setup", "skipped", critical=True),
               PhaseEvent("s", "teardown", "passed", critical=True)]
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
    xpass = [PhaseEvent("x", "setup", "passed"), PhaseEvent("x", "call", "passed", wasxfail=True),
             PhaseEvent("x", "teardown", "passed")]
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
    subtest = [PhaseEvent("s", "setup", "passed", critical=True),
               PhaseEvent("s", "call", "failed", message="subtest broke", critical=True),
               PhaseEvent("s", "call", "passed", critical=True),
               PhaseEvent("s", "teardown", "passed", critical=True)]
    verdict = decide(facts(subtest, passed("a"), pytest_exit_status=1))
    assert verdict.checks[0].outcome == "failed" and codes(verdict) == ["check_failed"]
    assert verdict.checks[0].message == "subtest broke"
    each = [*failed("e", "teardown"), *passed("e")]
    assert summarize_check("e", each).outcome == "error"


def test_one_unfinished_run_of_several_is_incomplete() -> None:
    """--dist each: one run per worker; the one on gw1 never finished."""
    each = [*(replace(e, runner="gw0") for e in passed("e")),
            PhaseEvent("e", "setup", "passed", runner="gw1"),
            PhaseEvent("e", "call", "passed", runner="gw1")]
    assert summarize_check("e", each).outcome == "incomplete"
    both = [*(replace(e, runner=w) for w in ("gw0", "gw1") for e in passed("e"))]
    assert summarize_check("e", both).outcome == "passed"


def test_passing_only_on_a_rerun_is_flaky_and_degrades() -> None:
    rerun = [PhaseEvent("f", "setup", "passed", critical=True),
             PhaseEvent("f", "call", "rerun", message="timeout", critical=True),
             PhaseEvent("f", "teardown", "passed", critical=True),
             *(replace(e, attempt=1) for e in passed("f"))]
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
    old_style = [PhaseEvent("f", "setup", "passed"), PhaseEvent("f", "call", "rerun"),
                 *(replace(e, attempt=1) for e in passed("f"))]
    assert summarize_check("f", old_style).outcome == "flaky"
    interrupted = [*old_style[:2], PhaseEvent("f", "setup", "passed", attempt=1),
                   PhaseEvent("f", "call", "passed", attempt=1)]
    assert summarize_check("f", interrupted).outcome == "incomplete"


def test_setup_rerun_is_an_error_attempt_and_a_final_failure_keeps_all() -> None:
    events = [PhaseEvent("f", "setup", "rerun", message="no db"),
              PhaseEvent("f", "teardown", "passed"), *(replace(e, attempt=1) for e in failed("f"))]
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
        return [PhaseEvent(nodeid, when, "passed", critical=True, target=target,
                           versions=versions if when == "teardown" else None)
                for when in ("setup", "call", "teardown")]

    verdict = decide(facts(on("eu", "a[eu]", {"2.0.0": 1}), on("us", "a[us]"),
                           expected_version="2.0.0"))
    assert codes(verdict) == ["version_unconfirmed"]
    assert "of us named" in verdict.reasons[0].message


def _booked(nodeid: str, critical: bool, teardown: dict | None) -> list[PhaseEvent]:
    return [PhaseEvent(nodeid, "setup", "passed", critical=critical),
            PhaseEvent(nodeid, "call", "passed", critical=critical),
            PhaseEvent(nodeid, "teardown", "failed", message="RuntimeError: x",
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
    reported = [PhaseEvent("a", "setup", "passed", critical=True),
                PhaseEvent("a", "call", "passed", critical=True),
                PhaseEvent("a", "teardown", "failed", critical=True,
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
    from pytest_prodsmoke.cleanup import Cleanup, CleanupJournal, read_journal

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
