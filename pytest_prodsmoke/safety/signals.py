"""SIGTERM handled like Ctrl-C, so teardown runs and the gate report is written.

CI runners cancel a job with SIGTERM, whose default action kills the process at once: no
teardown, no report. Turning the first SIGTERM into KeyboardInterrupt lets pytest unwind as for
Ctrl-C. A second SIGTERM is obeyed at once (the runner insists). While the gate is finishing
(writing its report), the first SIGTERM is only noted, so the report is never cut in half.

Under xdist, Kubernetes and many CI runners signal the controller only, and a run started in
the background of a non-interactive shell ignores SIGINT in every process, so xdist's own way
of stopping its workers does not reach a running check: it would kill them after a while,
without teardown. So the controller forwards the cancellation to its workers with a signal of
the plugin's own (``CANCEL_SIGNAL``), keeps receiving their reports while they tear down (their
cleanup runs), and gives up after a grace period. A worker takes the plugin's cancel like its
first SIGTERM; it never counts as a second one.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

SIGTERM_MESSAGE = "SIGTERM received"
CANCEL_SIGNAL = signal.SIGUSR2  # the controller's cancel to its xdist workers


class TermSignalHandler:
    def __init__(self) -> None:
        self.received = False
        self.finishing = False
        # The xdist controller's: cancel the workers; True when at least one was reached.
        self.forward: Callable[[], bool] | None = None
        self.grace_s = 20.0  # settings: --cancel-grace
        self.message = SIGTERM_MESSAGE
        self._terms = 0
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        # signal.signal only works in the main thread (pytest may be embedded elsewhere).
        if self._previous or threading.current_thread() is not threading.main_thread():
            return
        self._previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._handle)
        self._previous[CANCEL_SIGNAL] = signal.signal(CANCEL_SIGNAL, self._handle_cancel)

    def uninstall(self) -> None:
        self.stop_grace()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous or signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._terms += 1
        if self._terms > 1:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        if self.received:
            return  # already cancelled (by the controller): unwinding
        self.received = True
        if self.finishing:
            return
        if self.forward is not None and self.forward():
            # The workers interrupt their checks and tear down, while this process goes on
            # receiving what they report; bounded by the grace period.
            self._arm_grace()
            return
        raise KeyboardInterrupt(SIGTERM_MESSAGE)

    def _handle_cancel(self, signum: int, frame: FrameType | None) -> None:
        if self.received or self.finishing:
            return
        self.received = True
        raise KeyboardInterrupt(SIGTERM_MESSAGE)

    def _arm_grace(self) -> None:
        self._previous.setdefault(signal.SIGALRM, signal.signal(signal.SIGALRM,
                                                                self._grace_over))
        signal.setitimer(signal.ITIMER_REAL, self.grace_s)

    def _grace_over(self, signum: int, frame: FrameType | None) -> None:
        if self.finishing:
            return
        self.message = (f"{SIGTERM_MESSAGE}; the workers did not finish their checks and "
                        f"cleanup within {self.grace_s:g} s")
        raise KeyboardInterrupt(self.message)

    def stop_grace(self) -> None:
        if signal.SIGALRM in self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)


def finish_teardown(session: Any) -> str | None:
    """Tear down what an interrupted check left set up, now, instead of after the gate decided;
    the error it raised, in one line, or None.

    pytest does it in its own ``pytest_sessionfinish`` (``_pytest.runner``), which runs after
    the gate's; until then the interrupted check's cleanup has not run and cannot be confirmed.
    ``session._setupstate`` is private pytest API (pytest 7 to 9.2), used only here; when it is
    missing nothing happens and the gate reports the cleanup as unconfirmed. pytest's own call
    then finds nothing left to tear down. An error is returned, not raised: raised from a
    ``pytest_sessionfinish`` it would end the run with a traceback and no report.
    """
    import pytest

    setupstate = getattr(session, "_setupstate", None)
    teardown_exact = getattr(setupstate, "teardown_exact", None)
    if not callable(teardown_exact):
        return None
    try:
        teardown_exact(None)
    except (Exception, pytest.fail.Exception, pytest.skip.Exception) as exc:
        lines = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]
    return None


WORKERS_DIR = "workers"  # in the run directory: one file per xdist worker, holding its pid


def announce_worker(run_dir: Path, worker_id: str) -> None:
    """A worker says where the controller's cancel can reach it."""
    directory = run_dir / WORKERS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    (directory / worker_id).write_text(str(os.getpid()), encoding="ascii")


def forget_worker(run_dir: Path, worker_id: str) -> None:
    (run_dir / WORKERS_DIR / worker_id).unlink(missing_ok=True)


def cancel_workers(run_dir: Path) -> int:
    """Send the plugin's cancel to every worker still announced; how many were reached."""
    reached = 0
    for path in (run_dir / WORKERS_DIR).glob("*"):
        try:
            pid = int(path.read_text(encoding="ascii"))
            if pid > 1 and pid != os.getpid():
                os.kill(pid, CANCEL_SIGNAL)
                reached += 1
        except (OSError, ValueError):
            continue  # gone already
    return reached


class Interrupts:
    """The pytest side of the above, in every process of a gate run: the handler installed for
    the session (each worker announced to the controller's cancel), and on an xdist worker an
    interrupted check's cleanup run before the worker reports back."""

    def __init__(self, signals: TermSignalHandler, run_dir: Path | None) -> None:
        self.signals = signals
        self.run_dir = run_dir

    def pytest_sessionstart(self, session: Any) -> None:
        self.signals.install()
        workerinput = getattr(session.config, "workerinput", None)
        if workerinput is not None and self.run_dir is not None:
            # Where the controller's cancel can reach this worker.
            announce_worker(self.run_dir, str(workerinput.get("workerid", "gw?")))

    def pytest_unconfigure(self) -> None:
        self.signals.uninstall()

    @pytest.hookimpl(tryfirst=True)  # before the other plugins finish the session
    def pytest_sessionfinish(self, session: Any) -> None:
        if getattr(session.config, "workeroutput", None) is not None:
            # An interrupted check's cleanup runs here, its failure caught: the cleanup
            # journal tells the controller what it left (pytest's own teardown would raise).
            finish_teardown(session)
