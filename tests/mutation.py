"""`make mutate`: mutation testing of the pure cores (gate/rules.py, gate/facts.py,
safety/redact.py, compare/) with their unit tests, and the goal the project holds them to.

mutmut (configured in pyproject's [tool.mutmut]) changes the code one small edit at a time and
runs the unit tests against each change. A change the tests do not notice "survives". Some
changes cannot be noticed because they do not change behaviour (a clamp that never applies, a
default that is never used); those are listed, each with a one-line reason, in
tests/mutation-equivalents.txt. The goal: per module, at least 95 % of the other mutants killed.

Usage: python tests/mutation.py [--max-children N] [--no-run]
  --no-run  judge the results of the last run again (after editing the equivalents file)
Exit status 0 when every module meets the goal, 1 when one does not, 4 on bad usage.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
EQUIVALENTS = ROOT / "tests" / "mutation-equivalents.txt"
LOG = ROOT / "mutants.log"
GOAL = 0.95
# mutmut's words for a mutant the tests noticed: they failed, or never finished.
DETECTED = {"killed", "timeout"}
UNDETECTED = {"survived", "no tests"}


@dataclass(frozen=True)
class Mutant:
    name: str  # e.g. pytest_prodsmoke.gate.rules.x_decide__mutmut_12
    status: str

    @property
    def module(self) -> str:
        return self.name.split(".x", 1)[0].removeprefix("pytest_prodsmoke.")

    @property
    def function(self) -> str:
        """module.function as the equivalents file names it (methods as Class.method)."""
        # mutmut's names: x_<function> for a function, xǁ<Class>ǁ<method> for a method.
        base = self.name.split(".x", 1)[1].rsplit("__mutmut_", 1)[0]
        base = base[1:] if base.startswith("_") else base.strip("ǁ").replace("ǁ", ".")
        return f"{self.module}.{base}"


@dataclass(frozen=True)
class Equivalent:
    function: str
    mutated: str  # the mutated line, as mutmut wrote it (whitespace-stripped)
    reason: str
    line: int


def read_equivalents(path: Path = EQUIVALENTS) -> list[Equivalent]:
    """Lines `function :: mutated line :: reason`; `#` starts a comment line."""
    entries = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in raw.split(" :: ")]
        if len(parts) != 3 or not all(parts):
            raise SystemExit(f"{path.name}:{number}: expected 'function :: mutated line :: "
                             "reason'")
        entries.append(Equivalent(*parts, line=number))
    return entries


def read_results() -> list[Mutant]:
    out = subprocess.run([_mutmut(), "results", "--all", "true"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    mutants = []
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name.startswith("pytest_prodsmoke."):
            mutants.append(Mutant(name, status))
    return mutants


def _function_sources() -> dict[str, str]:
    """Every function mutmut wrote, by its mangled name, from the mutated copy of the code."""
    sources: dict[str, str] = {}
    for path in (MUTANTS / "pytest_prodsmoke").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        relative = path.relative_to(MUTANTS).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and "__mutmut_" in node.name:
                body = lines[node.lineno - 1:node.end_lineno]
                # The def line without its name, so that changed defaults are seen as changes.
                body[0] = body[0].split("(", 1)[1] if "(" in body[0] else body[0]
                sources[f"{module}.{node.name}"] = "\n".join(body)
    return sources


def mutated_lines(mutant: Mutant, sources: dict[str, str]) -> list[str]:
    """The lines of the mutant that differ from the original function, stripped."""
    original = sources.get(mutant.name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
    changed = sources.get(mutant.name)
    if original is None or changed is None:
        return []
    diff = difflib.unified_diff(original.splitlines(), changed.splitlines(), lineterm="", n=0)
    return [line[1:].strip() for line in diff
            if line.startswith("+") and not line.startswith("+++")]


def _mutmut() -> str:
    found = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if found is None:
        raise SystemExit("mutmut is not installed: pip install -e '.[mutate]' (make mutate does)")
    return found


def run(max_children: int) -> None:
    shutil.rmtree(MUTANTS, ignore_errors=True)
    print(f"mutmut run --max-children {max_children} (log: {LOG.name}) ...", flush=True)
    with LOG.open("w", encoding="utf-8") as log:
        # mutmut redraws one progress line thousands of times: into the log, not the terminal.
        done = subprocess.run([_mutmut(), "run", "--max-children", str(max_children)], cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"mutmut run failed with status {done.returncode}; see {LOG}")


def judge(mutants: list[Mutant], equivalents: list[Equivalent],
          sources: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(table lines, surviving mutants not explained, equivalents that matched nothing)."""
    used: set[int] = set()
    unexplained: list[str] = []
    per_module: dict[str, Counter[str]] = {}
    for mutant in mutants:
        counts = per_module.setdefault(mutant.module, Counter())
        counts["mutants"] += 1
        if mutant.status in DETECTED:
            counts["killed"] += 1
            continue
        if mutant.status not in UNDETECTED:
            counts["other"] += 1
            unexplained.append(f"{mutant.name}: {mutant.status}")
            continue
        lines = mutated_lines(mutant, sources)
        match = next((e for e in equivalents if e.function == mutant.function
                      and e.mutated in lines), None)
        if match is not None:
            counts["equivalent"] += 1
            used.add(match.line)
        else:
            counts["survived"] += 1
            unexplained.append(f"{mutant.function} [{mutant.status}]: "
                               + (" // ".join(lines) or "(no change found)"))
    table = [f"{'module':16} {'mutants':>7} {'killed':>7} {'equiv.':>7} {'survived':>8} "
             f"{'kill rate':>9}"]
    failing = []
    for module, counts in sorted(per_module.items()):
        judged = counts["mutants"] - counts["equivalent"]
        rate = counts["killed"] / judged if judged else 1.0
        if rate < GOAL:
            failing.append(module)
        table.append(f"{module:16} {counts['mutants']:7} {counts['killed']:7} "
                     f"{counts['equivalent']:7} {counts['survived'] + counts['other']:8} "
                     f"{rate:9.1%}{'  < goal' if rate < GOAL else ''}")
    stale = [f"{EQUIVALENTS.name}:{e.line}: {e.function} :: {e.mutated}"
             for e in equivalents if e.line not in used]
    return table + ([f"below the goal of {GOAL:.0%}: {', '.join(failing)}"] if failing else []), \
        unexplained, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-run", action="store_true")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return 4 if exit_.code else 0
    equivalents = read_equivalents()
    if not args.no_run:
        run(args.max_children)
    table, unexplained, stale = judge(read_results(), equivalents, _function_sources())
    print("\n".join(table))
    if unexplained:
        print(f"\n{len(unexplained)} surviving mutants, neither killed nor listed as equivalent:")
        print("\n".join(f"  {line[:300]}" for line in unexplained))
    if stale:
        print(f"\n{len(stale)} equivalents matched no surviving mutant (killed now, or the code "
              "changed): remove them")
        print("\n".join(f"  {line}" for line in stale))
    failed = any(line.startswith("below the goal") for line in table)
    return 1 if failed or unexplained or stale else 0


if __name__ == "__main__":
    sys.exit(main())
