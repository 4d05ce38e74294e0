"""What the tests share besides fixtures (those are in conftest.py): the suites they run, the
way they run a gate session and read its outputs, and the way they cancel one.

Test modules import from here, never from each other or from conftest.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, quote_plus

import pytest

XDIST_ARGS = ("-n", "2")

# The smallest suite that checks the candidate.
HEALTH = "def test_health(prod):\n    assert prod.get('/healthz').ok\n"
# A fake user's token that conftest's two_shops both accept.
SHARED_TOKEN = "token-of-smoke-alice-0123"
# A suite for runs that must stop before any check (a usage error): it must never run.
NEVER_RUNS = "def test_health(prod):\n    pass\n"


def secret_forms(value: str, username: str | None = None) -> set[str]:
    """The forms in which a leaked secret would show: raw, URL-quoted, JSON-escaped, base64
    (and base64 of ``user:value``, as Basic auth sends it)."""
    found = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1],
             base64.b64encode(value.encode()).decode()}
    if username is not None:
        found.add(base64.b64encode(f"{username}:{value}".encode()).decode())
    return found


@dataclass
class GateRun:
    result: pytest.RunResult
    report_path: Path
    junit_path: Path

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    @property
    def output(self) -> str:
        return self.result.stdout.str() + "\n" + self.result.stderr.str()

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.report_path.read_text())

    @property
    def codes(self) -> list[str]:
        return [reason["code"] for reason in self.report["reasons"]]

    def outcomes(self) -> dict[str, str]:
        return {check["nodeid"]: check["outcome"] for check in self.report["checks"]}

    def junit(self) -> ET.Element:
        return ET.parse(self.junit_path).getroot()


def run_gate(pytester: pytest.Pytester, mode: str, *args: str, url: str | None = None,
             timeout: float = 120) -> GateRun:
    """Run pytest in a subprocess with the gate on, JSON report and JUnit XML."""
    report = pytester.path / "gate.json"
    junit = pytester.path / "junit.xml"
    argv = [*(XDIST_ARGS if mode == "xdist" else ()), "-p", "no:cacheprovider",
            # Our own use of pytest must not be deprecated: fail the run if it is.
            "-W", "error::pytest.PytestDeprecationWarning",
            "--gate-report", str(report), "--junitxml", str(junit), *args]
    if url is not None:
        argv = ["--prod-url", url, *argv]
    result = pytester.runpytest_subprocess(*argv, timeout=timeout)
    return GateRun(result, report, junit)


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_until_then_terminate(pytester: pytest.Pytester, args: list[str], started: Path,
                             whole_group: bool, before_signal: Any = None,
                             ignore_sigint: bool = False) -> tuple[int, str]:
    """Start ``pytest *args`` in a subprocess, wait until a check creates ``started``, then
    send SIGTERM — to the whole process group (as CI runners do on cancel) or to pytest alone.

    ``ignore_sigint`` starts it as a script's ``pytest … &`` does in a non-interactive shell:
    SIGINT ignored in every process of the run (so xdist cannot stop its workers with it)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                               cwd=pytester.path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=_ignore_sigint if ignore_sigint else None)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                out = process.stdout.read().decode() if process.stdout else ""
                raise AssertionError(f"check never started (exit {process.poll()}):\n{out}")
            time.sleep(0.05)
        if before_signal is not None:
            before_signal()
        if whole_group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out.decode()


# A suite's login hook for the shop's fake users (POST /login -> a session token).
LOGIN_CONFTEST = """
def pytest_prodsmoke_login(user, client):
    response = client.post("/login", json={"username": user.username,
                                           "password": user.password.reveal()})
    assert response.status_code == 200
    return response.json()["token"]
"""


# The monitor's suite (tests/test_monitor.py): two critical checks and a noncritical one;
# test_orders fails while the shop's /orders is broken (POST /_faults).
MONITOR_SUITE = '''import pytest


def test_health(prod):
    assert prod.get("/healthz").status_code == 200


def test_orders(prod):
    status = prod.get("/orders/none").status_code
    assert status != 500, f"/orders answered {status}"


@pytest.mark.noncritical
def test_catalog(prod):
    assert prod.get("/catalog").status_code == 200
'''


def missing_tool(message: str) -> NoReturn:
    """A real tool a test needs is not installed: fail under ``make test`` (which installs it:
    PRODSMOKE_REQUIRE_TOOLS), skip in a bare checkout."""
    import os

    if os.environ.get("PRODSMOKE_REQUIRE_TOOLS"):
        pytest.fail(message)
    pytest.skip(message)


def order_check(after: str, name: str = "test_place_order") -> str:
    """A synthetic transaction against the shop: an order as a fake user, its undo registered
    (a module-level function: replayable), then ``after`` (indented code of the check)."""
    return f"""
import pytest, time, pathlib

def delete_order(prod, order_id, auth):
    response = prod.delete(f"/orders/{{order_id}}", auth=auth)
    assert response.status_code == 204, f"delete answered {{response.status_code}}"

@pytest.mark.synthetic
def {name}(prod, fake_user, cleanup):
    response = prod.post("/orders", json={{"items": ["tea-01"]}}, auth=fake_user.auth)
    assert response.status_code == 201
    order_id = response.json()["id"]
    cleanup.add(delete_order, prod, order_id, fake_user.auth, description=f"order {{order_id}}")
{after}
"""


class FakeClock:
    """A clock that moves only when slept: for the pure loops (readiness, experiments)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
