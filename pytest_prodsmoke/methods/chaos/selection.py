"""Which chaos experiments a run has: without ``--chaos`` they are deselected (one line says
so, on the controller too under xdist); with it, the experiment runner is registered. Light
on purpose: every gate run loads this module, only a run that collected an experiment the rest
of methods/chaos."""

from __future__ import annotations

import pytest

from pytest_prodsmoke.methods.chaos import MARKER
from pytest_prodsmoke.state import CHAOS_NOT_RUN_KEY, ProcessState


def is_experiment(item: pytest.Item) -> bool:
    return item.get_closest_marker(MARKER) is not None


def not_run_line(count: int) -> str:
    return (f"prodsmoke: {count} chaos experiment{'s' if count > 1 else ''} not run: pass "
            "--chaos to run them")


class ChaosSelection:
    """Without ``--chaos`` the experiments are deselected (and counted for one line)."""

    def __init__(self, state: ProcessState) -> None:
        self.state = state
        self.not_run = 0

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]
                                      ) -> None:
        experiments = [item for item in items if is_experiment(item)]
        if not experiments:
            return
        if not self.state.settings.chaos:
            self.not_run = len(experiments)
            config.hook.pytest_deselected(items=experiments)
            items[:] = [item for item in items if not is_experiment(item)]
            return
        if not config.pluginmanager.has_plugin("prodsmoke-chaos-runs"):
            from pytest_prodsmoke.methods.chaos.runs import ChaosRuns  # only now: the rest

            config.pluginmanager.register(ChaosRuns(self.state, config), "prodsmoke-chaos-runs")

    @pytest.hookimpl
    def pytest_report_collectionfinish(self, config: pytest.Config) -> list[str]:
        return [not_run_line(self.not_run)] if self.not_run else []

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: the controller says it (xdist.py)
            workeroutput[CHAOS_NOT_RUN_KEY] = self.not_run
