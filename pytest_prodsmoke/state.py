"""Per-process state of a gate run, and every key under which the plugin keeps something in
pytest's stashes (config, items) or in xdist's worker input and output: one place to see what
lives where, and for how long.

``ProcessState`` lives once per process (each xdist worker has its own): the connection pool,
the clients, the check currently running, the fake-user leases and the login tokens.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from requests.adapters import HTTPAdapter

    from pytest_prodsmoke.http.client import CheckContext, ProdClient, ResponseRecord
    from pytest_prodsmoke.safety.redact import Secret
    from pytest_prodsmoke.safety.users import FakeUser, LeaseManager
    from pytest_prodsmoke.settings import Settings

# Every run imports this module (for SETTINGS_KEY), also one without the gate, which must not
# pay for the HTTP stack: ProcessState imports it when a gate run makes one.

# The run directory (one per run, shared by every process of it) holds: "undo" (the cleanup
# journal, safety/cleanup.py), the fake users' lease files when no other directory can take
# them (safety/users.py: lease_directory), "rate" (the request budget), "workers"
# (where the controller's cancel reaches them) and "fail-fast-stop" (process.py).
JOURNAL_DIR = "undo"

# config.stash: the run's settings, loaded once in pytest_configure. (The process's gate-run
# state: running(), below.)
SETTINGS_KEY = pytest.StashKey["Settings"]()
# xdist: what the controller hands every worker (workerinput), and what a worker hands back
# (workeroutput) besides the collected ids.
WORKER_INPUT_KEY = "prodsmoke"
# callspec.params: the check's target, with several --prod-url (methods/targets.py).
TARGET_FIXTURE = "prodsmoke_target"
WORKER_SECRETS_KEY = "prodsmoke_secrets"
CHAOS_NOT_RUN_KEY = "prodsmoke_chaos_not_run"  # experiments a worker deselected (no --chaos)
TRACES_OUTPUT_KEY = "prodsmoke_traces"  # what a worker's spans exported (outputs/traces)

# collector.stash: whether this module or class has checks marked @pytest.mark.variants, which
# use the prodsmoke_variant fixture (methods/variants.py).
VARIANTS_USED_KEY = pytest.StashKey[bool]()

# item.stash, set at collection (once per check):
CRITICAL_KEY = pytest.StashKey[bool]()
SYNTHETIC_KEY = pytest.StashKey[bool]()
TRACE_ID_KEY = pytest.StashKey[str]()  # chosen at collection when Allure needs it early
# (max_ms, p95_ms) from @pytest.mark.latency, or a message saying what is wrong with the marker.
LATENCY_KEY = pytest.StashKey["tuple[float | None, float | None] | str"]()
VARIANT_KEY = pytest.StashKey[str]()  # the A/B variant of a @pytest.mark.variants check
MARKER_ERROR_KEY = pytest.StashKey[str]()  # a misused marker, found at collection: fails setup
# The CanaryPolicy of a @pytest.mark.canary check (Any: its module loads only when needed).
CANARY_KEY = pytest.StashKey[Any]()

# item.stash, the facts of one run of the check (forgotten when a rerun starts):
RECORDS_KEY = pytest.StashKey["list[ResponseRecord]"]()
# What the methods a check used found (canary verdict, parallel-run counts, leftovers, whose a
# failed teardown was), by gate.facts.CheckFacts field name: see record_facts().
RUN_FACTS_KEY = pytest.StashKey[dict[str, Any]]()
FAILED_KEY = pytest.StashKey[bool]()
ATTEMPT_REPORTED_KEY = pytest.StashKey[bool]()  # this run's facts are on a report already


# The gate run of this process, for the session-scoped fixtures (prod, baseline, prod_target):
# they take no argument, because pytest resolves a session fixture's arguments again for every
# check that uses it, cached or not (``request`` would cost each check about 0.1 ms). A stack:
# pytest sessions can nest in one process (pytester).
_RUNNING: list[ProcessState] = []


NO_URL = ("needs a candidate URL: pass --prod-url URL (or set PRODSMOKE_URL, or ini "
          "prodsmoke_url)")


def running() -> ProcessState | None:
    """This process's gate-run state; None when no gate runs (no candidate URL)."""
    return _RUNNING[-1] if _RUNNING else None


def gate_state(fixture: str) -> ProcessState:
    """The running gate's state, for a fixture; without one, the line that says what is
    missing (the fixture fails)."""
    state = running()
    if state is None:
        pytest.fail(f"the {fixture} fixture {NO_URL}", pytrace=False)
    return state


def record_facts(item: pytest.Item, **facts: Any) -> None:
    """Facts of this run of the check, by ``CheckFacts`` field (``record_facts(item,
    canary=...)``), for a method that produces one: the check recorder (process.py) writes them,
    with the facts it gathers itself, onto the run's last report. A new fact needs its field in
    gate/facts.py, this call where it is found, and the outputs that show it."""
    item.stash.setdefault(RUN_FACTS_KEY, {}).update(facts)


def stashed(stash: pytest.Stash, key: pytest.StashKey[Any], default: Any) -> Any:
    """``stash.get(key, default)`` without its cost for a key that is not set (pytest's raises
    and catches a KeyError), the common case on the path every check takes."""
    return stash[key] if key in stash else default  # noqa: SIM401 (that is stash.get)


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
        from pytest_prodsmoke.http.ratelimit import SharedRateLimiter
        from pytest_prodsmoke.safety.redact import SecretRegistry
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
        # The clients of this process, made on first use: the candidate's by target label,
        # the baselines' by "baseline" / "baseline2".
        self.candidates: dict[str, ProdClient] = {}
        self.baselines: dict[str, ProdClient] = {}
        self.urls = dict(zip(settings.target_labels, settings.prod_urls, strict=True))
        self.credentials = SecretRegistry()  # fake-user secrets: only to the targets
        self.login_tokens: dict[str, Secret | None] = {}
        # The check and request spans, when the run exports traces: outputs/traces/plugin.py's
        # CheckSpans (Any: that module imports from this one).
        self.spans: Any = None
        self.limiter = (SharedRateLimiter(run_dir / "rate", settings.max_rps)
                        if settings.max_rps and run_dir is not None else None)
        for user in users:
            for secret in user.secrets():
                self.credentials.add(secret, username=user.username)

    @functools.cached_property
    def leases(self) -> LeaseManager | None:
        """The fake-user leases of this process, made when a check first asks for a user."""
        if self.run_dir is None:
            return None
        from pytest_prodsmoke.safety.users import LeaseManager, lease_directory

        directory = lease_directory() or self.run_dir
        return LeaseManager(directory, self.users, self.settings.fake_user_wait_s,
                            start_at=self.worker_index)

    def record(self, record: ResponseRecord) -> None:
        self.records.append(record)

    def new_client(self, base_url: str, target: str, **options: Any) -> ProdClient:
        from pytest_prodsmoke.http.client import ProdClient, TrafficTags, build_adapter

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
            verify=settings.tls_verify, variant_routing=settings.variant, spans=self.spans,
            **options,
        )
        if self.context is not None:
            client.reset_for_check(self.context)
        self.clients.append(client)
        return client

    def candidate(self, label: str | None = None) -> ProdClient:
        """The candidate's client for one target (by label; the first when not given)."""
        label = label or next(iter(self.urls))
        if label not in self.candidates:
            self.candidates[label] = self.new_client(
                self.urls[label], "candidate", headers=self.settings.headers,
                expected_version=self.settings.expect_version)
        return self.candidates[label]

    def baseline(self, what: str = "the baseline fixture", second: bool = False) -> ProdClient:
        """The client of the baseline (or of the second baseline); fails ``what`` (a fixture, a
        canary check) in one line when no baseline URL is configured."""
        settings = self.settings
        if settings.baseline_url is None:
            pytest.fail(f"{what} needs a baseline URL: pass --baseline-url URL (or set "
                        "PRODSMOKE_BASELINE_URL, or ini prodsmoke_baseline_url)", pytrace=False)
        label = "baseline2" if second else "baseline"
        if label not in self.baselines:
            url = settings.baseline2_url if second else settings.baseline_url
            assert url is not None
            self.baselines[label] = self.new_client(url, label)
        return self.baselines[label]

    def open(self) -> ProcessState:
        """Make this the running state of the process (until ``close``)."""
        _RUNNING.append(self)
        return self

    def close(self) -> None:
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.pool is not None:
            self.pool.close()
