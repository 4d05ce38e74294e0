"""The monitor's state machine: what each check's state is after a cycle, and which alerts
that changes. Plain functions on plain data (no pytest, no I/O, no clock): a cycle's results go
in, the new states and the alert transitions come out.

Per check (and per target), one of:

- ``passing``  — it passed, and has not failed K of the last N cycles since;
- ``failing``  — a critical check failed in K of the last N cycles;
- ``degraded`` — the same for a noncritical check;
- ``unknown``  — it was seen in an earlier cycle and is missing in K of the last N (a failed
  cycle, a check renamed or deselected); also the state of a check before its first result.

A bad state recovers to ``passing`` after M consecutive passes. One bad cycle among good ones
changes nothing (no flapping); so does one good cycle among bad ones. An alert fires when a
check enters a bad state, is resolved when it recovers, and nothing is sent in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

PASSING, FAILING, DEGRADED, UNKNOWN = "passing", "failing", "degraded", "unknown"
STATES = (PASSING, DEGRADED, FAILING, UNKNOWN)
BAD_STATES = frozenset({FAILING, DEGRADED, UNKNOWN})
# prodsmoke_check_state's value per state (a gauge cannot hold a string).
STATE_NUMBERS = {PASSING: 0, DEGRADED: 1, FAILING: 2, UNKNOWN: 3}

# One observation of a check in one cycle.
PASSED, FAILED, MISSING = "passed", "failed", "missing"

# The cycle itself is watched like a check: a cycle without a usable result is a failed one.
CYCLE_CHECK = "(cycle)"


@dataclass(frozen=True)
class Thresholds:
    """``fail_after`` (K) of the last ``window`` (N) cycles bad: a bad state; ``recover_after``
    (M) passes in a row: passing again."""

    fail_after: int = 2
    window: int = 3
    recover_after: int = 2

    def problem(self) -> str | None:
        """What is wrong with these numbers, in one line (None: usable)."""
        if self.window < 1 or self.fail_after < 1 or self.recover_after < 1:
            return "--fail-after, --window and --recover-after must be at least 1"
        if self.fail_after > self.window:
            return (f"--fail-after {self.fail_after} cannot exceed --window {self.window} "
                    "(K failed of the last N cycles)")
        return None


class Observation(NamedTuple):
    """What one cycle says of one check."""

    result: str  # PASSED, FAILED or MISSING
    critical: bool = True
    reason: str = ""  # the failure's one line ("" when it passed)
    trace_url: str = ""
    trace_id: str = ""  # the check's trace (the cycle's: its run span's)


class CheckState(NamedTuple):
    """Where one check stands after the cycles so far."""

    state: str = UNKNOWN
    recent: tuple[str, ...] = ()  # the last N results, oldest first
    passes_in_a_row: int = 0
    critical: bool = True
    reason: str = ""  # why it is in a bad state (the latest bad result's line)
    trace_url: str = ""
    since_cycle: int = 0  # the cycle in which it entered this state
    alerting: bool = False  # an alert is firing for it (fired, not yet resolved)
    trace_id: str = ""  # the trace of its latest bad result (as trace_url)


class Transition(NamedTuple):
    """An alert to send: ``firing`` when a check entered a bad state, ``resolved`` when it
    recovered. ``key`` is (check, target)."""

    key: tuple[str, str]
    status: str  # "firing" or "resolved"
    state: str  # the state entered
    previous: str
    reason: str
    trace_url: str
    trace_id: str = ""


def bad_state(observation: Observation) -> str:
    """The bad state a bad observation points to."""
    if observation.result == MISSING:
        return UNKNOWN
    return FAILING if observation.critical else DEGRADED


def step(check: CheckState, observation: Observation, thresholds: Thresholds,
         cycle: int) -> tuple[CheckState, str | None]:
    """One check after one more cycle: its new state, and the alert that sends ("firing",
    "resolved" or None)."""
    recent = (*check.recent, observation.result)[-thresholds.window:]
    passed = observation.result == PASSED
    passes = check.passes_in_a_row + 1 if passed else 0
    state = check.state
    if passed:
        if state == UNKNOWN and not check.alerting:
            state = PASSING  # its first result (or back after a quiet absence): nothing to heal
        elif state in BAD_STATES and passes >= thresholds.recover_after:
            state = PASSING
    elif sum(1 for result in recent if result != PASSED) >= thresholds.fail_after:
        state = bad_state(observation)
    alert = None
    alerting = check.alerting
    if state in BAD_STATES and not alerting and state != check.state:
        alert, alerting = "firing", True
    elif state == PASSING and alerting:
        alert, alerting = "resolved", False
    # A bad state keeps the line of its latest failure; a passing one has none.
    reason = "" if state == PASSING else observation.reason if not passed else check.reason
    latest = check if passed else observation  # the latest bad result's trace
    trace_url = "" if state == PASSING else latest.trace_url
    trace_id = "" if state == PASSING else latest.trace_id
    return CheckState(state=state, recent=recent, passes_in_a_row=passes,
                      critical=observation.critical, reason=reason, trace_url=trace_url,
                      since_cycle=cycle if state != check.state else check.since_cycle,
                      alerting=alerting, trace_id=trace_id), alert


@dataclass(frozen=True)
class MonitorState:
    """Every check the monitor has seen, by (check id, target), and the cycles so far."""

    checks: Mapping[tuple[str, str], CheckState]
    cycles: int = 0


EMPTY = MonitorState(checks={})


def advance(monitor: MonitorState, observations: Mapping[tuple[str, str], Observation],
            thresholds: Thresholds) -> tuple[MonitorState, tuple[Transition, ...],
                                             tuple[tuple[tuple[str, str], str, str], ...]]:
    """The monitor after one more cycle. ``observations``: what the cycle said, by (check,
    target); a check seen before and absent from them is MISSING. Returns the new state, the
    alerts to send, and every state change ((check, target), from, to), alerts or not."""
    cycle = monitor.cycles + 1
    keys = list(monitor.checks) + [k for k in observations if k not in monitor.checks]
    checks: dict[tuple[str, str], CheckState] = {}
    transitions: list[Transition] = []
    changes: list[tuple[tuple[str, str], str, str]] = []
    for key in keys:
        previous = monitor.checks.get(key, CheckState())
        observation = observations.get(key)
        if observation is None:
            observation = Observation(MISSING, previous.critical,
                                      "not reported by this cycle")
        updated, alert = step(previous, observation, thresholds, cycle)
        checks[key] = updated
        if alert is not None:
            # A resolution names the failure it ends; a firing the one that started it.
            told = updated if alert == "firing" else previous
            transitions.append(Transition(key, alert, updated.state, previous.state,
                                          told.reason, told.trace_url, told.trace_id))
        if updated.state != previous.state and key in monitor.checks:  # not a first result
            changes.append((key, previous.state, updated.state))
    return replace(monitor, checks=checks, cycles=cycle), tuple(transitions), tuple(changes)


def active_alerts(monitor: MonitorState) -> Iterable[tuple[tuple[str, str], CheckState]]:
    """The checks whose alert is firing (Alertmanager wants them re-sent every cycle)."""
    return ((key, check) for key, check in monitor.checks.items() if check.alerting)


STATE_SCHEMA = "pytest-prodsmoke/monitor-state/1"


def to_json(monitor: MonitorState) -> dict[str, object]:
    """The monitor's state as JSON-ready data (kept in --state-dir between runs)."""
    return {"schema": STATE_SCHEMA, "cycles": monitor.cycles, "checks": [
        {"check": check, "target": target, **check_state._asdict()}
        for (check, target), check_state in monitor.checks.items()]}


def from_json(data: object) -> MonitorState:
    """A state saved by ``to_json``; anything else raises ValueError (the caller says so)."""
    if not isinstance(data, dict) or data.get("schema") != STATE_SCHEMA:
        raise ValueError(f"not a {STATE_SCHEMA} file")
    checks: dict[tuple[str, str], CheckState] = {}
    try:
        for entry in data["checks"]:
            state = entry["state"]
            if state not in STATES or not all(r in (PASSED, FAILED, MISSING)
                                              for r in entry["recent"]):
                raise ValueError(f"unknown state in {entry!r}")
            checks[(str(entry["check"]), str(entry["target"]))] = CheckState(
                state=state, recent=tuple(entry["recent"]),
                passes_in_a_row=int(entry["passes_in_a_row"]), critical=bool(entry["critical"]),
                reason=str(entry["reason"]), trace_url=str(entry["trace_url"]),
                since_cycle=int(entry["since_cycle"]), alerting=bool(entry["alerting"]),
                trace_id=str(entry.get("trace_id", "")))  # not in states saved before it
        return MonitorState(checks=checks, cycles=int(data["cycles"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"incomplete monitor state: {exc}") from None
