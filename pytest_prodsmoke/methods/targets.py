"""Targets: ``Target``, the read-only description of one (the ``prod_target`` fixture), and
several of them (``--prod-url`` given more than once: regions, instances): every check runs
once per target, and its id names the target (``test_x[eu.shop.example]``).

A plugin module, registered only in gate runs with several targets: every check uses the
autouse ``prodsmoke_target`` fixture, parametrized directly and session-scoped, so pytest
groups the checks by target, in the same order in every xdist worker; ``prod`` and
``prod_target`` here (registered after fixtures.py's, so they replace them) are per target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from pytest_prodsmoke.state import SETTINGS_KEY, TARGET_FIXTURE, gate_state

if TYPE_CHECKING:
    from pytest_prodsmoke.http.client import ProdClient
    from pytest_prodsmoke.settings import Settings


@pytest.fixture(scope="session", autouse=True)
def prodsmoke_target() -> str:
    """The label of the target this check runs against (several --prod-url): host[:port]."""
    return ""  # never used: every check is parametrized with its target (below)


@pytest.hookimpl(tryfirst=True)  # first: the target comes first in a check's id
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    labels = list(metafunc.config.stash[SETTINGS_KEY].target_labels)
    metafunc.parametrize(TARGET_FIXTURE, labels, ids=labels, scope="session")


@pytest.fixture(scope="session")
def prod(prodsmoke_target: str) -> ProdClient:
    """A requests.Session bound to this check's target (one of the --prod-url)."""
    return gate_state("prod").candidate(prodsmoke_target)


@pytest.fixture(scope="session")
def prod_target(prodsmoke_target: str) -> Target:
    """Read-only description of this check's target: url, expected_version, header_names."""
    state = gate_state("prod_target")
    return Target.from_settings(state.settings, state.urls[prodsmoke_target])


@dataclass(frozen=True)
class Target:
    """Read-only description of the candidate, as the ``prod_target`` fixture gives it."""

    url: str
    expected_version: str | None
    header_names: tuple[str, ...]
    version_header: str | None
    baseline_url: str | None

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> Target:
        if settings.prod_url is None:
            raise ValueError("no candidate URL configured")
        return cls(
            url=url or settings.prod_url,
            expected_version=settings.expect_version,
            header_names=settings.header_names,
            version_header=settings.version_header,
            baseline_url=settings.baseline_url,
        )
