"""The fixtures of a run without a candidate URL: each one explains what is missing.

Kept apart from ``fixtures.py`` so that a pytest run that does not use the plugin imports
almost nothing of it (no HTTP client, no gate): installing it next to an unrelated suite costs
that suite nothing.
"""

from __future__ import annotations

import types
from typing import NoReturn

import pytest

NO_URL = ("needs a candidate URL: pass --prod-url URL (or set PRODSMOKE_URL, or ini "
          "prodsmoke_url)")
FIXTURE_NAMES = ("prod", "baseline", "parallel_run", "prod_target", "fake_user", "cleanup")


def make_inactive_fixtures() -> types.ModuleType:
    module = types.ModuleType("pytest_prodsmoke.inactive_fixtures")
    for name in FIXTURE_NAMES:
        def missing(name: str = name) -> NoReturn:
            pytest.fail(f"the {name} fixture {NO_URL}", pytrace=False)

        scope = "function" if name in ("fake_user", "cleanup", "parallel_run") else "session"
        fixture = pytest.fixture(name=name, scope=scope)(lambda missing=missing: missing())
        setattr(module, name, fixture)
    return module
