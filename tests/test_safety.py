"""Production safety, proven in real pytest sessions against the real shop, serial and -n 2:
fake users only, exclusive leases, read-only by default, cleanup, tagged traffic, guarded
credentials, shared rate limit."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from examples.shop.launch import RunningShop
from pytest_prodsmoke.http.tagging import verify_signature
from tests.support import LOGIN_CONFTEST, order_check, run_gate, run_until_then_terminate

USERS = [{"username": "smoke-alice", "password": "alice-pass-1"},
         {"username": "smoke-bob", "password": "bob-pass-2"}]



@pytest.fixture
def fake_users(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", json.dumps(USERS))
    return USERS


def _open_orders(shop: RunningShop) -> int:
    return requests.get(shop.url + "/_orders", timeout=5).json()["open_orders"]


def _count(shop: RunningShop, path: str) -> int:
    return requests.get(shop.url + "/_counts", timeout=5).json().get(path, 0)


# --------------------------------------------------------------------------- fake users

def test_real_looking_user_is_rejected(pytester: pytest.Pytester, shop, mode: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", json.dumps(
        [USERS[0], {"username": "alice.customer@example.com", "password": "her-real-pass"}]))
    pytester.makepyfile(test_smoke="def test_health(prod):\n    pass\n")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 4, run.output
    run.result.stderr.fnmatch_lines(["ERROR: pytest-prodsmoke: PRODSMOKE_FAKE_USERS: fake user "
                                     "#2 does not match the fake-user pattern*"])
    assert "alice.customer" not in run.output and "her-real-pass" not in run.output


def test_fake_users_from_file_toml_and_hook(pytester: pytest.Pytester, shop, mode: str) -> None:
    pytester.makefile(".toml", users='[[users]]\nusername = "smoke-carol"\npassword = "c-pass"\n')
    pytester.makeconftest("""
def pytest_prodsmoke_fake_users(config):
    return [{"username": "synthetic-dave", "token": "dave-token-4"}]
""")
    pytester.makepyfile(test_smoke="""
def test_users(fake_user):
    assert fake_user.username in ("smoke-carol", "synthetic-dave")
    assert repr(fake_user.password) in ("Secret('***')", "None")
""")
    run = run_gate(pytester, mode, "--fake-users", "users.toml", url=shop.url)
    assert run.ret == 0, run.output


def test_two_checks_never_share_a_user(pytester: pytest.Pytester, shop, mode: str,
                                       fake_users) -> None:
    log = pytester.path / "leases.jsonl"
    pytester.makepyfile(test_smoke=f"""
import json, time

def _hold(fake_user):
    start = time.time()
    time.sleep(0.3)
    with open({str(log)!r}, "a") as handle:
        handle.write(json.dumps([fake_user.username, start, time.time()]) + "\\n")

""" + "\n".join(f"def test_{i}(fake_user):\n    _hold(fake_user)\n" for i in range(6)))
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 0, run.output
    leases = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(leases) == 6
    for i, (user_a, start_a, end_a) in enumerate(leases):
        for user_b, start_b, end_b in leases[i + 1:]:
            if start_a < end_b and start_b < end_a:  # overlapping in time
                assert user_a != user_b, leases


def test_too_few_users_wait_then_error_clearly(pytester: pytest.Pytester, shop,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", json.dumps(USERS[:1]))
    pytester.makepyfile(test_smoke="""
import time

def test_a(fake_user):
    time.sleep(2)

def test_b(fake_user):
    time.sleep(2)
""")
    run = run_gate(pytester, "xdist", "--fake-user-wait", "0.5", url=shop.url)
    assert run.ret == 1, run.output
    assert "no fake user became free within 0.5 s" in run.output
    assert sorted(run.outcomes().values()) == ["error", "passed"]


def test_a_crashed_workers_lease_is_released(pytester: pytest.Pytester, shop,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", json.dumps(USERS[:1]))
    pytester.makepyfile(test_smoke="""
import os, time

def test_a_crash(fake_user):
    os._exit(1)

def test_b(fake_user):
    time.sleep(0.2)

def test_c(fake_user):
    time.sleep(0.2)
""")
    run = run_gate(pytester, "xdist", "--fake-user-wait", "20", url=shop.url)
    assert run.report["verdict"] == "fail" and "worker_crashed" in run.codes
    outcomes = run.outcomes()
    assert outcomes["test_smoke.py::test_b"] == outcomes["test_smoke.py::test_c"] == "passed"


def test_two_runs_on_one_host_never_hold_the_same_user(pytester: pytest.Pytester, shop,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A monitor cycle and a gate run (here: two gate runs) on the same host: one user, held
    by the first run's check; the second run's check waits for it and gives up."""
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", json.dumps(USERS[:1]))
    held = pytester.path / "held"
    pytester.makepyfile(test_holder=f"""
import pathlib, time

def test_hold(fake_user):
    pathlib.Path({str(held)!r}).write_text(fake_user.username)
    time.sleep(4)
""", test_other="""
def test_other(fake_user):
    pass
""")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--prod-url",
               shop.url, "--fake-user-wait", "1"]
    # The first as a monitor cycle runs (a state directory of its own), the second without.
    first = subprocess.Popen([*command, "test_holder.py", "--prodsmoke-state-dir",
                              str(pytester.path / "monitor-state")], cwd=pytester.path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not held.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run([*command, "test_other.py"], cwd=pytester.path,
                            capture_output=True, text=True)
    first_output, _ = first.communicate(timeout=60)
    assert first.returncode == 0, first_output
    assert second.returncode == 1, second.stdout
    assert "no fake user became free within 1 s" in second.stdout
    # Runs that share the user only one after the other both get it.
    again = subprocess.run([*command, "test_other.py"], cwd=pytester.path,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stdout


def test_login_hook_once_per_user_and_worker(pytester: pytest.Pytester, shop, mode: str,
                                             fake_users) -> None:
    calls = pytester.path / "logins.txt"
    pytester.makeconftest(LOGIN_CONFTEST.replace(
        "    return response.json()",
        "    import os\n"
        f"    open({str(calls)!r}, 'a').write("
        "os.environ.get('PYTEST_XDIST_WORKER', 'main') + ' ' + user.username + '\\n')\n"
        "    return response.json()"))
    pytester.makepyfile(test_smoke="\n".join(
        f"def test_{i}(fake_user, prod):\n"
        f"    assert prod.get('/healthz', auth=fake_user.auth).ok\n" for i in range(8)))
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 0, run.output
    logins = calls.read_text().splitlines()
    assert logins and len(logins) == len(set(logins)), logins  # once per (process, user)


# --------------------------------------------------------------------------- read-only

def test_post_from_unmarked_check_is_refused_before_sending(
        pytester: pytest.Pytester, fresh_shop, mode: str, fake_users) -> None:
    pytester.makepyfile(test_smoke="""
import pytest

def test_health(prod):
    assert prod.get("/healthz").ok

def test_sneaky_order(prod):
    prod.post("/orders", json={"items": ["tea-01"]})

@pytest.mark.synthetic
def test_synthetic_without_fake_user(prod):
    prod.delete("/orders/123")
""")
    run = run_gate(pytester, mode, url=fresh_shop.url)
    assert run.ret == 1, run.output
    assert run.outcomes()["test_smoke.py::test_sneaky_order"] == "failed"
    assert "POST /orders refused before sending: production checks are read-only" in run.output
    assert "mark it @pytest.mark.synthetic" in run.output
    assert "must run as a fake user: request the fake_user fixture" in run.output
    assert _count(fresh_shop, "/orders") == 0
    assert _count(fresh_shop, "/orders/123") == 0


# --------------------------------------------------------------------------- cleanup

ORDER_SUITE = LOGIN_CONFTEST


def test_order_deleted_after_a_failing_transaction(pytester: pytest.Pytester, fresh_shop,
                                                   mode: str, fake_users) -> None:
    pytester.makeconftest(ORDER_SUITE)
    pytester.makepyfile(test_smoke=order_check("    assert False, 'journey broke'"))
    run = run_gate(pytester, mode, url=fresh_shop.url)
    assert run.ret == 1, run.output
    assert run.codes == ["check_failed"]
    assert _open_orders(fresh_shop) == 0
    assert run.report["leftovers"] == []


def test_failed_undo_is_named_as_leftover(pytester: pytest.Pytester, fresh_shop, mode: str,
                                          fake_users) -> None:
    pytester.makeconftest(ORDER_SUITE)
    pytester.makepyfile(test_smoke=order_check(
        "    cleanup.add(delete_order, prod, 'no-such-order', fake_user.auth,"
        " description='order no-such-order')"))
    run = run_gate(pytester, mode, url=fresh_shop.url)
    assert run.ret == 1, run.output
    assert "leftovers" in run.codes
    assert run.outcomes()["test_smoke.py::test_place_order"] == "error"
    leftovers = run.report["leftovers"]
    assert [(left["check"], left["description"]) for left in leftovers] == [
        ("test_smoke.py::test_place_order", "order no-such-order")]
    assert "delete answered 404" in leftovers[0]["error"]
    assert _open_orders(fresh_shop) == 0  # the real order was still deleted (LIFO, all run)


@pytest.mark.parametrize("mode", ["serial", "xdist"])
def test_order_deleted_after_sigterm(pytester: pytest.Pytester, fresh_shop, fake_users,
                                     mode: str) -> None:
    started = pytester.path / "started"
    pytester.makeconftest(ORDER_SUITE)
    pytester.makepyfile(test_smoke=order_check(
        f"    pathlib.Path({str(started)!r}).write_text('x')\n    time.sleep(60)"))

    def one_order_open() -> None:
        assert _open_orders(fresh_shop) == 1

    # A cancelled CI job: SIGTERM to the whole process group (workers included).
    returncode, out = run_until_then_terminate(
        pytester, ["--prod-url", fresh_shop.url, "--gate-report", "gate.json",
                   *(["-n", "2"] if mode == "xdist" else [])],
        started, whole_group=True, before_signal=one_order_open)
    assert returncode == 2, out
    assert _open_orders(fresh_shop) == 0
    report = json.loads((pytester.path / "gate.json").read_text())
    assert report["verdict"] == "fail"


# ------------------------------------------------- undo actions a killed run left behind

KILLED_AFTER_ORDER = ("    import os, signal\n"
                      "    if os.environ.get('KILL_THE_RUN'):\n"
                      "        os.kill(os.getpid(), signal.SIGKILL)  # OOM, kill -9")


def test_the_next_run_replays_what_a_killed_run_left(pytester: pytest.Pytester, fresh_shop,
                                                     mode: str, fake_users,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An order, its undo journalled with the call (a module-level function, the client and
    the fake user's auth as references); the process is SIGKILLed before its cleanup runs.
    The next run with the same --prodsmoke-state-dir deletes the order first, and says so."""
    pytester.makeconftest(ORDER_SUITE)
    pytester.makepyfile(test_smoke=order_check(KILLED_AFTER_ORDER))
    state = ["--prodsmoke-state-dir", str(pytester.path / "state")]
    monkeypatch.setenv("KILL_THE_RUN", "1")
    killed = run_gate(pytester, mode, *state, url=fresh_shop.url)
    assert killed.ret != 0
    assert _open_orders(fresh_shop) == 1  # left behind
    monkeypatch.delenv("KILL_THE_RUN")
    run = run_gate(pytester, mode, *state, url=fresh_shop.url)
    assert run.ret == 0, run.output
    assert _open_orders(fresh_shop) == 0
    [replayed] = run.report["replayed"]
    assert replayed["check"] == "test_smoke.py::test_place_order"
    assert replayed["outcome"] == "undone" and replayed["description"].startswith("order ")
    assert run.report["leftovers"] == []
    assert "replayed 1 undo action an earlier run left (--prodsmoke-state-dir): 1 undone" \
        in run.output
    again = run_gate(pytester, mode, *state, url=fresh_shop.url)  # replayed once, not again
    assert again.ret == 0 and again.report["replayed"] == []


def test_an_undo_that_cannot_be_replayed_is_an_unknown_leftover_once(
        pytester: pytest.Pytester, fresh_shop, fake_users,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest(ORDER_SUITE)
    pytester.makepyfile(test_smoke=order_check(KILLED_AFTER_ORDER).replace(
        "cleanup.add(delete_order, prod, order_id, fake_user.auth,",
        "cleanup.add(lambda: delete_order(prod, order_id, fake_user.auth),"))
    state = ["--prodsmoke-state-dir", str(pytester.path / "state")]
    monkeypatch.setenv("KILL_THE_RUN", "1")
    run_gate(pytester, "serial", *state, url=fresh_shop.url)
    monkeypatch.delenv("KILL_THE_RUN")
    run = run_gate(pytester, "serial", *state, url=fresh_shop.url)
    assert run.ret == 1 and run.codes == ["leftovers"], run.output
    [left] = run.report["leftovers"]
    assert left["unknown"] is True and left["check"] == "test_smoke.py::test_place_order"
    assert "could not be replayed" in left["error"]
    assert "an earlier run left could not be replayed" in run.report["reasons"][0]["message"]
    again = run_gate(pytester, "serial", *state, url=fresh_shop.url)  # reported once
    assert again.ret == 0, again.output
    assert _open_orders(fresh_shop) == 1  # nobody could delete it: that is what was reported


def test_a_running_processs_journal_is_never_replayed(tmp_path: Path) -> None:
    """Two runs share the state directory at the same time: the second must not undo what
    the first is still doing (it may clean up itself)."""
    from pytest_prodsmoke.safety.cleanup import Cleanup, CleanupJournal
    from pytest_prodsmoke.safety.replay import replay

    cleanup = Cleanup(CleanupJournal(tmp_path, "t.py::test_a", "main", "run-1"),
                      lambda value: None)
    cleanup.add(_open_orders, None, description="an order")
    calls: list[dict] = []
    assert replay(tmp_path / "undo", "run-2", calls.append) == []
    assert calls == []  # this process (run-1's) still runs


# --------------------------------------------------------------------------- tagged traffic

def test_traffic_is_tagged_and_signed(pytester: pytest.Pytester, shop, mode: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODSMOKE_SIGNING_KEY", "signing-key-for-tests")
    out = pytester.path / "seen.jsonl"
    pytester.makepyfile(test_smoke=f"""
import json

def _record(prod, name):
    for _ in range(2):
        headers = prod.get("/echo").json()["headers"]
        with open({str(out)!r}, "a") as handle:
            handle.write(json.dumps([name, headers]) + "\\n")

def test_one(prod):
    _record(prod, "one")

def test_two(prod):
    _record(prod, "two")
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 0, run.output
    seen = [json.loads(line) for line in out.read_text().splitlines()]
    run_id = run.report["run_id"]
    traces: dict[str, set[str]] = {}
    spans = set()
    for name, headers in seen:
        assert "synthetics" in headers["User-Agent"]
        assert headers["baggage"] == "synthetic=true"
        assert headers["X-Prodsmoke-Run"] == run_id
        assert headers["X-Prodsmoke-Check"] == f"test_smoke.py::test_{name}"
        version, trace_id, span_id, flags = headers["traceparent"].split("-")
        assert (version, flags, len(trace_id), len(span_id)) == ("00", "01", 32, 16)
        traces.setdefault(name, set()).add(trace_id)
        spans.add(span_id)
        assert verify_signature(b"signing-key-for-tests", headers["X-Prodsmoke-Signature"],
                                run_id, headers["X-Prodsmoke-Check"])
        assert not verify_signature(b"another-key", headers["X-Prodsmoke-Signature"],
                                    run_id, headers["X-Prodsmoke-Check"])
    assert all(len(ids) == 1 for ids in traces.values())  # one trace per check
    assert traces["one"] != traces["two"]
    assert len(spans) == 4  # a new span per request
    assert "signing-key-for-tests" not in run.output + run.report_path.read_text()


def test_tag_header_names_are_configurable(pytester: pytest.Pytester, shop) -> None:
    pytester.makeini("[pytest]\nprodsmoke_run_header = X-Synthetic-Run\n"
                     "prodsmoke_check_header = X-Synthetic-Check\n")
    pytester.makepyfile(test_smoke="""
def test_names(prod):
    headers = prod.get("/echo").json()["headers"]
    assert headers["X-Synthetic-Check"] == "test_smoke.py::test_names"
    assert "X-Synthetic-Run" in headers and "X-Prodsmoke-Run" not in headers
""")
    run = run_gate(pytester, "serial", url=shop.url)
    assert run.ret == 0, run.output


def test_github_actions_gets_add_mask_lines(pytester: pytest.Pytester, shop,
                                            monkeypatch: pytest.MonkeyPatch, fake_users) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    pytester.makepyfile(test_smoke="def test_health(prod):\n    assert prod.get('/healthz').ok\n")
    run = run_gate(pytester, "serial", url=shop.url)
    assert run.ret == 0, run.output
    for user in USERS:
        assert f"::add-mask::{user['password']}" in run.result.stdout.lines


# --------------------------------------------------------------------------- credentials

def test_credentials_never_go_to_another_host(pytester: pytest.Pytester, shop, old_shop,
                                              mode: str, fake_users) -> None:
    before = _count(old_shop, "/healthz")
    pytester.makeconftest(LOGIN_CONFTEST)
    pytester.makepyfile(test_smoke=f"""
import pytest
from pytest_prodsmoke import CredentialLeakRefusedError

def test_absolute_url(prod, fake_user):
    with pytest.raises(CredentialLeakRefusedError, match="refused before sending"):
        prod.get("{old_shop.url}/healthz", auth=fake_user.auth)

def test_redirect_with_token_header(prod, fake_user):
    headers = {{"X-Api-Token": fake_user.token.reveal()}}
    with pytest.raises(CredentialLeakRefusedError):
        prod.get("/redirect", params={{"to": "{old_shop.url}/healthz"}}, headers=headers)

def test_same_host_is_fine(prod, fake_user):
    assert prod.get("/healthz", auth=fake_user.auth).ok
""")
    run = run_gate(pytester, mode, url=shop.url)
    assert run.ret == 0, run.output
    assert _count(old_shop, "/healthz") == before


# --------------------------------------------------------------------------- rate limit

def test_rate_limit_is_shared_by_workers(pytester: pytest.Pytester, shop) -> None:
    stamps = pytester.path / "stamps.txt"
    pytester.makepyfile(test_smoke=f"""
import time

def _hit(prod):
    for _ in range(5):
        prod.get("/healthz")
        with open({str(stamps)!r}, "a") as handle:
            handle.write(f"{{time.time()}}\\n")

""" + "\n".join(f"def test_{i}(prod):\n    _hit(prod)\n" for i in range(4)))
    run = run_gate(pytester, "xdist", "--prod-max-rps", "20", url=shop.url)
    assert run.ret == 0, run.output
    times = sorted(float(t) for t in stamps.read_text().split())
    assert len(times) == 20
    # 20 requests at 20/s from two workers together take at least 19 intervals of 50 ms.
    assert times[-1] - times[0] >= 19 * 0.05 * 0.9


# --------------------------------------------------------------------------- TLS options

def test_tls_is_verified_by_default(pytester: pytest.Pytester, tls_shop, mode: str) -> None:
    assert tls_shop.url.startswith("https://")
    pytester.makepyfile(test_smoke="def test_health(prod):\n    assert prod.get('/healthz').ok\n")
    run = run_gate(pytester, mode, url=tls_shop.url)
    assert run.ret == 1, run.output
    assert "CERTIFICATE_VERIFY_FAILED" in run.output


def test_private_ca_bundle(pytester: pytest.Pytester, tls_shop, private_ca, mode: str) -> None:
    pytester.makepyfile(test_smoke="def test_health(prod):\n    assert prod.get('/healthz').ok\n")
    run = run_gate(pytester, mode, "--prod-ca-bundle", str(private_ca["ca"]), url=tls_shop.url)
    assert run.ret == 0, run.output
    assert run.report["target"]["tls_verify"] == str(private_ca["ca"])


def test_insecure_is_reported_loudly(pytester: pytest.Pytester, tls_shop, mode: str) -> None:
    pytester.makepyfile(test_smoke="def test_health(prod):\n    assert prod.get('/healthz').ok\n")
    run = run_gate(pytester, mode, "--prod-insecure", url=tls_shop.url)
    assert run.ret == 0, run.output
    assert "WARNING: --prod-insecure is on: TLS certificates were NOT verified" in run.output
    assert run.report["target"]["tls_verify"] == "off (--prod-insecure)"


def test_ca_bundle_must_exist(pytester: pytest.Pytester, shop) -> None:
    pytester.makepyfile(test_smoke="def test_health(prod):\n    pass\n")
    result = pytester.runpytest_subprocess("--prod-url", shop.url, "--prod-ca-bundle", "nope.pem")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: pytest-prodsmoke: --prod-ca-bundle: *nope.pem* is not "
                                 "a readable file"])
