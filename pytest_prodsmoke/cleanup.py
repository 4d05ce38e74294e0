"""Undo actions for fake data a check creates in production (the ``cleanup`` fixture).

Actions run last-in first-out after the check, whatever its outcome. Every action runs even if
an earlier one failed; each failure becomes a ``Leftover`` naming what was left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Leftover:
    description: str
    error: str


@dataclass(frozen=True)
class UndoAction:
    description: str
    action: Callable[[], object]


class Cleanup:
    """Register undo actions: ``cleanup.add(prod.delete, f"/orders/{id}")`` or as a decorator.

    ``description`` names what the action removes; it appears in the gate report if the
    action fails, so make it specific (e.g. ``"order 123 of smoke-alice"``).
    """

    def __init__(self) -> None:
        self._actions: list[UndoAction] = []
        self.leftovers: list[Leftover] = []  # filled by run(), also when it is interrupted

    def add(self, action: Callable[..., object], *args: Any, description: str | None = None,
            **kwargs: Any) -> Callable[..., object]:
        if not callable(action):
            raise TypeError(f"cleanup.add() needs a callable, got {type(action).__name__}")
        name = getattr(action, "__qualname__", None) or repr(action)
        text = description or " ".join([name, *map(str, args)])
        self._actions.append(UndoAction(text, lambda: action(*args, **kwargs)))
        return action

    __call__ = add  # @cleanup as a decorator

    def record_leftover(self, description: str, error: str) -> None:
        """Name fake data that no undo action can remove (e.g. a request that never answered,
        so nothing says what to delete): it is reported like a failed undo."""
        self.leftovers.append(Leftover(description, error))

    def __len__(self) -> int:
        return len(self._actions)

    def run(self) -> list[Leftover]:
        """Run every action, newest first; return what could not be undone."""
        leftovers = self.leftovers
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
        return leftovers
