"""SIGTERM handled like Ctrl-C, so teardown runs and the gate report is written.

CI runners cancel a job with SIGTERM, whose default action kills the process at once: no
teardown, no report. Turning the first SIGTERM into KeyboardInterrupt lets pytest unwind as for
Ctrl-C. A second SIGTERM is obeyed at once (the runner insists). While the gate is finishing
(writing its report), the first SIGTERM is only noted, so the report is never cut in half.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

SIGTERM_MESSAGE = "SIGTERM received"


class TermSignalHandler:
    def __init__(self) -> None:
        self.received = False
        self.finishing = False
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        # signal.signal only works in the main thread (pytest may be embedded elsewhere).
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous or signal.SIG_DFL)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        self.received = True
        if not self.finishing:
            raise KeyboardInterrupt(SIGTERM_MESSAGE)
