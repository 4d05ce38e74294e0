"""Issue #9: the false greens found by running the gate next to real plugins and services.

Each test reproduces a run where the gate once said pass or degraded (exit 0) although
something did not positively pass; serial and ``-n 2`` (and other ``--dist`` modes where the
case is about distribution), in real pytest sessions against the real shop.
"""

from __future__ import annotations

import pytest

from tests.support import SHARED_TOKEN, GateRun, run_gate

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
    assert prod.get("/healthz").ok
    assert len(attempts.read_text()) > 1, "first attempt fails"
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
    assert check["versions"] == {"2.0.0": 2}  # one request per attempt, each counted once
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


# --------------------------------------------------------- 4. a pin nobody confirmed

def test_version_pin_that_no_response_confirmed_fails(pytester: pytest.Pytester, shop,
                                                      old_shop, mode: str) -> None:
    """--expect-version with checks that never reached the candidate: nothing was pinned."""
    pytester.makepyfile(test_smoke="""
def test_baseline_only(baseline):
    assert baseline.get("/healthz").ok

def test_arithmetic():
    assert 1 + 1 == 2
""")
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", "--baseline-url", old_shop.url,
                   url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.report["verdict"] == "fail"
    assert run.codes == ["version_unconfirmed"]
    assert "no response named a version" in run.report["reasons"][0]["message"]
    assert run.report["target"]["observed_versions"] == {}
    assert "prodsmoke gate: FAIL" in run.output


# ------------------------------------------------------------- 7. stale and partial runs

STALE = '{"schema": "pytest-prodsmoke/gate-report/1", "verdict": "pass", "exit_status": 0}'


@pytest.mark.parametrize("where", ["pytest_configure", "module level"])
def test_user_code_ending_the_run_leaves_no_stale_report(pytester: pytest.Pytester, shop,
                                                         mode: str, where: str) -> None:
    """A conftest that ends the run with status 0 before the gate starts: the previous run's
    pass must not be there to be read."""
    exit_call = 'pytest.exit("maintenance window: nothing to do", returncode=0)'
    pytester.makeconftest("import pytest\n\n" + (
        f"def pytest_configure(config):\n    {exit_call}\n" if where == "pytest_configure"
        else f"{exit_call}\n"))
    pytester.makepyfile(test_smoke=HEALTHY)
    (pytester.path / "gate.json").write_text(STALE)
    run = run_gate(pytester, mode, url=shop.url)
    # User code chose the status (pytest turns an exit at import time into 4); the point is
    # that nothing can be read as this run's verdict.
    assert run.ret == (0 if where == "pytest_configure" else 4), _summary(run)
    assert not run.report_path.exists(), "the previous run's pass report survived"


@pytest.mark.parametrize("option", ["--lf", "--last-failed", "--sw", "--stepwise",
                                    "--sw-skip"])
def test_cache_selected_runs_are_refused(pytester: pytest.Pytester, shop, mode: str,
                                         option: str) -> None:
    """A pipeline retry with --lf reruns only what failed; that subset must not pass the gate."""
    pytester.makepyfile(test_smoke=HEALTHY)
    args = ["--prod-url", shop.url, option, *(["-n", "2"] if mode == "xdist" else [])]
    result = pytester.runpytest_subprocess(*args, timeout=120)
    assert result.ret == 4, result.stdout.str() + result.stderr.str()
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors
    assert errors[0].startswith("ERROR: pytest-prodsmoke: ")
    assert "a gate run must run every check" in errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_failed_first_is_allowed(pytester: pytest.Pytester, shop, mode: str) -> None:
    """--ff only reorders: every check still runs."""
    pytester.makepyfile(test_smoke=HEALTHY)
    args = ["--prod-url", shop.url, "--ff", *(["-n", "2"] if mode == "xdist" else [])]
    assert pytester.runpytest_subprocess(*args, timeout=120).ret == 0


@pytest.mark.parametrize("mode", ["serial", "xdist"])
def test_collection_error_reports_differ_exactly_as_documented(pytester: pytest.Pytester,
                                                               shop, mode: str) -> None:
    """pytest stops a serial run at a collection error; xdist runs what could be collected."""
    pytester.makepyfile(test_smoke=HEALTHY, test_typo="import no_such_module_anywhere\n")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.report["verdict"] == "fail"
    if mode == "serial":
        assert run.ret == 2, _summary(run)
        assert run.codes == ["collection_error", "interrupted", "not_run", "no_checks"]
        assert set(run.outcomes().values()) == {"not_run"}
    else:
        assert run.ret == 1, _summary(run)
        assert run.codes == ["collection_error"]
        assert set(run.outcomes().values()) == {"passed"}


# ------------------------------------------------------ 8. consumers read the gate as green

def _junit_gate(run: GateRun):
    """The JUnit file as junitparser (a consumer nobody here wrote) reads it."""
    from junitparser import JUnitXml

    xml = JUnitXml.fromfile(str(run.junit_path))
    suites = [xml] if xml._tag == "testsuite" else list(xml)
    cases = {f"{case.classname}.{case.name}": case for suite in suites for case in suite}
    return suites[0], cases


def _allure_gate(pytester: pytest.Pytester) -> dict:
    import json

    results = [json.loads(p.read_text()) for p in (pytester.path / "allure").glob("*-result.json")]
    gates = [r for r in results if r["fullName"] == "prodsmoke::gate"]
    assert len(gates) == 1, [r["fullName"] for r in results]
    return gates[0]


def test_a_run_where_nothing_ran_is_a_failure_to_junit_and_allure(pytester: pytest.Pytester,
                                                                  old_shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", "--wait-ready=0.5",
                   "--ready-interval", "0.1", "--alluredir", "allure", url=old_shop.url)
    assert run.ret == 1 and run.codes == ["not_ready"], _summary(run)
    suite, cases = _junit_gate(run)
    assert (suite.tests, suite.failures, suite.errors) == (1, 1, 0)
    [result] = cases["prodsmoke.gate"].result
    assert type(result).__name__ == "Failure"
    assert result.message.startswith("prodsmoke gate: FAIL (exit 1): [not_ready]")
    gate = _allure_gate(pytester)
    assert gate["status"] == "failed"
    assert "[not_ready]" in gate["statusDetails"]["message"]
    assert run.report["counts"]["collected"] == 0  # the gate's own case is no check


def test_gate_case_passes_and_degrades_with_the_verdict(pytester: pytest.Pytester, shop,
                                                        mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, "--alluredir", "allure", url=shop.url)
    assert run.ret == 0, _summary(run)
    suite, cases = _junit_gate(run)
    assert (suite.tests, suite.failures, suite.skipped) == (3, 0, 0)
    assert cases["prodsmoke.gate"].is_passed
    assert _allure_gate(pytester)["status"] == "passed"
    assert run.result.parseoutcomes() == {"passed": 2}  # the terminal counts only checks
    assert run.report["counts"]["collected"] == 2

    pytester.makepyfile(test_smoke=HEALTHY + FAILING_NONCRITICAL)
    degraded = run_gate(pytester, mode, "--alluredir", "allure", url=shop.url)
    assert degraded.ret == 0 and degraded.codes == ["noncritical_failed"], _summary(degraded)
    suite, cases = _junit_gate(degraded)
    assert cases["prodsmoke.gate"].is_skipped
    [skip] = cases["prodsmoke.gate"].result
    assert skip.message.startswith("prodsmoke gate: DEGRADED (exit 0): [noncritical_failed]")
    allure = _allure_gate(pytester)
    assert allure["status"] == "skipped" and "noncritical" in allure["statusDetails"]["message"]

    strict = run_gate(pytester, mode, "--gate-strict", url=shop.url)
    assert strict.ret == 1
    assert type(_junit_gate(strict)[1]["prodsmoke.gate"].result[0]).__name__ == "Failure"


# ------------------------------------------------------- 3. every request through the guard

def _orders_seen(shop) -> int:
    import requests

    return requests.get(shop.url + "/_counts", timeout=5).json().get("/orders", 0)


def test_prepared_requests_are_refused_pinned_and_recorded(pytester: pytest.Pytester,
                                                           old_shop, mode: str) -> None:
    """prod.send(prepared), as requests users write it, passes the same guard as prod.get."""
    from examples.shop.launch import running_shop

    with running_shop("2.0.0") as fresh:
        pytester.makepyfile(test_smoke=f"""
import pytest, requests
from pytest_prodsmoke import MutationRefusedError, WrongVersionError

def test_prepared_post_is_refused(prod):
    prepared = prod.prepare_request(requests.Request("POST", "/orders", json={{"items": []}}))
    with pytest.raises(MutationRefusedError, match="POST /orders refused before sending"):
        prod.send(prepared)

def test_prepared_get_is_pinned(prod):
    prepared = prod.prepare_request(requests.Request("GET", "{old_shop.url}/healthz"))
    with pytest.raises(WrongVersionError, match="answered by version 1.0.0, expected 2.0.0"):
        prod.send(prepared)

def test_prepared_get_is_recorded(prod):
    response = prod.send(prod.prepare_request(requests.Request("GET", "/healthz")))
    assert response.ok

def test_the_pool_cannot_be_used_around_the_client(prod):
    prepared = prod.prepare_request(requests.Request("GET", "/healthz"))
    with pytest.raises(Exception, match="around the ProdClient"):
        prod.get_adapter(prepared.url).send(prepared, timeout=5)
""")
        run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=fresh.url)
        orders = _orders_seen(fresh)
    assert run.ret == 1, _summary(run)
    assert orders == 0, "a prepared POST reached production"
    assert run.codes == ["wrong_version"]
    assert run.report["reasons"][0]["checks"] == ["test_smoke.py::test_prepared_get_is_pinned"]
    recorded = _check(run, "test_prepared_get_is_recorded")
    assert recorded["versions"] == {"2.0.0": 1} and recorded["requests"]["count"] == 1
    assert run.outcomes()["test_smoke.py::test_the_pool_cannot_be_used_around_the_client"] \
        == "passed"


def test_nothing_assigned_or_secret_follows_a_redirect_off_its_origin(
        pytester: pytest.Pytester, shop, old_shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=f"""
import pytest

@pytest.mark.variants("A", "B")
def test_redirects(prod, prodsmoke_variant):
    assert prod.get("/recommendations").ok  # confirms the variant
    secret = {{"X-Api-Token": "not-for-third-parties"}}
    same = prod.get("/redirect", params={{"to": "{shop.url}/echo"}}, headers=secret)
    assert same.json()["headers"]["X-Variant"] == prodsmoke_variant
    assert same.json()["headers"]["X-Canary"] == "always"
    assert same.json()["headers"]["X-Api-Token"] == "not-for-third-parties"
    other = prod.get("/redirect", params={{"to": "{old_shop.url}/echo"}}, headers=secret)
    seen = other.json()["headers"]
    assert "X-Variant" not in seen and "X-Canary" not in seen and "X-Api-Token" not in seen
    assert "X-Prodsmoke-Run" in seen  # tags are no secret: the third party may see them
""")
    run = run_gate(pytester, mode, "--prod-header", "X-Canary: always",
                   "-o", "prodsmoke_variant_header=X-Variant", url=shop.url)
    assert run.ret == 0, _summary(run)


# ------------------------------------------------------ 2. teardown errors of shared fixtures

SHARED_ORDER = """
import pytest

@pytest.fixture(scope="module")
def test_order(prod):
    yield "order-1"
    raise RuntimeError("the test order could not be deleted")

def test_checkout(prod, test_order):
    assert prod.get("/healthz").ok

def test_payment(prod, test_order):
    assert prod.get("/healthz").ok

@pytest.mark.noncritical
def test_zz_recommendations(prod, test_order):
    assert prod.get("/healthz").ok
"""


@pytest.mark.parametrize("dist", ["serial", "load", "each", "loadfile"])
def test_teardown_error_of_a_fixture_critical_checks_use_fails(pytester: pytest.Pytester, shop,
                                                               dist: str) -> None:
    """pytest books it on whichever check ran last (here a noncritical one): it is critical."""
    pytester.makepyfile(test_smoke=SHARED_ORDER)
    mode, args = ("serial", []) if dist == "serial" else ("xdist", ["--dist", dist])
    run = run_gate(pytester, mode, *args, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.report["verdict"] == "fail"
    assert run.codes == ["fixture_failed"]
    reason = run.report["reasons"][0]
    assert "module-scoped fixture 'test_order'" in reason["message"]
    assert "the test order could not be deleted" in reason["message"]
    assert set(reason["checks"]) == {"test_smoke.py::test_checkout",
                                     "test_smoke.py::test_payment"}


SHARED_CACHE = """
import pytest

@pytest.fixture(scope="module")
def recommendation_cache():
    yield {}
    raise RuntimeError("cache not flushed")

@pytest.mark.noncritical
def test_a_recommendations(prod, recommendation_cache):
    assert prod.get("/healthz").ok

def test_health(prod):
    assert prod.get("/healthz").ok

def test_z_catalog(prod):
    assert prod.get("/catalog").ok
"""


@pytest.mark.parametrize("dist", ["serial", "load", "each", "loadfile"])
def test_teardown_error_of_a_fixture_only_noncritical_checks_use_degrades(
        pytester: pytest.Pytester, shop, dist: str) -> None:
    """Booked on a critical check that never used the fixture: still only noncritical."""
    pytester.makepyfile(test_smoke=SHARED_CACHE)
    mode, args = ("serial", []) if dist == "serial" else ("xdist", ["--dist", dist])
    run = run_gate(pytester, mode, *args, url=shop.url)
    assert run.ret == 0, _summary(run)
    assert run.report["verdict"] == "degraded"
    assert run.codes == ["noncritical_fixture_failed"]
    assert "'recommendation_cache'" in run.report["reasons"][0]["message"]


def test_own_teardown_error_of_a_critical_check_still_fails(pytester: pytest.Pytester, shop,
                                                            mode: str) -> None:
    pytester.makepyfile(test_smoke=SHARED_CACHE + """
@pytest.fixture
def own_order():
    yield
    raise RuntimeError("own order not deleted")

def test_zz_order(prod, own_order):
    assert prod.get("/healthz").ok
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert "check_failed" in run.codes
    failed = run.report["reasons"][run.codes.index("check_failed")]["checks"]
    assert failed == ["test_smoke.py::test_zz_order"]


# ------------------------------------------------------- 6. mutations on the released version

PARALLEL_USERS = '[{"username": "smoke-alice", "token": "' + SHARED_TOKEN + '"}]'


def _open(shop) -> int:
    import requests

    return requests.get(shop.url + "/_orders", timeout=5).json()["open_orders"]


PARALLEL_ORDER = """
import pytest

@pytest.mark.synthetic
@pytest.mark.parallel_run(ignore={ignore})
def test_parallel_order(parallel_run, fake_user):
    def delete_order(side, response):
        if response.status_code == 201:
            side.delete(f"/orders/{{response.json()['id']}}", auth=fake_user.auth)

    def undo_candidate_only(side, response):
        if side.target == "baseline":
            raise RuntimeError("the released version has no delete endpoint")
        delete_order(side, response)

    parallel_run.post("/orders", json={{"items": ["tea-01"]}}, auth=fake_user.auth,
                      allow_mutation=True, undo={undo})
"""


@pytest.mark.parametrize("ignore", [[], ["$.id"]])
def test_both_sides_of_a_parallel_mutation_are_undone(pytester: pytest.Pytester, two_shops,
                                                      mode: str, monkeypatch, ignore) -> None:
    """Undone on both sides whatever the comparison says (the ids always differ)."""
    released, candidate = two_shops
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", PARALLEL_USERS)
    pytester.makepyfile(test_smoke=PARALLEL_ORDER.format(ignore=ignore, undo="delete_order"))
    run = run_gate(pytester, mode, "--baseline-url", released.url, url=candidate.url)
    if ignore:
        assert run.ret == 0, _summary(run)
    else:
        assert run.ret == 1, _summary(run)
        assert run.codes == ["check_failed", "parallel_run_mismatch"]
    assert (_open(released), _open(candidate)) == (0, 0)
    assert run.report["leftovers"] == []


def test_a_parallel_mutation_without_undo_is_refused_before_sending(
        pytester: pytest.Pytester, two_shops, mode: str, monkeypatch) -> None:
    released, candidate = two_shops
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", PARALLEL_USERS)
    pytester.makepyfile(test_smoke="""
import pytest

@pytest.mark.synthetic
def test_parallel_order(parallel_run, fake_user, cleanup, prod):
    r = parallel_run.post("/orders", json={"items": []}, auth=fake_user.auth,
                          allow_mutation=True)
    cleanup.add(prod.delete, f"/orders/{r.json()['id']}", auth=fake_user.auth)
""")
    run = run_gate(pytester, mode, "--baseline-url", released.url, url=candidate.url)
    assert run.ret == 1, _summary(run)
    assert "POST /orders refused before sending" in run.output
    assert "undo=" in run.output
    assert (_open(released), _open(candidate)) == (0, 0)


def test_a_side_left_undone_is_named_in_the_report(pytester: pytest.Pytester, two_shops,
                                                   mode: str, monkeypatch) -> None:
    released, candidate = two_shops
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", PARALLEL_USERS)
    pytester.makepyfile(test_smoke=PARALLEL_ORDER.format(
        ignore=["$.id"], undo="undo_candidate_only"))
    run = run_gate(pytester, mode, "--baseline-url", released.url, url=candidate.url)
    assert run.ret == 1, _summary(run)
    assert "leftovers" in run.codes
    [left] = run.report["leftovers"]
    assert left["check"] == "test_smoke.py::test_parallel_order"
    assert left["description"].startswith("undo of POST /orders on the baseline")
    assert "no delete endpoint" in left["error"]
    assert (_open(released), _open(candidate)) == (1, 0)


# ------------------------------------------------------------- 5. cancelled under xdist

CANCELLED_ORDER = """
import pathlib, time
import pytest

def delete_order(prod, order_id, auth):
    time.sleep({undo_s})
    response = prod.delete(f"/orders/{{order_id}}", auth=auth)
    assert response.status_code == 204, f"delete answered {{response.status_code}}"

def test_health(prod):
    assert prod.get("/healthz").ok

@pytest.mark.synthetic
def test_place_order(prod, fake_user, cleanup):
    response = prod.post("/orders", json={{"items": ["tea-01"]}}, auth=fake_user.auth)
    order_id = response.json()["id"]
    cleanup.add(delete_order, prod, order_id, fake_user.auth, description=f"order {{order_id}}")
    {more}
    pathlib.Path("started").write_text("x")
    time.sleep(120)
"""


def _cancel(pytester: pytest.Pytester, shop, monkeypatch, mode: str, undo_s: float,
            *extra: str, more: str = "pass") -> tuple[int, str, dict]:
    import json

    from tests.support import run_until_then_terminate

    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", PARALLEL_USERS)
    pytester.makepyfile(test_smoke=CANCELLED_ORDER.format(undo_s=undo_s, more=more))
    args = ["--prod-url", shop.url, "--gate-report", "gate.json", *extra,
            *(["-n", "2"] if mode == "xdist" else [])]

    def one_order_open() -> None:
        assert _open(shop) == 1

    returncode, out = run_until_then_terminate(
        pytester, args, pytester.path / "started", whole_group=False,
        before_signal=one_order_open, ignore_sigint=True)
    return returncode, out, json.loads((pytester.path / "gate.json").read_text())


def test_sigterm_to_the_controller_alone_reaches_the_checks(pytester: pytest.Pytester,
                                                            two_shops, monkeypatch,
                                                            mode: str) -> None:
    """Started as `pytest … &` (SIGINT ignored everywhere), SIGTERM to the main process only:
    the running check is interrupted and its cleanup runs, and the report can say so."""
    _, shop = two_shops
    returncode, out, report = _cancel(pytester, shop, monkeypatch, mode, undo_s=0)
    assert returncode == 2, out
    assert _open(shop) == 0, "the fake order stayed in production"
    assert report["verdict"] == "fail"
    codes = [reason["code"] for reason in report["reasons"]]
    assert "interrupted" in codes and "leftovers" not in codes, report["reasons"]
    assert "worker_crashed" not in codes
    assert report["leftovers"] == []
    place = next(c for c in report["checks"] if c["nodeid"].endswith("test_place_order"))
    assert place["outcome"] in ("incomplete", "not_run")


def test_cleanup_not_confirmed_in_time_is_an_unknown_leftover(pytester: pytest.Pytester,
                                                              two_shops, monkeypatch) -> None:
    _, shop = two_shops
    returncode, out, report = _cancel(pytester, shop, monkeypatch, "xdist", 30,
                                      "--cancel-grace", "2")
    assert returncode == 2, out
    codes = [reason["code"] for reason in report["reasons"]]
    assert "leftovers" in codes, report["reasons"]
    [left] = report["leftovers"]
    assert left["check"] == "test_smoke.py::test_place_order"
    assert left["description"].startswith("order ") and left["unknown"] is True
    assert "never finished" in report["reasons"][codes.index("leftovers")]["message"]
    interrupted = report["reasons"][codes.index("interrupted")]["message"]
    assert "did not finish their checks and cleanup within 2 s" in interrupted


def test_undo_failing_after_a_sigterm_is_named(pytester: pytest.Pytester, two_shops,
                                               monkeypatch, mode: str) -> None:
    """Serially the interrupted check's teardown used to run after the report was written."""
    _, shop = two_shops
    returncode, out, report = _cancel(
        pytester, shop, monkeypatch, mode, 0,
        more="cleanup.add(delete_order, prod, 'gone', fake_user.auth, description='order gone')")
    assert returncode == 2, out
    assert _open(shop) == 0
    assert [(left["description"], left.get("unknown")) for left in report["leftovers"]] == [
        ("order gone", None)]
    assert "delete answered 404" in report["leftovers"][0]["error"]
    assert "leftovers" in [reason["code"] for reason in report["reasons"]]


def test_a_worker_dying_with_cleanup_pending_leaves_unknown_leftovers(
        pytester: pytest.Pytester, two_shops, monkeypatch) -> None:
    _, shop = two_shops
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", PARALLEL_USERS)
    pytester.makepyfile(test_smoke=HEALTHY + """
import os

@pytest.mark.synthetic
def test_dies(prod, fake_user, cleanup):
    order = prod.post("/orders", json={"items": []}, auth=fake_user.auth).json()
    cleanup.add(prod.delete, f"/orders/{order['id']}", auth=fake_user.auth,
                description=f"order {order['id']}")
    os._exit(3)
""")
    run = run_gate(pytester, "xdist", url=shop.url)
    assert run.ret == 1, _summary(run)
    assert {"worker_crashed", "leftovers"} <= set(run.codes)
    [left] = run.report["leftovers"]
    assert left["unknown"] is True and left["check"] == "test_smoke.py::test_dies"
    assert _open(shop) == 1  # nobody removed it: the report says so instead of []
