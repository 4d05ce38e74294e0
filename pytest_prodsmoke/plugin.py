"""The pytest entry point: options, markers, settings, and which plugin objects a run gets.
No decisions are made here.

Without a candidate URL the plugin registers only its options, markers and fixtures, so a run
that does not use it behaves exactly like plain pytest. With a URL (the gate is active):

- every process that runs checks registers one plugin per concern: the check recorder, teardown
  attribution, scrubbing, signals, canary runs, variants (and several targets, fail-fast, Allure
  labels when asked for);
- the process that owns the gate (xdist controller, or the only process) registers ``GateOwner``:
  it records reports, decides the verdict, writes every output and sets the exit status;
- an xdist controller also registers ``XdistControllerHooks`` (imported only then).
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pytest

from pytest_prodsmoke import hookspecs
from pytest_prodsmoke.errors import SettingsError
from pytest_prodsmoke.safety.redact import REGISTRY, display_url, looks_secret
from pytest_prodsmoke.settings import (
    Settings,
    add_options,
    configured_gate_report,
    load_settings,
)
from pytest_prodsmoke.state import SETTINGS_KEY, WORKER_INPUT_KEY

if TYPE_CHECKING:
    from pytest_prodsmoke.safety.users import FakeUser


MARKERS = (
    "noncritical: a failure of this check degrades the gate verdict instead of failing it",
    "synthetic: a synthetic transaction (a scripted user journey as a fake user); the only "
    "kind of check allowed to change production data",
    "latency(max_ms=None, p95_ms=None): latency budget of the check's requests (every request "
    "under max_ms; their 95th percentile under p95_ms)",
    "parallel_run(ignore=[], learn_noise=False, headers=[]): options of the parallel_run "
    "fixture in this check: paths to ignore, learn noise from two baseline answers, headers "
    "to compare",
    "canary(samples=30, ...): run the check N times against the baseline and N times against "
    "the candidate and fail when the candidate is significantly worse (or inconclusive)",
    "variants(*names): run the check once per A/B variant, assigned by the configured header "
    "or cookie; every answer must confirm the variant",
    "chaos(duration=10, interval=1, recovery=30): a chaos experiment (with --chaos): the check's "
    "body is the hypothesis, probed before, during and after the fault its fixture returns",
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before the first conftest.py is imported: from here on user code may end the run
    # (pytest.exit(returncode=0) in a conftest), and the previous run's report must not be
    # left to be read as this run's. (The owner removes it again at session start.)
    if is_worker(early_config):
        return
    namespace = early_config.known_args_namespace
    path = configured_gate_report(
        cli=lambda dest: getattr(namespace, dest, None),
        ini=lambda name: _read_ini(early_config, name),
        environ=os.environ, base_dir=early_config.invocation_params.dir)
    if path is not None:
        from pytest_prodsmoke.outputs.report import remove_stale

        remove_stale(path)  # a failure here is found and reported again at session start


# Options of pytest's cacheprovider that run a subset chosen from an earlier run's results.
CACHE_SELECTIONS = (("lf", "--lf/--last-failed"), ("stepwise", "--sw/--stepwise"),
                    ("stepwise_skip", "--sw-skip/--stepwise-skip"))


def _refuse_cache_selection(config: pytest.Config) -> None:
    if config.getoption("collectonly", False):
        return
    for dest, flag in CACHE_SELECTIONS:
        if config.getoption(dest, False):
            raise pytest.UsageError(
                f"pytest-prodsmoke: {flag} selects checks from the cache of an earlier run, so a "
                "retry of only the failed checks would pass the gate on a subset: a gate run "
                "must run every check (drop the option; -k and -m selections are fine)")


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_xdist_controller(config: pytest.Config) -> bool:
    if is_worker(config) or config.getoption("collectonly", False):
        return False
    return config.getoption("dist", "no") != "no" and bool(
        config.getoption("numprocesses", None) or config.getoption("tx", None)
    )


def _read_ini(config: pytest.Config, name: str) -> Any:
    # pytest raises UsageError (9.x) or ValueError/TypeError (8.x) for a malformed ini value,
    # without naming the key; settings turns ValueError into a message that names it.
    try:
        with warnings.catch_warnings():
            # pytest 9.2 warns of a list given to a string key (pyproject.toml); settings says
            # so in its own one line, and a -W error must not turn the warning into a crash.
            warnings.simplefilter("ignore", DeprecationWarning)
            return config.getini(name)
    except (pytest.UsageError, ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None


def _fake_users(config: pytest.Config, settings: Settings) -> tuple[FakeUser, ...]:
    """On the gate's owner: every source, validated. On a worker: what the controller sent.
    (The fake-user code is imported only by runs that have fake users.)"""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and WORKER_INPUT_KEY in workerinput:
        records = workerinput[WORKER_INPUT_KEY]["users"]
        if not records:
            return ()
        from pytest_prodsmoke.safety.users import user_from_record
        from pytest_prodsmoke.settings import compile_user_pattern

        pattern = compile_user_pattern(settings.fake_user_pattern)
        return tuple(user_from_record(r, i, pattern, "controller")
                     for i, r in enumerate(records, start=1))
    env_text = os.environ.get("PRODSMOKE_FAKE_USERS", "").strip() or None
    hook_results = config.hook.pytest_prodsmoke_fake_users(config=config)
    if settings.fake_users_file is None and env_text is None and not any(hook_results):
        return ()
    from pytest_prodsmoke.safety.users import load_users

    return load_users(settings.fake_users_file, settings.fake_users_file_source, env_text,
                      hook_results, settings.fake_user_pattern)


def _trace_config(settings: Settings) -> Any:
    """Where this run exports traces (outputs/traces), None when it does not; OpenTelemetry
    itself is imported only then."""
    from pytest_prodsmoke.outputs.traces import missing_extra, trace_config

    config = trace_config(settings.otlp_endpoint,
                          settings.sources.get("otlp_endpoint", "--otlp-endpoint"), os.environ)
    if config is not None:
        problem = missing_extra(config)
        if problem is not None:
            raise SettingsError(problem)
    return config


# The collector's credentials (an API key in a header): secrets like any other.
OTLP_HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS")


def _register_secrets(settings: Settings, users: tuple[FakeUser, ...]) -> list[str]:
    """Teach the process's secret registry everything secret it knows at start-up; returns the
    raw values (for GitHub's ::add-mask::)."""
    values: list[str] = []
    for user in users:
        for secret in user.secrets():
            REGISTRY.add(secret, username=user.username)
            values.append(secret.reveal())
    if settings.signing_key is not None:
        REGISTRY.add(settings.signing_key)
        values.append(settings.signing_key.reveal())
    for name in settings.secret_env:
        if os.environ.get(name):
            REGISTRY.add(os.environ[name])
            values.append(os.environ[name])
    for name, value in settings.headers:
        if looks_secret(name) or name.lower() in ("authorization", "cookie"):
            REGISTRY.add(value)
            values.append(value)
    for variable in OTLP_HEADER_VARIABLES:
        for pair in os.environ.get(variable, "").split(","):
            _, equals, value = pair.partition("=")
            value = unquote(value.strip())
            if equals and value:
                REGISTRY.add(value)
                values.append(value)
    return values


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    try:
        settings = load_settings(
            cli=lambda dest: config.getoption(dest, None),
            ini=lambda name: _read_ini(config, name),
            environ=os.environ,
            base_dir=config.invocation_params.dir,
        )
        users = _fake_users(config, settings) if settings.gate_active else ()
        traces = _trace_config(settings) if settings.gate_active else None
    except SettingsError as exc:
        # Workers get the same arguments and environment as the controller, which validated
        # them first; this is reached on the controller (or the only process).
        raise pytest.UsageError(f"pytest-prodsmoke: {exc}") from None
    from pytest_prodsmoke.faults import ENV, unknown_points

    if unknown_points():
        raise pytest.UsageError(f"pytest-prodsmoke: {ENV}: unknown fault point(s) "
                                f"{', '.join(unknown_points())}")
    config.stash[SETTINGS_KEY] = settings
    # The fixtures users touch: in every run (without a URL, each says what is missing).
    from pytest_prodsmoke import fixtures

    config.pluginmanager.register(fixtures, "prodsmoke-fixtures")
    if not settings.gate_active:
        return  # plain pytest from here on
    if not is_worker(config):
        _refuse_cache_selection(config)

    # Imported only for a gate run, so an unrelated suite does not pay for them.
    from pytest_prodsmoke.methods import variants
    from pytest_prodsmoke.methods.canary import CanaryMarker
    from pytest_prodsmoke.process import CheckRecorder, FailFast, TeardownAttribution
    from pytest_prodsmoke.safety.scrubbing import Scrubbing
    from pytest_prodsmoke.safety.signals import Interrupts, TermSignalHandler
    from pytest_prodsmoke.state import ProcessState

    workerinput = getattr(config, "workerinput", None)
    shared = (workerinput or {}).get(WORKER_INPUT_KEY)
    if shared is not None:
        run_id, run_dir = shared["run_id"], Path(shared["run_dir"])
        not_ready = shared.get("not_ready")
        process_name = str(workerinput.get("workerid", "gw0"))
        worker_index = int(process_name.lstrip("gw") or 0)
    else:
        run_id = uuid.uuid4().hex
        run_dir = Path(tempfile.mkdtemp(prefix="prodsmoke-run-"))
        worker_index = 0
        process_name = "main"
        not_ready = None
    state = ProcessState(settings, run_id, run_dir, users, worker_index, process_name)
    state.not_ready = not_ready
    state.open()  # the fixtures find it: state.running()
    startup_secrets = _register_secrets(settings, users)
    run_traces = None
    if traces is not None:
        from pytest_prodsmoke.outputs.traces.export import Tracing
        from pytest_prodsmoke.outputs.traces.plugin import CheckSpans, RunTraces

        tracing = Tracing(traces, REGISTRY.scrub)
        run_span = (shared or {}).get("run_span")
        if not is_worker(config):
            run_traces = RunTraces(tracing, run_id)
            run_span = (run_traces.trace_id, run_traces.span_id)
        from pytest_prodsmoke.gate.recorder import cwd_relative

        state.spans = CheckSpans(tracing, state.urls, settings.expect_version,
                                 tuple(run_span) if run_span else None,
                                 cwd_relative(config.rootpath, config.invocation_params.dir))
    signals = TermSignalHandler()

    # The plugins of every process that runs checks, one per concern.
    plugins: dict[str, object] = {
        "prodsmoke-checks": CheckRecorder(state),
        "prodsmoke-teardown": TeardownAttribution(),
        "prodsmoke-scrubbing": Scrubbing(),
        "prodsmoke-signals": Interrupts(signals, run_dir),
        "prodsmoke-canary": CanaryMarker(state),
        "prodsmoke-variants": variants,
    }
    if len(settings.prod_urls) > 1:
        from pytest_prodsmoke.methods import targets

        plugins["prodsmoke-targets"] = targets
    if settings.fail_fast:
        plugins["prodsmoke-fail-fast"] = FailFast(state, run_dir)
    from pytest_prodsmoke.methods.chaos.selection import ChaosSelection

    plugins["prodsmoke-chaos"] = ChaosSelection(state)
    if settings.state_dir is not None and worker_index == 0 and \
            not is_xdist_controller(config):
        # One process replays what earlier runs left: the only one, or worker gw0.
        from pytest_prodsmoke.safety.replay import UndoReplay

        plugins["prodsmoke-undo-replay"] = UndoReplay(state, config)
    if config.getoption("allure_report_dir", None):
        from pytest_prodsmoke.outputs.allure import AllureLabels  # allure-pytest is writing

        plugins["prodsmoke-allure"] = AllureLabels(state)
    if state.spans is not None and is_worker(config):
        from pytest_prodsmoke.outputs.traces.plugin import WorkerExport

        plugins["prodsmoke-traces"] = WorkerExport(state.spans)
    for name, plugin in plugins.items():
        config.pluginmanager.register(plugin, name)
    if is_worker(config):
        return
    from pytest_prodsmoke.owner import GateOwner  # the gate itself: owner's process only

    owner = GateOwner(config, settings, signals, distributed=is_xdist_controller(config),
                      run_id=run_id, run_dir=run_dir,
                      startup_secrets=(startup_secrets
                                       if os.environ.get("GITHUB_ACTIONS") == "true" else []),
                      state=state)
    owner.traces = run_traces
    config.pluginmanager.register(owner, "prodsmoke-gate")
    if settings.chaos:
        from pytest_prodsmoke.methods.chaos.runs import ChaosRecovery

        owner.chaos_recovery = ChaosRecovery(state)
        config.pluginmanager.register(owner.chaos_recovery, "prodsmoke-chaos-recovery")
    if owner.distributed:
        from pytest_prodsmoke.xdist import XdistControllerHooks

        owner.xdist = XdistControllerHooks(owner.recorder, WORKER_INPUT_KEY, {
            "run_id": run_id,
            "run_dir": str(run_dir),
            "users": [user.to_record() for user in users],
            "run_span": [run_traces.trace_id, run_traces.span_id] if run_traces else None,
        }, config)
        config.pluginmanager.register(owner.xdist, "prodsmoke-xdist")


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None or not settings.gate_active or settings.prod_url is None:
        return []
    lines = [f"prodsmoke: gate active; target {display_url(settings.prod_url)}, expected version "
             f"{settings.expect_version or '(not pinned)'}"]
    if settings.insecure:
        lines.append("prodsmoke: WARNING: --prod-insecure: TLS certificates are NOT verified")
    if settings.allow_skips:
        lines.append("prodsmoke: WARNING: --gate-allow-skips: skipped critical checks do not "
                     "fail the gate")
    return lines
