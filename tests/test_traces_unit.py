"""The pure parts of the traces (outputs/traces): whether and where a run exports, and the span
model's attributes. No pytest session, no OpenTelemetry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_prodsmoke.errors import SettingsError
from pytest_prodsmoke.gate.facts import CheckFacts
from pytest_prodsmoke.gate.rules import PhaseEvent
from pytest_prodsmoke.outputs.traces import TraceConfig, trace_config
from pytest_prodsmoke.outputs.traces.model import (
    attempt_outcome,
    check_attributes,
    check_result,
    clean_url,
    failure_text,
    request_attributes,
    response_attributes,
    run_attributes,
)

BASE = "http://collector:4318"


@pytest.mark.parametrize(("option", "environ", "expected"), [
    (None, {}, None),
    (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE},
     TraceConfig(BASE + "/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT")),
    (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE + "/"},
     TraceConfig(BASE + "/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT")),
    # The signal's own variable is the whole URL, as the SDK reads it; it wins over the base.
    (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": BASE + "/custom"},
     TraceConfig(BASE + "/custom", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
    # The option wins over the environment.
    ("http://mine:4318", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": BASE + "/custom"},
     TraceConfig("http://mine:4318/v1/traces", "--otlp-endpoint")),
    (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, None),  # empty counts as unset
    (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_SDK_DISABLED": "true"}, None),
    (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_SDK_DISABLED": "false"},
     TraceConfig(BASE + "/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT")),
    (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_TRACES_EXPORTER": "none"}, None),
    (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
     TraceConfig(BASE + "/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT")),
    # A gRPC protocol for metrics or logs only is not the traces' business.
    (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
     TraceConfig(BASE + "/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT")),
    # OTEL_TRACES_EXPORTER alone asks for nothing: no endpoint, no export.
    (None, {"OTEL_TRACES_EXPORTER": "zipkin"}, None),
])
def test_whether_and_where_a_run_exports(option: str | None, environ: dict[str, str],
                                         expected: TraceConfig | None) -> None:
    assert trace_config(option, "--otlp-endpoint", environ) == expected


@pytest.mark.parametrize(("environ", "message"), [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
     "OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported: pytest-prodsmoke exports OTLP over "
     "HTTP with protobuf (http/protobuf)"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
     "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' is not supported"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_TRACES_EXPORTER": "otlp,console"},
     "OTEL_TRACES_EXPORTER: 'otlp,console' is not supported: pytest-prodsmoke exports traces "
     "with otlp (or none)"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
     "OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' is not an absolute http(s) URL"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://u:tok3n-of-the-collector@c/v1/traces#x"},
     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://***@c/v1/traces#x' has a #fragment"),
])
def test_what_it_cannot_honour_is_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        trace_config(None, "--otlp-endpoint", environ)
    assert str(raised.value).startswith(message)
    assert "tok3n" not in str(raised.value)


def test_url_full_has_no_query_fragment_or_credentials() -> None:
    assert clean_url("https://user:pw@shop.example:8443/a/b?token=x#frag") == \
        "https://shop.example:8443/a/b"
    assert clean_url("http://shop.example") == "http://shop.example/"
    assert clean_url("http://[::1]:8080/x?y") == "http://[::1]:8080/x"
    assert clean_url("http://h:notaport/x") == "http://h/x"


@given(st.text(alphabet="abc:/?#@=&%", max_size=30))
def test_no_query_or_userinfo_ever_survives(tail: str) -> None:
    url = clean_url("https://user:secret@host.example/" + tail)
    assert "secret" not in url and "?" not in url and "#" not in url


def test_request_attributes_follow_the_http_conventions() -> None:
    assert request_attributes("GET", "https://shop.example/orders?x=1", "candidate") == {
        "http.request.method": "GET", "url.full": "https://shop.example/orders",
        "server.address": "shop.example", "server.port": 443}
    assert request_attributes("GET", "http://old.example:8080/x", "baseline") == {
        "http.request.method": "GET", "url.full": "http://old.example:8080/x",
        "server.address": "old.example", "server.port": 8080, "prodsmoke.target": "baseline"}
    assert response_attributes(200, 0, "") == {"http.response.status_code": 200}
    assert response_attributes(503, 2, "") == {"http.response.status_code": 503,
                                               "http.request.resend_count": 2,
                                               "error.type": "503"}
    assert response_attributes(0, 0, "read timeout") == {"error.type": "read timeout"}


@pytest.mark.parametrize(("outcome", "critical", "expected"), [
    ("passed", True, ("pass", False)),
    ("passed", False, ("pass", False)),
    ("failed", False, ("fail", True)),
    ("error", False, ("fail", True)),
    ("crashed", False, ("fail", True)),
    # Fail closed: a critical check that did not positively pass is an error, as for the gate.
    ("skipped", True, ("fail", True)),
    ("xfailed", True, ("fail", True)),
    ("incomplete", True, ("fail", True)),
    ("skipped", False, ("fail", False)),
    ("flaky", False, ("fail", False)),
])
def test_only_a_positive_pass_is_a_pass(outcome: str, critical: bool,
                                        expected: tuple[str, bool]) -> None:
    assert check_result(outcome, critical) == expected


def event(when: str, outcome: str, message: str = "", attempt: int = 0) -> PhaseEvent:
    return PhaseEvent("t.py::test_x", when, outcome, message=message, attempt=attempt)


def test_the_outcome_of_one_attempt() -> None:
    passed = [event("setup", "passed"), event("call", "passed"), event("teardown", "passed")]
    assert attempt_outcome(passed) == "passed"
    assert attempt_outcome([event("setup", "failed", "boom")]) == "error"
    assert attempt_outcome([event("setup", "passed"), event("call", "rerun", "flaky")]) == \
        "failed"  # an attempt pytest-rerunfailures repeats failed
    assert attempt_outcome([event("setup", "passed"), event("call", "passed")]) == "incomplete"
    assert attempt_outcome([]) == "incomplete"
    assert failure_text([event("setup", "passed"), event("teardown", "failed", "gone")],
                        "error") == "teardown: gone"
    assert failure_text([event("setup", "passed")], "incomplete") == "incomplete"


def test_check_attributes_carry_the_facts_of_the_methods() -> None:
    facts = CheckFacts(critical=True, synthetic=True, versions={"2.0.1": 3, "<missing>": 1},
                       variant="B", requests={"count": 4, "p95_ms": 9.0},
                       canary={"verdict": "fail", "reasons": ["slower"], "error_p_value": 0.5,
                               "candidate": {"samples": 30, "p95_ms": 12.5}},
                       parallel_run={"requests": 3, "mismatches": 1, "noise_paths": ["x"]},
                       chaos={"fault": "pause shop", "verdict": "deviated", "phases": []},
                       leftovers=(("order 1", "HTTP 500"),))
    attributes = check_attributes("t.py::test_x", facts, "failed", True, 2,
                                  "https://u:p@shop.example/base?k=v", "2.0.1")
    assert attributes == {
        "test.case.name": "t.py::test_x", "test.case.result.status": "fail",
        "prodsmoke.outcome": "failed", "prodsmoke.critical": True, "prodsmoke.synthetic": True,
        "prodsmoke.target": "https://shop.example/base", "prodsmoke.attempt": 2,
        "prodsmoke.expected_version": "2.0.1",
        "prodsmoke.observed_versions": ["2.0.1", "<missing>"], "prodsmoke.variant": "B",
        "prodsmoke.canary.verdict": "fail",
        "prodsmoke.canary.reasons": ["slower"], "prodsmoke.canary.error_p_value": 0.5,
        "prodsmoke.canary.candidate.samples": 30, "prodsmoke.canary.candidate.p95_ms": 12.5,
        "prodsmoke.parallel_run.requests": 3, "prodsmoke.parallel_run.mismatches": 1,
        "prodsmoke.chaos.verdict": "deviated", "prodsmoke.chaos.fault": "pause shop",
        "prodsmoke.leftovers": 1}


def test_run_attributes_say_the_verdict_and_why() -> None:
    attributes = run_attributes("degraded", 0, [("flaky", "1 check passed only on a rerun")],
                                {"passed": 3, "flaky": 1}, "run-1",
                                ["https://u:p@shop.example?x=1"], None)
    assert attributes == {
        "test.suite.name": "prodsmoke run", "test.suite.run.status": "failure",
        "prodsmoke.verdict": "degraded", "prodsmoke.exit_status": 0,
        "prodsmoke.run_id": "run-1", "prodsmoke.reasons": ["flaky"],
        "prodsmoke.reason_messages": ["1 check passed only on a rerun"],
        "prodsmoke.target": ["https://shop.example/"],
        "prodsmoke.checks.passed": 3, "prodsmoke.checks.flaky": 1}
    assert run_attributes("pass", 0, [], {}, "r", [], "1.0")["test.suite.run.status"] == \
        "success"
