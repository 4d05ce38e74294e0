"""``prodsmoke monitor`` for real: the command in its own process, each cycle a real pytest
process against the example shop on loopback, and the real Prometheus, Pushgateway and
Alertmanager (tests/daemons.py). The shop is broken and repaired while the monitor runs
(``POST /_faults``); the assertions are on what the receivers got.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from examples.shop.launch import RunningShop
from tests import daemons
from tests.support import LOGIN_CONFTEST, MONITOR_SUITE, order_check

COMMAND = [sys.executable, "-m", "pytest_prodsmoke.cli", "monitor"]
QUIET = ["-p", "no:cacheprovider", "-p", "no:randomly", "-q"]


@pytest.fixture
def breakable_shop(fresh_shop: RunningShop) -> RunningShop:
    """A shop of its own: the test breaks and repairs it."""
    return fresh_shop


def break_orders(shop: RunningShop) -> None:
    requests.post(shop.url + "/_faults", json={"fail": ["/orders"]}, timeout=5).raise_for_status()


def repair(shop: RunningShop) -> None:
    requests.post(shop.url + "/_faults", json={"fail": []}, timeout=5).raise_for_status()


def suite(tmp_path: Path, text: str = MONITOR_SUITE) -> Path:
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "test_monitored.py").write_text(text)
    return folder


def monitor(options: list[str], suite_dir: Path, url: str, *pytest_args: str,
            on_line: Callable[[str], None] = lambda line: None,
            timeout_s: float = 120) -> tuple[int, list[str]]:
    """Run the monitor until it exits; ``on_line`` sees each line as it comes. Cycles come
    fast (--every 0.5) but may be slow on a loaded machine: unless a test is about the timeout,
    a cycle may take its time (cycles never overlap anyway)."""
    if "--cycle-timeout" not in options and "--once" not in options:
        options = [*options, "--cycle-timeout", "60"]
    process = subprocess.Popen(
        [*COMMAND, *options, "--", str(suite_dir), "--prod-url", url, *QUIET, *pytest_args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=suite_dir)
    lines = []
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        on_line(lines[-1])
        if time.monotonic() > deadline:
            process.kill()
            break
    return process.wait(timeout=30), lines


def cycle_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("prodsmoke monitor: cycle ")]


def at_cycles(actions: dict[int, Callable[[], None]]) -> Callable[[str], None]:
    """Run an action once the line of cycle N is printed (before cycle N + 1 starts)."""
    def on_line(line: str) -> None:
        for number, action in list(actions.items()):
            if line.startswith(f"prodsmoke monitor: cycle {number} "):
                action()
                del actions[number]
    return on_line


# ----------------------------------------------------------------------------- one cycle

@pytest.mark.parametrize("distributed", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_once_exits_with_the_gates_status(shop: RunningShop, tmp_path: Path,
                                          distributed: list[str]) -> None:
    folder = suite(tmp_path)
    status, lines = monitor(["--once"], folder, shop.url, *distributed)
    assert status == 0, lines
    assert len(cycle_lines(lines)) == 1
    assert " pass " in cycle_lines(lines)[0] and "3/3 passed" in cycle_lines(lines)[0]


def test_once_against_a_broken_service_fails(breakable_shop: RunningShop,
                                             tmp_path: Path) -> None:
    break_orders(breakable_shop)
    status, lines = monitor(["--once"], suite(tmp_path), breakable_shop.url)
    assert status == 1, lines
    assert "not passed: test_monitored.py::test_orders (failed)" in cycle_lines(lines)[0]


@pytest.mark.parametrize(("text", "problem"), [
    ("import not_a_module\n", "collection_error"),
    ("", "no_checks"),
    ("import os\n\ndef test_crash(prod):\n    os._exit(3)\n", "no_report"),
], ids=["collection-error", "no-checks", "crash"])
def test_a_cycle_without_a_usable_result_is_a_failed_cycle(shop: RunningShop, tmp_path: Path,
                                                           text: str, problem: str) -> None:
    status, lines = monitor(["--once"], suite(tmp_path, text), shop.url)
    assert status != 0, lines
    assert f"cycle failed: {problem}" in cycle_lines(lines)[0], lines


def test_an_overrunning_cycle_is_stopped_with_its_process_group(shop: RunningShop,
                                                                tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    folder = suite(tmp_path, f"""
import subprocess, sys, time

def test_stuck(prod):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    open({str(marker)!r}, "w").write(str(child.pid))
    time.sleep(120)
""")
    started = time.monotonic()
    status, lines = monitor(["--once", "--cycle-timeout", "3"], folder, shop.url)
    assert time.monotonic() - started < 60
    assert status != 0
    assert "cycle failed: timeout: the cycle ran over --cycle-timeout 3 s" in lines[-1] or any(
        "cycle failed: timeout" in line for line in lines), lines
    child = int(marker.read_text())
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # the suite's own child went with the group
        os.kill(child, 0)


def test_usage_errors_are_one_line_with_status_4(tmp_path: Path) -> None:
    for argv in (["--fail-after", "4", "--window", "3", "--", "x"], ["--every", "-1", "--",
                 "x"], ["--every", "10"], ["--push", "ftp://x", "--", "x"]):
        result = subprocess.run([*COMMAND, *argv], capture_output=True, text=True,
                                cwd=tmp_path)
        assert result.returncode == 4, (argv, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, argv
        assert result.stderr.startswith("prodsmoke monitor: error: ")


# ----------------------------------------------------------------- states and alerts

def test_break_and_repair_fire_once_and_resolve_once(breakable_shop: RunningShop,
                                                      tmp_path: Path) -> None:
    with daemons.webhook_receiver() as hook:
        status, lines = monitor(
            ["--every", "0.5", "--max-cycles", "9", "--webhook", hook.url,
             "--location", "eu-test"], suite(tmp_path), breakable_shop.url,
            "--trace-url", "https://traces.example/trace/{trace_id}",
            on_line=at_cycles({2: lambda: break_orders(breakable_shop),
                               5: lambda: repair(breakable_shop)}))
    assert status == 0, lines
    cycles = cycle_lines(lines)
    assert len(cycles) == 9
    # Cycles 3-5 fail test_orders; it turns failing at the 2nd (4) and recovers at the 2nd
    # pass (7): one firing, one resolved, nothing in between.
    assert "alerts: firing test_monitored.py::test_orders" in cycles[3]
    assert "alerts: resolved test_monitored.py::test_orders" in cycles[6]
    assert [(a["status"], a["check"]) for a in hook.received] == [
        ("firing", "test_monitored.py::test_orders"),
        ("resolved", "test_monitored.py::test_orders")]
    firing = hook.received[0]
    assert firing["location"] == "eu-test" and firing["state"] == "failing"
    assert firing["target"] == breakable_shop.url
    assert "500" in firing["reason"] and firing["run_id"]
    assert firing["trace_url"].startswith("https://traces.example/trace/")  # the failing run's
    assert hook.received[1]["state"] == "passing"


def test_cycles_export_their_spans_and_alerts_name_the_trace(
        breakable_shop: RunningShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each cycle exports its spans (the standard OTEL_* environment reaches every cycle's
    pytest); an alert names the trace of the failure it is about, the cycle line its run's."""
    break_orders(breakable_shop)
    with daemons.otlp_receiver() as collector, daemons.webhook_receiver() as hook:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
        status, lines = monitor(["--every", "0.5", "--max-cycles", "2", "--webhook", hook.url],
                                suite(tmp_path), breakable_shop.url)
        spans = collector.received()
    assert status == 0, lines
    runs = [span for span in spans if span.name == "prodsmoke run"]
    assert len(runs) == 2  # one per cycle
    cycles = cycle_lines(lines)
    for cycle, run in zip(cycles, sorted(runs, key=lambda span: span.start_ns), strict=True):
        assert f"| trace {run.trace_id} |" in cycle, cycle
    (firing,) = hook.received
    failed = [span for span in spans if span.name == "test_monitored.py::test_orders"
              and span.status == "STATUS_CODE_ERROR"]
    assert len(failed) == 2, spans
    # The alert fired at the second failure: its trace is that cycle's check span.
    assert firing["trace_id"] == max(failed, key=lambda span: span.start_ns).trace_id


def test_a_single_failed_cycle_does_not_alert(breakable_shop: RunningShop,
                                              tmp_path: Path) -> None:
    with daemons.webhook_receiver() as hook:
        status, lines = monitor(
            ["--every", "0.5", "--max-cycles", "5", "--webhook", hook.url], suite(tmp_path),
            breakable_shop.url, on_line=at_cycles({1: lambda: break_orders(breakable_shop),
                                                   2: lambda: repair(breakable_shop)}))
    assert status == 0, lines
    assert hook.received == []
    assert not any("changed:" in line for line in cycle_lines(lines)[1:])


def test_a_failed_delivery_is_retried_next_cycle(breakable_shop: RunningShop,
                                                 tmp_path: Path) -> None:
    with daemons.webhook_receiver() as hook:
        hook.fail_next = 2  # both attempts of the first delivery
        status, lines = monitor(
            ["--every", "0.5", "--max-cycles", "5", "--webhook", hook.url], suite(tmp_path),
            breakable_shop.url, on_line=at_cycles({1: lambda: break_orders(breakable_shop)}))
    assert status == 0
    assert any("webhook delivery of firing test_monitored.py::test_orders failed (HTTP 503); "
               "retried next cycle" in line for line in lines), lines
    assert [a["status"] for a in hook.received] == ["firing"]


def test_sigterm_finishes_the_cycle_and_exits_0(shop: RunningShop, tmp_path: Path) -> None:
    folder = suite(tmp_path, MONITOR_SUITE + "\n\ndef test_slow(prod):\n"
                   "    import time; time.sleep(2)\n")
    process = subprocess.Popen([*COMMAND, "--every", "30", "--", str(folder), "--prod-url",
                                shop.url, *QUIET], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=folder)
    time.sleep(1.5)  # inside the first cycle
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "SIGTERM: finishing the running cycle" in output
    assert "cycle 1 " in output and "4/4 passed" in output, output


def test_a_second_signal_aborts_the_cycle_with_its_cleanup(breakable_shop: RunningShop,
                                                            tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    import json

    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", json.dumps(
        [{"username": "smoke-aborted", "password": "aborted-pass-1"}]))
    started = tmp_path / "started"
    folder = suite(tmp_path, order_check(f"    pathlib.Path({str(started)!r}).write_text('x')\n"
                                         "    time.sleep(60)", "test_long_journey"))
    (folder / "conftest.py").write_text(LOGIN_CONFTEST)
    process = subprocess.Popen([*COMMAND, "--every", "30", "--", str(folder), "--prod-url",
                                breakable_shop.url, *QUIET], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=folder)
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)  # the cycle would run for a minute: abort it
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "SIGTERM again: aborting the running cycle" in output
    assert "cycle 1 " in output and "cycle failed:" in output, output
    orders = requests.get(breakable_shop.url + "/_orders", timeout=5).json()["open_orders"]
    assert orders == 0, output  # the aborted cycle's cleanup ran


# ------------------------------------------------------------------- real Prometheus parts

def test_pushgateway_receives_each_cycle(shop: RunningShop, tmp_path: Path) -> None:
    with daemons.pushgateway(tmp_path) as gateway:
        status, lines = monitor(["--every", "0.5", "--max-cycles", "2", "--push", gateway.url,
                                 "--location", "eu-test"], suite(tmp_path), shop.url)
        assert status == 0, lines
        text = requests.get(gateway.url + "/metrics", timeout=5).text
    assert 'prodsmoke_check_success{check="test_monitored.py::test_health",instance="",' \
           f'job="prodsmoke",location="eu-test",target="{shop.url}"}} 1' in text, text[-3000:]
    assert 'prodsmoke_cycle_last_completed_timestamp_seconds{' in text
    assert 'push_time_seconds{instance="",job="prodsmoke",location="eu-test"' in text


def test_alertmanager_gets_the_alert_and_its_resolution(breakable_shop: RunningShop,
                                                        tmp_path: Path) -> None:
    seen: list[list[dict]] = []

    def alerts() -> list[dict]:
        return list(requests.get(manager.url + "/api/v2/alerts", timeout=5).json())

    with daemons.alertmanager(tmp_path) as manager:
        status, lines = monitor(
            ["--every", "0.5", "--max-cycles", "8", "--alertmanager", manager.url],
            suite(tmp_path), breakable_shop.url,
            on_line=at_cycles({2: lambda: break_orders(breakable_shop),
                               4: lambda: seen.append(alerts()),
                               5: lambda: repair(breakable_shop)}))
        assert status == 0, lines
        after = alerts()
    firing = [a for a in seen[0] if a["labels"]["check"] == "test_monitored.py::test_orders"]
    assert len(firing) == 1 and firing[0]["status"]["state"] == "active", seen
    assert firing[0]["labels"]["alertname"] == "ProdsmokeCheckFailing"
    resolved = [a for a in after if a["labels"]["check"] == "test_monitored.py::test_orders"]
    # Resolved alerts leave the active list (Alertmanager keeps them only as resolved).
    assert all(a["status"]["state"] != "active" for a in resolved), after


def test_prometheus_scrapes_the_metrics_endpoint(shop: RunningShop, tmp_path: Path) -> None:
    port = daemons.free_port()
    with daemons.prometheus(tmp_path, f"127.0.0.1:{port}") as server:
        found: list[dict] = []

        def look() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not found:
                found.extend(daemons.query(server.url, "prodsmoke_check_state"))
                time.sleep(0.5)

        # Prometheus applies new scrape targets every 5 s: the monitor runs long enough.
        status, lines = monitor(["--every", "1", "--max-cycles", "15", "--metrics-port",
                                 str(port)], suite(tmp_path), shop.url,
                                on_line=at_cycles({2: look}))
        assert status == 0, lines
    assert {r["metric"]["check"] for r in found} >= {"test_monitored.py::test_health"}, found
    assert all(r["value"][1] == "0" for r in found)  # passing


def test_once_runs_sharing_a_state_dir_count_k_of_n(breakable_shop: RunningShop,
                                                     tmp_path: Path) -> None:
    """Cron: each --once run is one cycle; --state-dir carries the states to the next."""
    state_dir = tmp_path / "state"
    folder = suite(tmp_path)
    break_orders(breakable_shop)
    with daemons.webhook_receiver() as hook:
        first = monitor(["--once", "--state-dir", str(state_dir), "--webhook", hook.url],
                        folder, breakable_shop.url)
        assert hook.received == []  # 1 failed of 1: not yet
        second = monitor(["--once", "--state-dir", str(state_dir), "--webhook", hook.url],
                         folder, breakable_shop.url)
    assert first[0] == second[0] == 1
    assert "states of 4 checks after 1 cycles" in second[1][0]
    assert "cycle 2 " in cycle_lines(second[1])[0]
    assert [(a["status"], a["check"]) for a in hook.received] == [
        ("firing", "test_monitored.py::test_orders")]


def test_an_unreadable_state_file_is_a_usage_error(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "monitor-state.json").write_text("{broken")
    result = subprocess.run([*COMMAND, "--once", "--state-dir", str(state_dir), "--", "x"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 4
    assert result.stderr.startswith("prodsmoke monitor: error: cannot read the monitor state")
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- the shipped examples

MONITORING = Path(__file__).resolve().parent.parent / "examples" / "monitoring"


def test_the_alerting_rules_pass_their_promtool_unit_tests() -> None:
    promtool = daemons.binary(daemons.PROMTOOL)
    check = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=MONITORING,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run([promtool, "test", "rules", "rules-test.yml"], cwd=MONITORING,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_rules_use_the_metrics_the_monitor_exports(shop: RunningShop,
                                                       tmp_path: Path) -> None:
    import re

    rules = (MONITORING / "rules.yml").read_text()
    used = set(re.findall(r"\b(prodsmoke_[a-z_]+)", rules))
    with daemons.pushgateway(tmp_path) as gateway:
        status, lines = monitor(["--once", "--push", gateway.url], suite(tmp_path), shop.url)
        assert status == 0, lines
        exported = set(re.findall(r"^(prodsmoke_[a-z_]+)\{", requests.get(
            gateway.url + "/metrics", timeout=5).text, re.MULTILINE))
    assert used and used <= exported, used - exported


def test_the_kubernetes_manifests_validate() -> None:
    import yaml

    manifests = sorted((MONITORING / "kubernetes").glob("*.yaml"))
    result = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict",
                             *map(str, manifests)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == 3, result.stdout  # CronJob, ...
    # kubernetes-validate has no schema for the Prometheus Operator's CRD: its shape here.
    (monitor_crd,) = yaml.safe_load_all((MONITORING / "kubernetes" /
                                         "servicemonitor.yaml").read_text())
    assert monitor_crd["kind"] == "ServiceMonitor"
    assert monitor_crd["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor_crd["spec"]["endpoints"][0]["honorLabels"] is True
    for manifest in manifests:
        for resource in yaml.safe_load_all(manifest.read_text()):
            spec = resource["spec"]
            pod = (spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
                   .get("spec"))
            if pod is None:
                continue
            args = pod["containers"][0]["args"]
            # The monitor's own command line parses (up to the suite after --).
            from pytest_prodsmoke.monitor.command import build_parser, split_argv

            own, suite_args = split_argv(args[2:])
            assert args[:2] == ["prodsmoke", "monitor"] and suite_args
            build_parser().parse_args(own)


# ------------------------------------------------------------------- retries in a cycle

def test_a_retry_that_passes_keeps_every_attempt(shop: RunningShop, tmp_path: Path) -> None:
    seen = tmp_path / "attempted"
    folder = suite(tmp_path, MONITOR_SUITE + f"""

def test_flaky_once(prod):
    import pathlib
    marker = pathlib.Path({str(seen)!r})
    first = not marker.exists()
    marker.write_text("x")
    assert not first, "first attempt fails"
""")
    status, lines = monitor(["--once", "--retries", "2", "--retry-delay", "0.1"], folder,
                            shop.url)
    line = cycle_lines(lines)[0]
    assert status == 0, lines  # passed when retried: degraded, not failed
    assert " degraded " in line and "4/4 passed" in line, line
    assert "retried: test_monitored.py::test_flaky_once (failed: AssertionError: first " \
           "attempt fails" in line and "-> passed)" in line, line


def test_retries_are_bounded_and_all_shown(shop: RunningShop, tmp_path: Path) -> None:
    folder = suite(tmp_path, MONITOR_SUITE + "\n\ndef test_broken(prod):\n"
                   "    assert prod.get('/broken').status_code == 200\n")
    status, lines = monitor(["--once", "--retries", "2", "--retry-delay", "0.1"], folder,
                            shop.url)
    line = cycle_lines(lines)[0]
    assert status == 1, lines
    history = line.split("retried: test_monitored.py::test_broken (", 1)[1]
    assert history.count("failed: ") == 3, line  # the run and two retries
    assert "not passed: test_monitored.py::test_broken (failed)" in line


def test_no_secret_reaches_the_monitors_outputs(shop: RunningShop, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.support import secret_forms

    password = "pw-of-smoke-monitor-9f3a1c"
    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", json.dumps(
        [{"username": "smoke-monitor", "password": password}]))
    folder = suite(tmp_path, """
def test_leaky(prod, fake_user):
    secret = fake_user.password.reveal()
    print("the password is", secret)
    assert False, f"login with {secret} failed"
""")
    with daemons.webhook_receiver() as hook, daemons.pushgateway(tmp_path) as gateway:
        status, lines = monitor(["--every", "0.5", "--max-cycles", "2", "--webhook", hook.url,
                                 "--push", gateway.url], folder, shop.url)
        metrics = requests.get(gateway.url + "/metrics", timeout=5).text
    assert status == 0, lines
    assert hook.received and "login with ***" in hook.received[0]["reason"], hook.received
    outputs = "\n".join(lines) + json.dumps(hook.received) + metrics
    leaked = [form for form in secret_forms(password, "smoke-monitor") if form in outputs]
    assert not leaked, leaked


def test_a_killed_cycles_fake_order_is_undone_by_the_next(breakable_shop: RunningShop,
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("PRODSMOKE_FAKE_USERS", json.dumps(
        [{"username": "smoke-cycles", "password": "cycles-pass-1"}]))
    killed_once = tmp_path / "killed-once"
    folder = suite(tmp_path, order_check(  # the first cycle dies before its cleanup
        f"    marker = pathlib.Path({str(killed_once)!r})\n"
        "    if not marker.exists():\n"
        "        marker.write_text('x')\n"
        "        import os, signal\n"
        "        os.kill(os.getpid(), signal.SIGKILL)", "test_order"))
    (folder / "conftest.py").write_text(LOGIN_CONFTEST)
    status, lines = monitor(["--every", "0.5", "--max-cycles", "2"], folder,
                            breakable_shop.url)
    assert status == 0, lines
    cycles = cycle_lines(lines)
    assert "cycle failed: no_report" in cycles[0], lines
    assert "replayed 1 undo left by an earlier cycle: 1 undone" in cycles[1], lines
    assert requests.get(breakable_shop.url + "/_orders", timeout=5).json()["open_orders"] == 0


def test_every_monitor_option_and_metric_is_in_the_readme() -> None:
    import re

    from pytest_prodsmoke.monitor.command import build_parser

    readme = (MONITORING.parent.parent / "README.md").read_text()
    flags = sorted(set(re.findall(r"(--[a-z][a-z-]+)", build_parser().format_help()))
                   - {"--help"})
    assert flags and [f for f in flags if f"`{f}" not in readme] == []
    metrics = ["prodsmoke_check_success", "prodsmoke_check_duration_seconds",
               "prodsmoke_check_attempts_total", "prodsmoke_check_last_success_timestamp_seconds",
               "prodsmoke_check_state", "prodsmoke_cycle_success",
               "prodsmoke_cycle_duration_seconds",
               "prodsmoke_cycle_last_completed_timestamp_seconds", "prodsmoke_checks_collected"]
    assert [m for m in metrics if f"`{m}`" not in readme] == []
