"""Shared test fixtures: real shop servers on loopback and a helper to run gate sessions.

Every gate behaviour is exercised in a real pytest session (pytester, in a subprocess), once
serially and once with pytest-xdist (``-n 2``): the ``mode`` fixture parametrizes that.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from examples.shop.launch import RunningShop, start_shop

pytest_plugins = ["pytester"]

XDIST_ARGS = ("-n", "2")


@pytest.fixture(autouse=True)
def _clean_prodsmoke_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's or CI's PRODSMOKE_* variables must not leak into the sessions under test.

    """
    for name in list(os.environ):
        if name.startswith("PRODSMOKE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's own, with the sessions under test started without hypothesis' pytest plugin:
    installed for this suite's property tests, it adds ~0.6 s to every pytest process.
    (pytester clears PYTEST_ADDOPTS when it starts, so it is set here, after it.)"""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    return pytester


@pytest.fixture(scope="session")
def shop() -> Iterator[RunningShop]:
    """The candidate: version 2.0.0, /broken answers 500, /flaky is 503 twice."""
    server = start_shop("2.0.0", "--fail", "/broken", "--unavailable", "/flaky=2")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def old_shop() -> Iterator[RunningShop]:
    """An instance of the released version 1.0.0 (a wrong version for the candidate's gate)."""
    server = start_shop("1.0.0")
    yield server
    server.stop()


@pytest.fixture(params=["serial", "xdist"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


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


@pytest.fixture(scope="session")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    import subprocess

    directory = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=prodsmoke test CA",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return {name: directory / f"{name}.{ext}" for name, ext in
            (("ca", "pem"), ("cert", "pem"), ("key", "key"))} | {"cert": directory / "server.pem",
                                                               "key": directory / "server.key"}


@pytest.fixture(scope="session")
def tls_shop(private_ca: dict[str, Path]) -> Iterator[RunningShop]:
    server = start_shop("2.0.0", "--tls-cert", str(private_ca["cert"]),
                        "--tls-key", str(private_ca["key"]))
    yield server
    server.stop()


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
