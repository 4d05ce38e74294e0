"""The fixtures users touch (``prod``, ``baseline``, ``prod_target``, ``fake_user``, ``cleanup``)
and the per-process state behind them.

``ProcessState`` lives once per process (each xdist worker has its own): the connection pool,
the clients, the check currently running, the fake-user leases and the login tokens.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from requests.adapters import HTTPAdapter

from pytest_prodsmoke.client import (
    CheckContext,
    ProdClient,
    ResponseRecord,
    TrafficTags,
    build_adapter,
)
from pytest_prodsmoke.errors import ProdsmokeError
from pytest_prodsmoke.inactive import NO_URL
from pytest_prodsmoke.ratelimit import SharedRateLimiter
from pytest_prodsmoke.redact import REGISTRY, Secret, SecretRegistry
from pytest_prodsmoke.settings import Settings, Target
from pytest_prodsmoke.tagging import new_trace_id
from pytest_prodsmoke.users import FakeUser, LeasedUser, LeaseManager

if TYPE_CHECKING:
    from pytest_prodsmoke.cleanup import Cleanup, Leftover
    from pytest_prodsmoke.parallel import ParallelRun

RECORDS_KEY = pytest.StashKey[list[ResponseRecord]]()
LEFTOVERS_KEY = pytest.StashKey[list["Leftover"]]()
SYNTHETIC_KEY = pytest.StashKey[bool]()  # set at collection, read once per check
TRACE_ID_KEY = pytest.StashKey[str]()  # chosen at collection when Allure needs it early
# (max_ms, p95_ms) from @pytest.mark.latency, or a message saying what is wrong with the marker.
LATENCY_KEY = pytest.StashKey["tuple[float | None, float | None] | str"]()
# The ParallelStats of a check that used parallel_run (Any: that module loads on first use).
PARALLEL_KEY = pytest.StashKey[Any]()
VARIANT_KEY = pytest.StashKey[str]()  # the A/B variant of a @pytest.mark.variants check
MARKER_ERROR_KEY = pytest.StashKey[str]()  # a misused marker, found at collection: fails setup



def forget(stash: pytest.Stash, *keys: pytest.StashKey[Any]) -> None:
    """Remove these keys from an item's stash (pytest's Stash has no pop)."""
    for key in keys:
        if key in stash:
            del stash[key]


class ProcessState:
    """What one process (the only one, or one xdist worker) shares between its checks."""

    def __init__(self, settings: Settings, run_id: str, run_dir: Path | None,
                 users: tuple[FakeUser, ...], worker_index: int,
                 process_name: str = "main") -> None:
        self.settings = settings
        self.run_id = run_id
        self.run_dir = run_dir
        self.users = users
        self.worker_index = worker_index
        self.process_name = process_name  # "main", or the xdist worker id ("gw0")
        self.records: list[ResponseRecord] = []
        self.current: pytest.Item | None = None
        self.not_ready: str | None = None  # set when --wait-ready gave up: run no check
        self.context: CheckContext | None = None
        self.clients: list[ProdClient] = []
        self.pool: HTTPAdapter | None = None  # one per process, shared: keep-alive
        # Set by make_fixtures: the baseline's client of this process, made on first use
        # (canary checks need it without asking for the baseline fixture).
        self.baseline_client: Callable[..., ProdClient] | None = None
        self.credentials = SecretRegistry()  # fake-user secrets: only to the targets
        self.login_tokens: dict[str, Secret | None] = {}
        self.limiter = (SharedRateLimiter(run_dir / "rate", settings.max_rps)
                        if settings.max_rps and run_dir is not None else None)
        self.leases = (LeaseManager(run_dir, users, settings.fake_user_wait_s,
                                    start_at=worker_index)
                       if run_dir is not None else None)
        for user in users:
            for secret in user.secrets():
                self.credentials.add(secret, username=user.username)

    def begin(self, item: pytest.Item) -> None:
        self.current = item
        # Each run of a check starts afresh: a rerun (pytest-rerunfailures) reports its own
        # requests and leftovers, not again those of the attempts before it.
        self.records = item.stash[RECORDS_KEY] = []
        forget(item.stash, LEFTOVERS_KEY, PARALLEL_KEY)
        budget = item.stash.get(LATENCY_KEY, (None, None))
        if isinstance(budget, str):
            pytest.fail(budget, pytrace=False)
        if MARKER_ERROR_KEY in item.stash:
            pytest.fail(item.stash[MARKER_ERROR_KEY], pytrace=False)
        context = CheckContext(
            check_id=item.nodeid,
            trace_id=item.stash.get(TRACE_ID_KEY, None) or new_trace_id(),
            synthetic=item.stash.get(SYNTHETIC_KEY, False),
            uses_fake_user="fake_user" in getattr(item, "fixturenames", ()),
            latency_max_ms=budget[0] if budget[0] is not None else self.settings.latency_max_ms,
            variant=item.stash.get(VARIANT_KEY, None),
        )
        for client in self.clients:
            client.reset_for_check(context)
        self.context = context

    def record(self, record: ResponseRecord) -> None:
        self.records.append(record)

    def new_client(self, base_url: str, target: str, **options: Any) -> ProdClient:
        settings = self.settings
        if self.pool is None:
            self.pool = build_adapter(settings.retries)
        client = ProdClient(
            base_url, target=target, timeout_s=settings.timeout_s,
            version_header=settings.version_header, adapter=self.pool,
            on_response=self.record,
            tags=TrafficTags(run_id=self.run_id, run_header=settings.run_header,
                             check_header=settings.check_header,
                             signing_key=settings.signing_key),
            limiter=self.limiter, credentials=self.credentials,
            credential_hosts=[*settings.prod_urls,
                              *filter(None, [settings.baseline_url, settings.baseline2_url])],
            verify=settings.tls_verify, variant_routing=settings.variant, **options,
        )
        if self.context is not None:
            client.reset_for_check(self.context)
        self.clients.append(client)
        return client

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


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
        from pytest_prodsmoke.parallel import ParallelRun, ParallelStats

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
        from pytest_prodsmoke.cleanup import Cleanup, CleanupJournal

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
