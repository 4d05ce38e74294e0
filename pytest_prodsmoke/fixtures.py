"""The fixtures users touch (``prod``, ``baseline``, ``prod_target``, ``fake_user``, ``cleanup``),
bound to the per-process state (``state.ProcessState``)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodsmoke.errors import ProdsmokeError
from pytest_prodsmoke.http.client import (
    ProdClient,
)
from pytest_prodsmoke.inactive import NO_URL
from pytest_prodsmoke.safety.redact import REGISTRY, Secret
from pytest_prodsmoke.safety.users import LeasedUser
from pytest_prodsmoke.settings import Settings, Target
from pytest_prodsmoke.state import (
    LEFTOVERS_KEY,
    PARALLEL_KEY,
    ProcessState,
)

if TYPE_CHECKING:
    from pytest_prodsmoke.methods.parallel import ParallelRun
    from pytest_prodsmoke.safety.cleanup import Cleanup

def _require_gate(settings: Settings, fixture: str) -> Settings:
    if not settings.gate_active:
        pytest.fail(f"the {fixture} fixture {NO_URL}", pytrace=False)
    return settings


def make_fixtures(state: ProcessState, hook: Any) -> types.ModuleType:
    """The plugin's fixtures, bound to this run's state, in a module registered as a plugin.

    Why not plain module-level fixtures: they would have to ask for ``request`` or
    ``pytestconfig`` to reach the settings, and pytest then builds a new FixtureDef for
    ``request`` on every check, even for a cached session-scoped fixture (~40 us per check, 5 %
    of a fast suite). Why not methods of a plugin object: pytest 9 deprecates session-scoped
    fixtures defined as instance methods. Closures in a module have neither problem.
    """
    settings = state.settings
    candidates: dict[str, ProdClient] = {}
    urls = dict(zip(settings.target_labels, settings.prod_urls, strict=True))
    current_target = [settings.target_labels[0]] if settings.prod_urls else [""]

    def candidate_client(label: str | None = None) -> ProdClient:
        label = label or current_target[0]
        if label not in candidates:
            candidates[label] = state.new_client(urls[label], "candidate",
                                                 headers=settings.headers,
                                                 expected_version=settings.expect_version)
        return candidates[label]

    if len(urls) > 1:
        # Several targets: every check runs once per target (an autouse, parametrized,
        # session-scoped fixture: pytest groups the checks by target, in the same order in
        # every xdist worker), and its id names the target: test_x[eu.shop.example].
        labels = list(urls)

        @pytest.fixture(scope="session", autouse=True, params=labels, ids=labels)
        def prodsmoke_target(request: pytest.FixtureRequest) -> str:
            """The label of the target this check runs against (several --prod-url)."""
            current_target[0] = request.param
            return str(request.param)

        @pytest.fixture(scope="session")
        def prod(prodsmoke_target: str) -> ProdClient:
            """A requests.Session bound to this check's target (one of the --prod-url)."""
            return candidate_client(prodsmoke_target)
    else:
        prodsmoke_target = None

        @pytest.fixture(scope="session")
        def prod() -> ProdClient:
            """A requests.Session bound to the candidate (``--prod-url``): ``prod.get("/x")``.

            One per worker process; each check starts with the configured headers and no
            cookies. Read-only unless the check is ``@pytest.mark.synthetic`` and uses
            ``fake_user``.
            """
            _require_gate(settings, "prod")
            return candidate_client()

    baselines: dict[str, ProdClient] = {}

    def baseline_client(what: str = "the baseline fixture", second: bool = False) -> ProdClient:
        """The client of the baseline (or of the second baseline), made on first use."""
        if settings.baseline_url is None:
            pytest.fail(f"{what} needs a baseline URL: pass --baseline-url URL (or set "
                        "PRODSMOKE_BASELINE_URL, or ini prodsmoke_baseline_url)", pytrace=False)
        label = "baseline2" if second else "baseline"
        url = settings.baseline2_url if second else settings.baseline_url
        if label not in baselines:
            assert url is not None
            baselines[label] = state.new_client(url, label)
        return baselines[label]

    state.baseline_client = baseline_client

    @pytest.fixture(scope="session")
    def baseline() -> ProdClient:
        """A requests.Session bound to the released version (``--baseline-url``)."""
        return baseline_client()

    @pytest.fixture
    def parallel_run(cleanup: Cleanup) -> ParallelRun:
        """The same request to the baseline and the candidate at once: ``parallel_run.get(
        "/catalog")`` fails the check when the answers differ and returns the candidate's."""
        from pytest_prodsmoke.compare.diff import PatternError
        from pytest_prodsmoke.methods.parallel import ParallelRun, ParallelStats

        item = state.current
        reference = baseline_client("the parallel_run fixture")
        marker = item.get_closest_marker("parallel_run") if item is not None else None
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
        if item is not None:
            stats = item.stash.setdefault(PARALLEL_KEY, stats)

        def judge(method: str, url: str, baseline: Any, candidate: Any, comparison: Any) -> Any:
            return hook.pytest_prodsmoke_compare(item=item, method=method, url=url,
                                                 baseline=baseline, candidate=candidate,
                                                 comparison=comparison)

        try:
            return ParallelRun(
                candidate_client(), reference,
                baseline_client(second=True) if settings.baseline2_url else None,
                learn_noise=bool(options.get("learn_noise", settings.learn_noise)),
                ignore=list(ignore), compare_headers=list(headers), stats=stats, judge=judge,
                cleanup=cleanup)
        except PatternError as exc:
            problem = str(exc)  # failed outside the except block: no "during handling" echo
        pytest.fail(f"@pytest.mark.parallel_run: {problem}", pytrace=False)

    if prodsmoke_target is not None:
        @pytest.fixture(scope="session")
        def prod_target(prodsmoke_target: str) -> Target:
            """Read-only description of this check's target: url, expected_version, ..."""
            return Target.from_settings(settings, urls[prodsmoke_target])
    else:
        @pytest.fixture(scope="session")
        def prod_target() -> Target:
            """Read-only description of the candidate: url, expected_version, header_names."""
            return Target.from_settings(_require_gate(settings, "prod_target"))

    @pytest.fixture
    def fake_user() -> Iterator[LeasedUser]:
        """An exclusive lease on one fake user: no other check running at the same time, in any
        xdist worker, holds it. ``fake_user.auth`` authenticates a request as this user."""
        _require_gate(settings, "fake_user")
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
                leased.session_token = _login(leased)
            yield leased
        finally:
            state.leases.release(handle)

    def _login(leased: LeasedUser) -> Secret | None:
        client = candidate_client()
        with client.mutations_allowed("fake-user login"):
            token = hook.pytest_prodsmoke_login(user=leased, client=client)
        if token is None:
            state.login_tokens[leased.username] = leased.user.token
            return leased.user.token
        secret = token if isinstance(token, Secret) else Secret(str(token))
        # A token obtained at run time is a secret like any other.
        REGISTRY.add(secret)
        state.credentials.add(secret)
        state.login_tokens[leased.username] = secret
        return secret

    @pytest.fixture
    def cleanup() -> Iterator[Cleanup]:
        """Undo actions for fake data: run newest first after the check, whatever happened.
        A failed undo fails the check and is listed in the gate report (``leftovers``)."""
        # Only suites that clean up pay for it.
        from pytest_prodsmoke.safety.cleanup import Cleanup, CleanupJournal

        item = state.current
        undo = Cleanup(CleanupJournal(state.run_dir, item.nodeid, state.process_name)
                       if state.run_dir is not None and item is not None else None)
        try:
            yield undo
        finally:
            try:
                undo.run()
            finally:
                if undo.leftovers and item is not None:
                    item.stash.setdefault(LEFTOVERS_KEY, []).extend(undo.leftovers)
        if undo.leftovers:
            names = "; ".join(f"{left.description} ({left.error})" for left in undo.leftovers)
            pytest.fail(f"cleanup left fake data in production: {names}", pytrace=False)

    @pytest.fixture(scope="session", autouse=True)
    def prodsmoke_variant() -> str | None:
        """The A/B variant this check runs as (``@pytest.mark.variants("A", "B")``), or None.

        Autouse so that the variants marker can parametrize it (directly: the parameter
        replaces this None). No ``request`` argument: pytest would resolve it on every check,
        cached or not (~40 us each).
        """
        return None

    def pytest_unconfigure() -> None:
        state.close()

    module = types.ModuleType("pytest_prodsmoke.fixtures_of_this_run")
    for function in (prod, baseline, parallel_run, prod_target, fake_user, cleanup,
                     prodsmoke_variant, pytest_unconfigure, prodsmoke_target):
        if function is not None:
            setattr(module, function.__name__, function)
    return module
