"""Undo actions a killed run left pending in the ``--prodsmoke-state-dir``, replayed by the next
run that uses that directory (a gate run, or the next cycle of ``prodsmoke monitor``) before its
first check, and reported: so fake orders do not stay in production for ever when a run is
killed (timeout, OOM, SIGKILL) between creating them and cleaning up.

``UndoReplay`` is the plugin of the process that replays: the only one, or xdist worker gw0
(after collection, so the undo functions of test modules can be imported). What it did goes to
the run directory (``replayed.json``), which the gate's owner reads when it decides.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_prodsmoke.safety.cleanup import REFERENCE, resolve
from pytest_prodsmoke.safety.ownership import owner_is_gone
from pytest_prodsmoke.state import JOURNAL_DIR, ProcessState

RESULTS_FILE = "replayed.json"  # in the run directory
CLAIMED_DIR = "claimed"  # in the journal directory: entries being replayed (by their replayer)

# What a replay says of one undo action.
UNDONE, FAILED, UNKNOWN = "undone", "failed", "unknown"


def pending_entries(directory: Path, this_run: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Journal entries of earlier runs whose process is gone (a running one is never
    touched: it may still clean up itself)."""
    for path in sorted(directory.glob("*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            entry = {"check": "", "state": "pending", "actions": [path.name], "calls": [None]}
        if not isinstance(entry, dict) or entry.get("run_id") == this_run:
            continue
        if owner_is_gone(directory, str(entry.get("process", "")), int(entry.get("pid") or 0)):
            yield path, entry


def replay_entry(entry: dict[str, Any], call_undo: Callable[[dict[str, Any]], None]
                 ) -> list[dict[str, Any]]:
    """Replay one entry's undo actions, newest first, each whatever the others did."""
    base = {"check": str(entry.get("check", "")), "run_id": str(entry.get("run_id", ""))}
    results = []
    actions = [str(a) for a in entry.get("actions") or ()]
    calls = list(entry.get("calls") or ())
    calls += [None] * (len(actions) - len(calls))
    for description, call in reversed(list(zip(actions, calls, strict=False))):
        if not isinstance(call, dict):
            results.append({**base, "description": description, "outcome": UNKNOWN,
                            "error": "could not be replayed: its undo is not an importable "
                                     "function with arguments JSON can hold"})
            continue
        try:
            call_undo(call)
        except Exception as exc:
            results.append({**base, "description": description, "outcome": FAILED,
                            "error": f"{type(exc).__name__}: {exc}"[:300]})
        else:
            results.append({**base, "description": description, "outcome": UNDONE,
                            "error": ""})
    for description, error in entry.get("leftovers") or ():
        # Failed undos that run itself recorded (its report may be lost): named once more.
        results.append({**base, "description": str(description), "outcome": FAILED,
                        "error": f"its own undo failed: {error}"})
    return results


def replay(directory: Path, this_run: str, call_undo: Callable[[dict[str, Any]], None]
           ) -> list[dict[str, Any]]:
    """Claim and replay every entry of a gone process; each claimed entry is removed after."""
    results: list[dict[str, Any]] = []
    claimed_dir = directory / CLAIMED_DIR
    for path, entry in list(pending_entries(directory, this_run)):
        claimed_dir.mkdir(exist_ok=True)
        claimed = claimed_dir / f"{os.getpid()}-{path.name}"
        try:
            os.rename(path, claimed)  # atomic: of two replayers, one gets it
        except FileNotFoundError:
            continue
        results += replay_entry(entry, call_undo)
        claimed.unlink(missing_ok=True)
    return results


class UndoReplay:
    """Replays what earlier runs left in the state directory, before this run's first check."""

    def __init__(self, state: ProcessState, config: pytest.Config) -> None:
        self.state = state
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        state = self.state
        if state.settings.state_dir is None or state.run_dir is None or \
                state.not_ready is not None or self.config.getoption("collectonly", False):
            return
        try:
            results = replay(state.settings.state_dir / JOURNAL_DIR, state.run_id, self._call)
        except Exception as exc:  # our bug, or an unreadable directory: never a quiet pass
            results = [{"check": "", "run_id": "", "description": "the undo journal of "
                        f"{state.settings.state_dir}", "outcome": UNKNOWN,
                        "error": f"the replay failed: {type(exc).__name__}: {exc}"[:300]}]
        if results:
            from pytest_prodsmoke.outputs.report import write_text_atomic

            write_text_atomic(state.run_dir / RESULTS_FILE, json.dumps(results))

    def _call(self, call: dict[str, Any]) -> None:
        """One journalled undo call, with the plugin's objects of this run in place of the
        references (the candidate's client, a fake user), allowed to mutate."""
        clients = []

        def decode(value: Any) -> Any:
            if isinstance(value, list):
                return [decode(v) for v in value]
            if isinstance(value, dict) and REFERENCE in value:
                found = self._object(value[REFERENCE])
                if hasattr(found, "mutations_allowed"):
                    clients.append(found)
                return found
            if isinstance(value, dict):
                return {k: decode(v) for k, v in value.items()}
            return value

        function = resolve(str(call["callable"]))
        args = [decode(a) for a in call.get("args", ())]
        kwargs = {str(k): decode(v) for k, v in (call.get("kwargs") or {}).items()}
        with contextlib.ExitStack() as stack:
            for client in clients:
                stack.enter_context(client.mutations_allowed(
                    "replaying an undo action an earlier run left"))
            function(*args, **kwargs)

    def _object(self, reference: dict[str, Any]) -> Any:
        state = self.state
        kind = reference.get("kind")
        if kind == "client":
            target = reference.get("target")
            if target == "candidate":
                label = reference.get("label")
                if label is not None and label not in state.urls:
                    raise LookupError(f"target {label!r} is not configured in this run")
                return state.candidate(label)
            if target in ("baseline", "baseline2"):
                return state.baseline("replaying an undo action", second=target == "baseline2")
            raise LookupError(f"unknown client {target!r}")
        if kind in ("fake_user", "fake_user_auth"):
            from pytest_prodsmoke.safety.users import LeasedUser, login_once

            username = reference.get("username")
            user = next((u for u in state.users if u.username == username), None)
            if user is None:
                raise LookupError(f"fake user {username!r} is not configured in this run")
            leased = LeasedUser(user, state.login_tokens.get(user.username))
            if user.username not in state.login_tokens:
                leased.session_token = login_once(self.config, leased, state.candidate(),
                                                  state.login_tokens, state.credentials)
            return leased.auth if kind == "fake_user_auth" else leased
        raise LookupError(f"unknown reference {kind!r}")


def encode_object(state: ProcessState) -> Callable[[Any], dict[str, Any] | None]:
    """How a journalled call writes the plugin's objects: as references to this run's."""
    from pytest_prodsmoke.http.client import ProdClient
    from pytest_prodsmoke.safety.users import FakeUserAuth, LeasedUser

    def encode(value: Any) -> dict[str, Any] | None:
        if isinstance(value, ProdClient):
            label = next((name for name, client in state.candidates.items()
                          if client is value), None)
            return {"kind": "client", "target": value.target, "label": label}
        if isinstance(value, LeasedUser):
            return {"kind": "fake_user", "username": value.username}
        if isinstance(value, FakeUserAuth):
            return {"kind": "fake_user_auth", "username": value.user.username}
        return None

    return encode


def read_results(run_dir: Path | None) -> tuple[dict[str, Any], ...]:
    """What this run replayed (for the gate); an unreadable file is itself a failure."""
    if run_dir is None:
        return ()
    path = run_dir / RESULTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as exc:
        return ({"check": "", "run_id": "", "description": "the replayed undo actions",
                 "outcome": UNKNOWN, "error": f"their record is unreadable: {exc}"},)
    return tuple(d for d in data if isinstance(d, dict)) if isinstance(data, list) else ()
