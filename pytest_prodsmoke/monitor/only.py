"""A pytest plugin the monitor loads into a retry of a cycle (``-p pytest_prodsmoke.monitor.only``):
only the checks named in ``PRODSMOKE_MONITOR_ONLY`` (a JSON list of node ids as the gate report
names them) run; the rest are deselected, as ``-m`` would."""

from __future__ import annotations

import json
import os

import pytest

from pytest_prodsmoke.monitor.cycle import ONLY_ENV


@pytest.hookimpl(tryfirst=True)  # before the gate notes which checks exist
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = os.environ.get(ONLY_ENV)
    if not wanted:
        return
    from pytest_prodsmoke.gate.recorder import cwd_relative

    names = set(json.loads(wanted))
    display = cwd_relative(config.rootpath, config.invocation_params.dir)
    keep = [item for item in items if display(item.nodeid) in names or item.nodeid in names]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
