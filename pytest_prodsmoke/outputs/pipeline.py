"""What a pipeline decides from the gate report, as plain functions (the ``prodsmoke`` command
calls them): does the release still need a rollback after the gate job?

The gate rolls back itself (``--on-gate-fail``) when it could decide. A pipeline's fallback step
covers the rest: a gate that was killed or cancelled before it decided (no report), and a gate
whose own rollback command failed. A ``grep`` for ``fail`` in the report gets this wrong (it also
matches ``command_failed``); this reads the verdict *and* what the gate's command did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_PREFIX = "pytest-prodsmoke/gate-report/"


def read_report(path: Path) -> dict[str, Any] | None:
    """The gate report, or None when there is none to trust (missing, unreadable, not ours)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(SCHEMA_PREFIX):
        return None
    return data


def rollback_needed(report: dict[str, Any] | None) -> tuple[bool, str]:
    """(whether the candidate must still be rolled back, why) — fail closed: only a gate that
    let the release go ahead, or that rolled back itself successfully, needs no rollback."""
    if report is None:
        return True, ("no gate report: the gate did not decide (killed, crashed, cancelled "
                      "early or never ran)")
    verdict = report.get("verdict")
    if verdict in ("pass", "degraded") and report.get("exit_status") == 0:
        return False, f"the gate's verdict is {verdict}: the release may go ahead"
    command = report.get("command") or {}
    ran_for = command.get("verdict")
    if ran_for == verdict and verdict == "fail" and command.get("returncode") == 0 \
            and not command.get("error"):
        argv = " ".join(str(a) for a in command.get("argv") or ())
        return False, f"the gate failed and rolled back itself ({argv} exited 0)"
    if command:
        what = command.get("error") or f"exit {command.get('returncode')}"
        return True, (f"the gate's verdict is {verdict}: its --on-gate-{ran_for} command "
                      f"failed ({what}), so no rollback happened")
    return True, (f"the gate's verdict is {verdict} (exit {report.get('exit_status')}) and it "
                  "ran no rollback command")
