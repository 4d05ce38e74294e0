"""A request-rate budget shared by every process of a run (xdist workers included).

The processes share one small file holding the time of the next free slot. Taking a slot locks
the file (``flock``), reads that time, books the slot after it, and sleeps until its own slot
comes. No daemon, no network: it works wherever the workers share a file system, which xdist's
local workers always do.
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
from pathlib import Path

_SLOT = struct.Struct("<d")


class SharedRateLimiter:
    def __init__(self, path: Path, max_per_second: float) -> None:
        self.path = path
        self.interval_s = 1.0 / max_per_second

    def wait(self) -> float:
        """Block until this process may send one request; returns the seconds waited."""
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = os.pread(fd, _SLOT.size, 0)
            now = time.time()
            booked = _SLOT.unpack(data)[0] if len(data) == _SLOT.size else 0.0
            slot = max(now, booked)
            os.pwrite(fd, _SLOT.pack(slot + self.interval_s), 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        delay = slot - now
        if delay > 0:
            time.sleep(delay)
        return max(delay, 0.0)
