"""Fault injection into the plugin's own code, for its fail-closed paths: with
``PRODSMOKE_TEST_FAULT=<point>[,<point>...]`` each named point raises ``InjectedFault``.

The tests prove with it that a bug at those points fails the gate (a monkeypatched internal
name would silently stop injecting anything once a refactor moves the code; a point that is
removed fails its test instead). Never set it in a pipeline: every point it names breaks the run.
"""

from __future__ import annotations

import os

ENV = "PRODSMOKE_TEST_FAULT"
POINTS = {
    "decide": "the gate's verdict logic, on the gate's owner",
    "record": "the reading of a check's report, on the gate's owner",
    "check-hook": "the check recorder's report hook, in the process running the checks",
}
_ACTIVE = frozenset(p.strip() for p in os.environ.get(ENV, "").split(",") if p.strip())


class InjectedFault(RuntimeError):
    pass


def unknown_points() -> list[str]:
    return sorted(_ACTIVE - POINTS.keys())


def inject(point: str) -> None:
    """Raise at ``point`` when the environment asks for it; otherwise nothing (one set lookup)."""
    if _ACTIVE and point in _ACTIVE:
        raise InjectedFault(f"{ENV}={point}: injected fault in {POINTS[point]}")
