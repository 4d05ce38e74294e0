"""The monitor's metrics for Prometheus, with the official ``prometheus-client``: served on
``/metrics`` while the monitor runs and pushed to a Pushgateway after each cycle.

Names modelled on blackbox_exporter (``probe_success``, ``probe_duration_seconds``); labels are
bounded: ``check``, ``target`` and ``location`` (nothing per request, nothing per cycle). The
metrics are made from the monitor's plain state at each scrape or push (a custom collector), so
what Prometheus reads is what the state machine decided, never a half-updated mix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pytest_prodsmoke.monitor.cycle import CycleResult
from pytest_prodsmoke.monitor.states import CYCLE_CHECK, STATE_NUMBERS, MonitorState

JOB = "prodsmoke"


@dataclass
class CheckFigures:
    success: int = 0
    duration_s: float = 0.0
    attempts_total: int = 0
    last_success_s: float = 0.0  # 0: never (Prometheus' convention for "no timestamp yet")
    state: int = STATE_NUMBERS["unknown"]


@dataclass
class TargetFigures:
    """Cycle-level figures (one target's view of the cycles)."""

    cycle_success: int = 0
    cycle_duration_s: float = 0.0
    cycle_last_completed_s: float = 0.0
    checks_collected: int = 0
    checks: dict[str, CheckFigures] = field(default_factory=dict)


class MonitorFigures:
    """Everything the metrics say, updated once per cycle from the cycle and the state."""

    def __init__(self, location: str, target: str) -> None:
        self.location = location
        self.target = target  # the monitor's main target (its display URL)
        self.targets: dict[str, TargetFigures] = {}

    def _target(self, target: str) -> TargetFigures:
        return self.targets.setdefault(target, TargetFigures())

    def update(self, cycle: CycleResult, state: MonitorState) -> None:
        targets = {check.target or self.target for check in cycle.checks} | {self.target}
        for target in targets:
            figures = self._target(target)
            figures.cycle_success = int(cycle.success)
            figures.cycle_duration_s = cycle.duration_s
            if cycle.completed:
                figures.cycle_last_completed_s = cycle.started_at + cycle.duration_s
                figures.checks_collected = sum(
                    1 for check in cycle.checks if (check.target or self.target) == target)
        if cycle.completed:
            for check in cycle.checks:
                target = check.target or self.target
                figures = self._target(target).checks.setdefault(check.check, CheckFigures())
                figures.success = int(check.passed)
                figures.duration_s = check.duration_s
                figures.attempts_total += check.attempts
                if check.passed:
                    figures.last_success_s = cycle.started_at + cycle.duration_s
        for (check_id, target), check_state in state.checks.items():
            if check_id == CYCLE_CHECK:
                continue
            figures = self._target(target).checks.setdefault(check_id, CheckFigures())
            figures.state = STATE_NUMBERS[check_state.state]
            if check_state.recent and check_state.recent[-1] == "missing":
                figures.success = 0  # not reported: never a stale 1


class FiguresCollector(Collector):
    """Turns the figures into metric families at each collection (scrape or push)."""

    def __init__(self, figures: MonitorFigures, only_target: str | None = None) -> None:
        self.figures = figures
        self.only_target = only_target

    def collect(self) -> Iterator[Metric]:
        location = self.figures.location
        check_labels = ["check", "target", "location"]
        cycle_labels = ["target", "location"]
        families: dict[str, Any] = {
            "success": GaugeMetricFamily(
                "prodsmoke_check_success", "1 if the check passed in the last cycle",
                labels=check_labels),
            "duration": GaugeMetricFamily(
                "prodsmoke_check_duration_seconds", "the check's duration in the last cycle",
                labels=check_labels),
            "attempts": CounterMetricFamily(
                "prodsmoke_check_attempts", "attempts of the check, retries included",
                labels=check_labels),
            "last_success": GaugeMetricFamily(
                "prodsmoke_check_last_success_timestamp_seconds",
                "when the check last passed (0: not yet)", labels=check_labels),
            "state": GaugeMetricFamily(
                "prodsmoke_check_state",
                "0 passing, 1 degraded, 2 failing, 3 unknown (after K of N cycles)",
                labels=check_labels),
            "cycle_success": GaugeMetricFamily(
                "prodsmoke_cycle_success", "1 if the last cycle's gate passed",
                labels=cycle_labels),
            "cycle_duration": GaugeMetricFamily(
                "prodsmoke_cycle_duration_seconds", "the last cycle's duration",
                labels=cycle_labels),
            "cycle_completed": GaugeMetricFamily(
                "prodsmoke_cycle_last_completed_timestamp_seconds",
                "when a cycle last produced a usable result (a dead man's switch)",
                labels=cycle_labels),
            "collected": GaugeMetricFamily(
                "prodsmoke_checks_collected", "checks the last usable cycle reported",
                labels=cycle_labels),
        }
        for target, figures in sorted(self.figures.targets.items()):
            if self.only_target is not None and target != self.only_target:
                continue
            cycle = [target, location]
            families["cycle_success"].add_metric(cycle, figures.cycle_success)
            families["cycle_duration"].add_metric(cycle, figures.cycle_duration_s)
            families["cycle_completed"].add_metric(cycle, figures.cycle_last_completed_s)
            families["collected"].add_metric(cycle, figures.checks_collected)
            for check_id, check in sorted(figures.checks.items()):
                labels = [check_id, target, location]
                families["success"].add_metric(labels, check.success)
                families["duration"].add_metric(labels, check.duration_s)
                families["attempts"].add_metric(labels, check.attempts_total)
                families["last_success"].add_metric(labels, check.last_success_s)
                families["state"].add_metric(labels, check.state)
        yield from families.values()


def registry_for(figures: MonitorFigures, only_target: str | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(figures, only_target))
    return registry


def serve(figures: MonitorFigures, port: int, address: str) -> Any:
    """``/metrics`` on ``address:port`` in a background thread; returns the server (its
    ``shutdown()`` stops it)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=address, registry=registry_for(figures))
    return server


def push(figures: MonitorFigures, gateway: str, timeout_s: float) -> list[str]:
    """Push each target's metrics to the Pushgateway, grouped by job, location and target.

    POST (``pushadd``), not PUT: only the metric names pushed are replaced in the group, and
    other groups (other locations, other targets) are left alone. Returns the errors, one line
    each (a failed push never stops the monitor: the next cycle pushes again)."""
    from prometheus_client import pushadd_to_gateway

    errors = []
    for target in sorted(figures.targets):
        try:
            pushadd_to_gateway(gateway, job=JOB, registry=registry_for(figures, target),
                               grouping_key={"location": figures.location, "target": target},
                               timeout=timeout_s)
        except Exception as exc:  # urllib's errors, refused connections, timeouts, 4xx/5xx
            errors.append(f"push to the Pushgateway failed: {type(exc).__name__}: {exc}")
    return errors
