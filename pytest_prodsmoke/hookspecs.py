"""Hooks that a conftest.py or another plugin may implement. Each says in which process it is
called: the one that owns the gate (the xdist controller, or the only process), or the one
running the check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import requests

    from pytest_prodsmoke.compare.diff import Comparison
    from pytest_prodsmoke.gate.rules import Verdict
    from pytest_prodsmoke.http.client import ProdClient
    from pytest_prodsmoke.safety.users import LeasedUser

@pytest.hookspec
def pytest_prodsmoke_gate(config: pytest.Config, verdict: Verdict) -> None:
    """Called once at the end of a gate run, after the gate report is written.

    ``verdict.status`` is ``"pass"``, ``"degraded"`` or ``"fail"``; ``verdict.reasons``,
    ``verdict.checks`` and ``verdict.counts`` say why; ``verdict.exit_status`` is the exit status
    the run will have. Use it to notify, promote or roll back. An exception raised here turns the
    verdict into ``fail`` (reason ``hook_error``): a broken notifier must not look like a pass.
    Not called with ``--collect-only`` or when the gate is inactive (no candidate URL).
    """


@pytest.hookspec
def pytest_prodsmoke_fake_users(config: pytest.Config) -> list[dict[str, Any]] | None:
    """Return fake-user records, e.g. fetched from a vault: a list of mappings with
    ``username`` and optional ``password``, ``token`` and extra fields.

    Called once, at start-up, on the xdist controller (or the only process); the users reach the
    workers from there. The records join those from ``--fake-users`` and
    ``PRODSMOKE_FAKE_USERS``, and every username must match ``prodsmoke_fake_user_pattern``.
    """


@pytest.hookspec(firstresult=True)
def pytest_prodsmoke_login(user: LeasedUser, client: ProdClient) -> str | None:
    """Exchange a fake user's credentials for a session token, once per user and process.

    Called the first time a check in this process leases ``user`` (``user.username``,
    ``user.password.reveal()``); ``client`` is the candidate's client, allowed to POST for this
    call only. Return the token (it becomes ``fake_user.token`` and ``fake_user.auth`` sends it
    as a bearer token; it is registered as a secret), or None to use the configured token or
    password as they are.
    """


@pytest.hookspec(firstresult=True)
def pytest_prodsmoke_compare(item: pytest.Item, method: str, url: str,
                             baseline: requests.Response, candidate: requests.Response,
                             comparison: Comparison) -> Comparison | None:
    """Judge one parallel-run answer yourself, e.g. to accept a price change within 1 %.

    Called in the process running the check (an xdist worker, or the only process) after the
    built-in comparison, with both responses and its ``comparison`` (``differences`` fail the
    check; ``noise`` and ``ignored`` did not). Return a ``Comparison`` to replace it (e.g.
    ``dataclasses.replace(comparison, differences=kept)``) or None to keep it.
    """
