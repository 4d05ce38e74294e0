"""Gate report file, JUnit XML properties and the terminal block."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytest_prodsmoke.outputs.report import write_json_atomic
from tests.support import run_gate
from tests.test_gate_runs import HEALTHY

FAILING = HEALTHY + """
def test_broken(prod):
    assert prod.get("/broken").ok
"""


def test_junit_carries_check_and_suite_properties(pytester: pytest.Pytester, shop,
                                                  mode: str) -> None:
    pytester.makepyfile(test_smoke=FAILING + """
@pytest.mark.noncritical
def test_optional(prod):
    assert prod.get("/healthz").ok
""")
    # Per-check JUnit properties exist in the families that allow them (not xunit2).
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", "-o", "junit_family=xunit1",
                   url=shop.url)
    root = run.junit()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    suite_props = {p.get("name"): p.get("value")
                   for p in suite.findall("./properties/property")}
    assert suite_props["prodsmoke.verdict"] == "fail"
    assert suite_props["prodsmoke.target"] == shop.url
    assert suite_props["prodsmoke.expected_version"] == "2.0.0"
    assert suite_props["prodsmoke.exit_status"] == "1"
    cases = {case.get("name"): {p.get("name"): p.get("value")
                                for p in case.findall("./properties/property")}
             for case in suite.iter("testcase")}
    assert cases["test_health"]["prodsmoke.critical"] == "true"
    assert cases["test_optional"]["prodsmoke.critical"] == "false"
    assert cases["test_journey"]["prodsmoke.synthetic"] == "true"
    assert json.loads(cases["test_health"]["prodsmoke.versions"]) == {"2.0.0": 1}


def test_terminal_block_is_last_before_the_stats_line(pytester: pytest.Pytester, shop) -> None:
    pytester.makepyfile(test_smoke=FAILING)
    run = run_gate(pytester, "serial", "-rA", url=shop.url)
    lines = run.result.stdout.lines
    block = next(i for i, line in enumerate(lines) if "prodsmoke gate: FAIL (exit 1)" in line)
    short_summary = next(i for i, line in enumerate(lines) if "short test summary info" in line)
    stats = next(i for i, line in enumerate(lines) if "1 failed, 3 passed" in line)
    assert short_summary < block < stats
    assert any("[check_failed] 1 critical check failed: test_smoke.py::test_broken" in line
               for line in lines[block:stats])
    assert any(f"report: {run.report_path}" in line for line in lines[block:stats])


def test_report_header_names_the_target(pytester: pytest.Pytester, shop) -> None:
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, "serial", "--expect-version", "2.0.0", url=shop.url)
    run.result.stdout.fnmatch_lines([f"prodsmoke: gate active; target {shop.url}, expected "
                                     "version 2.0.0"])


def test_url_credentials_are_not_printed(pytester: pytest.Pytester, shop) -> None:
    url = shop.url.replace("http://", "http://deploy:hunter2@")
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, "serial", url=url)
    assert run.ret == 0
    assert "hunter2" not in run.output
    assert "hunter2" not in run.report_path.read_text()
    assert "hunter2" not in run.junit_path.read_text()


def test_report_schema_fields(pytester: pytest.Pytester, shop) -> None:
    pytester.makepyfile(test_smoke=HEALTHY)
    report = run_gate(pytester, "serial", url=shop.url).report
    assert set(report) >= {"schema", "verdict", "exit_status", "reasons", "target", "counts",
                           "checks", "run_id", "started_at", "finished_at", "duration_s",
                           "plugin_version", "pytest_version", "workers", "options",
                           "leftovers"}
    assert set(report["checks"][0]) == {"nodeid", "outcome", "critical", "synthetic",
                                        "duration_s", "message", "versions", "leftovers",
                                        "requests", "trace_id", "trace_url", "target"}
    assert set(report["checks"][0]["requests"]) == {"count", "p50_ms", "p95_ms", "max_ms"}
    assert len(report["checks"][0]["trace_id"]) == 32
    assert report["duration_s"] >= 0


def test_unwritable_report_fails_the_gate(pytester: pytest.Pytester, shop) -> None:
    blocker = pytester.path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    pytester.makepyfile(test_smoke=HEALTHY)
    result = pytester.runpytest_subprocess("--prod-url", shop.url, "--gate-report",
                                           str(blocker / "gate.json"))
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*prodsmoke gate: FAIL*", "*gate report NOT written*"])


# Faults are injected at named points of the plugin (pytest_prodsmoke/faults.py), through the
# environment: a refactor that moves the code moves the point, and one that drops it fails here.


def test_internal_error_in_the_gate_fails_closed(pytester: pytest.Pytester, shop,
                                                  mode: str, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    """A bug in the verdict logic must end as a failed gate (exit 3), never a quiet pass."""
    monkeypatch.setenv("PRODSMOKE_TEST_FAULT", "decide")
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 3, run.output
    assert run.report["verdict"] == "fail"
    assert run.codes == ["internal_error"]
    assert "injected fault in the gate's verdict logic" in run.report["reasons"][0]["message"]
    run.result.stdout.fnmatch_lines(["*prodsmoke gate: FAIL (internal error)*"])


def test_internal_error_in_a_check_hook_fails_closed(pytester: pytest.Pytester, shop,
                                                     mode: str, monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    monkeypatch.setenv("PRODSMOKE_TEST_FAULT", "check-hook")
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 3, run.output  # pytest's INTERNALERROR status is kept
    assert run.report["verdict"] == "fail"
    assert "internal_error" in run.codes, run.codes
    assert "prodsmoke gate: FAIL" in run.output


def test_internal_error_while_recording_fails_the_gate(pytester: pytest.Pytester, shop,
                                                       mode: str, monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    monkeypatch.setenv("PRODSMOKE_TEST_FAULT", "record")
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, run.output
    assert run.report["verdict"] == "fail"
    assert "internal_error" in run.codes


def test_an_unknown_fault_point_is_a_usage_error(pytester: pytest.Pytester, shop,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODSMOKE_TEST_FAULT", "decide,nowhere")
    pytester.makepyfile(test_smoke=HEALTHY)
    result = pytester.runpytest_subprocess("--prod-url", shop.url)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*PRODSMOKE_TEST_FAULT: unknown fault point(s) nowhere"])


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "gate.json"
    write_json_atomic(target, {"verdict": "fail"})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"verdict": object()})  # not serialisable mid-write
    assert json.loads(target.read_text()) == {"verdict": "fail"}
    assert os.listdir(tmp_path) == ["gate.json"]  # no temp file left behind


def test_failed_check_shows_its_requests_and_trace_link(pytester: pytest.Pytester, shop,
                                                        mode: str) -> None:
    pytester.makepyfile(test_smoke=FAILING)
    run = run_gate(pytester, mode, "--trace-url",
                   "https://grafana.example/explore?traceId={trace_id}",
                   "-o", "junit_family=xunit1", url=shop.url)
    assert run.ret == 1, run.output
    broken = next(c for c in run.report["checks"] if c["nodeid"].endswith("test_broken"))
    link = f"https://grafana.example/explore?traceId={broken['trace_id']}"
    assert broken["trace_url"] == link
    healthy = next(c for c in run.report["checks"] if c["nodeid"].endswith("test_health"))
    assert healthy["trace_url"] is None  # links are for failures
    run.result.stdout.fnmatch_lines(["*- prodsmoke requests -*", f"1 request; trace: {link}",
                                     "GET    /broken  -> 500 *ms  version 2.0.0  *candidate*"])
    assert f"trace of test_smoke.py::test_broken: {link}" in run.output
    cases = {case.get("name"): {p.get("name"): p.get("value")
                                for p in case.findall("./properties/property")}
             for case in run.junit().iter("testcase")}
    assert cases["test_broken"]["prodsmoke.trace_url"] == link
    assert json.loads(cases["test_health"]["prodsmoke.requests"])["count"] == 1


def test_github_step_summary_and_annotations(pytester: pytest.Pytester, shop, mode: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    summary = pytester.path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    pytester.makepyfile(test_smoke=FAILING)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=shop.url)
    assert run.ret == 1, run.output
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, never overwritten
    assert "## ❌ prodsmoke gate: FAIL (exit 1)" in text
    assert "- `check_failed` 1 critical check failed: test_smoke.py::test_broken" in text
    assert "| `test_smoke.py::test_broken` | yes | AssertionError" in text
    assert "| check | requests | p50 ms | p95 ms | max ms |" in text
    # (#10 added line= between file= and title=; the rest of the line is as it was.)
    run.result.stdout.fnmatch_lines([
        "::error file=test_smoke.py,line=*,title=prodsmoke gate%3A critical check failed::"
        "test_smoke.py::test_broken failed: AssertionError*"])


LATENCY_SUITE = """
import pytest

@pytest.mark.latency(max_ms=100)
def test_slow_request(prod):
    prod.get("/slow?ms=300")

@pytest.mark.latency(max_ms=2000)
def test_within_budget(prod):
    prod.get("/slow?ms=50")

@pytest.mark.latency(p95_ms=100)
def test_p95(prod):
    for _ in range(3):
        prod.get("/slow?ms=150")

@pytest.mark.latency(max_ms="fast")
def test_bad_marker(prod):
    pass

def test_ini_default(prod):
    prod.get("/slow?ms=300")
"""


def test_latency_budgets(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makeini("[pytest]\nprodsmoke_latency_max_ms = 250\n")
    pytester.makepyfile(test_smoke=LATENCY_SUITE)
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, run.output
    outcomes = run.outcomes()
    assert outcomes == {"test_smoke.py::test_slow_request": "failed",
                        "test_smoke.py::test_within_budget": "passed",
                        "test_smoke.py::test_p95": "failed",
                        "test_smoke.py::test_bad_marker": "error",
                        "test_smoke.py::test_ini_default": "failed"}
    assert "GET /slow took 3" in run.output and "over the latency budget of 100 ms" in run.output
    assert "p95 latency of 3 requests is 1" in run.output
    assert "over the budget of 100 ms (slowest: GET /slow" in run.output
    assert "@pytest.mark.latency: max_ms='fast' is not a positive number of ms" in run.output
    assert "over the latency budget of 250 ms" in run.output


def test_allure_labels_environment_and_request_log(pytester: pytest.Pytester, shop,
                                                   mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + """
@pytest.mark.noncritical
def test_optional(prod):
    assert prod.get("/healthz").ok
""")
    run = run_gate(pytester, mode, "--alluredir", "allure", "--strict-markers",
                   "--trace-url", "https://traces.example/t/{trace_id}", url=shop.url)
    assert run.ret == 0, run.output
    results = {}
    for path in (pytester.path / "allure").glob("*-result.json"):
        data = json.loads(path.read_text())
        results[data["name"]] = data
    def labels(name: str, kind: str) -> set[str]:
        return {label["value"] for label in results[name]["labels"] if label["name"] == kind}
    assert labels("test_health", "severity") == {"blocker"}
    assert labels("test_optional", "severity") == {"normal"}
    assert "noncritical" in labels("test_optional", "tag")
    assert "synthetic" in labels("test_journey", "tag")
    attachment = next(a for a in results["test_health"]["attachments"]
                      if a["name"] == "prodsmoke requests")
    text = (pytester.path / "allure" / attachment["source"]).read_text()
    assert text.startswith("1 request") and "GET    /healthz  -> 200" in text
    health = next(c for c in run.report["checks"] if c["nodeid"].endswith("test_health"))
    assert {"type": "link", "url": f"https://traces.example/t/{health['trace_id']}",
            "name": "trace"} in results["test_health"]["links"]
    environment = (pytester.path / "allure" / "environment.properties").read_text()
    assert "prodsmoke.verdict=pass" in environment
    assert f"prodsmoke.target={shop.url}" in environment


def test_unwritable_github_summary_fails_the_gate(pytester: pytest.Pytester, shop,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "no-such-dir" / "summary.md"))
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, "serial", url=shop.url)
    assert run.ret == 1, run.output
    assert run.codes == ["internal_error"]
    assert "cannot write GITHUB_STEP_SUMMARY" in run.report["reasons"][0]["message"]
