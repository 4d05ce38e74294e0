"""Several targets (``--prod-url`` given more than once: regions, instances): every check runs
once per target, and its id names the target (``test_x[eu.shop.example]``).

A plugin module, registered only in gate runs with several targets: every check uses the
``prodsmoke_target`` fixture (fixtures.py), parametrized directly and session-scoped, so pytest
groups the checks by target, in the same order in every xdist worker.
"""

from __future__ import annotations

import pytest

from pytest_prodsmoke.fixtures import TARGET_FIXTURE
from pytest_prodsmoke.state import SETTINGS_KEY


def pytest_configure(config: pytest.Config) -> None:
    # Every check, also one that asks for no fixture of ours (pytest's own usefixtures ini).
    config.addinivalue_line("usefixtures", TARGET_FIXTURE)


@pytest.hookimpl(tryfirst=True)  # first: the target comes first in a check's id
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if TARGET_FIXTURE in metafunc.fixturenames:
        labels = list(metafunc.config.stash[SETTINGS_KEY].target_labels)
        metafunc.parametrize(TARGET_FIXTURE, labels, ids=labels, scope="session")
