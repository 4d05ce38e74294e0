"""The fixtures users touch: ``prod``, ``baseline``, ``parallel_run``, ``prod_target``,
``fake_user`` and ``cleanup``.

Plain module-level fixtures: the process's gate-run state comes from ``state.running()``, the
running check (function-scoped fixtures) from ``request.node``. Without a candidate URL there is
no state, and each says in one line what is missing. This module is registered in every run, so
it imports nothing heavy at module level: a run that does not use the gate pays for no HTTP
client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from pytest_prodsmoke.errors import ProdsmokeError
from pytest_prodsmoke.state import (
    TARGET_FIXTURE,
    gate_state,
    record_facts,
)

if TYPE_CHECKING:
    from pytest_prodsmoke.http.client import ProdClient
    from pytest_prodsmoke.methods.parallel import ParallelRun
    from pytest_prodsmoke.methods.targets import Target
    from pytest_prodsmoke.safety.cleanup import Cleanup
    from pytest_prodsmoke.safety.users import LeasedUser

def _target_label(request: pytest.FixtureRequest) -> str | None:
    """The target of the running check (function-scoped fixtures), None: the first."""
    callspec = getattr(request.node, "callspec", None)
    return callspec.params.get(TARGET_FIXTURE) if callspec is not None else None


# The session-scoped fixtures take no argument (state.running says why). With several targets,
# methods/targets.py gives prod and prod_target per target.


@pytest.fixture(scope="session")
def prod() -> ProdClient:
    """A requests.Session bound to the candidate (``--prod-url``): ``prod.get("/x")``.

    One per worker process; each check starts with the configured headers and no cookies.
    Read-only unless the check is ``@pytest.mark.synthetic`` and uses ``fake_user``.
    """
    return gate_state("prod").candidate()


@pytest.fixture(scope="session")
def baseline() -> ProdClient:
    """A requests.Session bound to the released version (``--baseline-url``)."""
    return gate_state("baseline").baseline()


@pytest.fixture(scope="session")
def prod_target() -> Target:
    """Read-only description of the candidate: url, expected_version, header_names."""
    from pytest_prodsmoke.methods.targets import Target

    return Target.from_settings(gate_state("prod_target").settings)


@pytest.fixture
def parallel_run(request: pytest.FixtureRequest) -> ParallelRun:
    """The same request to the baseline and the candidate at once: ``parallel_run.get(
    "/catalog")`` fails the check when the answers differ and returns the candidate's."""
    from pytest_prodsmoke.compare.diff import PatternError
    from pytest_prodsmoke.methods.parallel import ParallelRun, ParallelStats

    state = gate_state("parallel_run")
    # Asked for here, not as an argument: without a URL the message names parallel_run.
    cleanup: Cleanup = request.getfixturevalue("cleanup")
    settings = state.settings
    item = request.node
    reference = state.baseline("the parallel_run fixture")
    marker = item.get_closest_marker("parallel_run")
    options = dict(marker.kwargs) if marker is not None else {}
    unknown = set(options) - {"ignore", "learn_noise", "headers"}
    if unknown or (marker is not None and marker.args):
        pytest.fail("@pytest.mark.parallel_run takes only ignore=[paths], learn_noise=bool "
                    f"and headers=[names]; got {sorted(unknown) or list(marker.args)}",
                    pytrace=False)
    ignore = options.get("ignore", ())
    headers = options.get("headers", settings.compare_headers)
    if not all(isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
               for value in (ignore, headers)):
        pytest.fail("@pytest.mark.parallel_run: ignore= and headers= take lists of strings",
                    pytrace=False)
    stats = ParallelStats()
    # Counted while the check runs; its facts once it is over (finalizers run before the
    # teardown report, which carries them).
    request.addfinalizer(lambda: record_facts(item, parallel_run=stats.as_dict(),
                                              mismatches=stats.mismatches))
    hook = request.config.hook

    def judge(method: str, url: str, baseline: object, candidate: object,
              comparison: object) -> object:
        return hook.pytest_prodsmoke_compare(item=item, method=method, url=url,
                                             baseline=baseline, candidate=candidate,
                                             comparison=comparison)

    try:
        return ParallelRun(
            state.candidate(_target_label(request)), reference,
            state.baseline(second=True) if settings.baseline2_url else None,
            learn_noise=bool(options.get("learn_noise", settings.learn_noise)),
            ignore=list(ignore), compare_headers=list(headers), stats=stats, judge=judge,
            cleanup=cleanup)
    except PatternError as exc:
        problem = str(exc)  # failed outside the except block: no "during handling" echo
    pytest.fail(f"@pytest.mark.parallel_run: {problem}", pytrace=False)


@pytest.fixture
def fake_user(request: pytest.FixtureRequest) -> Iterator[LeasedUser]:
    """An exclusive lease on one fake user: no other check running at the same time, in any
    xdist worker, holds it. ``fake_user.auth`` authenticates a request as this user."""
    from pytest_prodsmoke.safety.users import LeasedUser

    state = gate_state("fake_user")
    if state.leases is None:
        pytest.fail("fake users are not available in this process", pytrace=False)
    try:
        user, handle = state.leases.acquire()
    except ProdsmokeError as exc:
        problem = str(exc)  # failed outside the except block: no "during handling" echo
    else:
        problem = None
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        leased = LeasedUser(user, state.login_tokens.get(user.username))
        if user.username not in state.login_tokens:
            from pytest_prodsmoke.safety.users import login_once

            leased.session_token = login_once(request.config, leased,
                                              state.candidate(_target_label(request)),
                                              state.login_tokens, state.credentials)
        yield leased
    finally:
        state.leases.release(handle)


@pytest.fixture
def cleanup(request: pytest.FixtureRequest) -> Iterator[Cleanup]:
    """Undo actions for fake data: run newest first after the check, whatever happened.
    A failed undo fails the check and is listed in the gate report (``leftovers``)."""
    # Only suites that clean up pay for it.
    from pytest_prodsmoke.safety.cleanup import Cleanup, CleanupJournal

    state = gate_state("cleanup")
    item = request.node
    durable = state.settings.state_dir  # outlives the run: journalled calls are replayed
    base = durable if durable is not None else state.run_dir
    if durable is not None:
        from pytest_prodsmoke.safety.redact import REGISTRY
        from pytest_prodsmoke.safety.replay import encode_object

        undo = Cleanup(CleanupJournal(durable, item.nodeid, state.process_name, state.run_id),
                       encode_object(state), lambda text: REGISTRY.scrub(text) != text)
    else:
        undo = Cleanup(CleanupJournal(base, item.nodeid, state.process_name, state.run_id)
                       if base is not None else None)
    try:
        yield undo
    finally:
        try:
            undo.run()
        finally:
            if undo.leftovers:
                record_facts(item, leftovers=tuple((left.description, left.error)
                                                   for left in undo.leftovers))
    if undo.leftovers:
        names = "; ".join(f"{left.description} ({left.error})" for left in undo.leftovers)
        pytest.fail(f"cleanup left fake data in production: {names}", pytrace=False)
