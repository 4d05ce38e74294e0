"""Which process a file on disk belongs to, and whether that process is gone: for journals
that outlive the run (undo actions, chaos faults), so that a later run or a watchdog acts on
what a dead process left and never on what a live one is still doing.

Each process holds an ``flock`` on its own lock file (named by its pid) in the directory for as
long as it lives; the kernel drops the lock when the process dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
from pathlib import Path

# The lock files this process holds, by directory: held until it ends.
_OWNER_LOCKS: dict[Path, int] = {}


def owner_lock_name(process: str, pid: int) -> str:
    return f"{process}-{pid}.lock"


def hold_owner_lock(directory: Path, process: str) -> None:
    """Mark this process as alive in ``directory`` (idempotent)."""
    if directory in _OWNER_LOCKS:
        return
    fd = os.open(directory / owner_lock_name(process, os.getpid()), os.O_CREAT | os.O_RDWR,
                 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # ours: nobody else holds a file named by our pid
    _OWNER_LOCKS[directory] = fd


def owner_is_gone(directory: Path, process: str, pid: int) -> bool:
    """True when the process that wrote a file in ``directory`` no longer runs (its lock is
    free)."""
    path = directory / owner_lock_name(process, pid)
    if directory in _OWNER_LOCKS and pid == os.getpid():
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return True  # never locked (a file without its lock): nobody holds it
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the test lock again
    return True


def host_directory(state_dir: Path | None, name: str) -> Path | None:
    """A directory shared by every run of this OS user on this host: ``<state_dir>/<name>``,
    else ``<tmp>/pytest-prodsmoke-<uid>/<name>`` (private to the user). None when that base is
    not the user's own (made by someone else first, or a symlink): never lock files there."""
    if state_dir is not None:
        directory = state_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        return directory
    base = Path(tempfile.gettempdir()) / f"pytest-prodsmoke-{os.getuid()}"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        info = base.lstat()
        if info.st_uid != os.getuid() or not stat.S_ISDIR(info.st_mode) or \
                info.st_mode & 0o077:
            return None
        directory = base / name
        directory.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    return directory
