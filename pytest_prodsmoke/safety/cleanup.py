"""Undo actions for fake data a check creates in production (the ``cleanup`` fixture).

Actions run last-in first-out after the check, whatever its outcome. Every action runs even if
an earlier one failed; each failure becomes a ``Leftover`` naming what was left behind.

While a check has undo actions that have not run yet, a small journal file in the run directory
says so (``CleanupJournal``). When the process running the check is killed, or the run is
cancelled and the cleanup never finishes, the file stays and the gate's owner reports the
actions as leftovers whose fate is unknown — never as "no leftovers".
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_prodsmoke.state import JOURNAL_DIR


@dataclass(frozen=True)
class Leftover:
    description: str
    error: str


@dataclass(frozen=True)
class UndoAction:
    description: str
    action: Callable[[], object]


class CleanupJournal:
    """One check's journal entry: written while undo actions are pending, removed once they
    all ran (kept, marked done, when some failed, in case the report that says so is lost)."""

    _counter = 0
    _lock = threading.Lock()

    def __init__(self, run_dir: Path, check_id: str, process: str) -> None:
        with CleanupJournal._lock:
            CleanupJournal._counter += 1
            number = CleanupJournal._counter
        self.path = run_dir / JOURNAL_DIR / f"{process}-{os.getpid()}-{number}.json"
        self.check_id = check_id
        self.process = process

    def write(self, state: str, actions: list[str], leftovers: list[Leftover]) -> None:
        entry = {"check": self.check_id, "process": self.process, "state": state,
                 "actions": actions,
                 "leftovers": [[left.description, left.error] for left in leftovers]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(entry), encoding="utf-8")
        os.replace(temporary, self.path)  # readers see the old entry or the new one

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def read_journal(run_dir: Path) -> Iterator[dict[str, Any]]:
    """The entries left in a run's journal (pending or done with leftovers)."""
    for path in sorted((run_dir / JOURNAL_DIR).glob("*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entry = {"check": "", "state": "pending", "actions": [path.name], "leftovers": []}
        if isinstance(entry, dict):
            yield entry


class Cleanup:
    """Register undo actions: ``cleanup.add(prod.delete, f"/orders/{id}")`` or as a decorator.

    ``description`` names what the action removes; it appears in the gate report if the
    action fails, so make it specific (e.g. ``"order 123 of smoke-alice"``).
    """

    def __init__(self, journal: CleanupJournal | None = None) -> None:
        self._actions: list[UndoAction] = []
        self.leftovers: list[Leftover] = []  # filled by run(), also when it is interrupted
        self.journal = journal

    def _journal(self) -> None:
        if self.journal is not None:
            self.journal.write("pending", [a.description for a in self._actions],
                               self.leftovers)

    def add(self, action: Callable[..., object], *args: Any, description: str | None = None,
            **kwargs: Any) -> Callable[..., object]:
        if not callable(action):
            raise TypeError(f"cleanup.add() needs a callable, got {type(action).__name__}")
        name = getattr(action, "__qualname__", None) or repr(action)
        text = description or " ".join([name, *map(str, args)])
        self._actions.append(UndoAction(text, lambda: action(*args, **kwargs)))
        self._journal()  # before the check goes on: a kill from here on is not silent
        return action

    __call__ = add  # @cleanup as a decorator

    def record_leftover(self, description: str, error: str) -> None:
        """Name fake data that no undo action can remove (e.g. a request that never answered,
        so nothing says what to delete): it is reported like a failed undo."""
        self.leftovers.append(Leftover(description, error))
        self._journal()

    def __len__(self) -> int:
        return len(self._actions)

    def run(self) -> list[Leftover]:
        """Run every action, newest first; return what could not be undone."""
        leftovers = self.leftovers
        try:
            while self._actions:
                undo = self._actions.pop()
                try:
                    undo.action()
                except Exception as exc:
                    leftovers.append(Leftover(undo.description, f"{type(exc).__name__}: {exc}"))
                except BaseException:
                    # Interrupted while undoing (a second Ctrl-C): name everything not undone.
                    leftovers.append(Leftover(undo.description, "interrupted"))
                    leftovers.extend(Leftover(a.description, "not run: interrupted")
                                     for a in reversed(self._actions))
                    self._actions.clear()
                    raise
        finally:
            if self.journal is not None:
                if leftovers:
                    self.journal.write("done", [], leftovers)
                else:
                    self.journal.remove()
        return leftovers
