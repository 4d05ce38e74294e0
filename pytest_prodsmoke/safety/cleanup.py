"""Undo actions for fake data a check creates in production (the ``cleanup`` fixture).

Actions run last-in first-out after the check, whatever its outcome. Every action runs even if
an earlier one failed; each failure becomes a ``Leftover`` naming what was left behind.

While a check has undo actions that have not run yet, a small journal file says so
(``CleanupJournal``), in the run directory, or with ``--prodsmoke-state-dir`` in that
directory, which outlives the run. When the process running the check is killed, or the run is
cancelled and the cleanup never finishes, the file stays and the gate's owner reports the
actions as leftovers whose fate is unknown — never as "no leftovers".

An undo action registered as an importable callable (a module-level function) with arguments
that JSON can hold — and the plugin's own objects, which are written as references: a
production client (``prod``, ``baseline``) and a fake user or its ``auth`` — is journalled with
that call. The next run that uses the same state directory replays it before its checks
(safety/replay.py). A journal entry is replayed only once its process is gone: each process
holds an ``flock`` on its own lock file in the journal directory while it runs.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_prodsmoke.safety.ownership import hold_owner_lock
from pytest_prodsmoke.state import JOURNAL_DIR


@dataclass(frozen=True)
class Leftover:
    description: str
    error: str


@dataclass(frozen=True)
class UndoAction:
    description: str
    action: Callable[[], object]
    call: dict[str, Any] | None = None  # its journal form (None: cannot be replayed)


class CleanupJournal:
    """One check's journal entry: written while undo actions are pending, removed once they
    all ran (kept, marked done, when some failed, in case the report that says so is lost).

    ``base_dir`` holds the journal folder: the run directory, or the state directory."""

    _counter = 0
    _lock = threading.Lock()

    def __init__(self, base_dir: Path, check_id: str, process: str, run_id: str = "") -> None:
        with CleanupJournal._lock:
            CleanupJournal._counter += 1
            number = CleanupJournal._counter
        self.directory = base_dir / JOURNAL_DIR
        self.path = self.directory / f"{process}-{os.getpid()}-{number}.json"
        self.check_id = check_id
        self.process = process
        self.run_id = run_id

    def write(self, state: str, actions: list[str], leftovers: list[Leftover],
              calls: list[dict[str, Any] | None] | None = None) -> None:
        entry = {"check": self.check_id, "process": self.process, "pid": os.getpid(),
                 "run_id": self.run_id, "state": state, "actions": actions,
                 "calls": calls if calls is not None else [None] * len(actions),
                 "leftovers": [[left.description, left.error] for left in leftovers]}
        self.directory.mkdir(parents=True, exist_ok=True)
        hold_owner_lock(self.directory, self.process)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(entry), encoding="utf-8")
        os.replace(temporary, self.path)  # readers see the old entry or the new one

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def read_journal(base_dir: Path, run_id: str | None = None) -> Iterator[dict[str, Any]]:
    """The entries left in a journal (pending or done with leftovers); with ``run_id``, only
    that run's (a state directory also holds other runs')."""
    for path in sorted((base_dir / JOURNAL_DIR).glob("*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entry = {"check": "", "state": "pending", "actions": [path.name], "leftovers": []}
        if isinstance(entry, dict) and (run_id is None or entry.get("run_id", run_id) == run_id):
            yield entry


def forget_reported(base_dir: Path, run_id: str) -> None:
    """Remove a run's finished entries (their failed undos are in its report) from a journal
    that outlives the run; its pending ones stay, for the next run to replay."""
    for path in (base_dir / JOURNAL_DIR).glob("*.json"):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict) and entry.get("run_id") == run_id and \
                entry.get("state") == "done":
            path.unlink(missing_ok=True)


# -------------------------------------------------------------- the call of an undo action

REFERENCE = "$prodsmoke"  # marks a plugin object written as a reference in a journalled call


class NotJournallable(Exception):
    pass


def call_spec(action: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any],
              encode_object: Callable[[Any], dict[str, Any] | None]) -> dict[str, Any] | None:
    """The journal's form of ``action(*args, **kwargs)``, or None when it cannot be replayed
    by another process: not an importable module-level function, or an argument that is
    neither JSON nor one of the plugin's objects (``encode_object`` writes those)."""
    module = getattr(action, "__module__", None)
    qualname = getattr(action, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname \
            or module == "__main__":
        return None
    try:
        if resolve(f"{module}:{qualname}") is not action:
            return None
    except Exception:
        return None

    def encode(value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise NotJournallable
            return value
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value) and \
                REFERENCE not in value:
            return {k: encode(v) for k, v in value.items()}
        reference = encode_object(value)
        if reference is None:
            raise NotJournallable
        return {REFERENCE: reference}

    try:
        return {"callable": f"{module}:{qualname}", "args": [encode(a) for a in args],
                "kwargs": {k: encode(v) for k, v in kwargs.items()}}
    except NotJournallable:
        return None


def resolve(name: str) -> Callable[..., object]:
    """``module:qualname`` -> the function (ImportError/AttributeError when it is gone)."""
    import importlib

    module_name, _, qualname = name.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not callable(found):
        raise TypeError(f"{name} is not callable")
    return found  # type: ignore[no-any-return]


class Cleanup:
    """Register undo actions: ``cleanup.add(prod.delete, f"/orders/{id}")`` or as a decorator.

    ``description`` names what the action removes; it appears in the gate report if the
    action fails, so make it specific (e.g. ``"order 123 of smoke-alice"``).
    """

    def __init__(self, journal: CleanupJournal | None = None,
                 encode_object: Callable[[Any], dict[str, Any] | None] | None = None,
                 is_secret: Callable[[str], bool] = lambda text: False) -> None:
        self._actions: list[UndoAction] = []
        self.leftovers: list[Leftover] = []  # filled by run(), also when it is interrupted
        self.journal = journal
        # Calls are journalled for replay only when the journal outlives the run.
        self.encode_object = encode_object
        self.is_secret = is_secret  # a call holding a secret is never written to disk

    def _journal(self) -> None:
        if self.journal is not None:
            self.journal.write("pending", [a.description for a in self._actions],
                               self.leftovers, [a.call for a in self._actions])

    def _call(self, action: Callable[..., object], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> dict[str, Any] | None:
        if self.encode_object is None:
            return None
        call = call_spec(action, args, kwargs, self.encode_object)
        if call is not None and self.is_secret(json.dumps(call)):
            return None
        return call

    def add(self, action: Callable[..., object], *args: Any, description: str | None = None,
            **kwargs: Any) -> Callable[..., object]:
        if not callable(action):
            raise TypeError(f"cleanup.add() needs a callable, got {type(action).__name__}")
        name = getattr(action, "__qualname__", None) or repr(action)
        text = description or " ".join([name, *map(str, args)])
        self._actions.append(UndoAction(text, lambda: action(*args, **kwargs),
                                        self._call(action, args, kwargs)))
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
