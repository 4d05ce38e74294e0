"""SIGTERM (what CI runners send on cancel) is handled like Ctrl-C: teardown runs, report written,
verdict fail, exit 2. Serial and with -n 2, in real subprocesses."""

from __future__ import annotations

import json

import pytest

from tests.support import run_until_then_terminate

SLOW_SUITE = """
import pathlib, time
import pytest

@pytest.fixture
def order(prod):
    yield "order-1"
    # teardown: the cleanup that must run even when the job is cancelled
    pathlib.Path("{teardown}").write_text("cleaned")

def test_health(prod):
    assert prod.get("/healthz").ok

def test_slow_journey(order, prod):
    pathlib.Path("{started}").write_text("started")
    for _ in range(300):
        time.sleep(0.1)
"""


@pytest.mark.parametrize("mode", ["serial", "xdist"])
def test_sigterm_runs_teardown_and_writes_a_failing_report(
        pytester: pytest.Pytester, shop, mode: str) -> None:
    started, teardown = pytester.path / "started", pytester.path / "teardown"
    pytester.makepyfile(test_smoke=SLOW_SUITE.format(started=started, teardown=teardown))
    report = pytester.path / "gate.json"
    args = ["--prod-url", shop.url, "--gate-report", str(report),
            *(["-n", "2"] if mode == "xdist" else [])]
    returncode, text = run_until_then_terminate(pytester, args, started, whole_group=False)
    assert returncode == 2, text
    data = json.loads(report.read_text())
    assert data["verdict"] == "fail"
    codes = [reason["code"] for reason in data["reasons"]]
    assert "interrupted" in codes, data["reasons"]
    assert "SIGTERM received" in data["reasons"][codes.index("interrupted")]["message"]
    assert "prodsmoke gate: FAIL" in text
    if mode == "serial":
        # In the only process the interrupted check's teardown ran. (Under xdist the signal
        # reaches the controller only; xdist shuts the worker down.)
        assert teardown.read_text() == "cleaned"


def test_sigterm_to_the_whole_process_group(pytester: pytest.Pytester, shop) -> None:
    """CI runners often signal the whole group: workers must also tear down, not just die."""
    started, teardown = pytester.path / "started", pytester.path / "teardown"
    pytester.makepyfile(test_smoke=SLOW_SUITE.format(started=started, teardown=teardown))
    report = pytester.path / "gate.json"
    returncode, text = run_until_then_terminate(
        pytester, ["--prod-url", shop.url, "--gate-report", str(report), "-n", "2"], started,
        whole_group=True)
    assert returncode == 2, text
    data = json.loads(report.read_text())
    assert data["verdict"] == "fail"
    assert "interrupted" in [reason["code"] for reason in data["reasons"]]
    assert teardown.read_text() == "cleaned"
