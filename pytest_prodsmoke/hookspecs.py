"""Hooks that a conftest.py or another plugin may implement. All are called on the process that
owns the gate: the xdist controller, or the only process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_prodsmoke.gate import Verdict

@pytest.hookspec
def pytest_prodsmoke_gate(config: pytest.Config, verdict: Verdict) -> None:
    """Called once at the end of a gate run, after the gate report is written.

    ``verdict.status`` is ``"pass"``, ``"degraded"`` or ``"fail"``; ``verdict.reasons``,
    ``verdict.checks`` and ``verdict.counts`` say why; ``verdict.exit_status`` is the exit status
    the run will have. Use it to notify, promote or roll back. An exception raised here turns the
    verdict into ``fail`` (reason ``hook_error``): a broken notifier must not look like a pass.
    Not called with ``--collect-only`` or when the gate is inactive (no candidate URL).
    """
