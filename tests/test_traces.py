"""Traces (outputs/traces): real gate sessions export their spans over OTLP/HTTP to a real
receiver on loopback (oteltest's HttpSink, tests/daemons.py), serial and with -n 2. The span
tree, its attributes and links, and the trace context the example shop received (its
--trace-log) are read back from what arrived; secrets never do; a collector that is down or
hangs changes no verdict and holds the run for at most the flush bound.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.shop.launch import RunningShop, start_shop
from tests.daemons import OtlpReceiver, ReceivedSpan, otlp_receiver, silent_collector
from tests.support import run_gate, run_until_then_terminate, secret_forms

SUITE = '''
import pytest

@pytest.fixture
def broken_setup():
    raise RuntimeError("the fixture could not start")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("the fixture could not clean up")

def test_health(prod):
    assert prod.get("/healthz?probe=1").ok

def test_broken(prod):
    assert prod.get("/broken").status_code == 200

def test_flaky(prod):
    assert prod.get("/catalog").ok

def test_setup_error(prod, broken_setup):
    pass

def test_teardown_error(prod, broken_teardown):
    assert prod.get("/version").ok

@pytest.mark.noncritical
def test_skipped():
    pytest.skip("not today")
'''

RUN_SPAN = "prodsmoke run"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture
def traced_shop(tmp_path: Path) -> Iterator[tuple[RunningShop, Path]]:
    """A shop that logs the traceparent of every request it receives."""
    log = tmp_path / "shop-traces.jsonl"
    server = start_shop("2.0.0", "--fail", "/broken", "--unavailable", "/catalog=2",
                        "--trace-log", str(log))
    yield server, log
    server.stop()


def by_name(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {span.name: span for span in spans}


def wait_for_spans(receiver: OtlpReceiver, count: int) -> list[ReceivedSpan]:
    """The run has ended when this is called: its flush is over, so what arrived is all."""
    deadline = time.monotonic() + 5
    while len(receiver.received()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return receiver.received()


def shop_log(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_check_and_request_is_a_span_in_one_tree(
        pytester: pytest.Pytester, mode: str, receiver: OtlpReceiver,
        traced_shop: tuple[RunningShop, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    shop, log = traced_shop
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=key-of-the-collector-77")
    pytester.makepyfile(test_suite=SUITE)
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, run.output
    report = run.report
    traces = report["traces"]
    checks = {c["nodeid"].split("::")[-1]: c for c in report["checks"]}
    spans = wait_for_spans(receiver, traces["spans"] + 1)
    assert traces["failed"] == 0 and traces["not_exported"] == 0, traces
    assert traces["exported"] == traces["spans"] == len(spans) - 1  # the run span comes after
    assert "traces: " in run.output and f"run trace {traces['run_trace_id']}" in run.output

    # The run span: the verdict and why, the root of its own trace.
    runs = [s for s in spans if s.name == RUN_SPAN]
    assert len(runs) == 1
    run_span = runs[0]
    assert (run_span.trace_id, run_span.span_id) == (traces["run_trace_id"],
                                                     traces["run_span_id"])
    assert run_span.parent_id == ""
    assert run_span.attributes["prodsmoke.verdict"] == "fail"
    assert run_span.attributes["test.suite.run.status"] == "failure"
    assert "check_failed" in run_span.attributes["prodsmoke.reasons"]
    assert run_span.attributes["prodsmoke.run_id"] == report["run_id"]
    assert run_span.status == "STATUS_CODE_ERROR"
    assert run_span.resource["service.name"] == "pytest-prodsmoke"

    # A check span per check: the root of the check's own trace (the id the report names),
    # linked to the run span, with the test.case attributes.
    check_spans = {s.attributes["test.case.name"].split("::")[-1]: s for s in spans
                   if s.kind == "SPAN_KIND_INTERNAL" and s.name != RUN_SPAN}
    assert set(check_spans) == set(checks)
    for name, span in check_spans.items():
        assert span.trace_id == checks[name]["trace_id"], name
        assert span.parent_id == ""
        assert span.links == [(run_span.trace_id, run_span.span_id)]
        assert span.attributes["prodsmoke.target"] == shop.url + "/"
    health = check_spans["test_health"]
    assert health.attributes["test.case.result.status"] == "pass"
    assert health.attributes["prodsmoke.critical"] is True
    assert health.attributes["prodsmoke.observed_versions"] == ["2.0.0"]
    assert health.status == "STATUS_CODE_OK"
    broken = check_spans["test_broken"]
    assert broken.attributes["test.case.result.status"] == "fail"
    assert broken.status == "STATUS_CODE_ERROR"
    assert broken.status_message.startswith("call: ")
    # Setup and teardown errors are errors too, not only failures of the body.
    assert check_spans["test_setup_error"].status == "STATUS_CODE_ERROR"
    assert check_spans["test_setup_error"].status_message.startswith(
        "setup: RuntimeError: the fixture could not start")
    assert check_spans["test_teardown_error"].status == "STATUS_CODE_ERROR"
    assert check_spans["test_teardown_error"].status_message.startswith("teardown: ")
    skipped = check_spans["test_skipped"]
    assert skipped.attributes["test.case.result.status"] == "fail"  # not a positive pass
    assert skipped.attributes["prodsmoke.outcome"] == "skipped"
    assert skipped.status != "STATUS_CODE_ERROR"  # noncritical: not an error

    # A CLIENT span per request, child of its check's span; its context is the traceparent
    # the shop received.
    requests_of = {name: [s for s in spans if s.kind == "SPAN_KIND_CLIENT"
                          and s.parent_id == span.span_id] for name, span in check_spans.items()}
    assert all(s.trace_id == check_spans[name].trace_id
               for name, found in requests_of.items() for s in found)
    (get_health,) = requests_of["test_health"]
    assert get_health.name == "GET"
    assert get_health.attributes["http.request.method"] == "GET"
    assert get_health.attributes["url.full"] == shop.url + "/healthz"  # no query string
    assert get_health.attributes["server.address"] == "127.0.0.1"
    assert get_health.attributes["http.response.status_code"] == 200
    assert "http.request.resend_count" not in get_health.attributes
    assert get_health.status != "STATUS_CODE_ERROR"
    (get_broken,) = requests_of["test_broken"]
    assert get_broken.attributes["http.response.status_code"] == 500
    assert get_broken.status == "STATUS_CODE_ERROR"
    (get_flaky,) = requests_of["test_flaky"]  # two 503s repeated, then the answer
    assert get_flaky.attributes["http.request.resend_count"] == 2
    assert get_flaky.attributes["http.response.status_code"] == 200
    received = {(r["path"], r["traceparent"]) for r in shop_log(log)}
    for span in (get_health, get_broken, get_flaky):
        path = span.attributes["url.full"][len(shop.url):]
        assert (path, f"00-{span.trace_id}-{span.span_id}-01") in received, path

    # The collector's key went to the collector, and nowhere else.
    assert all(h.get("x-collector-key") == "key-of-the-collector-77" for h in receiver.headers)
    for form in secret_forms("key-of-the-collector-77"):
        assert form not in run.output
        assert form not in run.report_path.read_text()


def test_secrets_never_reach_a_span(pytester: pytest.Pytester, receiver: OtlpReceiver,
                                    shop: RunningShop, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sekret-token-in-a-url-4711"
    monkeypatch.setenv("APP_TOKEN", secret)
    pytester.makepyfile(test_leak='''
import os

def test_leaks(prod):
    token = os.environ["APP_TOKEN"]
    prod.get("/echo", params={"token": token})
    prod.get("/catalog/" + token)
    prod.get("/broken/" + token)
    assert False, "the token is " + token
''')
    run = run_gate(pytester, "serial", "--otlp-endpoint", receiver.url,
                   "-o", "prodsmoke_secret_env=APP_TOKEN", url=shop.url)
    assert run.ret == 1, run.output
    spans = wait_for_spans(receiver, run.report["traces"]["spans"] + 1)
    assert len([s for s in spans if s.kind == "SPAN_KIND_CLIENT"]) == 3
    text = repr(spans)
    for form in secret_forms(secret):
        assert form not in text
    assert "***" in text  # masked, where it would have been


def test_a_collector_that_is_down_changes_no_verdict(
        pytester: pytest.Pytester, mode: str, shop: RunningShop) -> None:
    from examples.chaos.stack import free_port

    pytester.makepyfile(test_health="def test_health(prod):\n    assert prod.get('/healthz').ok\n")
    run = run_gate(pytester, mode, "--otlp-endpoint", f"http://127.0.0.1:{free_port()}",
                   url=shop.url)
    assert run.ret == 0, run.output
    assert run.report["verdict"] == "pass"
    traces = run.report["traces"]
    # The check's span and its request's: none arrived, each counted.
    assert traces["spans"] == 2 and traces["exported"] == 0, traces
    assert traces["failed"] + traces["not_exported"] == 2, traces
    assert "the verdict does not depend on them" in run.output
    assert "Traceback" not in run.output


def test_a_collector_that_hangs_holds_the_run_for_the_flush_bound_at_most(
        pytester: pytest.Pytester, mode: str, shop: RunningShop) -> None:
    pytester.makepyfile(test_health="def test_health(prod):\n    assert prod.get('/healthz').ok\n")
    started = time.monotonic()
    assert run_gate(pytester, mode, url=shop.url).ret == 0
    untraced = time.monotonic() - started
    with silent_collector() as url:
        started = time.monotonic()
        run = run_gate(pytester, mode, "--otlp-endpoint", url, url=shop.url)
        took = time.monotonic() - started
    assert run.ret == 0, run.output
    traces = run.report["traces"]
    assert traces["spans"] == 2 and traces["exported"] == 0, traces
    assert traces["not_exported"] == 2, traces
    assert traces["flush_s"] <= 2.0, traces  # as the plugin measured it
    # An export that waited for its own timeout would take 10 s an attempt (the SDK's
    # default): the same run without traces, the bound and some slack, not that.
    assert took - untraced < 6, (took, untraced)


def test_sigterm_with_a_collector_that_hangs(pytester: pytest.Pytester, mode: str,
                                             shop: RunningShop) -> None:
    started = pytester.path / "started"
    pytester.makepyfile(test_slow=f'''
import pathlib, time

def test_slow(prod):
    prod.get("/healthz")
    pathlib.Path({str(started)!r}).touch()
    time.sleep(60)
''')
    report = pytester.path / "gate.json"
    with silent_collector() as url:
        begun = time.monotonic()
        code, out = run_until_then_terminate(
            pytester, ["--prod-url", shop.url, "--otlp-endpoint", url, "--gate-report",
                       str(report), "--cancel-grace", "3",
                       *(["-n", "2"] if mode == "xdist" else [])],
            started, whole_group=True)
        took = time.monotonic() - begun
    assert code != 0, out
    data = json.loads(report.read_text())
    assert data["verdict"] == "fail"
    assert data["traces"]["flush_s"] <= 2.0, data["traces"]
    # The cancel grace and the flush bound, not the export's own timeouts (10 s an attempt).
    assert took < 15, took


def test_the_extra_missing_is_one_usage_line(pytester: pytest.Pytester, shop: RunningShop,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A regular package named opentelemetry first on the path hides the installed one.
    shadow = pytester.path / "shadow"
    (shadow / "opentelemetry").mkdir(parents=True)
    (shadow / "opentelemetry" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(shadow), *sys.path]))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    pytester.makepyfile(test_health="def test_health(prod):\n    pass\n")
    result = pytester.runpytest_subprocess("--prod-url", shop.url)
    assert result.ret == 4
    err = result.stderr.str()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT asks for traces, but OpenTelemetry's OTLP/HTTP " \
           "exporter is not installed: pip install 'pytest-prodsmoke[otel]'" in err
    assert "Traceback" not in err + result.stdout.str()


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not "
     "supported: pytest-prodsmoke exports OTLP over HTTP with protobuf (http/protobuf)"),
    ("OTEL_TRACES_EXPORTER", "zipkin", "OTEL_TRACES_EXPORTER: 'zipkin' is not supported"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT: "
     "'collector:4318' is not an absolute http(s) URL"),
])
def test_a_configuration_it_cannot_honour_is_one_usage_line(
        pytester: pytest.Pytester, shop: RunningShop, monkeypatch: pytest.MonkeyPatch,
        variable: str, value: str, message: str) -> None:
    if variable != "OTEL_EXPORTER_OTLP_ENDPOINT":
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv(variable, value)
    pytester.makepyfile(test_health="def test_health(prod):\n    pass\n")
    result = pytester.runpytest_subprocess("--prod-url", shop.url)
    assert result.ret == 4
    assert f"pytest-prodsmoke: {message}" in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


NO_OTEL = '''
import sys

def test_nothing_of_opentelemetry_is_imported(prod):
    assert prod.get("/healthz").ok
    assert not [m for m in sys.modules if m.startswith("opentelemetry")]
'''


@pytest.mark.parametrize("configured", ["none", "sdk-disabled", "exporter-none", "no-gate"])
def test_without_traces_nothing_of_opentelemetry_is_imported(
        pytester: pytest.Pytester, shop: RunningShop, monkeypatch: pytest.MonkeyPatch,
        configured: str) -> None:
    if configured != "none":
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    if configured == "sdk-disabled":
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    if configured == "exporter-none":
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    pytester.makepyfile(test_inert=NO_OTEL if configured != "no-gate" else
                        "import sys\n\ndef test_plain():\n    assert not [m for m in sys.modules"
                        " if m.startswith('opentelemetry')]\n")
    args = ("--gate-report", "gate.json") if configured != "no-gate" else ()
    result = pytester.runpytest_subprocess(
        *((["--prod-url", shop.url]) if configured != "no-gate" else []), *args)
    assert result.ret == 0, result.stdout.str()
    if configured != "no-gate":
        assert json.loads((pytester.path / "gate.json").read_text())["traces"] is None


def test_method_summaries_and_reruns_reach_their_spans(
        pytester: pytest.Pytester, receiver: OtlpReceiver, shop: RunningShop,
        old_shop: RunningShop, tmp_path: Path) -> None:
    marker = tmp_path / "second-attempt"
    pytester.makepyfile(test_methods=f'''
import pathlib

def test_compared(parallel_run):
    parallel_run.get("/catalog/tea-01")

def test_flaky_once(prod):
    prod.get("/healthz")
    marker = pathlib.Path({str(marker)!r})
    if not marker.exists():
        marker.touch()
        raise AssertionError("first attempt fails")
''')
    run = run_gate(pytester, "serial", "--otlp-endpoint", receiver.url, "--reruns", "1",
                   "--baseline-url", old_shop.url, url=shop.url)
    spans = wait_for_spans(receiver, run.report["traces"]["spans"] + 1)
    checks = [s for s in spans if s.kind == "SPAN_KIND_INTERNAL" and s.name != RUN_SPAN]
    (compared,) = [s for s in checks if s.name.endswith("test_compared")]
    assert compared.attributes["prodsmoke.parallel_run.requests"] == 1
    assert "prodsmoke.parallel_run.mismatches" in compared.attributes
    targets = sorted(s.attributes.get("prodsmoke.target", "candidate") for s in spans
                     if s.kind == "SPAN_KIND_CLIENT" and s.parent_id == compared.span_id)
    assert targets == ["baseline", "candidate"]  # both sides of the comparison, one span each
    # A rerun is a run of its own: a span per attempt, each its own trace.
    attempts = sorted((s for s in checks if s.name.endswith("test_flaky_once")),
                      key=lambda s: s.start_ns)
    assert [s.attributes["prodsmoke.outcome"] for s in attempts] == ["failed", "passed"]
    assert [s.status for s in attempts] == ["STATUS_CODE_ERROR", "STATUS_CODE_OK"]
    assert attempts[1].attributes["prodsmoke.attempt"] == 1
    assert attempts[0].trace_id != attempts[1].trace_id


def test_checks_the_sampler_leaves_out_are_neither_sent_nor_counted(
        pytester: pytest.Pytester, receiver: OtlpReceiver, traced_shop: tuple[RunningShop, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    shop, log = traced_shop
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    pytester.makepyfile(test_health="def test_health(prod):\n    assert prod.get('/healthz').ok\n")
    run = run_gate(pytester, "serial", "--otlp-endpoint", receiver.url, url=shop.url)
    assert run.ret == 0, run.output
    traces = run.report["traces"]
    assert (traces["spans"], traces["exported"], traces["not_exported"]) == (0, 0, 0), traces
    assert "the verdict does not depend" not in run.output  # nothing went missing
    # The service is told: a trace nobody records (flags 00), the check's trace id all the same.
    (entry,) = [e for e in shop_log(log) if e["path"] == "/healthz"]
    assert entry["traceparent"].startswith(f"00-{run.report['checks'][0]['trace_id']}-")
    assert entry["traceparent"].endswith("-00")


DIES_IN_ITS_SECOND_CHECK = '''
import os

def test_first(prod):
    assert prod.get("/healthz").ok

def test_dies(prod):
    prod.get("/healthz")
    os._exit(3)
'''


def test_a_crashed_worker_is_said_not_hidden(pytester: pytest.Pytester, receiver: OtlpReceiver,
                                             shop: RunningShop) -> None:
    pytester.makepyfile(test_crash=DIES_IN_ITS_SECOND_CHECK)
    run = run_gate(pytester, "xdist", "--otlp-endpoint", receiver.url, url=shop.url)
    assert run.ret == 1, run.output
    assert run.report["traces"]["workers_unreported"] == 1, run.report["traces"]
    assert "1 xdist worker(s) went down before saying what they exported" in run.output


def exporter_processes(mark: str) -> list[int]:
    """The processes whose environment carries ``mark`` (the exporter processes of a run the
    test started with it), alive or not yet reaped."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"PRODSMOKE_TEST_MARK={mark}".encode() in (entry / "environ").read_bytes() and \
                    b"exporter.py" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # ended meanwhile, or not ours to read
    return found


@pytest.mark.parametrize("collector", ["answers", "hangs"])
def test_the_exporter_process_ends_with_the_run(
        pytester: pytest.Pytester, mode: str, shop: RunningShop, receiver: OtlpReceiver,
        monkeypatch: pytest.MonkeyPatch, collector: str) -> None:
    mark = os.urandom(8).hex()
    monkeypatch.setenv("PRODSMOKE_TEST_MARK", mark)
    pytester.makepyfile(test_health="def test_health(prod):\n    assert prod.get('/healthz').ok\n")
    if collector == "answers":
        run = run_gate(pytester, mode, "--otlp-endpoint", receiver.url, url=shop.url)
        assert run.report["traces"]["exported"] == 2, run.report["traces"]
    else:
        with silent_collector() as url:
            run = run_gate(pytester, mode, "--otlp-endpoint", url, url=shop.url)
            assert run.report["traces"]["not_exported"] == 2, run.report["traces"]
            assert exporter_processes(mark) == []  # not left exporting into the silence
    assert run.ret == 0, run.output
    assert exporter_processes(mark) == []


KILLS_ITS_EXPORTER = '''
import os, signal
from pathlib import Path

def exporter_pid():
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            if entry.name.isdigit() and stat.rsplit(")", 1)[1].split()[1] == me and \\
                    b"exporter.py" in (entry / "cmdline").read_bytes():
                return int(entry.name)
        except (OSError, IndexError):
            continue

def test_first(prod):
    assert prod.get("/healthz").ok

def test_kills_the_exporter(prod):
    os.kill(exporter_pid(), signal.SIGKILL)
    assert prod.get("/healthz").ok
'''


def test_an_exporter_process_that_dies_changes_no_verdict(
        pytester: pytest.Pytester, mode: str, shop: RunningShop, receiver: OtlpReceiver) -> None:
    pytester.makepyfile(test_kill=KILLS_ITS_EXPORTER)
    run = run_gate(pytester, mode, "--otlp-endpoint", receiver.url, "-p", "no:randomly",
                   url=shop.url)
    assert run.ret == 0, run.output
    assert run.report["verdict"] == "pass"
    traces = run.report["traces"]
    assert traces["spans"] == 4, traces
    assert traces["not_exported"] + traces["failed"] >= 2, traces  # the killed one's, at least
    assert traces["last_error"].startswith("the exporter process "), traces
    assert "the verdict does not depend on them" in run.output
    assert "Traceback" not in run.output


def test_what_a_run_finished_goes_out_when_pytest_dies(
        pytester: pytest.Pytester, shop: RunningShop, receiver: OtlpReceiver) -> None:
    pytester.makepyfile(test_dies=DIES_IN_ITS_SECOND_CHECK)
    run = run_gate(pytester, "serial", "--otlp-endpoint", receiver.url, "-p", "no:randomly",
                   url=shop.url)
    assert run.ret == 3
    # No report (pytest died), but the first check's span and its request's reached the
    # collector: its exporter process flushed when its pipe closed.
    spans = wait_for_spans(receiver, 2)
    assert sorted(s.kind for s in spans) == ["SPAN_KIND_CLIENT", "SPAN_KIND_INTERNAL"]
    (check,) = [s for s in spans if s.kind == "SPAN_KIND_INTERNAL"]
    assert check.name.endswith("test_first")


def test_the_sdk_works_in_the_exporter_process_not_in_pytest(
        pytester: pytest.Pytester, mode: str, shop: RunningShop, receiver: OtlpReceiver) -> None:
    # What keeps export cheap for the checks (README, Performance): pytest imports none of
    # the SDK, the exporter or protobuf (without a sampler that may leave spans out); only the
    # parent packages of the modules whose presence it checks (find_spec imports those).
    pytester.makepyfile(test_inert='''
import sys

def test_no_sdk_in_pytest(prod):
    assert prod.get("/healthz").ok
    parents = {"opentelemetry", "opentelemetry.sdk", "opentelemetry.exporter",
               "opentelemetry.exporter.otlp", "opentelemetry.exporter.otlp.proto"}
    assert [m for m in sys.modules if m.startswith(("opentelemetry", "google.protobuf"))
            and m not in parents] == []
''')
    run = run_gate(pytester, mode, "--otlp-endpoint", receiver.url, url=shop.url)
    assert run.ret == 0, run.output
    assert run.report["traces"]["exported"] == 2, run.report["traces"]
    assert len(wait_for_spans(receiver, 3)) == 3  # and the run span
