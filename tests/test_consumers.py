"""Issue #10: what users' tools see. Every output is read by a real consumer nobody here wrote
(an XML schema validator, junitparser, actionlint, gitlab-ci-local), in real pytest sessions
against the real shop, serial and ``-n 2``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import GateRun, run_gate

DATA = Path(__file__).with_name("data")

MIXED = """
import pytest

def test_health(prod):
    assert prod.get("/healthz").ok

def test_broken(prod):
    assert prod.get("/broken").ok

@pytest.mark.noncritical
@pytest.mark.skip(reason="feature off")
def test_wishlist(prod):
    pass

@pytest.fixture
def order():
    yield
    raise RuntimeError("order not deleted")

def test_order(prod, order):
    assert prod.get("/healthz").ok
"""


def _summary(run: GateRun) -> str:
    return f"exit {run.ret}\n{run.output[-3000:]}"


def test_default_junit_xml_is_valid_under_pytests_own_schema(pytester: pytest.Pytester, shop,
                                                             mode: str) -> None:
    """pytest's default junit_family (xunit2) allows no <properties> in a <testcase>."""
    import xmlschema

    pytester.makepyfile(test_smoke=MIXED)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=shop.url)
    assert run.ret == 1, _summary(run)
    schema = xmlschema.XMLSchema(str(DATA / "junit-10.xsd"))  # from pytest's sdist
    schema.validate(str(run.junit_path))
    suite = run.junit().find("testsuite")
    suite_props = {p.get("name") for p in suite.findall("./properties/property")}
    assert {"prodsmoke.verdict", "prodsmoke.exit_status"} <= suite_props  # suite facts stay
    assert run.report["checks"][0]["versions"] == {"2.0.0": 1}  # the gate still read them


@pytest.mark.parametrize("family", ["xunit1", "legacy"])
def test_per_check_properties_in_the_families_that_allow_them(pytester: pytest.Pytester, shop,
                                                              mode: str, family: str) -> None:
    pytester.makepyfile(test_smoke=MIXED)
    run = run_gate(pytester, mode, "-o", f"junit_family={family}", url=shop.url)
    cases = {case.get("name"): {p.get("name"): p.get("value")
                                for p in case.findall("./properties/property")}
             for case in run.junit().iter("testcase")}
    assert cases["test_health"]["prodsmoke.critical"] == "true"
    assert "prodsmoke.trace_id" in cases["test_health"]


# ------------------------------------------------------ 3. Allure and GitHub as users see them

SUBDIR_SUITE = """
def test_health(prod):
    assert prod.get("/healthz").ok

def test_broken(prod):
    response = prod.get("/broken")
    assert response.ok, "the shop answered 500"
"""


def _suite_in_a_subdirectory(pytester: pytest.Pytester) -> None:
    """smoke/ has its own pytest.ini, so pytest's rootdir is smoke/ while pytest is started
    one level up (the repository root, GitHub's workspace)."""
    smoke = pytester.mkdir("smoke")
    (smoke / "pytest.ini").write_text("[pytest]\n")
    (smoke / "test_shop.py").write_text(SUBDIR_SUITE)


def test_annotations_name_the_file_from_the_workspace_and_the_line(
        pytester: pytest.Pytester, shop, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _suite_in_a_subdirectory(pytester)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(pytester.path))
    run = run_gate(pytester, mode, "smoke", url=shop.url)
    assert run.ret == 1, _summary(run)
    # The same node ids as pytest's own summary above the gate block.
    run.result.stdout.fnmatch_lines(["FAILED smoke/test_shop.py::test_broken*",
                                     "*[[]check_failed] 1 critical check failed: "
                                     "smoke/test_shop.py::test_broken*"])
    assert run.outcomes() == {"smoke/test_shop.py::test_health": "passed",
                              "smoke/test_shop.py::test_broken": "failed"}
    run.result.stdout.fnmatch_lines([
        "::error file=smoke/test_shop.py,line=7,title=prodsmoke gate%3A critical check "
        "failed::smoke/test_shop.py::test_broken failed: AssertionError: the shop answered 500*"])


def test_run_level_reasons_are_annotated(pytester: pytest.Pytester, old_shop, mode: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.makepyfile(test_smoke=SUBDIR_SUITE)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", "--wait-ready=0.5",
                   "--ready-interval", "0.1", url=old_shop.url)
    assert run.ret == 1 and run.codes == ["not_ready"], _summary(run)
    run.result.stdout.fnmatch_lines([
        "::error title=prodsmoke gate%3A not_ready::the candidate was not ready within 0.5 s *"
        "last saw status 200, version 1.0.0)"])
    text = summary.read_text()
    assert "within 0.5 s" in text and "0.49" not in text  # the deadline given, not time left
    assert "readiness probe saw status 200, version 1.0.0" in text


def test_allure_shows_the_request_log_inline(pytester: pytest.Pytester, shop, mode: str) -> None:
    import json

    pytester.makepyfile(test_smoke=SUBDIR_SUITE)
    run_gate(pytester, mode, "--alluredir", "allure", url=shop.url)
    results = [json.loads(p.read_text()) for p in (pytester.path / "allure").glob("*-result.json")]
    attachments = [a for r in results for a in r.get("attachments", ())
                   if a["name"] == "prodsmoke requests"]
    assert attachments and all(a["type"] == "text/plain" for a in attachments)


# ------------------------------------------------------------------ 4. request visibility

def _check(run: GateRun, suffix: str) -> dict:
    return next(c for c in run.report["checks"] if c["nodeid"].endswith(suffix))


def test_requests_that_never_got_an_answer_are_recorded_in_one_line(
        pytester: pytest.Pytester, shop, mode: str) -> None:
    import socket

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    pytester.makepyfile(test_smoke=f"""
def test_health(prod):
    assert prod.get("/healthz").ok

def test_slow(prod):
    prod.get("/slow?ms=3000&token=not-for-logs")

def test_refused(prod):
    prod.get("http://127.0.0.1:{port}/healthz")
""")
    run = run_gate(pytester, mode, "--prod-timeout", "0.5", "--prod-retries", "0",
                   "-o", "junit_family=xunit1", url=shop.url)
    assert run.ret == 1, _summary(run)
    assert "urllib3" not in run.output and "During handling" not in run.output
    assert "not-for-logs" not in run.output
    run.result.stdout.fnmatch_lines([
        "E *requests.exceptions.ReadTimeout: GET /slow: no answer: read timeout after 0.* s",
        "GET    /slow  -> no answer (read timeout) *ms  [[]candidate]"])
    assert "no answer: connection refused" in run.output
    slow = _check(run, "test_slow")
    assert slow["requests"]["count"] == 1 and isinstance(slow["requests"]["count"], int)
    assert slow["message"].startswith("requests.exceptions.ReadTimeout: GET /slow: no answer")
    cases = {case.get("name"): {p.get("name"): p.get("value")
                                for p in case.findall("./properties/property")}
             for case in run.junit().iter("testcase")}
    import json

    assert json.loads(cases["test_refused"]["prodsmoke.requests"])["count"] == 1


def test_every_retried_attempt_is_recorded(pytester: pytest.Pytester, mode: str) -> None:
    from examples.shop.launch import running_shop

    with running_shop("2.0.0", "--unavailable", "/flaky=2") as flaky:
        pytester.makepyfile(test_smoke="""
def test_flaky(prod):
    assert prod.get("/flaky").status_code == 404
    assert False, "show the log"
""")
        run = run_gate(pytester, mode, url=flaky.url)
    check = _check(run, "test_flaky")
    assert check["requests"]["count"] == 3  # two retried attempts and the answer
    run.result.stdout.fnmatch_lines(["3 requests; trace id *",
                                     "GET    /flaky  -> 503 (retried) *",
                                     "GET    /flaky  -> 503 (retried) *",
                                     "GET    /flaky  -> 404 *"])


def test_the_plugins_own_rules_fail_in_one_line(pytester: pytest.Pytester, shop,
                                                mode: str) -> None:
    pytester.makeini("[pytest]\nprodsmoke_version_path = /version\n"
                     "prodsmoke_variant_header = X-Variant\n")
    pytester.makepyfile(test_smoke="""
import pytest

@pytest.mark.variants("A")
def test_unconfirmed(prod, prodsmoke_variant):
    assert prod.get("/healthz").ok

def test_log(prod):
    assert prod.get("/healthz").ok
""")
    run = run_gate(pytester, mode, "--expect-version", "1.0.0", url=shop.url)
    assert run.ret == 1, _summary(run)
    assert "pytest_prodsmoke" not in run.output.split("short test summary info")[0], \
        "a traceback into the plugin's internals"
    assert "no answer of the candidate confirmed variant 'A'" in run.output
    log = _check(run, "test_log")
    assert log["requests"]["count"] == 1  # the version probe is the plugin's, not the check's
    run.result.stdout.fnmatch_lines(["*GET /version: answered by version 2.0.0, expected 1.0.0*"])
    [log_text] = [section for section in run.output.split("prodsmoke requests")[1:]
                  if "/version" in section][:1]
    assert log_text.count("/version") == 1


def test_parallel_run_mismatch_names_no_query_string(pytester: pytest.Pytester,
                                                     mode: str) -> None:
    from examples.shop.launch import running_shop

    with running_shop("1.0.0") as released, \
            running_shop("2.0.0", "--price-factor", "1.1") as candidate:
        pytester.makepyfile(test_smoke="""
def test_catalog(parallel_run):
    parallel_run.get("/catalog/tea-01?session=not-for-logs")
""")
        run = run_gate(pytester, mode, "--baseline-url", released.url, url=candidate.url)
    assert run.ret == 1, _summary(run)
    assert "GET /catalog/tea-01: the candidate answered differently" in run.output
    assert "not-for-logs" not in run.output
    assert not [line for line in run.output.splitlines()
                if "answered differently" in line and "?" in line]


# ----------------------------------------------------- 5. parallel-run diffs a user can read

def test_parallel_run_diffs_a_user_can_read(pytester: pytest.Pytester, mode: str) -> None:
    from examples.shop.launch import running_shop

    with running_shop("1.0.0") as released, running_shop("2.0.0") as candidate:
        pytester.makepyfile(test_smoke="""
import pytest

def test_logo(parallel_run):
    parallel_run.get("/logo.png")

def test_echo(parallel_run):
    # Host, traceparent and the signature differ per side: the plugin sent them itself.
    parallel_run.get("/echo")

@pytest.mark.parallel_run(ignore=["$.headers.X-Canary"])
def test_echo_with_routing_header(parallel_run):
    parallel_run.get("/echo")

def test_bad_pattern(parallel_run):
    parallel_run.get("/echo", ignore=["$.headers..["])
""")
        run = run_gate(pytester, mode, "--baseline-url", released.url,
                       "--prod-header", "X-Canary: always", url=candidate.url)
    outcomes = run.outcomes()
    assert outcomes["test_smoke.py::test_echo_with_routing_header"] == "passed", _summary(run)
    assert outcomes["test_smoke.py::test_logo"] == "failed"
    run.result.stdout.fnmatch_lines([
        "*GET /logo.png: the candidate answered differently from the baseline (1 difference)",
        "*  body (binary): baseline 64 bytes, sha256 * -> candidate 64 bytes, sha256 *; first "
        "difference at byte 8"])
    assert "\\x89PNG" not in run.output and "�" not in run.output
    # Only the routing header the candidate alone received differs in the plain echo.
    assert outcomes["test_smoke.py::test_echo"] == "failed"
    echo = next(c for c in run.report["checks"] if c["nodeid"].endswith("::test_echo"))
    assert "1 difference" in echo["message"]
    run.result.stdout.fnmatch_lines(["*$.headers[[]'X-Canary']: baseline <missing> -> "
                                     'candidate "<sent X-Canary>"'])
    bad = [line for line in run.output.splitlines() if "ignore pattern '$.headers..['" in line]
    assert bad and outcomes["test_smoke.py::test_bad_pattern"] == "failed"
    assert "During handling" not in run.output
