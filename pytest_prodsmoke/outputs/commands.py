"""Promote or roll back: the commands run once the gate has decided (``--on-gate-fail`` ...).

A command is split as a POSIX shell would split it (``shlex``) and run without a shell, with
the verdict in its environment, a timeout, and its output captured for the terminal. It runs in
a process group of its own, so a timeout stops the whole command, children included.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pytest_prodsmoke.errors import SettingsError

MAX_OUTPUT_LINES = 40


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None  # None: it did not finish (timeout) or could not start
    output: str
    duration_s: float
    error: str = ""  # why it did not run to a zero exit, in words

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.error


def parse_command(text: str, source: str) -> tuple[str, ...]:
    """Split a command line; a usage error if it is malformed or its program cannot be found."""
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        # The text is not echoed: a command line may carry a token (curl -H "Authorization: …").
        raise SettingsError(f"{source}: cannot split the command into arguments: {exc}") from None
    if not argv:
        raise SettingsError(f"{source}: empty command")
    if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
        # NAME=value before the program works in a shell, not here; and it may be a secret.
        raise SettingsError(f"{source}: the command starts with an environment assignment "
                            "(NAME=..., not shown): commands run without a shell, so set the "
                            "variable in pytest's environment instead")
    if shutil.which(argv[0]) is None:
        # Found out now, not after every check has run and the release depends on it.
        raise SettingsError(f"{source}: program {argv[0]!r} not found (or not executable)")
    return argv


def run_command(argv: tuple[str, ...], env: Mapping[str, str], timeout_s: float,
                cwd: str | None = None) -> CommandResult:
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv), env={**os.environ, **env}, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
    except OSError as exc:
        return CommandResult(argv, None, "", time.monotonic() - started,
                             f"could not start: {exc.strerror or exc}")
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return CommandResult(argv, None, output.decode(errors="replace"),
                             time.monotonic() - started, f"timed out after {timeout_s:g} s")
    text = output.decode(errors="replace")
    duration = time.monotonic() - started
    if process.returncode != 0:
        return CommandResult(argv, process.returncode, text, duration,
                             f"exited with status {process.returncode}")
    return CommandResult(argv, 0, text, duration)


def tail(text: str, lines: int = MAX_OUTPUT_LINES) -> list[str]:
    kept = text.rstrip("\n").splitlines()
    if len(kept) > lines:
        return [f"... ({len(kept) - lines} earlier lines not shown)", *kept[-lines:]]
    return kept
