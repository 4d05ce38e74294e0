"""`make demo`: the main job of pytest-prodsmoke on the bundled example shop.

Starts the shop as the released baseline (1.0.0) and as candidates, runs the example smoke suite
through the gate against each, and checks that every verdict came out as it should:

1. candidate 2.0.0, healthy once it has started   -> PASS, exit 0: promote
2. candidate 2.0.1, orders broken                 -> FAIL, exit 1: roll back
3. rollout half done: 1.0.0 answers some requests -> FAIL (wrong_version), exit 1
4. not deployed: only 1.0.0 answers               -> FAIL (not_ready after 5 s), exit 1
5. candidate 2.0.2 changed every price by 10 %     -> FAIL (parallel_run_mismatch), exit 1

The suite also runs an A/B check (both variants must be served as assigned) and a canary
check (30 samples against each version) in every scenario.

Every run waits for the candidate first (--wait-ready), as a pipeline would right after deploy.

Exits 0 when all five verdicts are as expected. Reports go to demo-out/<scenario>/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.shop.launch import running_shop  # noqa: E402

OUT = ROOT / "demo-out"
# Fake users come from the environment, as they would from a CI secret.
DEMO_ENV = {**os.environ, "PRODSMOKE_FAKE_USERS": json.dumps([
    {"username": "smoke-demo-1", "password": "demo-password-1"},
    {"username": "smoke-demo-2", "password": "demo-password-2"},
])}


@dataclass
class Scenario:
    name: str
    title: str
    shop_version: str
    shop_faults: tuple[str, ...]
    expect_version: str
    expected_verdict: str


SCENARIOS = (
    Scenario("pass", "healthy candidate 2.0.0, ready after 2 s", "2.0.0",
             ("--ready-after", "2"), "2.0.0", "pass"),
    Scenario("broken", "candidate 2.0.1 with broken orders", "2.0.1", ("--fail", "/orders"),
             "2.0.1", "fail"),
    Scenario("wrong-version", "rollout half done: 1.0.0 answers every 3rd request", "2.0.0",
             ("--old-version", "1.0.0", "--old-every", "3"), "2.0.0", "fail"),
    Scenario("not-ready", "not deployed: only 1.0.0 answers", "1.0.0", (), "2.0.0", "fail"),
    Scenario("repriced", "candidate 2.0.2 changed every price by 10 %", "2.0.2",
             ("--price-factor", "1.1"), "2.0.2", "fail"),
)


def run_scenario(scenario: Scenario, baseline_url: str) -> tuple[int, dict]:
    out = OUT / scenario.name
    out.mkdir(parents=True, exist_ok=True)
    with running_shop(scenario.shop_version, *scenario.shop_faults) as candidate:
        print(f"\n### {scenario.title}: candidate {candidate.url}, baseline {baseline_url}",
              flush=True)
        command = [
            sys.executable, "-m", "pytest", str(ROOT / "examples" / "smoke"), "-n", "2",
            "-p", "no:cacheprovider", "-q", "--no-header", "--tb=short",
            "--prod-url", candidate.url, "--baseline-url", baseline_url,
            "--expect-version", scenario.expect_version,
            "--wait-ready=5", "--ready-interval", "0.5",
            "--gate-report", str(out / "gate.json"), "--junitxml", str(out / "junit.xml"),
        ]
        exit_status = subprocess.call(command, cwd=ROOT, env=DEMO_ENV)
    report = json.loads((out / "gate.json").read_text()) if (out / "gate.json").exists() else {}
    return exit_status, report


def main() -> int:
    results = []
    with ExitStack() as stack:
        baseline = stack.enter_context(running_shop("1.0.0"))
        for scenario in SCENARIOS:
            exit_status, report = run_scenario(scenario, baseline.url)
            results.append((scenario, exit_status, report))

    print("\n=== pytest-prodsmoke demo ===")
    all_as_expected = True
    for scenario, exit_status, report in results:
        verdict = report.get("verdict", "<no report>")
        ok = verdict == scenario.expected_verdict and (exit_status == 0) == (verdict == "pass")
        all_as_expected &= ok
        codes = ", ".join(r["code"] for r in report.get("reasons", [])) or "-"
        print(f"{'as expected' if ok else 'UNEXPECTED':12} {scenario.title:50} "
              f"verdict {verdict.upper():5} exit {exit_status}  reasons: {codes}")
        print(f"{'':12} report: {OUT / scenario.name / 'gate.json'}")
    print("demo " + ("succeeded: every verdict came out as it should" if all_as_expected
                     else "FAILED: a verdict was not what it should be"))
    return 0 if all_as_expected else 1


if __name__ == "__main__":
    sys.exit(main())
