"""Secrets never appear in any output: the zero-leak artifact search, serial and -n 2.

A suite fails while holding every kind of secret in locals, URLs, headers, printed output,
logs and exception messages; the run uses -l -vv, live logs, JUnit XML, Allure and the gate
report. Every artifact and the terminal output are then searched for every secret in every
encoding: raw, URL-quoted, base64 (and Basic-auth user:password), JSON-escaped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_prodsmoke.safety.redact import MASK
from tests.support import run_gate, secret_forms

USERS = [{"username": "smoke-leaky", "password": 'pa ss/wo"rd-1'},
         {"username": "smoke-leaky2", "password": "second-password-2"}]
SECRET_ENV = "shop-api-key-that-must-not-leak"
SIGNING_KEY = "signing-key-that-must-not-leak"
ROUTING_TOKEN = "canary-token-that-must-not-leak"
RUNTIME_SECRET = "runtime-secret-that-must-not-leak"

CONFTEST = """
import pathlib

def pytest_prodsmoke_login(user, client):
    response = client.post("/login", json={"username": user.username,
                                           "password": user.password.reveal()})
    token = response.json()["token"]
    with open(TOKENS, "a") as handle:
        handle.write(token + "\\n")
    return token
"""

SUITE = """
import logging, os
import pytest
import requests
from pytest_prodsmoke import register_secret

log = logging.getLogger("shop.smoke")

@pytest.mark.synthetic
def test_leaky_journey(prod, fake_user, cleanup):
    password = fake_user.password.reveal()
    token = fake_user.token.reveal()
    api_key = os.environ["SHOP_API_KEY"]
    runtime = register_secret("RUNTIME").reveal()
    print("stdout:", password, token, api_key, runtime)
    log.warning("logged: %s %s %s", password, token, api_key)
    response = prod.get(f"/echo?token={token}&key={api_key}",
                        headers={"X-Debug-Password": password}, auth=fake_user.auth)
    assert response.json()["headers"]["X-Debug-Password"] == password + "!"

def test_leaky_exception(prod):
    api_key = os.environ["SHOP_API_KEY"]
    requests.get(f"http://127.0.0.1:9/closed?api_key={api_key}", timeout=1)

def test_leaky_assertion(prod, fake_user):
    assert fake_user.password.reveal() == "not the password"

def test_leaky_failing_cleanup(prod, fake_user, cleanup):
    def undo():
        raise RuntimeError(f"could not delete with {fake_user.password.reveal()}")
    cleanup.add(undo, description=f"order of {fake_user.token.reveal()}")
"""


# xunit1: the JUnit family that also carries the per-check properties (xunit2 has none).
@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
@pytest.mark.parametrize("mode", ["serial", "xdist"])
def test_no_secret_in_any_output(pytester: pytest.Pytester, shop, mode: str,
                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 family: str) -> None:
    tokens_file = tmp_path / "tokens.txt"  # outside the searched artifacts
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", json.dumps(USERS))
    monkeypatch.setenv("SHOP_API_KEY", SECRET_ENV)
    monkeypatch.setenv("PRODSMOKE_SIGNING_KEY", SIGNING_KEY)
    pytester.makeini("[pytest]\nprodsmoke_secret_env = SHOP_API_KEY\n")
    pytester.makeconftest(CONFTEST.replace("TOKENS", repr(str(tokens_file))))
    pytester.makepyfile(test_leaks=SUITE.replace("RUNTIME", RUNTIME_SECRET))
    run = run_gate(pytester, mode, "-l", "-vv", "-rA", "--alluredir", "allure",
                   "-o", "log_cli=true", "--log-cli-level=INFO", "-o", f"junit_family={family}",
                   "--prod-header", f"X-Canary-Token: {ROUTING_TOKEN}", url=shop.url)
    assert run.ret == 1, run.output
    assert run.report["verdict"] == "fail"
    assert MASK in run.output  # masking happened, rather than nothing being printed

    secrets: dict[str, set[str]] = {}
    for user in USERS:
        secrets[f"password of {user['username']}"] = secret_forms(user["password"],
                                                                   user["username"])
    tokens = tokens_file.read_text().split()
    assert tokens, "the login hook never ran"
    for token in tokens:
        secrets[f"login token {token[:4]}"] = secret_forms(token)
    for name, value in [("secret env", SECRET_ENV), ("signing key", SIGNING_KEY),
                        ("routing header", ROUTING_TOKEN), ("runtime secret", RUNTIME_SECRET)]:
        secrets[name] = secret_forms(value)

    artifacts = {"terminal": run.output}
    for path in pytester.path.rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc", ".ini"):
            artifacts[str(path.relative_to(pytester.path))] = path.read_text(errors="replace")
    assert any(name.startswith("allure") for name in artifacts), sorted(artifacts)
    assert "junit.xml" in artifacts and "gate.json" in artifacts

    leaks = [(name, where) for name, values in secrets.items() for where, text in artifacts.items()
             for value in values if value in text]
    assert leaks == [], leaks
