"""--on-gate-fail / --on-gate-pass / --on-gate-degraded: real commands, serial and -n 2."""

from __future__ import annotations

import json
import shlex
import sys

import pytest

from tests.support import run_gate

RECORDER = """
import json, os, sys, time
with open(sys.argv[1], "a") as handle:
    handle.write(json.dumps({k: v for k, v in os.environ.items()
                             if k.startswith("PRODSMOKE_")}) + "\\n")
print("recorded verdict", os.environ["PRODSMOKE_VERDICT"])
time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 0)
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""

SUITE = """
import pytest

def test_health(prod):
    assert prod.get("/healthz").ok

@pytest.mark.noncritical
def test_optional(prod):
    assert prod.get(PATH).ok
"""


def _command(pytester: pytest.Pytester, log: str, exit_code: int = 0, sleep: float = 0) -> str:
    script = pytester.path / "record.py"
    script.write_text(RECORDER)
    return shlex.join([sys.executable, str(script), str(pytester.path / log), str(exit_code),
                       str(sleep)])


def _calls(pytester: pytest.Pytester, log: str) -> list[dict[str, str]]:
    path = pytester.path / log
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(("path", "verdict"), [("'/healthz'", "pass"),
                                               ("'/broken'", "degraded")])
def test_the_command_for_the_verdict_runs_once(pytester: pytest.Pytester, shop, mode: str,
                                               path: str, verdict: str) -> None:
    pytester.makepyfile(test_smoke=SUITE.replace("PATH", path))
    run = run_gate(pytester, mode, "--expect-version", "2.0.0",
                   "--on-gate-pass", _command(pytester, "pass.log"),
                   "--on-gate-degraded", _command(pytester, "degraded.log"),
                   "--on-gate-fail", _command(pytester, "fail.log"), url=shop.url)
    assert run.ret == 0, run.output
    calls = {name: _calls(pytester, f"{name}.log") for name in ("pass", "degraded", "fail")}
    assert [len(calls[name]) for name in ("pass", "degraded", "fail")] == [
        int(verdict == "pass"), int(verdict == "degraded"), 0]
    env = calls[verdict][0]
    assert env["PRODSMOKE_VERDICT"] == verdict
    assert env["PRODSMOKE_GATE_REPORT"] == str(run.report_path)
    assert env["PRODSMOKE_TARGET"] == shop.url
    assert env["PRODSMOKE_EXPECTED_VERSION"] == "2.0.0"
    assert env["PRODSMOKE_EXIT_STATUS"] == "0"
    assert f"recorded verdict {verdict}" in run.output  # its output is shown
    assert run.report["command"]["returncode"] == 0


def test_rollback_runs_on_fail_after_the_report_is_written(pytester: pytest.Pytester, shop,
                                                           mode: str) -> None:
    pytester.makepyfile(test_smoke=SUITE.replace("PATH", "'/healthz'") + """
def test_broken(prod):
    assert prod.get("/broken").ok
""")
    script = pytester.path / "check_report.py"
    script.write_text("import json, os\n"
                      "report = json.load(open(os.environ['PRODSMOKE_GATE_REPORT']))\n"
                      "print('report says', report['verdict'])\n")
    run = run_gate(pytester, mode, "--on-gate-fail", shlex.join([sys.executable, str(script)]),
                   url=shop.url)
    assert run.ret == 1, run.output
    assert "report says fail" in run.output
    assert run.codes == ["check_failed"]


def test_failed_promote_fails_the_gate_loudly(pytester: pytest.Pytester, shop,
                                              mode: str) -> None:
    pytester.makepyfile(test_smoke=SUITE.replace("PATH", "'/healthz'"))
    run = run_gate(pytester, mode, "--on-gate-pass", _command(pytester, "pass.log", 3),
                   url=shop.url)
    assert run.ret == 1, run.output
    assert run.report["verdict"] == "fail"
    assert run.codes == ["command_failed"]
    assert "exited with status 3" in run.report["reasons"][0]["message"]
    assert "FAILED: exited with status 3" in run.output
    assert len(_calls(pytester, "pass.log")) == 1  # and no second command ran


def test_failed_rollback_keeps_the_fail(pytester: pytest.Pytester, shop) -> None:
    pytester.makepyfile(test_smoke="def test_broken(prod):\n    assert prod.get('/broken').ok\n")
    run = run_gate(pytester, "serial", "--on-gate-fail", _command(pytester, "fail.log", 1),
                   url=shop.url)
    assert run.ret == 1, run.output
    assert run.codes == ["check_failed", "command_failed"]


def test_command_timeout(pytester: pytest.Pytester, shop) -> None:
    pytester.makepyfile(test_smoke=SUITE.replace("PATH", "'/healthz'"))
    run = run_gate(pytester, "serial", "--gate-command-timeout", "0.5",
                   "--on-gate-pass", _command(pytester, "pass.log", 0, 30), url=shop.url)
    assert run.ret == 1, run.output
    assert "timed out after 0.5 s" in run.report["reasons"][0]["message"]


@pytest.mark.parametrize(("command", "message"), [
    ("no-such-program-anywhere --now", "program 'no-such-program-anywhere' not found"),
    ("./rollback.sh 'unbalanced", "cannot split"),
])
def test_bad_command_is_a_usage_error_before_any_check(pytester: pytest.Pytester, shop,
                                                       command: str, message: str) -> None:
    pytester.makepyfile(test_smoke="def test_health(prod):\n    raise SystemExit('ran')\n")
    result = pytester.runpytest_subprocess("--prod-url", shop.url, "--on-gate-fail", command)
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: pytest-prodsmoke: --on-gate-fail: *{message}*"])
