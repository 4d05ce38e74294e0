"""The chaos ledger: every fault on disk **before** it is injected, removed once it is rolled
back. What a dead process left there is rolled back by its watchdog when the fault's time to
live ends, by the next ``--chaos`` run, or by ``prodsmoke chaos recover``, and reported.

The ledger is ``<--prodsmoke-state-dir>/chaos``, else one directory per host and OS user. An
entry is claimed by an atomic rename before anyone rolls it back, so the watchdog and a
recovering run never roll one fault back twice at the same time; an entry whose process still
runs is never touched by a recovering run (safety/ownership.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_prodsmoke.methods.chaos.faults import Fault, from_spec
from pytest_prodsmoke.safety.ownership import hold_owner_lock, host_directory, owner_is_gone

PROCESS = "chaos"  # the owner-lock name of the processes that inject
CLAIMED = "claimed"
LOCK_FILE = "experiment.lock"  # one experiment at a time on the host
WATCHDOG_DONE = ".rolled-back"  # an entry a watchdog rolled back, for the next run to report
HALT_FILE = "HALT"  # ``prodsmoke chaos halt``: while it exists, no experiment on the host runs


def host_chaos_directory(temp_fallback: Path) -> Path:
    """The host's chaos directory (whatever state directory a run has): the one-at-a-time
    lock and the HALT file live there, so runs with different state directories still see
    each other's experiments and every halt."""
    return ledger_directory(None, temp_fallback)


def ledger_directory(state_dir: Path | None, temp_fallback: Path) -> Path:
    directory = host_directory(state_dir, "chaos")
    if directory is None:  # the host's directory is not ours: keep it next to the run
        directory = temp_fallback / "chaos"
        directory.mkdir(parents=True, exist_ok=True)
    return directory


class Entry:
    """One fault in the ledger."""

    def __init__(self, directory: Path, fault: Fault, check: str, run_id: str,
                 ttl_s: float) -> None:
        self.directory = directory
        self.path = directory / f"{os.getpid()}-{time.time_ns()}.json"
        self.data = {"check": check, "run_id": run_id, "pid": os.getpid(),
                     "fault": fault.description, "manual": fault.manual, "spec": fault.spec(),
                     "expires_at": time.time() + ttl_s, "state": "injecting"}

    def write(self) -> None:
        hold_owner_lock(self.directory, PROCESS)
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def one_at_a_time(directory: Path, wait_s: float) -> Iterator[None]:
    """Hold the host's experiment lock: no two experiments overlap, in any process."""
    fd = os.open(directory / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"another chaos experiment ran on this host for more "
                                       f"than {wait_s:g} s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def entries(directory: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            data = {"check": "", "fault": path.name, "spec": None, "pid": 0,
                    "manual": "read the file by hand"}
        if isinstance(data, dict):
            yield path, data


def claim(path: Path) -> Path | None:
    """Take an entry for rolling it back (None: someone else took it first)."""
    claimed_dir = path.parent / CLAIMED
    claimed_dir.mkdir(exist_ok=True)
    claimed = claimed_dir / f"{os.getpid()}-{path.name}"
    try:
        os.rename(path, claimed)
    except FileNotFoundError:
        return None
    return claimed


def roll_back(data: dict[str, Any]) -> str:
    """Roll an entry's fault back from its spec: "" when done, else why not (one line)."""
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return ("its fault cannot be rolled back without the process that injected it; "
                f"{data.get('manual') or 'undo it by hand'}")
    try:
        from_spec(spec).rollback()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return ""


def recover(directory: Path, only_gone: bool = True) -> list[dict[str, Any]]:
    """Roll back every fault a gone process left (``only_gone=False``: every fault, for a
    human who knows nothing runs). Each result: check, run_id, fault, outcome ("rolled_back"
    or "rollback_failed"), error, manual. A fault whose rollback failed stays in the ledger."""
    results = []
    for path, data in list(entries(directory)):
        if only_gone and not owner_is_gone(directory, PROCESS, int(data.get("pid") or 0)):
            continue
        claimed = claim(path)
        if claimed is None:
            continue
        problem = roll_back(data)
        if problem:
            os.replace(claimed, path)  # still in production: keep it for the next attempt
        else:
            claimed.unlink(missing_ok=True)
        results.append({"check": data.get("check", ""), "run_id": data.get("run_id", ""),
                        "fault": data.get("fault", ""),
                        "outcome": "rollback_failed" if problem else "rolled_back",
                        "error": problem, "manual": data.get("manual", "")})
    for path in sorted(directory.glob(f"*{WATCHDOG_DONE}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        path.unlink(missing_ok=True)
        results.append({"check": data.get("check", ""), "run_id": data.get("run_id", ""),
                        "fault": data.get("fault", path.name),
                        "outcome": "rolled_back_by_watchdog", "error": "",
                        "manual": data.get("manual", "")})
    return results
