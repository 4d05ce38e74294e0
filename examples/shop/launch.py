"""Start the example shop as a separate process and wait until it listens.

Used by the demo, the benchmarks and the test suite, so all of them run against a real server.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER = Path(__file__).with_name("server.py")


@dataclass
class RunningShop:
    url: str
    version: str
    process: subprocess.Popen[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def start_shop(version: str, *extra: str, timeout_s: float = 15.0) -> RunningShop:
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--version", version, "--port", "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()),
                              daemon=True)
    reader.start()
    reader.join(timeout_s)
    line = first_line[0] if first_line else ""
    if " listening on " not in line:
        process.kill()
        process.wait()
        raise RuntimeError(f"shop {version} did not start (exit {process.poll()}): {line!r}")
    return RunningShop(url=line.rsplit(" ", 1)[1].strip(), version=version, process=process)


@contextmanager
def running_shop(version: str, *extra: str) -> Iterator[RunningShop]:
    shop = start_shop(version, *extra)
    try:
        yield shop
    finally:
        shop.stop()
