"""Issue #10: what users' tools see. Every output is read by a real consumer nobody here wrote
(an XML schema validator, junitparser, actionlint, gitlab-ci-local), in real pytest sessions
against the real shop, serial and ``-n 2``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GateRun, run_gate

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
