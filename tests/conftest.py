"""Shared test fixtures: the real shop servers on loopback every test module uses, and the
``mode`` every gate behaviour runs in (serial and pytest-xdist ``-n 2``). The suites and the
helpers that run gate sessions are in support.py.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.shop.launch import RunningShop, running_shop, start_shop
from tests.support import SHARED_TOKEN

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _clean_prodsmoke_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's or CI's PRODSMOKE_* and OTEL_* variables must not leak into the sessions
    under test.

    """
    for name in list(os.environ):
        if name.startswith(("PRODSMOKE_", "OTEL_")):  # OTEL_*: a collector of the machine's
            monkeypatch.delenv(name)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's own, with the sessions under test started without hypothesis' pytest plugin:
    installed for this suite's property tests, it adds ~0.6 s to every pytest process.
    (pytester clears PYTEST_ADDOPTS when it starts, so it is set here, after it.)"""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    # Fake users are leased host-wide (safety/users.py: lease_directory, under the temporary
    # directory): each test's sessions get a temporary directory of their own, so tests
    # running at the same time in other xdist workers never compete for a user.
    tmp = pytester.path / ".tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # inline sessions: tempfile's cache
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


@pytest.fixture
def fresh_shop() -> Iterator[RunningShop]:
    """A shop of its own, for a test that counts its orders or breaks and repairs it."""
    server = start_shop("2.0.0")
    yield server
    server.stop()


@pytest.fixture
def two_instances() -> Iterator[list[RunningShop]]:
    """Two instances of one version, for a load balancer in front of them (chaos tests)."""
    shops = [start_shop("2.0.0"), start_shop("2.0.0")]
    yield shops
    for shop in shops:
        shop.stop()


@pytest.fixture
def second_shop() -> Iterator[RunningShop]:
    """A second candidate target (several --prod-url) whose /catalog fails."""
    server = start_shop("2.0.0", "--fail", "/catalog")
    yield server
    server.stop()


# Parallel runs: the released version and candidates that answer like it, or not.

@pytest.fixture(scope="module")
def released() -> Iterator[RunningShop]:
    """The baseline: the released version 1.0.0."""
    with running_shop("1.0.0") as server:
        yield server


@pytest.fixture(scope="module")
def released_twin() -> Iterator[RunningShop]:
    """A second instance of the released version, for noise learning."""
    with running_shop("1.0.0") as server:
        yield server


@pytest.fixture(scope="module")
def equivalent() -> Iterator[RunningShop]:
    """A candidate that answers like the baseline (except for noise)."""
    with running_shop("2.0.0") as server:
        yield server


@pytest.fixture(scope="module")
def repriced() -> Iterator[RunningShop]:
    """A candidate whose prices changed by 10 %."""
    with running_shop("2.0.0", "--price-factor", "1.1") as server:
        yield server


@pytest.fixture
def two_shops() -> Iterator[tuple[RunningShop, RunningShop]]:
    """A released and a candidate shop that accept the same fake user's token."""
    token = f"{SHARED_TOKEN}=smoke-alice"
    with running_shop("1.0.0", "--token", token) as released, \
            running_shop("2.0.0", "--token", token) as candidate:
        yield released, candidate
