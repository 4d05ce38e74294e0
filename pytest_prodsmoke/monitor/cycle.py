"""One monitor cycle: the suite as a fresh pytest process with the gate, bounded in time, and
what its gate report says, as plain data (``CycleResult``).

A fresh process per cycle, in a process group of its own: a leak, a crash or a stuck fixture
in one cycle cannot poison the next, and an overrunning cycle is stopped with everything it
started (SIGTERM to the group, so the suite's cleanup runs; SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pytest_prodsmoke.gate import rules
from pytest_prodsmoke.monitor.states import CYCLE_CHECK, FAILED, PASSED, Observation

# The reasons of a gate verdict that are about checks (judged check by check, in their states);
# any other reason says the cycle itself produced no trustworthy result.
CHECK_REASONS = frozenset({
    rules.CHECK_FAILED, rules.NOT_RUN_CODE, rules.CRITICAL_SKIPPED, rules.WRONG_VERSION,
    rules.LEFTOVERS, rules.FIXTURE_FAILED, rules.PARALLEL_RUN_MISMATCH, rules.CANARY_FAILED,
    rules.CANARY_INCONCLUSIVE, *rules.DEGRADING_CODES, *rules.CHAOS_CODES.values()})
# A check's outcomes in the gate report that count as a pass of it.
PASSING_OUTCOMES = frozenset({"passed"})
ONLY_ENV = "PRODSMOKE_MONITOR_ONLY"  # monitor/only.py: the checks a retry runs
STOP_GRACE_S = 10.0  # after SIGTERM, how long a cycle's process group may take to clean up
OUTPUT_TAIL_CHARS = 4000


class CheckRun(NamedTuple):
    """One check in one cycle, from the gate report (merged with its retries)."""

    check: str
    target: str
    outcome: str
    critical: bool
    duration_s: float
    message: str
    attempts: int
    trace_url: str
    # Every attempt of a check the monitor retried, oldest first ("failed: why", "passed").
    history: tuple[str, ...] = ()
    trace_id: str = ""  # its trace (the span's, when the run exports traces)

    @property
    def passed(self) -> bool:
        return self.outcome in PASSING_OUTCOMES


class CycleResult(NamedTuple):
    """What one cycle produced: its verdict and checks, or why it produced none."""

    started_at: float  # epoch seconds
    duration_s: float
    verdict: str  # the gate's "pass" / "degraded" / "fail"
    exit_status: int  # the gate's (pytest's) exit status; what --once exits with
    checks: tuple[CheckRun, ...]
    problem: str  # why the cycle failed as a whole ("" when it produced a usable result)
    run_id: str = ""
    output_tail: str = ""  # the end of pytest's output, for the log of a failed cycle
    # Undo actions an earlier (killed) cycle left, replayed by this one (the report's).
    replayed: tuple[dict[str, Any], ...] = ()
    trace_id: str = ""  # the trace of the cycle's run span (when it exports traces)

    @property
    def completed(self) -> bool:
        """The cycle produced a usable result (its checks may still have failed)."""
        return not self.problem

    @property
    def success(self) -> bool:
        """The cycle's gate passed (prodsmoke_cycle_success)."""
        return self.completed and self.exit_status == 0

    def observations(self, target_fallback: str) -> dict[tuple[str, str], Observation]:
        """What this cycle says of each check, for the state machine, the cycle itself
        included (as CYCLE_CHECK)."""
        found: dict[tuple[str, str], Observation] = {
            (CYCLE_CHECK, target_fallback): Observation(
                FAILED if self.problem else PASSED, True, self.problem, "", self.trace_id)}
        if self.problem:
            return found  # the checks it reported are not trusted: they count as missing
        for check in self.checks:
            found[(check.check, check.target or target_fallback)] = Observation(
                PASSED if check.passed else FAILED, check.critical,
                "" if check.passed else f"{check.outcome}: {check.message}".rstrip(": "),
                check.trace_url, check.trace_id)
        return found


def attempt_line(check: CheckRun) -> str:
    return "passed" if check.passed else f"{check.outcome}: {check.message}".rstrip(": ")


def merge_retry(first: CycleResult, retry: CycleResult) -> CycleResult:
    """The cycle after a retry of its failed checks: each retried check takes the retry's
    outcome and keeps every attempt in ``history``; the verdict follows (a check that passed
    only when retried makes the cycle ``degraded``, as a rerun does in a gate run). A retry
    that produced no usable result changes no outcome: its problem is the attempt's line."""
    retried = {(c.check, c.target): c for c in retry.checks} if retry.completed else {}
    checks = []
    for check in first.checks:
        if check.passed:
            checks.append(check)
            continue
        history = check.history or (attempt_line(check),)
        again = retried.get((check.check, check.target))
        if again is None:
            why = retry.problem or "not reported by the retry"
            checks.append(check._replace(history=(*history, f"retry failed: {why}")))
            continue
        checks.append(again._replace(history=(*history, attempt_line(again)),
                                     attempts=check.attempts + again.attempts))
    broken = any(not c.passed and c.critical for c in checks)
    shaky = any(not c.passed or c.history for c in checks)
    verdict = "fail" if broken else "degraded" if shaky else "pass"
    return first._replace(checks=tuple(checks), verdict=verdict, exit_status=1 if broken else 0,
                          duration_s=first.duration_s + retry.duration_s)


def cycle_problem(report: Mapping[str, Any]) -> str:
    """Why a gate report says the cycle has no usable result ("" when it has one)."""
    reasons = report.get("reasons") or []
    for reason in reasons:
        if isinstance(reason, dict) and reason.get("code") not in CHECK_REASONS:
            return f"{reason.get('code')}: {reason.get('message', '')}"
    if not report.get("checks"):
        return "no_checks: the cycle reported no check"
    return ""


def checks_of(report: Mapping[str, Any]) -> tuple[CheckRun, ...]:
    runs = []
    for entry in report.get("checks") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("nodeid"), str):
            continue
        attempts = entry.get("attempts")
        runs.append(CheckRun(
            check=entry["nodeid"], target=str(entry.get("target") or ""),
            outcome=str(entry.get("outcome", "unknown")),
            critical=entry.get("critical") is not False,
            duration_s=float(entry.get("duration_s") or 0.0),
            message=str(entry.get("message") or ""),
            attempts=len(attempts) if isinstance(attempts, list) and attempts else 1,
            trace_url=str(entry.get("trace_url") or ""),
            trace_id=str(entry.get("trace_id") or "")))
    return tuple(runs)


def result_from_report(report_path: Path, started_at: float, duration_s: float,
                       returncode: int, output_tail: str) -> CycleResult:
    """The cycle's result from its gate report; a missing or unreadable report is a failed
    cycle, whatever pytest's exit status says."""
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        if not isinstance(report, dict) or "verdict" not in report:
            raise ValueError("not a gate report")
    except FileNotFoundError:
        return CycleResult(started_at, duration_s, "fail", returncode or 1, (),
                           f"no_report: pytest exited {returncode} without a gate report"
                           + (" (the gate runs only with --prod-url or PRODSMOKE_URL)"
                              if returncode in (0, 5) else ""),
                           output_tail=output_tail)
    except (OSError, ValueError) as exc:
        return CycleResult(started_at, duration_s, "fail", returncode or 1, (),
                           f"unreadable_report: {type(exc).__name__}: {exc}",
                           output_tail=output_tail)
    exit_status = int(report.get("exit_status", returncode) or 0)
    verdict = str(report.get("verdict", "fail"))
    if returncode != exit_status:
        # The process ended otherwise than its report says (killed after writing it?).
        problem = f"crashed: pytest exited {returncode}, its gate report says {exit_status}"
    else:
        problem = cycle_problem(report)
    replayed = tuple(r for r in report.get("replayed") or () if isinstance(r, dict))
    traces = report.get("traces")
    return CycleResult(started_at, duration_s, verdict, returncode or (1 if problem else 0),
                       checks_of(report), problem, str(report.get("run_id") or ""),
                       output_tail=output_tail if problem or returncode else "",
                       replayed=replayed,
                       trace_id=str(traces.get("run_trace_id") or "")
                       if isinstance(traces, dict) else "")


def stop_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM to the cycle's process group (its cleanup runs), SIGKILL after ``grace_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    # Whatever the suite started in the group goes too (also when pytest itself has ended).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class CycleRunner:
    """Runs the suite once per cycle; ``abort()`` (from a signal handler) stops a running one."""

    def __init__(self, pytest_args: Sequence[str], work_dir: Path, timeout_s: float,
                 env: Mapping[str, str] | None = None, stop_grace_s: float = STOP_GRACE_S,
                 retries: int = 0, retry_delay_s: float = 1.0) -> None:
        self.pytest_args = list(pytest_args)
        self.work_dir = work_dir
        self.timeout_s = timeout_s  # the whole cycle, its retries included
        self.retries = retries
        self.retry_delay_s = retry_delay_s  # doubled after each retry
        self.env = dict(env if env is not None else os.environ)
        self.stop_grace_s = stop_grace_s
        self.process: subprocess.Popen[bytes] | None = None
        self.aborted = False

    def _state_dir_args(self) -> list[str]:
        """Every cycle shares one state directory (unless the suite names its own): what a
        killed cycle left is replayed by the next (safety/replay.py)."""
        named = any(a == "--prodsmoke-state-dir" or a.startswith("--prodsmoke-state-dir=")
                    for a in self.pytest_args)
        if named or self.env.get("PRODSMOKE_STATE_DIR", "").strip():
            return []
        return ["--prodsmoke-state-dir", str(self.work_dir / "suite-state")]

    def abort(self) -> None:
        """Stop the running cycle now (a second signal): SIGTERM to its group, so its cleanup
        still runs."""
        self.aborted = True
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)

    def run(self, cycle: int) -> CycleResult:
        """One cycle: the suite, then up to ``retries`` runs of the checks that failed, with
        a growing delay, all within the cycle's timeout."""
        deadline = time.monotonic() + self.timeout_s
        result = self._run_once(cycle, self.timeout_s, {})
        delay = self.retry_delay_s
        for _ in range(self.retries):
            failed = [c.check for c in result.checks if not c.passed]
            left = deadline - time.monotonic() - delay
            if not result.completed or not failed or self.aborted or left < 1.0:
                break  # nothing to retry, or no time left in the cycle for it
            time.sleep(delay)
            retry = self._run_once(cycle, left, {ONLY_ENV: json.dumps(failed)},
                                   ["-p", "pytest_prodsmoke.monitor.only"])
            result = merge_retry(result, retry)
            delay *= 2
        return result

    def _run_once(self, cycle: int, timeout_s: float, extra_env: Mapping[str, str],
                  extra_args: Sequence[str] = ()) -> CycleResult:
        report = self.work_dir / "cycle-report.json"
        output = self.work_dir / "cycle-output.log"
        with contextlib.suppress(FileNotFoundError):
            report.unlink()  # never read the previous cycle's report as this one's
        argv = [sys.executable, "-m", "pytest", *self.pytest_args, *extra_args,
                *self._state_dir_args(), "--gate-report", str(report)]
        env = {**self.env, "PRODSMOKE_MONITOR_CYCLE": str(cycle), **extra_env}
        started_at, started = time.time(), time.monotonic()
        timed_out = False
        with open(output, "wb") as sink:
            try:
                self.process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, env=env,
                                                start_new_session=True)
            except OSError as exc:
                return CycleResult(started_at, 0.0, "fail", 1, (),
                                   f"not_started: {type(exc).__name__}: {exc}")
            try:
                returncode = self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                stop_group(self.process, self.stop_grace_s)
                returncode = self.process.returncode
            else:
                # pytest is done; anything it left running in its group goes with it.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
            finally:
                self.process = None
        duration_s = time.monotonic() - started
        tail = output.read_bytes()[-OUTPUT_TAIL_CHARS:].decode("utf-8", "replace")
        if timed_out:
            return CycleResult(started_at, duration_s, "fail", 1, (),
                               f"timeout: the cycle ran over --cycle-timeout {self.timeout_s:g} s "
                               "and was stopped", output_tail=tail)
        result = result_from_report(report, started_at, duration_s, returncode, tail)
        if self.aborted and not result.problem:
            result = result._replace(problem="aborted: the monitor was stopped during the cycle",
                                     exit_status=result.exit_status or 1)
        return result
