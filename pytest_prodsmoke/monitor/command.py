"""``prodsmoke monitor``: the gate's suite, run continuously as a monitor.

    prodsmoke monitor --every 60 --location eu-west-1 --metrics-port 9464 -- \\
        smoke/ --prod-url https://shop.example -m "synthetic or not noncritical"

Each cycle runs the suite as a fresh pytest process with the gate (monitor/cycle.py); the state
machine (monitor/states.py) turns the cycles into per-check states without flapping; state
changes become alerts (monitor/alerts.py); metrics go to /metrics and a Pushgateway
(monitor/metrics.py). This module is the loop and its options: nothing in it decides anything.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from pytest_prodsmoke.monitor.alerts import Alertmanager, Webhook, iso, webhook_payload
from pytest_prodsmoke.monitor.cycle import CycleResult, CycleRunner
from pytest_prodsmoke.monitor.states import (
    CYCLE_CHECK,
    EMPTY,
    MonitorState,
    Thresholds,
    Transition,
    active_alerts,
    advance,
    from_json,
    to_json,
)

EXIT_USAGE = 4  # pytest's usage-error status, for a misused command line
CYCLE_TIMEOUT_SHARE = 0.9  # the default --cycle-timeout: this share of --every
MAX_LISTED = 3  # failing checks named on a cycle's line
STATE_FILE = "monitor-state.json"  # in --state-dir


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and exit 4, not argparse's usage dump
        raise UsageError(message)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and at most 86400")
    return value


def _non_negative(text: str) -> float:
    if text.strip() in ("0", "0.0"):
        return 0.0
    return _positive(text)


def _whole(low: int, high: int | None, what: str = "a whole number"
           ) -> Callable[[str], int]:
    """A parser of whole numbers from ``low`` to ``high`` (None: no upper bound)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{text!r} must be {bounds}")
        return value

    return parse


_count = _whole(1, 1000)
_cycles = _whole(1, None)
_retries = _whole(0, 10)
_port = _whole(0, 65535, "a port number")


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prodsmoke monitor", description="Run a pytest-prodsmoke suite "
                     "continuously: one fresh pytest process per cycle, per-check states "
                     "without flapping, alerts on state changes, metrics for Prometheus.",
                     epilog="Everything after -- is passed to pytest (the suite and its "
                     "options, e.g. --prod-url).")
    parser.add_argument("--every", type=_positive, default=60.0, metavar="SECONDS",
                        help="seconds from the start of one cycle to the next (default 60)")
    parser.add_argument("--once", action="store_true",
                        help="run one cycle and exit with the gate's exit status (cron, "
                        "Kubernetes CronJob)")
    parser.add_argument("--cycle-timeout", type=_positive, metavar="SECONDS",
                        help="a cycle running longer is stopped with its process group and "
                        "counts as failed (default: 0.9 x --every)")
    parser.add_argument("--jitter", type=_non_negative, default=0.0, metavar="SECONDS",
                        help="wait up to this many random seconds more before each cycle")
    parser.add_argument("--location", default=None,
                        help="where this monitor runs, a label on every metric and alert "
                        "(default: the host name)")
    parser.add_argument("--fail-after", type=_count, default=2, metavar="K",
                        help="a check turns failing after K failed of the last N cycles "
                        "(default 2)")
    parser.add_argument("--window", type=_count, default=3, metavar="N",
                        help="the N of 'K of the last N cycles' (default 3)")
    parser.add_argument("--recover-after", type=_count, default=2, metavar="M",
                        help="a failing check recovers after M passes in a row (default 2)")
    parser.add_argument("--retries", type=_retries, default=0, metavar="N",
                        help="retry the checks that failed up to N times within the cycle, "
                        "each retry a fresh pytest process, before the failure counts "
                        "(default 0); every attempt is shown")
    parser.add_argument("--retry-delay", type=_positive, default=1.0, metavar="SECONDS",
                        help="wait before the first retry, doubled for each next one "
                        "(default 1); retries stop when the cycle's timeout is near")
    parser.add_argument("--metrics-port", type=_port, metavar="PORT",
                        help="serve /metrics on this port while the monitor runs")
    parser.add_argument("--metrics-address", default="127.0.0.1", metavar="ADDRESS",
                        help="the address /metrics listens on (default 127.0.0.1; 0.0.0.0 in "
                        "a container)")
    parser.add_argument("--push", type=_url, metavar="URL",
                        help="push the metrics to this Pushgateway after each cycle")
    parser.add_argument("--webhook", type=_url, metavar="URL",
                        help="POST each alert (firing, resolved) as JSON to this URL")
    parser.add_argument("--alertmanager", type=_url, metavar="URL",
                        help="send the alerts to this Alertmanager (POST /api/v2/alerts)")
    parser.add_argument("--alert-timeout", type=_positive, default=5.0, metavar="SECONDS",
                        help="timeout of each alert delivery and push (default 5)")
    parser.add_argument("--max-cycles", type=_cycles, metavar="N",
                        help="stop after N cycles (default: run until SIGTERM / Ctrl-C)")
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="where the per-check states are kept between runs (consecutive "
                        "--once runs go on counting K of N) and each cycle's gate report and "
                        "output (default: a temporary directory, removed at exit)")
    return parser


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """The monitor's own options, and pytest's (after ``--``)."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]


def main_target(pytest_args: Sequence[str]) -> str:
    """The candidate the suite checks (its first --prod-url), as outputs show URLs; the
    ``target`` label of cycle-level metrics and alerts."""
    import os

    from pytest_prodsmoke.safety.redact import display_url

    args = list(pytest_args)
    for index, arg in enumerate(args):
        if arg == "--prod-url" and index + 1 < len(args):
            return display_url(args[index + 1])
        if arg.startswith("--prod-url="):
            return display_url(arg.split("=", 1)[1])
    env = os.environ.get("PRODSMOKE_URL", "").strip().splitlines()
    return display_url(env[0].strip()) if env else "unknown"


class Monitor:
    """The loop: a cycle, the state machine, alerts, metrics, one line; then wait."""

    def __init__(self, args: argparse.Namespace, pytest_args: list[str], work_dir: Path
                 ) -> None:
        self.args = args
        self.thresholds = Thresholds(args.fail_after, args.window, args.recover_after)
        self.location = args.location or socket.gethostname()
        self.target = main_target(pytest_args)
        timeout = args.cycle_timeout or max(1.0, CYCLE_TIMEOUT_SHARE * args.every)
        self.runner = CycleRunner(pytest_args, work_dir, timeout, retries=args.retries,
                                  retry_delay_s=args.retry_delay)
        self.state: MonitorState = EMPTY
        # With --state-dir the states survive the process: consecutive --once runs (cron) and
        # a restarted monitor go on counting K of N where the last one stopped.
        self.state_file = args.state_dir / STATE_FILE if args.state_dir is not None else None
        self.stopping = threading.Event()  # set by the first signal: finish the cycle, exit
        self.signals = 0
        self.webhook = Webhook(args.webhook, args.alert_timeout) if args.webhook else None
        self.alertmanager = (Alertmanager(args.alertmanager, args.alert_timeout)
                             if args.alertmanager else None)
        self.figures: Any = None
        self.server: Any = None
        if args.metrics_port is not None or args.push:
            from pytest_prodsmoke.monitor.metrics import MonitorFigures

            self.figures = MonitorFigures(self.location, self.target)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals == 1:
            say(f"{signal.Signals(signum).name}: finishing the running cycle, then stopping "
                "(again to abort it)")
            self.stopping.set()
        else:
            say(f"{signal.Signals(signum).name} again: aborting the running cycle (its cleanup "
                "still runs)")
            self.runner.abort()

    def load_state(self) -> None:
        """The states a previous run left in --state-dir (none: start afresh)."""
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            self.state = from_json(json.loads(self.state_file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the monitor state {self.state_file}: {exc}") from None
        say(f"states of {len(self.state.checks)} checks after {self.state.cycles} cycles "
            f"from {self.state_file}")

    def save_state(self) -> list[str]:
        if self.state_file is None:
            return []
        from pytest_prodsmoke.outputs.report import write_json_atomic

        try:
            write_json_atomic(self.state_file, to_json(self.state))
        except OSError as exc:
            return [f"cannot save the monitor state to {self.state_file}: {exc}"]
        return []

    def start(self) -> None:
        if self.args.metrics_port is not None:
            from pytest_prodsmoke.monitor.metrics import serve

            self.server = serve(self.figures, self.args.metrics_port, self.args.metrics_address)
            say(f"metrics on http://{self.args.metrics_address}:"
                f"{self.server.server_address[1]}/metrics")

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def run(self) -> int:
        cycle = 0
        last: CycleResult | None = None
        while True:
            if self.args.jitter and not self.args.once and \
                    self.stopping.wait(random.uniform(0, self.args.jitter)):
                break
            cycle += 1
            started = time.monotonic()
            last = self.runner.run(cycle)
            self.publish(cycle, last)
            if self.args.once or self.stopping.is_set() or self.runner.aborted or (
                    self.args.max_cycles is not None and cycle >= self.args.max_cycles):
                break
            if self.stopping.wait(max(0.0, started + self.args.every - time.monotonic())):
                break
        if self.args.once and last is not None:
            return last.exit_status if last.completed else (last.exit_status or 1)
        return 0

    def publish(self, cycle: int, result: CycleResult) -> None:
        previous = self.state
        observations = result.observations(self.target)
        self.state, transitions, changes = advance(previous, observations, self.thresholds)
        problems: list[str] = []
        if self.figures is not None:
            self.figures.update(result, self.state)
            if self.args.push:
                from pytest_prodsmoke.monitor.metrics import push

                problems += push(self.figures, self.args.push, self.args.alert_timeout)
        now = time.time()
        if self.webhook is not None and (transitions or self.webhook.pending):
            problems += self.webhook.send(
                webhook_payload(t, self.location, result.run_id, now) for t in transitions)
        if self.alertmanager is not None:
            resolved = {t.key: previous.checks[t.key] for t in transitions
                        if t.status == "resolved"}
            # Held for three cycles: missing one re-send must not resolve it in Alertmanager.
            problems += self.alertmanager.send(dict(active_alerts(self.state)), resolved,
                                               self.location, result.run_id, now,
                                               hold_s=3 * self.args.every + 60)
        problems += self.save_state()
        say(cycle_line(self.state.cycles, result, self.state, transitions, changes))
        for problem in problems:
            say(problem)
        if result.problem and result.output_tail:
            say("the end of the cycle's output:\n" + indent(result.output_tail))


def cycle_line(cycle: int, result: CycleResult, state: MonitorState,
               transitions: Sequence[Transition],
               changes: Sequence[tuple[tuple[str, str], str, str]]) -> str:
    """One line per cycle: time, verdict, duration, failing checks, state changes, alerts."""
    parts = [f"cycle {cycle} {iso(result.started_at)} {result.verdict} "
             f"{result.duration_s:.1f}s"]
    if result.trace_id:
        parts.append(f"trace {result.trace_id}")
    if result.problem:
        parts.append(f"cycle failed: {result.problem}")
    else:
        failing = [c for c in result.checks if not c.passed]
        parts.append(f"{len(result.checks) - len(failing)}/{len(result.checks)} passed")
        if failing:
            named = ", ".join(f"{c.check} ({c.outcome})" for c in failing[:MAX_LISTED])
            more = f" and {len(failing) - MAX_LISTED} more" if len(failing) > MAX_LISTED else ""
            parts.append(f"not passed: {named}{more}")
    if result.replayed:
        undone = sum(1 for r in result.replayed if r.get("outcome") == "undone")
        parts.append(f"replayed {len(result.replayed)} undo left by an earlier cycle: "
                     f"{undone} undone")
    retried = [c for c in result.checks if c.history]
    if retried:
        parts.append("retried: " + ", ".join(
            f"{c.check} ({' -> '.join(c.history)})" for c in retried[:MAX_LISTED]))
    if changes:
        parts.append("changed: " + ", ".join(
            f"{key[0]} {before} -> {after}" for key, before, after in changes))
    if transitions:
        parts.append("alerts: " + ", ".join(f"{t.status} {t.key[0]}" for t in transitions))
    bad = sum(1 for key, check in state.checks.items()
              if check.state != "passing" and key[0] != CYCLE_CHECK)
    if bad:
        parts.append(f"{bad} not passing")
    return " | ".join(parts)


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def say(line: str) -> None:
    print(f"prodsmoke monitor: {line}", flush=True)


def main(argv: Sequence[str]) -> int:
    own, pytest_args = split_argv(argv)
    parser = build_parser()
    try:
        if any(a in ("-h", "--help") for a in own):
            parser.print_help()
            return 0
        args = parser.parse_args(own)
        if not pytest_args:
            raise UsageError("give the suite to run after --, e.g. prodsmoke monitor -- smoke/ "
                             "--prod-url https://shop.example")
        problem = Thresholds(args.fail_after, args.window, args.recover_after).problem()
        if problem:
            raise UsageError(problem)
        if args.state_dir is not None and args.state_dir.exists() and \
                not args.state_dir.is_dir():
            raise UsageError(f"--state-dir {args.state_dir} is not a directory")
    except UsageError as exc:
        print(f"prodsmoke monitor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    own_dir = args.state_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="prodsmoke-monitor-")) if own_dir else args.state_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    monitor = Monitor(args, pytest_args, work_dir)
    try:
        monitor.load_state()
    except UsageError as exc:
        print(f"prodsmoke monitor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    previous = {s: signal.signal(s, monitor.on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            monitor.start()
        except OSError as exc:
            print(f"prodsmoke monitor: error: cannot serve /metrics on "
                  f"{args.metrics_address}:{args.metrics_port}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return monitor.run()
    finally:
        monitor.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if own_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
