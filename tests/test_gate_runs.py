"""Every gate rule, proven in real pytest sessions against a real shop, serial and with -n 2."""

from __future__ import annotations

import pytest

from tests.support import GateRun, run_gate

HEALTHY = """
import pytest

def test_health(prod):
    response = prod.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"

def test_catalog(prod):
    assert prod.get("/catalog").json()["count"] == 3

@pytest.mark.synthetic
def test_journey(prod):
    assert prod.get("/catalog/tea-01").status_code == 200
"""


def _summary(run: GateRun) -> str:
    return f"exit {run.ret}\n{run.output[-3000:]}"


def test_all_checks_pass(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=shop.url)
    assert run.ret == 0, _summary(run)
    report = run.report
    assert report["verdict"] == "pass"
    assert report["reasons"] == []
    assert report["schema"] == "pytest-prodsmoke/gate-report/1"
    assert report["target"]["url"] == shop.url
    assert report["target"]["expected_version"] == "2.0.0"
    assert report["target"]["observed_versions"] == {"2.0.0": 3}
    assert report["counts"]["passed"] == 3 and report["counts"]["collected"] == 3
    journey = next(c for c in report["checks"] if c["nodeid"].endswith("test_journey"))
    assert journey["synthetic"] is True and journey["critical"] is True
    assert report["workers"] == (2 if mode == "xdist" else 0)
    assert "prodsmoke gate: PASS (exit 0)" in run.output
    assert run.result.parseoutcomes() == {"passed": 3}  # no warnings either


def test_critical_failure_fails(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + """
def test_broken(prod):
    assert prod.get("/broken").status_code == 200
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.report["verdict"] == "fail"
    assert run.codes == ["check_failed"]
    assert run.outcomes()["test_smoke.py::test_broken"] == "failed"
    assert run.report["reasons"][0]["checks"] == ["test_smoke.py::test_broken"]
    assert "prodsmoke gate: FAIL (exit 1)" in run.output


def test_noncritical_failure_degrades(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + """
@pytest.mark.noncritical
def test_recommendations(prod):
    assert prod.get("/broken").status_code == 200
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 0, _summary(run)
    assert run.report["verdict"] == "degraded"
    assert run.codes == ["noncritical_failed"]
    # The stats line still says what failed; the gate block explains why the run exits 0.
    run.result.stdout.fnmatch_lines(["*prodsmoke gate: DEGRADED (exit 0)*", "*1 failed, 3 passed*"])

    strict = run_gate(pytester, mode, "--gate-strict", url=shop.url)
    assert strict.ret == 1, _summary(strict)
    assert strict.report["verdict"] == "degraded"
    assert strict.report["exit_status"] == 1


@pytest.mark.parametrize("phase", ["setup", "teardown"])
def test_fixture_error_fails(pytester: pytest.Pytester, shop, mode: str, phase: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + f"""
@pytest.fixture
def order(prod):
    if "{phase}" == "setup":
        raise RuntimeError("could not prepare the order")
    yield
    raise RuntimeError("could not delete the order")

def test_order(order, prod):
    assert prod.get("/healthz").ok
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.codes == ["check_failed"]
    assert run.outcomes()["test_smoke.py::test_order"] == "error"


def test_no_checks_collected(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke="def helper():\n    pass\n")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 5, _summary(run)  # pytest's own, more specific status is kept
    assert run.report["verdict"] == "fail"
    assert run.codes == ["no_checks"]


def test_all_checks_deselected(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, "-k", "nothing_matches_this", url=shop.url)
    assert run.ret == 5, _summary(run)
    assert run.codes == ["no_checks"]


def test_only_noncritical_checks_cannot_pass(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke="""
import pytest
pytestmark = pytest.mark.noncritical

def test_health(prod):
    assert prod.get("/healthz").ok
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.codes == ["no_checks"]


def test_collection_error_fails(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY, test_typo="import no_such_module_anywhere\n")
    run = run_gate(pytester, mode, url=shop.url)
    # pytest stops serial runs with 2 but lets xdist runs go on (exit 1): both fail the gate.
    assert run.ret == (2 if mode == "serial" else 1), _summary(run)
    assert run.report["verdict"] == "fail"
    assert "collection_error" in run.codes
    assert "test_typo.py" in run.report["reasons"][run.codes.index("collection_error")]["message"]


def test_module_skipped_at_collection_fails(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY, test_payments="""
import pytest
pytest.importorskip("no_such_payment_sdk")

def test_pay(prod):
    assert prod.get("/healthz").ok
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.codes == ["collection_skipped"]

    allowed = run_gate(pytester, mode, "--gate-allow-skips", url=shop.url)
    assert allowed.ret == 0, _summary(allowed)
    assert allowed.report["verdict"] == "degraded"
    assert allowed.codes == ["skips_allowed"]


@pytest.mark.parametrize("marker", ["skip(reason='flaky in prod')", "xfail(reason='known')"])
def test_skipped_critical_check_fails(pytester: pytest.Pytester, shop, mode: str,
                                      marker: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + f"""
@pytest.mark.{marker}
def test_checkout(prod):
    assert prod.get("/broken").status_code == 200
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.codes == ["critical_skipped"]
    assert run.outcomes()["test_smoke.py::test_checkout"] in ("skipped", "xfailed")

    allowed = run_gate(pytester, mode, "--gate-allow-skips", url=shop.url)
    assert allowed.ret == 0, _summary(allowed)
    assert allowed.codes == ["skips_allowed"]
    assert "WARNING: --gate-allow-skips is on" in allowed.output


def test_skipped_noncritical_check_is_fine(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + """
@pytest.mark.noncritical
@pytest.mark.skip(reason="feature off")
def test_wishlist(prod):
    pass
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 0, _summary(run)
    assert run.report["verdict"] == "pass"


def test_wrong_version_fails(pytester: pytest.Pytester, old_shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=old_shop.url)
    assert run.ret == 1, _summary(run)
    assert run.codes == ["check_failed", "wrong_version"]
    assert run.report["target"]["observed_versions"] == {"1.0.0": 3}
    assert "answered by version 1.0.0, expected 2.0.0" in run.output


def test_wrong_version_fails_even_when_the_check_swallows_it(
        pytester: pytest.Pytester, shop, old_shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + f"""
def test_swallows(prod):
    try:
        prod.get("{old_shop.url}/healthz")
    except Exception:
        pass
""")
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.codes == ["wrong_version"]
    assert run.report["reasons"][0]["checks"] == ["test_smoke.py::test_swallows"]


def test_missing_version_header_is_a_wrong_version(pytester: pytest.Pytester, shop,
                                                    mode: str) -> None:
    pytester.makeini("[pytest]\nprodsmoke_version_header = X-Not-There\n")
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=shop.url)
    assert run.ret == 1, _summary(run)
    assert "wrong_version" in run.codes
    assert "answered by version <none: no X-Not-There header>, expected 2.0.0" in run.output


def test_keyboard_interrupt_fails(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + """
def test_zz_interrupt(prod):
    raise KeyboardInterrupt
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 2, _summary(run)
    assert run.report["verdict"] == "fail"
    assert "interrupted" in run.codes


def test_exitfirst_leaves_checks_unrun(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke="""
def test_a_broken(prod):
    assert prod.get("/broken").ok

""" + "\n".join(f"def test_more_{i}(prod):\n    assert prod.get('/slow?ms=50').ok\n"
                for i in range(8)))
    run = run_gate(pytester, mode, "-x", url=shop.url)
    assert run.ret == (1 if mode == "serial" else 2), _summary(run)
    assert run.report["verdict"] == "fail"
    assert {"check_failed", "interrupted", "not_run"} <= set(run.codes)
    assert run.report["counts"]["not_run"] + run.report["counts"]["incomplete"] >= 1


def test_pytest_exit_zero_inside_a_check_fails(pytester: pytest.Pytester, shop,
                                               mode: str) -> None:
    pytester.makepyfile(test_smoke="""
import pytest

def test_a(prod):
    pytest.exit("looks done to me", returncode=0)

def test_b(prod):
    assert prod.get("/healthz").ok
""")
    run = run_gate(pytester, "serial", url=shop.url)
    assert run.ret != 0, _summary(run)
    assert run.report["verdict"] == "fail"
    assert "interrupted" in run.codes


def test_worker_crash_fails(pytester: pytest.Pytester, shop) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + """
import os

def test_crash(prod):
    prod.get("/healthz")
    os._exit(3)
""")
    run = run_gate(pytester, "xdist", url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.report["verdict"] == "fail"
    assert "worker_crashed" in run.codes
    assert run.outcomes()["test_smoke.py::test_crash"] == "crashed"
    # The other checks were rescheduled on a replacement worker and passed.
    assert run.outcomes()["test_smoke.py::test_health"] == "passed"


def test_serial_process_death_leaves_no_report(pytester: pytest.Pytester, shop) -> None:
    """os._exit kills everything in-process; a stale report must not survive to look green."""
    report = pytester.path / "gate.json"
    report.write_text('{"verdict": "pass"}')
    pytester.makepyfile(test_smoke="import os\n\ndef test_die(prod):\n    os._exit(0)\n")
    run = run_gate(pytester, "serial", url=shop.url)
    assert run.ret == 0  # nothing in-process survives os._exit(0) ...
    assert not report.exists()  # ... so the pipeline must treat "no report" as fail


def test_baseline_without_url_fails_the_check(pytester: pytest.Pytester, shop,
                                              mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + """
def test_compare(prod, baseline):
    assert baseline.get("/healthz").ok
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.outcomes()["test_smoke.py::test_compare"] == "error"
    assert "needs a baseline URL: pass --baseline-url URL" in run.output


def test_baseline_fixture_reaches_the_baseline(pytester: pytest.Pytester, shop, old_shop,
                                               mode: str) -> None:
    pytester.makepyfile(test_smoke="""
def test_compare(prod, baseline):
    assert baseline.get("/version").json()["version"] == "1.0.0"
    assert prod.get("/version").json()["version"] == "2.0.0"
""")
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", "--baseline-url", old_shop.url,
                   url=shop.url)
    assert run.ret == 0, _summary(run)
    # Baseline answers are not held to the candidate's expected version.
    assert run.report["target"]["observed_versions"] == {"2.0.0": 1}


def test_gate_hook_called_once_on_the_owner(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makeconftest("""
import os

def pytest_prodsmoke_gate(config, verdict):
    role = "worker" if hasattr(config, "workerinput") else "owner"
    with open("hook-calls.txt", "a") as handle:
        handle.write(f"{role} {verdict.status} {verdict.exit_status} {len(verdict.checks)}\\n")
""")
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 0, _summary(run)
    assert (pytester.path / "hook-calls.txt").read_text() == "owner pass 0 3\n"


def test_gate_hook_error_fails(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makeconftest("""
def pytest_prodsmoke_gate(config, verdict):
    raise RuntimeError("chat webhook down")
""")
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.codes == ["hook_error"]
    assert "chat webhook down" in run.report["reasons"][0]["message"]


def test_collect_only_gives_no_verdict(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTHY)
    run = run_gate(pytester, mode, "--collect-only", "-q", url=shop.url)
    assert run.ret == 0, _summary(run)
    run.result.stdout.fnmatch_lines(["test_smoke.py::test_health", "*3 tests collected*"])
    assert "prodsmoke gate" not in run.output
    assert not run.report_path.exists()


def test_serial_and_xdist_agree(pytester: pytest.Pytester, shop, old_shop) -> None:
    pytester.makepyfile(test_smoke=HEALTHY + f"""
def test_broken(prod):
    assert prod.get("/broken").ok

@pytest.mark.noncritical
def test_optional(prod):
    assert prod.get("/broken").ok

@pytest.mark.skip(reason="not today")
def test_skipped(prod):
    pass

def test_old(prod):
    prod.get("{old_shop.url}/healthz")
""")
    serial = run_gate(pytester, "serial", "--expect-version", "2.0.0", url=shop.url).report
    xdist = run_gate(pytester, "xdist", "--expect-version", "2.0.0", url=shop.url).report

    def comparable(report: dict) -> dict:
        return {
            "verdict": report["verdict"],
            "exit_status": report["exit_status"],
            "reasons": report["reasons"],
            "counts": report["counts"],
            "target": report["target"],
            # Timings and trace ids differ from run to run by nature.
            "checks": [{k: v for k, v in c.items()
                        if k not in ("duration_s", "requests", "trace_id")}
                       for c in report["checks"]],
        }

    assert comparable(serial) == comparable(xdist)
    assert serial["verdict"] == "fail"
    assert [r["code"] for r in serial["reasons"]] == [
        "check_failed", "critical_skipped", "wrong_version", "noncritical_failed"]


def test_each_check_starts_from_the_configured_client(pytester: pytest.Pytester, shop,
                                                      mode: str) -> None:
    """One client per worker keeps connections alive, but nothing leaks between checks."""
    pytester.makepyfile(test_smoke="""
def test_a_changes_the_client(prod):
    prod.headers["X-Debug"] = "on"
    prod.cookies.set("session", "abc")
    assert prod.get("/echo").json()["headers"]["X-Debug"] == "on"

def test_b_sees_a_fresh_client(prod):
    headers = prod.get("/echo").json()["headers"]
    assert "X-Debug" not in headers and "Cookie" not in headers
    assert headers["X-Canary"] == "always"
""")
    same_worker = ["--dist", "loadfile"] if mode == "xdist" else []
    run = run_gate(pytester, mode, "--prod-header", "X-Canary: always", *same_worker,
                   url=shop.url)
    assert run.ret == 0, _summary(run)


def test_fail_fast_stops_every_worker(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makepyfile(test_smoke="""
import pytest

@pytest.mark.noncritical
def test_0_optional(prod):
    assert prod.get("/broken").ok

def test_1_broken(prod):
    assert prod.get("/broken").ok

""" + "\n".join(f"def test_slow_{i}(prod):\n    assert prod.get('/slow?ms=300').ok\n"
                for i in range(20)))
    run = run_gate(pytester, mode, "--gate-fail-fast", url=shop.url)
    assert run.ret in (1, 2), _summary(run)
    assert {"check_failed", "interrupted", "not_run"} <= set(run.codes)
    counts = run.report["counts"]
    assert counts["not_run"] >= 10  # nothing new started after the critical failure
    assert run.outcomes()["test_smoke.py::test_0_optional"] == "failed"  # no stop for that
    assert "--gate-fail-fast: critical check test_smoke.py::test_1_broken failed" in run.output


def test_several_targets_run_every_check_on_each(pytester: pytest.Pytester, shop, second_shop,
                                                 mode: str) -> None:
    pytester.makepyfile(test_smoke="""
def test_health(prod, prod_target):
    response = prod.get("/healthz")
    assert response.ok and response.url.startswith(prod_target.url)

def test_catalog(prod):
    assert prod.get("/catalog").ok
""")
    first, second = (url.removeprefix("http://") for url in (shop.url, second_shop.url))
    run = run_gate(pytester, mode, "--prod-url", second_shop.url, "--expect-version", "2.0.0",
                   "--wait-ready=10", url=shop.url)
    assert run.ret == 1, _summary(run)
    assert run.outcomes() == {
        f"test_smoke.py::test_health[{first}]": "passed",
        f"test_smoke.py::test_catalog[{first}]": "passed",
        f"test_smoke.py::test_health[{second}]": "passed",
        f"test_smoke.py::test_catalog[{second}]": "failed",
    }
    targets = {t["label"]: t for t in run.report["target"]["targets"]}
    assert targets[first]["counts"] == {"passed": 2} and targets[first]["failed_critical"] == []
    assert targets[second]["failed_critical"] == [f"test_smoke.py::test_catalog[{second}]"]
    assert targets[second]["url"] == second_shop.url
    assert {c["target"] for c in run.report["checks"]} == {first, second}
    assert f"{first} ready after" in run.output and f"{second} ready after" in run.output


def test_mixed_version_rollout_fails(pytester: pytest.Pytester, mode: str) -> None:
    """A rollout still in progress: every 2nd answer comes from the old version."""
    from examples.shop.launch import start_shop

    server = start_shop("2.0.0", "--old-version", "1.0.0", "--old-every", "2")
    try:
        pytester.makepyfile(test_smoke="\n".join(
            f"def test_{i}(prod):\n    prod.get('/healthz')\n    prod.get('/catalog')\n"
            for i in range(4)))
        run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=server.url)
    finally:
        server.stop()
    assert run.ret == 1, _summary(run)
    assert "wrong_version" in run.codes
    observed = run.report["target"]["observed_versions"]
    assert observed.get("1.0.0", 0) >= 1 and observed.get("2.0.0", 0) >= 1
