"""Controller-side plumbing for pytest-xdist. Imported and registered only when xdist
distributes the run, so none of xdist's hooks are referenced otherwise.

The controller never collects (``session.items`` is empty there): it learns which checks exist
from each worker's collection, and about crashed workers from ``pytest_testnodedown``. It sends
each worker the run's shared facts (run id, run directory, fake users) through ``workerinput``
and receives the secrets a worker learnt (login tokens) through ``workeroutput``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_prodsmoke.gate.recorder import GateRecorder
from pytest_prodsmoke.safety.redact import REGISTRY
from pytest_prodsmoke.safety.signals import forget_worker
from pytest_prodsmoke.state import CHAOS_NOT_RUN_KEY, TRACES_OUTPUT_KEY, WORKER_SECRETS_KEY


class XdistControllerHooks:
    def __init__(self, recorder: GateRecorder, input_key: str, shared: dict[str, Any],
                 config: pytest.Config) -> None:
        self.recorder = recorder
        self.config = config
        self.input_key = input_key
        self.shared = shared
        self.workers_seen: set[str] = set()
        self.chaos_not_run = 0  # experiments the workers deselected (no --chaos)
        self.worker_traces: list[dict[str, Any]] = []  # what each worker's spans exported

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[self.input_key] = self.shared

    @pytest.hookimpl
    def pytest_testnodeready(self, node: Any) -> None:
        self.workers_seen.add(node.gateway.id)

    @pytest.hookimpl
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.recorder.on_collected(list(ids))

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        self.recorder.on_worker_down(node.gateway.id, error)
        # A worker that is down needs no cancel (and its pid may be reused).
        forget_worker(Path(self.shared["run_dir"]), node.gateway.id)
        output = getattr(node, "workeroutput", None) or {}
        REGISTRY.add_forms(output.get(WORKER_SECRETS_KEY, ()))
        # Every worker collects the same checks: the most any one deselected.
        self.chaos_not_run = max(self.chaos_not_run, int(output.get(CHAOS_NOT_RUN_KEY, 0) or 0))
        if output.get(TRACES_OUTPUT_KEY):
            self.worker_traces.append(output[TRACES_OUTPUT_KEY])

    @pytest.hookimpl(tryfirst=True)  # before the owner strips properties JUnit cannot hold
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A chaos experiment's phases on the terminal as its report arrives (a worker has no
        terminal of its own)."""
        if not any(name == "prodsmoke.chaos" for name, _ in report.user_properties):
            return
        from pytest_prodsmoke.gate.facts import from_properties
        from pytest_prodsmoke.methods.chaos.runs import phase_line

        chaos = from_properties(report.user_properties).chaos or {}
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        phases = chaos.get("phases")
        if terminal is None or not isinstance(phases, list):
            return
        terminal.ensure_newline()
        for phase in phases:
            if isinstance(phase, dict):
                terminal.write_line(phase_line(report.nodeid, phase))

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.chaos_not_run:
            from pytest_prodsmoke.methods.chaos.selection import not_run_line

            terminalreporter.write_line(not_run_line(self.chaos_not_run))
