"""Issue #9: the false greens found by running the gate next to real plugins and services.

Each test reproduces a run where the gate once said pass or degraded (exit 0) although
something did not positively pass; serial and ``-n 2`` (and other ``--dist`` modes where the
case is about distribution), in real pytest sessions against the real shop.
"""

from __future__ import annotations

import pytest

from tests.conftest import GateRun, run_gate

HEALTHY = """
import pytest

def test_health(prod):
    assert prod.get("/healthz").status_code == 200

def test_catalog(prod):
    assert prod.get("/catalog").json()["count"] == 3
"""

FAILING_NONCRITICAL = """
@pytest.mark.noncritical
def test_recommendations(prod):
    assert prod.get("/broken").ok
"""


def _summary(run: GateRun) -> str:
    return f"exit {run.ret}\n{run.output[-3000:]}"


def _check(run: GateRun, suffix: str) -> dict:
    return next(c for c in run.report["checks"] if c["nodeid"].endswith(suffix))


# ------------------------------------------------------- 1. several reports for one phase

def test_failed_unittest_subtest_fails_a_critical_check(pytester: pytest.Pytester, shop,
                                                         mode: str) -> None:
    """unittest's subTest: the subtest's failed report comes before the test's passed one."""
    pytester.makepyfile(test_smoke=HEALTHY + FAILING_NONCRITICAL + """
import unittest

class TestCheckout(unittest.TestCase):
    def test_steps(self):
        for step in ("cart", "pay"):
            with self.subTest(step=step):
                self.assertNotEqual(step, "pay", "the payment step failed")
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.report["verdict"] == "fail"
    assert run.codes == ["check_failed", "noncritical_failed"]
    steps = _check(run, "TestCheckout::test_steps")
    assert steps["outcome"] == "failed" and steps["critical"] is True
    assert "the payment step failed" in steps["message"]


@pytest.mark.skipif(int(pytest.__version__.split(".")[0]) < 9,
                    reason="the subtests fixture is built into pytest 9")
def test_failed_subtest_fixture_fails_a_critical_check(pytester: pytest.Pytester, shop,
                                                        mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + FAILING_NONCRITICAL + """
def test_pages(prod, subtests):
    for page in ("/healthz", "/broken"):
        with subtests.test(page=page):
            assert prod.get(page).ok
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.codes == ["check_failed", "noncritical_failed"]
    assert _check(run, "test_pages")["outcome"] == "failed"


def test_dist_each_failure_on_one_worker_fails(pytester: pytest.Pytester, shop) -> None:
    """--dist each runs every check once per worker: a failure on any of them is a failure."""
    pytester.makepyfile(test_smoke=HEALTHY + """
import os

def test_on_every_worker(prod):
    assert prod.get("/healthz").ok
    assert os.environ["PYTEST_XDIST_WORKER"] != "gw1", "broken on gw1"
""")
    run = run_gate(pytester, "xdist", "--dist", "each", url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.codes == ["check_failed"]
    check = _check(run, "test_on_every_worker")
    assert check["outcome"] == "failed" and "broken on gw1" in check["message"]
    assert run.report["counts"]["collected"] == 3  # one entry per check, not per worker


FLAKY = HEALTHY + """
import pathlib

def test_sometimes(prod):
    attempts = pathlib.Path("attempts")
    attempts.write_text(attempts.read_text() + "x" if attempts.exists() else "x")
    assert len(attempts.read_text()) > 1, "first attempt fails"
    assert prod.get("/healthz").ok
"""


def test_passed_only_on_a_rerun_is_flaky(pytester: pytest.Pytester, shop, mode: str) -> None:
    """pytest-rerunfailures: a failure followed by a passing rerun is never a clean pass."""
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(test_smoke=FLAKY)
    run = run_gate(pytester, mode, "--reruns", "2", url=shop.url)
    assert run.ret == 0, _summary(run)
    assert run.report["verdict"] == "degraded"
    assert run.codes == ["flaky"]
    check = _check(run, "test_sometimes")
    assert check["outcome"] == "flaky"
    assert [a["outcome"] for a in check["attempts"]] == ["failed", "passed"]
    assert "first attempt fails" in check["attempts"][0]["message"]
    assert run.report["counts"]["flaky"] == 1 and run.report["counts"]["passed"] == 2
    assert "test_sometimes" in run.report["reasons"][0]["message"]
    assert "prodsmoke gate: DEGRADED" in run.output

    (pytester.path / "attempts").unlink()
    strict = run_gate(pytester, mode, "--reruns", "2", "--gate-strict", url=shop.url)
    assert strict.ret == 1, _summary(strict)
    assert strict.codes == ["flaky"]


def test_failing_every_rerun_fails_with_every_attempt(pytester: pytest.Pytester, shop,
                                                      mode: str) -> None:
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(test_smoke=HEALTHY + """
def test_never(prod):
    assert prod.get("/broken").ok, "still broken"
""")
    run = run_gate(pytester, mode, "--reruns", "2", url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.codes == ["check_failed"]
    check = _check(run, "test_never")
    assert check["outcome"] == "failed"
    assert [a["outcome"] for a in check["attempts"]] == ["failed", "failed", "failed"]
