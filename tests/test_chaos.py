"""Chaos experiments for real: pytest sessions (serial and ``-n 2``) whose experiments pause
real processes (SIGSTOP) and run real commands; verdicts, the rollback after an interrupt, the
watchdog after SIGKILL, the ledger, one experiment at a time, and nothing without --chaos."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import run_gate

FAULTS_CONFTEST = """
import os, pathlib, sys
import pytest
from pytest_prodsmoke.chaos import CommandPair, PauseProcess


@pytest.fixture
def paused_victim():
    return PauseProcess(int(os.environ["VICTIM_PID"]), name="the victim", timeout_s=1)


@pytest.fixture
def paused_shop():
    return PauseProcess(int(os.environ["SHOP_PID"]), name="the shop", timeout_s=1)


@pytest.fixture
def flag_fault():
    flag = pathlib.Path(os.environ["FLAG"])
    breaks = f"open({str(flag)!r}, 'w').write('broken')"
    return CommandPair([sys.executable, "-c", os.environ.get("INJECT", breaks)],
                       [sys.executable, "-c", os.environ.get("ROLLBACK", "pass")],
                       description="break the flag", timeout_s=5)
"""


def process_state(pid: int) -> str:
    """R, S, T (stopped), Z, ... from /proc."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def victim() -> Iterator[int]:
    """A process of its own to pause."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield process.pid
    os.kill(process.pid, signal.SIGCONT)
    process.kill()
    process.wait()


@pytest.fixture
def chaos_env(pytester: pytest.Pytester, victim: int, shop, monkeypatch: pytest.MonkeyPatch
              ) -> pytest.Pytester:
    monkeypatch.setenv("VICTIM_PID", str(victim))
    monkeypatch.setenv("SHOP_PID", str(shop.process.pid))
    monkeypatch.setenv("FLAG", str(pytester.path / "flag"))
    pytester.makeconftest(FAULTS_CONFTEST)
    return pytester


ALLOW_ALL = ("--chaos-allow", "*")  # these tests' faults act only on their own processes
EXAMPLE_TARGETS = ("--chaos-allow", "shop instance 1", "--chaos-allow", "the payment service")

HOLDS = """
import os, pathlib, pytest

@pytest.mark.chaos(duration=1, interval=0.2, recovery=2)
def test_experiment(prod, {fault}):
    assert prod.get("/healthz").status_code == 200
    flag = pathlib.Path(os.environ["FLAG"])
    assert not flag.exists() or flag.read_text() != "broken", "the flag is broken"
"""


def chaos_of(run) -> dict:
    [check] = [c for c in run.report["checks"] if c["nodeid"].endswith("test_experiment")]
    return check["chaos"]


def test_an_experiment_whose_system_holds_passes(chaos_env: pytest.Pytester, shop, mode: str,
                                                 victim: int) -> None:
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_victim"))
    run = run_gate(chaos_env, mode, "--chaos", *ALLOW_ALL, "--prod-timeout", "0.5", url=shop.url)
    assert run.ret == 0, run.output
    chaos = chaos_of(run)
    assert chaos["verdict"] == "passed" and chaos["rolled_back"] is True
    assert chaos["fault"] == f"pause the victim (pid {victim}) with SIGSTOP"
    assert [p["phase"] for p in chaos["phases"]] == ["before", "inject", "during", "rollback",
                                                     "after"]
    assert chaos["phases"][2]["probes"] >= 3 and chaos["phases"][2]["failures"] == 0
    assert process_state(victim) != "T"  # resumed
    # Each phase on the terminal: as it ends (serial), as the report arrives (xdist).
    assert "prodsmoke chaos test_exp.py::test_experiment: during ok (" in run.output
    assert "prodsmoke chaos test_exp.py::test_experiment: after ok (" in run.output


def test_a_deviation_stops_the_experiment_and_fails_the_gate(chaos_env: pytest.Pytester, shop,
                                                             mode: str) -> None:
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_shop").replace(
        "duration=1", "duration=20"))
    started = time.monotonic()
    run = run_gate(chaos_env, mode, "--chaos", *ALLOW_ALL, "--prod-timeout", "0.5",
                   "--prod-retries", "0", url=shop.url)
    assert time.monotonic() - started < 15  # stopped at the first failed probe, not after 20 s
    assert run.ret == 1, run.output
    assert run.codes == ["check_failed", "chaos_deviated"]
    chaos = chaos_of(run)
    assert chaos["verdict"] == "deviated" and chaos["rolled_back"] is True
    during = chaos["phases"][2]
    assert during["failures"] == 1 and "read timeout" in during["failure_lines"][0]
    assert process_state(shop.process.pid) != "T"  # the shop runs again


def test_a_hypothesis_that_does_not_hold_before_aborts_without_injecting(
        chaos_env: pytest.Pytester, shop, victim: int, mode: str) -> None:
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_victim").replace(
        '"/healthz"', '"/broken"'))
    run = run_gate(chaos_env, mode, "--chaos", *ALLOW_ALL, url=shop.url)
    assert run.codes == ["check_failed", "chaos_aborted"], run.output
    chaos = chaos_of(run)
    assert chaos["injected"] is False and [p["phase"] for p in chaos["phases"]] == ["before"]
    assert "nothing was injected" in chaos["reason"]


def test_a_system_that_does_not_recover_is_not_recovered(chaos_env: pytest.Pytester, shop,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         mode: str) -> None:
    # The system holds under the fault, but its "rollback" breaks it (as a rollback that
    # restarts a service with a bad configuration would): the steady state never returns.
    flag = chaos_env.path / "flag"
    monkeypatch.setenv("INJECT", "pass")
    monkeypatch.setenv("ROLLBACK", f"open({str(flag)!r}, 'w').write('broken')")
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="flag_fault").replace(
        "recovery=2", "recovery=0.5"))
    run = run_gate(chaos_env, mode, "--chaos", *ALLOW_ALL, url=shop.url)
    assert run.codes == ["check_failed", "chaos_not_recovered"], run.output
    chaos = chaos_of(run)
    assert chaos["verdict"] == "not_recovered" and chaos["rolled_back"] is True
    assert chaos["phases"][2]["failures"] == 0  # it held while the fault was in
    assert "did not return within 0.5 s after the rollback" in chaos["phases"][-1]["outcome"]
    assert chaos["phases"][-1]["probes"] >= 2


def test_a_failed_rollback_is_the_loudest_failure(chaos_env: pytest.Pytester, shop,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  mode: str) -> None:
    # A rollback that fails until someone repairs it by hand (the file appears).
    monkeypatch.setenv("ROLLBACK", "import os, sys; sys.exit(0 if os.path.exists("
                       "os.environ['FLAG'] + '.repaired') else 3)")
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="flag_fault").replace(
        'assert not flag.exists() or flag.read_text() != "broken", "the flag is broken"',
        "pass"))
    state = ["--prodsmoke-state-dir", str(chaos_env.path / "state")]
    run = run_gate(chaos_env, mode, "--chaos", *ALLOW_ALL, *state, url=shop.url)
    assert run.ret == 1, run.output
    assert "chaos_rollback_failed" in run.codes
    assert "!!! FAULT LEFT IN PRODUCTION by test_exp.py::test_experiment: break the flag" \
        in run.output
    assert "THE FAULT IS STILL IN PRODUCTION" in run.output
    assert "undo by hand: run " in chaos_of(run)["reason"]  # and how to undo it by hand
    assert chaos_of(run)["manual"].startswith("undo by hand: run ")
    # It stays in the ledger; once the rollback works, recover takes it out.
    ledger = list((chaos_env.path / "state" / "chaos").glob("*.json"))
    assert len(ledger) == 1 and json.loads(ledger[0].read_text())["fault"] == "break the flag"
    (chaos_env.path / "flag.repaired").write_text("x")
    recovered = subprocess.run([sys.executable, "-m", "pytest_prodsmoke.cli", "chaos", "recover",
                                "--state-dir", str(chaos_env.path / "state")],
                               capture_output=True, text=True)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "break the flag (test_exp.py::test_experiment): rolled_back" in recovered.stdout


def test_an_experiment_on_a_target_not_allowed_injects_nothing(
        chaos_env: pytest.Pytester, shop, victim: int) -> None:
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_victim"))
    run = run_gate(chaos_env, "serial", "--chaos", "--chaos-allow", "the payment service",
                   url=shop.url)
    assert run.codes == ["check_failed", "chaos_aborted"], run.output
    chaos = chaos_of(run)
    assert chaos["injected"] is False and chaos["phases"] == []
    assert chaos["reason"] == ("its target 'the victim' is not allowed: pass --chaos-allow "
                               "'the victim' (or ini prodsmoke_chaos_allow); nothing was injected")
    assert process_state(victim) != "T"


def test_without_chaos_no_experiment_runs(chaos_env: pytest.Pytester, shop, victim: int,
                                          mode: str) -> None:
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_victim"),
                         test_plain="def test_health(prod):\n    assert prod.get('/healthz').ok\n")
    run = run_gate(chaos_env, mode, url=shop.url)
    assert run.ret == 0, run.output
    assert "prodsmoke: 1 chaos experiment not run: pass --chaos to run them" in run.output
    assert [c["nodeid"] for c in run.report["checks"]] == ["test_plain.py::test_health"]
    assert run.report["counts"]["collected"] == 1


@pytest.mark.parametrize(("mode", "whole_group"), [
    ("serial", True), ("xdist", True), ("xdist", False)],
    ids=["serial", "xdist-group", "xdist-controller-only"])
def test_sigterm_during_the_fault_rolls_it_back(chaos_env: pytest.Pytester, shop, victim: int,
                                                mode: str, whole_group: bool) -> None:
    from tests.support import run_until_then_terminate

    started = chaos_env.path / "started"
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_victim").replace(
        "duration=1", "duration=30") + f"""
    stat = open("/proc/%s/stat" % os.environ["VICTIM_PID"]).read()
    if stat.rsplit(")", 1)[1].split()[0] == "T":  # the fault is in
        pathlib.Path({str(started)!r}).write_text("x")
""")
    returncode, out = run_until_then_terminate(
        chaos_env, ["--prod-url", shop.url, "--chaos", *ALLOW_ALL, "--gate-report", "gate.json",
                    *(["-n", "2"] if mode == "xdist" else [])], started,
        whole_group=whole_group)  # controller only: it must reach the worker with the fault
    assert returncode == 2, out
    assert process_state(victim) != "T", out  # rolled back on the way out
    report = json.loads((chaos_env.path / "gate.json").read_text())
    assert report["verdict"] == "fail" and "interrupted" in [r["code"] for r in report["reasons"]]


def test_sigkill_during_the_fault_the_watchdog_rolls_it_back(chaos_env: pytest.Pytester, shop,
                                                             victim: int) -> None:
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_victim").replace(
        "duration=1", "duration=2") + """
    import signal
    stat = open("/proc/%s/stat" % os.environ["VICTIM_PID"]).read()
    if stat.rsplit(")", 1)[1].split()[0] == "T":
        os.kill(os.getpid(), signal.SIGKILL)  # pytest dies with the fault in
""")
    state = ["--prodsmoke-state-dir", str(chaos_env.path / "state")]
    killed = run_gate(chaos_env, "serial", "--chaos", *ALLOW_ALL, *state, url=shop.url)
    assert killed.ret != 0
    assert process_state(victim) == "T"  # the fault is in, nobody left to roll it back...
    deadline = time.monotonic() + 30  # ... but the watchdog: TTL 2 + 2 * 0.2 + 1 + 5 s
    while process_state(victim) == "T" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process_state(victim) != "T"
    # The next run reports what the watchdog undid.
    chaos_env.makepyfile(test_exp="def test_health(prod):\n    assert prod.get('/healthz').ok\n")
    run = run_gate(chaos_env, "serial", "--chaos", *ALLOW_ALL, *state, url=shop.url)
    assert run.ret == 0, run.output
    [recovered] = run.report["chaos_recovered"]
    assert recovered["outcome"] == "rolled_back_by_watchdog"
    assert recovered["check"] == "test_exp.py::test_experiment"
    assert "chaos ledger: a fault an earlier run left (test_exp.py::test_experiment)" in run.output


def test_two_experiments_never_overlap(chaos_env: pytest.Pytester, shop) -> None:
    times = chaos_env.path / "times"
    chaos_env.makepyfile(test_exp="\n".join(f"""
import pytest, time

@pytest.mark.chaos(duration=1, interval=0.2, recovery=1)
def test_experiment_{i}(prod, paused_victim):
    open({str(times)!r}, "a").write(f"{i} {{time.monotonic()}}\\n")
    assert prod.get("/healthz").ok
""" for i in range(2)))
    run = run_gate(chaos_env, "xdist", "--chaos", *ALLOW_ALL, url=shop.url)
    assert run.ret == 0, run.output
    spans: dict[str, list[float]] = {}
    for line in times.read_text().splitlines():
        name, stamp = line.split()
        spans.setdefault(name, []).append(float(stamp))
    (first, second) = sorted(spans.values())
    assert max(first) < min(second) or max(second) < min(first), spans


# ------------------------------------------------------ real HAProxy, real instances, CTK

HAPROXY_SUITE = """
import os, pytest
from pytest_prodsmoke.chaos import HaproxyServerState, KillProcess


@pytest.fixture
def drained_instance():
    return HaproxyServerState(os.environ["HAPROXY_SOCKET"], "shops", "s1", "maint")


@pytest.fixture
def killed_instance():
    return KillProcess(int(os.environ["INSTANCE_PID"]), restart=os.environ["RESTART"].split("|"),
                       name="shop instance 1", timeout_s=10)


@pytest.mark.chaos(duration=1.5, interval=0.1, recovery=5)
def test_experiment(prod, {fault}):
    assert prod.get("/healthz").status_code == 200
"""


def test_a_server_in_maintenance_behind_haproxy_is_not_noticed(
        pytester: pytest.Pytester, tmp_path: Path, two_instances: list,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import daemons

    addresses = [shop.url.removeprefix("http://") for shop in two_instances]
    with daemons.haproxy(tmp_path, addresses) as (proxy, socket_path):
        monkeypatch.setenv("HAPROXY_SOCKET", str(socket_path))
        pytester.makepyfile(test_exp=HAPROXY_SUITE.format(fault="drained_instance"))
        run = run_gate(pytester, "serial", "--chaos", *ALLOW_ALL, "--prod-timeout", "2",
                       url=proxy.url)
        assert run.ret == 0, run.output
        assert daemons.haproxy_status(socket_path, "shops", "s1") == "UP"  # ready again
    chaos = chaos_of(run)
    assert chaos["fault"] == "set HAProxy server shops/s1 to maint (rollback: ready)"
    assert chaos["phases"][2]["probes"] >= 10 and chaos["phases"][2]["failures"] == 0


def test_a_killed_instance_is_restarted_on_rollback(pytester: pytest.Pytester,
                                                    tmp_path: Path, two_instances: list,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from examples.shop.launch import SERVER
    from tests import daemons

    first = two_instances[0]
    port = first.url.rsplit(":", 1)[1]
    restarted = tmp_path / "restarted.pid"
    # The restart command starts the instance again on its port and returns (as a service
    # manager's "start" does).
    launcher = (f"import subprocess, sys; p = subprocess.Popen([sys.executable, {str(SERVER)!r}, "
                f"'--version', '2.0.0', '--port', '{port}'], start_new_session=True, "
                f"stdout=subprocess.DEVNULL); open({str(restarted)!r}, 'w').write(str(p.pid))")
    addresses = [shop.url.removeprefix("http://") for shop in two_instances]
    with daemons.haproxy(tmp_path, addresses) as (proxy, socket_path):
        monkeypatch.setenv("INSTANCE_PID", str(first.process.pid))
        monkeypatch.setenv("RESTART", "|".join([sys.executable, "-c", launcher]))
        pytester.makepyfile(test_exp=HAPROXY_SUITE.format(fault="killed_instance"))
        try:
            run = run_gate(pytester, "serial", "--chaos", *ALLOW_ALL, "--prod-timeout", "2",
                       url=proxy.url)
            assert run.ret == 0, run.output
            assert first.process.poll() is not None  # it was killed ...
            deadline = time.monotonic() + 10
            while daemons.haproxy_status(socket_path, "shops", "s1") != "UP" and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
            assert daemons.haproxy_status(socket_path, "shops", "s1") == "UP"  # ... and back
            # The restarted service blocks no signal (the rollback's own protection from
            # Ctrl-C must not be inherited), so it stops when told to.
            pid = int(restarted.read_text())
            blocked = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                           if line.startswith("SigBlk:"))
            assert int(blocked.split()[1], 16) == 0, blocked
        finally:
            if restarted.exists():
                os.kill(int(restarted.read_text()), signal.SIGTERM)
    assert chaos_of(run)["verdict"] == "passed"


def test_a_chaos_toolkit_action_is_a_fault(chaos_env: pytest.Pytester, shop) -> None:
    pytest.importorskip("chaoslib")
    flag = chaos_env.path / "ctk-flag"
    chaos_env.makeconftest(FAULTS_CONFTEST + f"""
from pytest_prodsmoke.chaos import ChaosToolkitAction


@pytest.fixture
def ctk_fault():
    def action(name, code):
        return {{"type": "action", "name": name, "provider": {{
            "type": "process", "path": sys.executable, "arguments": ["-c", code]}}}}
    return ChaosToolkitAction(action("break", "open({str(flag)!r}, 'w').write('x')"),
                              action("repair", "import os; os.remove({str(flag)!r})"))
""")
    chaos_env.makepyfile(test_exp=f"""
import pathlib, pytest

@pytest.mark.chaos(duration=0.5, interval=0.1, recovery=1)
def test_experiment(prod, ctk_fault):
    assert prod.get("/healthz").ok
    seen = pathlib.Path({str(chaos_env.path / 'seen')!r})
    if pathlib.Path({str(flag)!r}).exists():
        seen.write_text("the fault was in")
""")
    run = run_gate(chaos_env, "serial", "--chaos", *ALLOW_ALL, url=shop.url)
    assert run.ret == 0, run.output
    assert (chaos_env.path / "seen").read_text() == "the fault was in"
    assert not flag.exists()  # rolled back by the Chaos Toolkit action
    assert chaos_of(run)["fault"] == "Chaos Toolkit action 'break' (rollback: 'repair')"


# --------------------------------------------------------------- the shipped examples

@pytest.mark.parametrize(("breaker", "verdicts"), [
    (True, {"test_the_shop_survives_losing_an_instance": "passed",
            "test_orders_survive_a_frozen_payment_service": "passed"}),
    (False, {"test_the_shop_survives_losing_an_instance": "passed",
             "test_orders_survive_a_frozen_payment_service": "deviated"}),
], ids=["resilient-shop", "shop-without-breaker"])
def test_the_example_experiments(tmp_path: Path, breaker: bool, verdicts: dict) -> None:
    from examples.chaos.stack import ROOT, running_stack
    from tests import daemons

    daemons.binary(daemons.HAPROXY)
    report = tmp_path / "gate.json"
    with running_stack(breaker=breaker) as stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRODSMOKE_")}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", str(ROOT / "examples" / "chaos"), "-q",
             "-p", "no:cacheprovider", "--chaos", *EXAMPLE_TARGETS, "--prod-url", stack.url,
             "--prod-timeout", "2",
             "--gate-report", str(report)], env={**env, **stack.env}, capture_output=True,
            text=True, timeout=180)
    data = json.loads(report.read_text())
    found = {c["nodeid"].rsplit("::", 1)[1]: c["chaos"]["verdict"]
             for c in data["checks"] if "chaos" in c}
    assert found == verdicts, result.stdout[-3000:]
    assert (result.returncode == 0) is breaker
    if not breaker:
        assert "chaos_deviated" in [r["code"] for r in data["reasons"]]


def test_each_phase_is_an_allure_step(chaos_env: pytest.Pytester, shop) -> None:
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_shop").replace(
        "duration=1", "duration=5"))
    run = run_gate(chaos_env, "serial", "--chaos", *ALLOW_ALL, "--prod-timeout", "0.5",
                   "--prod-retries", "0", "--alluredir", "allure", url=shop.url)
    assert "chaos_deviated" in run.codes
    [result] = [json.loads(p.read_text()) for p in (chaos_env.path / "allure").glob(
        "*-result.json") if json.loads(p.read_text())["name"] == "test_experiment"]
    steps = [(s["name"], s["status"]) for s in result["steps"]]
    assert steps == [("chaos: before", "passed"), ("chaos: inject", "passed"),
                     ("chaos: during", "failed"), ("chaos: rollback", "passed"),
                     ("chaos: after", "passed")], steps


def test_an_error_rate_probe_as_the_hypothesis(chaos_env: pytest.Pytester, shop) -> None:
    chaos_env.makepyfile(test_exp="""
import pytest
from pytest_prodsmoke.chaos import error_rate

@pytest.mark.chaos(duration=0.5, interval=0.1, recovery=1)
def test_experiment(prod, paused_victim):
    assert error_rate(prod, "/healthz", requests=5) == 0
    assert error_rate(prod, "/broken", requests=4) == 1.0  # the shop's /broken answers 500
""")
    run = run_gate(chaos_env, "serial", "--chaos", *ALLOW_ALL, url=shop.url)
    assert run.ret == 0, run.output
    assert chaos_of(run)["verdict"] == "passed"


def test_checks_of_the_suite_as_the_hypothesis(chaos_env: pytest.Pytester, shop) -> None:
    chaos_env.makepyfile(test_exp="""
import pytest

def test_health(prod):
    assert prod.get("/healthz").ok

def test_broken_page(prod):
    assert prod.get("/broken").ok, "the broken page"

@pytest.mark.chaos(duration=0.3, interval=0.1, recovery=1, hypothesis=["test_health"])
def test_experiment(prod, paused_victim):
    pass

@pytest.mark.chaos(duration=0.3, interval=0.1, recovery=1,
                   hypothesis=["test_health", "test_broken_page"])
def test_experiment_with_a_failing_hypothesis(prod, paused_victim):
    pass

@pytest.mark.chaos(hypothesis=["test_nothing"])
def test_experiment_with_an_unknown_check(prod, paused_victim):
    pass
""")
    run = run_gate(chaos_env, "serial", "--chaos", *ALLOW_ALL, url=shop.url)
    checks = {c["nodeid"].rsplit("::", 1)[1]: c for c in run.report["checks"]}
    assert checks["test_experiment"]["chaos"]["verdict"] == "passed"
    failing = checks["test_experiment_with_a_failing_hypothesis"]["chaos"]
    assert failing["verdict"] == "aborted"
    assert "test_broken_page: AssertionError: the broken page" in failing["reason"]
    unknown = checks["test_experiment_with_an_unknown_check"]
    assert "chaos" not in unknown and unknown["outcome"] == "failed"
    assert unknown["message"] == ("@pytest.mark.chaos: hypothesis check 'test_nothing' is not "
                                  "among the collected checks")


def test_the_halt_command_stops_a_running_experiment(chaos_env: pytest.Pytester, shop,
                                                     victim: int) -> None:
    state = ["--prodsmoke-state-dir", str(chaos_env.path / "state")]
    command = [sys.executable, "-m", "pytest_prodsmoke.cli", "chaos"]
    started = chaos_env.path / "started"
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_victim").replace(
        "duration=1", "duration=30") + f"""
    stat = open("/proc/%s/stat" % os.environ["VICTIM_PID"]).read()
    if stat.rsplit(")", 1)[1].split()[0] == "T":
        pathlib.Path({str(started)!r}).write_text("x")
""")
    process = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                                "--prod-url", shop.url, "--chaos", *ALLOW_ALL, *state,
                                "--gate-report", "gate.json"], cwd=chaos_env.path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    halted_at = time.monotonic()
    subprocess.run([*command, "halt", "--state-dir", str(chaos_env.path / "state")], check=True,
                   capture_output=True)
    output, _ = process.communicate(timeout=60)
    assert time.monotonic() - halted_at < 5, output  # within a probe interval (+ start-up)
    assert process_state(victim) != "T"
    report = json.loads((chaos_env.path / "gate.json").read_text())
    chaos = report["checks"][0]["chaos"]
    assert chaos["verdict"] == "aborted" and "halted: the halt file" in chaos["reason"]
    # While halted, none starts; resumed, it runs.
    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_victim"))
    blocked = run_gate(chaos_env, "serial", "--chaos", *ALLOW_ALL, *state, url=shop.url)
    assert "chaos_aborted" in blocked.codes
    subprocess.run([*command, "resume", "--state-dir", str(chaos_env.path / "state")],
                   check=True, capture_output=True)
    again = run_gate(chaos_env, "serial", "--chaos", *ALLOW_ALL, *state, url=shop.url)
    assert again.ret == 0, again.output


def test_junit_with_testcase_properties_has_one_per_phase(chaos_env: pytest.Pytester,
                                                          shop) -> None:
    import xml.etree.ElementTree as ET

    chaos_env.makepyfile(test_exp=HOLDS.format(fault="paused_victim"))
    run = run_gate(chaos_env, "serial", "--chaos", *ALLOW_ALL, "-o", "junit_family=xunit1",
                   url=shop.url)
    assert run.ret == 0, run.output
    case = next(c for c in ET.parse(run.junit_path).getroot().iter("testcase")
                if c.get("name") == "test_experiment")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    phases = [name for name in properties if name.startswith("prodsmoke.chaos.")]
    assert phases == [f"prodsmoke.chaos.{p}" for p in ("before", "inject", "during",
                                                        "rollback", "after")]
    assert properties["prodsmoke.chaos.during"].startswith("ok: ")
