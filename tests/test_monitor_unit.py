"""The monitor's pure parts on hand-made data: the state machine (K of N, recovery after M,
no flapping, as properties with hypothesis), a cycle's result read from its gate report, and
the alert payloads."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_prodsmoke.monitor.alerts import alertmanager_alert, deliver, webhook_payload
from pytest_prodsmoke.monitor.cycle import CYCLE_CHECK, cycle_problem, result_from_report
from pytest_prodsmoke.monitor.states import (
    DEGRADED,
    EMPTY,
    FAILED,
    FAILING,
    MISSING,
    PASSED,
    PASSING,
    UNKNOWN,
    CheckState,
    MonitorState,
    Observation,
    Thresholds,
    Transition,
    advance,
    from_json,
    to_json,
)

KEY = ("test_x.py::test_order", "https://shop.example")


DEFAULTS = Thresholds()


def run(results: list[str], thresholds: Thresholds = DEFAULTS, critical: bool = True
        ) -> tuple[list[str], list[str]]:
    """The states after each cycle and the alerts sent, for one check's results."""
    state, states, alerts = EMPTY, [], []
    for result in results:
        observations = {} if result == MISSING else {
            KEY: Observation(result, critical, "failed: boom" if result == FAILED else "")}
        state, transitions, _ = advance(state, observations, thresholds)
        states.append(state.checks[KEY].state)
        alerts += [t.status for t in transitions]
    return states, alerts


P, F, M = PASSED, FAILED, MISSING


@pytest.mark.parametrize(("results", "states", "alerts"), [
    ([P, P, P], [PASSING] * 3, []),
    ([P, F, P, P], [PASSING] * 4, []),  # one failure among passes: nothing
    ([P, F, F], [PASSING, PASSING, FAILING], ["firing"]),  # 2 of 3
    ([P, F, P, F], [PASSING, PASSING, PASSING, FAILING], ["firing"]),  # 2 of the last 3
    ([P, F, P, P, F], [PASSING] * 5, []),  # never 2 of the last 3
    ([P, F, F, P, P], [PASSING, PASSING, FAILING, FAILING, PASSING], ["firing", "resolved"]),
    ([P, F, F, P, F, P, P], [PASSING, PASSING, FAILING, FAILING, FAILING, FAILING, PASSING],
     ["firing", "resolved"]),  # a pass among failures does not heal it
    ([F, F], [UNKNOWN, FAILING], ["firing"]),  # failing from its first cycles
    ([F, P], [UNKNOWN, PASSING], []),
    ([P, M, M], [PASSING, PASSING, UNKNOWN], ["firing"]),  # seen before, missing now
    ([P, M, M, P, P], [PASSING, PASSING, UNKNOWN, UNKNOWN, PASSING], ["firing", "resolved"]),
], ids=lambda value: "".join(value) if isinstance(value, list) and value and len(value[0]) == 1
    else None)
def test_k_of_n_and_recovery(results: list[str], states: list[str], alerts: list[str]) -> None:
    assert run(results) == (states, alerts)


def test_a_noncritical_check_turns_degraded_not_failing() -> None:
    assert run([P, F, F], critical=False) == ([PASSING, PASSING, DEGRADED], ["firing"])


def test_other_thresholds() -> None:
    # 3 of 5, recovery after 1 pass.
    assert run([P, F, P, F, P, F, P], Thresholds(3, 5, 1)) == (
        [PASSING] * 5 + [FAILING, PASSING], ["firing", "resolved"])


@pytest.mark.parametrize(("numbers", "problem"), [
    ((2, 3, 2), None), ((3, 3, 1), None), ((4, 3, 2), "--fail-after 4 cannot exceed --window 3"),
    ((0, 3, 2), "at least 1")])
def test_threshold_problems(numbers: tuple[int, int, int], problem: str | None) -> None:
    found = Thresholds(*numbers).problem()
    assert found is None if problem is None else problem in str(found)


results = st.lists(st.sampled_from([P, F, M]), min_size=1, max_size=40)
thresholds = st.tuples(st.integers(1, 5), st.integers(0, 4), st.integers(1, 4)).map(
    lambda t: Thresholds(t[0], t[0] + t[1], t[2]))


@settings(max_examples=300, deadline=None)
@given(results, thresholds)
def test_alerts_alternate_and_follow_the_thresholds(sequence: list[str],
                                                    limits: Thresholds) -> None:
    state, alerts = EMPTY, []
    history: list[str] = []  # the check's results since it was first seen
    for result in sequence:
        observations = {} if result == M else {KEY: Observation(result, True, "x")}
        state, transitions, _ = advance(state, observations, limits)
        if KEY not in state.checks:
            continue  # missing before it was ever seen: not a check yet
        history.append(result)
        for transition in transitions:
            alerts.append(transition.status)
            if transition.status == "firing":
                # Fired only with K bad results among the last N, on a bad result.
                recent = history[-limits.window:]
                assert sum(1 for r in recent if r != P) >= limits.fail_after
                assert result != P
            else:
                # Resolved only after M passes in a row.
                assert history[-limits.recover_after:] == [P] * limits.recover_after
        now = state.checks[KEY]
        assert now.alerting == (bool(alerts) and alerts[-1] == "firing")
        if now.state == PASSING:
            assert not now.alerting
        elif now.state in (FAILING, DEGRADED):
            assert now.alerting  # a bad state always has its alert firing
    # Never two firings (or two resolutions) in a row: no flapping spam.
    assert all(a != b for a, b in itertools.pairwise(alerts))
    assert not alerts or alerts[0] == "firing"


def test_a_check_first_seen_is_no_state_change() -> None:
    _, transitions, changes = advance(EMPTY, {KEY: Observation(P)}, Thresholds())
    assert transitions == () and changes == ()


# ------------------------------------------------------------------- a cycle's result

def report(**overrides: object) -> dict:
    base = {"verdict": "pass", "exit_status": 0, "reasons": [], "run_id": "r1", "checks": [
        {"nodeid": "t.py::test_a", "outcome": "passed", "critical": True, "duration_s": 0.1,
         "message": "", "target": None}]}
    return {**base, **overrides}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "r.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.mark.parametrize(("data", "returncode", "problem"), [
    (report(), 0, ""),
    (report(verdict="fail", exit_status=1, reasons=[{"code": "check_failed", "message": "x"}],
            checks=[{"nodeid": "t.py::test_a", "outcome": "failed", "critical": True}]), 1, ""),
    (report(verdict="fail", exit_status=1,
            reasons=[{"code": "collection_error", "message": "t.py"}]), 1, "collection_error"),
    (report(checks=[]), 0, "no_checks"),
    (report(), 1, "crashed: pytest exited 1, its gate report says 0"),
    ("{not json", 1, "unreadable_report"),
    ([1, 2], 1, "unreadable_report"),
])
def test_result_from_report(tmp_path: Path, data: object, returncode: int, problem: str) -> None:
    result = result_from_report(write(tmp_path, data), 0.0, 1.0, returncode, "")
    assert result.problem.startswith(problem) if problem else result.problem == ""
    assert result.completed is (not problem)
    if problem:
        assert result.exit_status != 0  # --once never exits 0 for a failed cycle


def test_a_missing_report_is_a_failed_cycle(tmp_path: Path) -> None:
    result = result_from_report(tmp_path / "none.json", 0.0, 1.0, 0, "")
    assert result.problem.startswith("no_report") and result.exit_status == 1


def test_a_failed_cycle_reports_its_checks_as_missing(tmp_path: Path) -> None:
    result = result_from_report(write(tmp_path, report(checks=[])), 0.0, 1.0, 0, "")
    assert set(result.observations("https://shop")) == {(CYCLE_CHECK, "https://shop")}


def test_check_reasons_are_not_cycle_problems() -> None:
    assert cycle_problem(report(reasons=[{"code": "wrong_version", "message": "x"}])) == ""
    assert cycle_problem(report(reasons=[{"code": "internal_error", "message": "boom"}])) == \
        "internal_error: boom"


# ----------------------------------------------------------------------------- alerts

def test_alert_payloads() -> None:
    state, transitions, _ = advance(EMPTY, {KEY: Observation(F, True, "failed: boom",
                                                             "https://t/1", "ab" * 16)},
                                    Thresholds(1, 1, 1))
    payload = webhook_payload(transitions[0], "eu", "run-1", 0.0)
    assert payload == {"status": "firing", "alertname": "ProdsmokeCheckFailing",
                       "check": KEY[0], "target": KEY[1], "location": "eu", "state": FAILING,
                       "previous_state": UNKNOWN, "reason": "failed: boom",
                       "trace_url": "https://t/1", "trace_id": "ab" * 16, "run_id": "run-1",
                       "at": "1970-01-01T00:00:00Z"}
    alert = alertmanager_alert(KEY, state.checks[KEY], "eu", "run-1", 0.0, 60.0)
    assert alert["annotations"]["trace_id"] == "ab" * 16
    assert alert["labels"] == {"alertname": "ProdsmokeCheckFailing", "check": KEY[0],
                               "target": KEY[1], "location": "eu", "severity": "critical"}
    assert (alert["startsAt"], alert["endsAt"]) == ("1970-01-01T00:00:00Z",
                                                    "1970-01-01T00:01:00Z")


def test_delivery_retries_are_bounded() -> None:
    calls: list[int] = []

    def refused(url: str, body: object, timeout: float) -> int:
        calls.append(1)
        raise ConnectionError("refused")

    assert deliver("http://x", {}, 1.0, refused, attempts=3, delay_s=0) == \
        "ConnectionError: refused"
    assert len(calls) == 3
    calls.clear()
    assert deliver("http://x", {}, 1.0, lambda *a: calls.append(1) or 400, attempts=3,
                   delay_s=0) == "HTTP 400"
    assert len(calls) == 1  # a 4xx is not retried


@settings(max_examples=100, deadline=None)
@given(results, thresholds)
def test_the_state_survives_a_round_trip_through_json(sequence: list[str],
                                                      limits: Thresholds) -> None:
    state = EMPTY
    for result in sequence:
        observations = {} if result == M else {KEY: Observation(result, True, "x", "u")}
        state = advance(state, observations, limits)[0]
        assert from_json(json.loads(json.dumps(to_json(state)))) == state


@pytest.mark.parametrize("data", [None, [], {"schema": "other"},
                                  {"schema": "pytest-prodsmoke/monitor-state/1", "cycles": 1},
                                  {"schema": "pytest-prodsmoke/monitor-state/1", "cycles": 1,
                                   "checks": [{"check": "a", "target": "b", "state": "bad"}]}])
def test_a_broken_state_is_refused(data: object) -> None:
    with pytest.raises(ValueError):
        from_json(data)


def test_merge_retry_keeps_every_attempt() -> None:
    from pytest_prodsmoke.monitor.cycle import CheckRun, CycleResult, merge_retry

    def check(name: str, outcome: str, critical: bool = True) -> CheckRun:
        return CheckRun(name, "", outcome, critical, 0.1, "boom" if outcome != "passed" else "",
                        1, "")

    first = CycleResult(0.0, 1.0, "fail", 1, (check("a", "passed"), check("b", "failed"),
                                               check("c", "failed", critical=False)), "")
    retry = CycleResult(0.0, 1.0, "degraded", 0, (check("b", "passed"),
                                                  check("c", "failed", critical=False)), "")
    merged = merge_retry(first, retry)
    assert [(c.check, c.outcome, c.history, c.attempts) for c in merged.checks] == [
        ("a", "passed", (), 1), ("b", "passed", ("failed: boom", "passed"), 2),
        ("c", "failed", ("failed: boom", "failed: boom"), 2)]
    assert (merged.verdict, merged.exit_status, merged.duration_s) == ("degraded", 0, 2.0)
    broken = merge_retry(first, CycleResult(0.0, 1.0, "fail", 1, (), "timeout: over"))
    assert broken.checks[1].history == ("failed: boom", "retry failed: timeout: over")
    assert (broken.verdict, broken.exit_status) == ("fail", 1)


# ------------------------------------------------------------- every field, exactly

def test_thresholds_at_their_bounds() -> None:
    assert Thresholds(1, 1, 1).problem() is None
    message = "--fail-after, --window and --recover-after must be at least 1"
    assert Thresholds(0, 1, 1).problem() == message
    assert Thresholds(1, 0, 1).problem() == message
    assert Thresholds(1, 1, 0).problem() == message
    assert Thresholds(2, 1, 1).problem() == ("--fail-after 2 cannot exceed --window 1 (K failed "
                                             "of the last N cycles)")


def test_each_field_of_a_checks_state_through_a_break_and_a_repair() -> None:
    limits = Thresholds(2, 3, 2)
    seen = advance(EMPTY, {KEY: Observation(P, True, "", "")}, limits)[0]
    assert seen.cycles == 1
    assert seen.checks[KEY] == CheckState(PASSING, (P,), 1, True, "", "", 1, False)
    one, alerts, changes = advance(seen, {KEY: Observation(F, False, "boom 1", "u1")}, limits)
    assert (alerts, changes) == ((), ())
    assert one.checks[KEY] == CheckState(PASSING, (P, F), 0, False, "", "", 1, False)
    two, alerts, changes = advance(one, {KEY: Observation(F, True, "boom 2", "u2")}, limits)
    assert alerts == (Transition(KEY, "firing", FAILING, PASSING, "boom 2", "u2"),)
    assert changes == ((KEY, PASSING, FAILING),)
    assert two.checks[KEY] == CheckState(FAILING, (P, F, F), 0, True, "boom 2", "u2", 3, True)
    healing, alerts, changes = advance(two, {KEY: Observation(P, True, "", "")}, limits)
    assert (alerts, changes) == ((), ())
    assert healing.checks[KEY] == CheckState(FAILING, (F, F, P), 1, True, "boom 2", "u2", 3,
                                             True)
    healed, alerts, changes = advance(healing, {KEY: Observation(P, True, "", "")}, limits)
    assert alerts == (Transition(KEY, "resolved", PASSING, FAILING, "boom 2", "u2"),)
    assert changes == ((KEY, FAILING, PASSING),)
    assert healed.checks[KEY] == CheckState(PASSING, (F, P, P), 2, True, "", "", 5, False)
    assert healed.cycles == 5
    gone, alerts, changes = advance(advance(healed, {}, limits)[0], {}, limits)
    assert alerts == (Transition(KEY, "firing", UNKNOWN, PASSING,
                                 "not reported by this cycle", ""),)
    assert changes == ((KEY, PASSING, UNKNOWN),)
    assert gone.checks[KEY].recent == (P, M, M) and gone.checks[KEY].since_cycle == 7


def test_the_state_file_keeps_every_field() -> None:
    state = MonitorState(checks={KEY: CheckState(DEGRADED, (F, P), 1, False, "why", "url", 4,
                                                 True, "cd" * 16)}, cycles=9)
    data = to_json(state)
    assert data == {"schema": "pytest-prodsmoke/monitor-state/1", "cycles": 9, "checks": [
        {"check": KEY[0], "target": KEY[1], "state": DEGRADED, "recent": (F, P),
         "passes_in_a_row": 1, "critical": False, "reason": "why", "trace_url": "url",
         "since_cycle": 4, "alerting": True, "trace_id": "cd" * 16}]}
    assert from_json(json.loads(json.dumps(data))) == state
    # A state saved before checks had a trace id still loads.
    del data["checks"][0]["trace_id"]
    assert from_json(json.loads(json.dumps(data))).checks[KEY].trace_id == ""


def test_a_bad_state_keeps_the_trace_of_its_latest_failure() -> None:
    thresholds = Thresholds(1, 1, 2)
    first, _, _ = advance(EMPTY, {KEY: Observation(F, True, "boom", "u1", "t1")}, thresholds)
    again, _, _ = advance(first, {KEY: Observation(F, True, "boom", "u2", "t2")}, thresholds)
    assert (again.checks[KEY].trace_url, again.checks[KEY].trace_id) == ("u2", "t2")
    # One pass is not yet a recovery (recover_after 2): the failure's trace stays.
    better, _, _ = advance(again, {KEY: Observation(P, True, "", "", "t3")}, thresholds)
    assert (better.checks[KEY].trace_url, better.checks[KEY].trace_id) == ("u2", "t2")
    healed, (resolved,), _ = advance(better, {KEY: Observation(P, True, "", "", "t4")},
                                     thresholds)
    assert (healed.checks[KEY].trace_url, healed.checks[KEY].trace_id) == ("", "")
    assert resolved.trace_id == "t2"  # a resolution names the failure it ends


@pytest.mark.parametrize(("data", "message"), [
    ({"schema": "other"}, "not a pytest-prodsmoke/monitor-state/1 file"),
    ({"schema": "pytest-prodsmoke/monitor-state/1", "cycles": 1}, "incomplete monitor state: "
     "'checks'"),
    ({"schema": "pytest-prodsmoke/monitor-state/1", "cycles": 1, "checks": [
        {"check": "a", "target": "b", "state": "passing", "recent": ["maybe"]}]},
     "unknown state in"),
])
def test_a_broken_state_says_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        from_json(data)
    assert str(raised.value).startswith(message)


def test_degraded_and_flaky_cycles_are_usable_cycles() -> None:
    for code in ("noncritical_failed", "flaky", "canary_inconclusive", "chaos_deviated"):
        assert cycle_problem(report(verdict="degraded",
                                    reasons=[{"code": code, "message": "x"}])) == "", code
