"""Controller-side plumbing for pytest-xdist. Imported and registered only when xdist
distributes the run, so none of xdist's hooks are referenced otherwise.

The controller never collects (``session.items`` is empty there): it learns which checks exist
from each worker's collection, and about crashed workers from ``pytest_testnodedown``.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_prodsmoke.collector import GateRecorder

RUN_ID_KEY = "prodsmoke_run_id"


class XdistControllerHooks:
    def __init__(self, recorder: GateRecorder, run_id: str) -> None:
        self.recorder = recorder
        self.run_id = run_id
        self.workers_seen: set[str] = set()

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[RUN_ID_KEY] = self.run_id

    @pytest.hookimpl
    def pytest_testnodeready(self, node: Any) -> None:
        self.workers_seen.add(node.gateway.id)

    @pytest.hookimpl
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.recorder.on_collected(list(ids))

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        self.recorder.on_worker_down(node.gateway.id, error)
