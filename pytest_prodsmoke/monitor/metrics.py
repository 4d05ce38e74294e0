"""The monitor's metrics for Prometheus, with the official ``prometheus-client``: served on
``/metrics`` while the monitor runs and pushed to a Pushgateway after each cycle.

Names modelled on blackbox_exporter (``probe_success``, ``probe_duration_seconds``); labels are
bounded: ``check``, ``target`` and ``location`` (nothing per request, nothing per cycle). The
metrics are made from the monitor's plain state at each scrape or push (a custom collector), so
what Prometheus reads is what the state machine decided, never a half-updated mix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


# (name, kind, help, the figure) of each metric: per check, then per target's cycles.
CHECK_METRICS: tuple[tuple[str, str, str, Callable[[CheckFigures], float]], ...] = (
    ("prodsmoke_check_success", "gauge", "1 if the check passed in the last cycle",
     lambda f: f.success),
    ("prodsmoke_check_duration_seconds", "gauge", "the check's duration in the last cycle",
     lambda f: f.duration_s),
    ("prodsmoke_check_attempts", "counter", "attempts of the check, retries included",
     lambda f: f.attempts_total),
    ("prodsmoke_check_last_success_timestamp_seconds", "gauge",
     "when the check last passed (0: not yet)", lambda f: f.last_success_s),
    ("prodsmoke_check_state", "gauge",
     "0 passing, 1 degraded, 2 failing, 3 unknown (after K of N cycles)", lambda f: f.state),
)
CYCLE_METRICS: tuple[tuple[str, str, str, Callable[[TargetFigures], float]], ...] = (
    ("prodsmoke_cycle_success", "gauge", "1 if the last cycle's gate passed",
     lambda f: f.cycle_success),
    ("prodsmoke_cycle_duration_seconds", "gauge", "the last cycle's duration",
     lambda f: f.cycle_duration_s),
    ("prodsmoke_cycle_last_completed_timestamp_seconds", "gauge",
     "when a cycle last produced a usable result (a dead man's switch)",
     lambda f: f.cycle_last_completed_s),
    ("prodsmoke_checks_collected", "gauge", "checks the last usable cycle reported",
     lambda f: f.checks_collected),
)


def _family(name: str, kind: str, help_text: str, labels: list[str]) -> Any:
    family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return family(name, help_text, labels=labels)


class FiguresCollector(Collector):
    """Turns the figures into metric families at each collection (scrape or push)."""

    def __init__(self, figures: MonitorFigures, only_target: str | None = None) -> None:
        self.figures = figures
        self.only_target = only_target

    def collect(self) -> Iterator[Metric]:
        location = self.figures.location
        checks = [_family(name, kind, text, ["check", "target", "location"])
                  for name, kind, text, _ in CHECK_METRICS]
        cycles = [_family(name, kind, text, ["target", "location"])
                  for name, kind, text, _ in CYCLE_METRICS]
        for target, figures in sorted(self.figures.targets.items()):
            if self.only_target is not None and target != self.only_target:
                continue
            for family, (*_, value) in zip(cycles, CYCLE_METRICS, strict=True):
                family.add_metric([target, location], value(figures))
            for check_id, check in sorted(figures.checks.items()):
                for family, (*_, figure) in zip(checks, CHECK_METRICS, strict=True):
                    family.add_metric([check_id, target, location], figure(check))
        yield from checks
        yield from cycles


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
