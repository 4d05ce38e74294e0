"""Alerts on state changes: ``firing`` when a check enters a bad state, ``resolved`` when it
recovers, delivered to a webhook (JSON POST) and to Alertmanager's v2 API.

Delivery never crashes the monitor: each request has a timeout and a bounded retry; what could
not be delivered is logged and kept for the next cycle (bounded, oldest dropped first).
Alertmanager resolves an alert it stops hearing about, so every active alert is re-sent each
cycle with an ``endsAt`` a few intervals ahead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from pytest_prodsmoke.monitor.states import CYCLE_CHECK, CheckState, Transition

ALERT_NAME = "ProdsmokeCheckFailing"
CYCLE_ALERT_NAME = "ProdsmokeCycleFailing"
MAX_PENDING = 100  # undelivered webhook alerts kept for the next cycle
DELIVERY_ATTEMPTS = 2
RETRY_DELAY_S = 0.5


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def webhook_payload(transition: Transition, location: str, run_id: str, at: float
                    ) -> dict[str, Any]:
    """The JSON body of one alert (documented in the README: its fields are an interface)."""
    check, target = transition.key
    return {
        "status": transition.status,
        "alertname": CYCLE_ALERT_NAME if check == CYCLE_CHECK else ALERT_NAME,
        "check": check,
        "target": target,
        "location": location,
        "state": transition.state,
        "previous_state": transition.previous,
        "reason": transition.reason,
        "trace_url": transition.trace_url or None,
        "trace_id": transition.trace_id or None,
        "run_id": run_id or None,
        "at": iso(at),
    }


def alertmanager_alert(key: tuple[str, str], check: CheckState, location: str, run_id: str,
                       starts_at: float, ends_at: float) -> dict[str, Any]:
    """One alert as Alertmanager's ``POST /api/v2/alerts`` takes it. Labels identify it
    (check, target, location); the rest are annotations."""
    check_id, target = key
    return {
        "labels": {"alertname": CYCLE_ALERT_NAME if check_id == CYCLE_CHECK else ALERT_NAME,
                   "check": check_id, "target": target, "location": location,
                   "severity": "warning" if check.state == "degraded" else "critical"},
        "annotations": {"state": check.state, "reason": check.reason,
                        "trace_url": check.trace_url, "trace_id": check.trace_id,
                        "run_id": run_id},
        "startsAt": iso(starts_at),
        "endsAt": iso(ends_at),
    }


Poster = Callable[[str, Any, float], int]  # (url, JSON body, timeout) -> HTTP status


def post_json(url: str, body: Any, timeout_s: float) -> int:
    import requests

    response = requests.post(url, json=body, timeout=timeout_s)
    return response.status_code


def deliver(url: str, body: Any, timeout_s: float, post: Poster = post_json,
            attempts: int = DELIVERY_ATTEMPTS, delay_s: float = RETRY_DELAY_S) -> str:
    """POST with a bounded retry; "" when delivered, else what went wrong (one line)."""
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(delay_s * attempt)
        try:
            status = post(url, body, timeout_s)
        except Exception as exc:  # refused, timed out, DNS: the monitor goes on
            problem = f"{type(exc).__name__}: {exc}"
            continue
        if 200 <= status < 300:
            return ""
        problem = f"HTTP {status}"
        if 400 <= status < 500 and status != 429:
            break  # the receiver will not take it: repeating does not help
    return problem


class Webhook:
    """Each transition is one POST; what fails waits for the next cycle."""

    def __init__(self, url: str, timeout_s: float, post: Poster = post_json) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.post = post
        self.pending: list[dict[str, Any]] = []

    def send(self, payloads: Iterable[dict[str, Any]]) -> list[str]:
        queue, self.pending = [*self.pending, *payloads], []
        errors = []
        for payload in queue:
            problem = deliver(self.url, payload, self.timeout_s, self.post)
            if problem:
                self.pending.append(payload)
                errors.append(f"webhook delivery of {payload['status']} {payload['check']} "
                              f"failed ({problem}); retried next cycle")
        dropped = len(self.pending) - MAX_PENDING
        if dropped > 0:
            self.pending = self.pending[dropped:]
            errors.append(f"webhook: {dropped} undelivered alerts dropped (over {MAX_PENDING})")
        return errors


class Alertmanager:
    """Every cycle: the active alerts (again), and those resolved in it (``endsAt`` now)."""

    def __init__(self, url: str, timeout_s: float, post: Poster = post_json) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.timeout_s = timeout_s
        self.post = post
        self.started: dict[tuple[str, str], float] = {}  # when each active alert began
        # Resolved alerts not yet delivered: (the bad state it left, starts, ends).
        self.resolving: dict[tuple[str, str], tuple[CheckState, float, float]] = {}

    def send(self, active: Mapping[tuple[str, str], CheckState],
             resolved: Mapping[tuple[str, str], CheckState], location: str, run_id: str,
             now: float, hold_s: float) -> list[str]:
        """``active``: the checks alerting now; ``resolved``: the checks that recovered in this
        cycle, as they were before (their bad state and reason)."""
        for key, check in resolved.items():
            self.resolving[key] = (check, self.started.pop(key, now), now)
        alerts = []
        for key, check in active.items():
            self.resolving.pop(key, None)  # firing again before its resolution got through
            starts = self.started.setdefault(key, now)
            alerts.append(alertmanager_alert(key, check, location, run_id, starts, now + hold_s))
        for key, (check, starts, ends) in self.resolving.items():
            alerts.append(alertmanager_alert(key, check, location, run_id, starts, ends))
        if not alerts:
            return []
        problem = deliver(self.url, alerts, self.timeout_s, self.post)
        if problem:
            return [f"Alertmanager delivery failed ({problem}); re-sent next cycle"]
        self.resolving.clear()
        return []
