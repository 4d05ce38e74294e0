"""Faults with a real effect, each with its rollback, a timeout on both and a one-line
description. Each also writes itself as plain data (``spec``) and is made again from it
(``from_spec``): the ledger keeps that spec, so a watchdog process or the next run can roll the
fault back without the process that injected it.

- ``PauseProcess``: SIGSTOP, rolled back with SIGCONT (a frozen dependency).
- ``KillProcess``: SIGKILL (or another signal), rolled back by a restart command.
- ``CommandPair``: one command to inject, one to roll back (argv lists, no shell).
- ``HttpCallPair``: one HTTP call to inject, one to roll back (a fault-injection or
  feature-flag endpoint, e.g. Toxiproxy's REST API).
- ``HaproxyServerState``: a backend server to ``maint``/``drain`` and back to ``ready``
  through HAProxy's runtime API.
- ``ChaosToolkitAction``: a Chaos Toolkit action and its rollback, run with chaostoolkit-lib.

Your own: subclass ``Fault`` (``description``, ``inject``, ``rollback``) and return it from a
fixture. For a rollback without your process, let ``spec`` return ``{"kind": "call",
"callable": "package.module:function", "args": [...]}``: the watchdog and the next run call
``function(*args)`` (an importable function, arguments JSON can hold) to roll it back.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_prodsmoke.errors import ProdsmokeError

DEFAULT_TIMEOUT_S = 30.0


class FaultError(ProdsmokeError):
    """A fault could not be injected or rolled back."""


class Fault:
    """The base of every fault. ``description`` names what is done to what (it appears in every
    output: no secrets); ``manual`` tells a human how to undo it by hand."""

    description = "a fault"
    timeout_s = DEFAULT_TIMEOUT_S

    @property
    def target(self) -> str:
        """What the fault acts on, as --chaos-allow names it (default: its description)."""
        return self.description

    def inject(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def spec(self) -> dict[str, Any] | None:
        """Plain data to make the fault again elsewhere (None: only this process can roll it
        back, so a killed run leaves it for a human)."""
        return None

    @property
    def manual(self) -> str:
        return f"undo by hand: {self.description}"


def _argv(value: Sequence[str], what: str) -> list[str]:
    if isinstance(value, str) or not value or not all(isinstance(a, str) for a in value):
        raise FaultError(f"{what} must be a non-empty list of strings (an argv, no shell)")
    return list(value)


def _run(argv: list[str], timeout_s: float, what: str) -> None:
    import tempfile

    # Output to a file, not a pipe: a command that starts a service in the background (a
    # restart) leaves it holding its output, and a pipe would never reach its end.
    with tempfile.TemporaryFile() as output:
        try:
            done = subprocess.run(argv, stdout=output, stderr=subprocess.STDOUT,
                                  timeout=timeout_s, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise FaultError(f"{what} {argv[0]!r} did not finish within {timeout_s:g} s"
                             ) from None
        except OSError as exc:
            raise FaultError(f"{what} {argv[0]!r} could not start: {exc.strerror or exc}"
                             ) from None
        output.seek(0)
        text = output.read().decode(errors="replace")
    if done.returncode != 0:
        tail = text.strip().splitlines()[-1:] or [""]
        raise FaultError(f"{what} {argv[0]!r} exited {done.returncode}: {tail[0][:200]}")


class PauseProcess(Fault):
    """Freeze a process (SIGSTOP); the rollback lets it go on (SIGCONT)."""

    def __init__(self, pid: int, name: str = "", timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.pid = int(pid)
        self.name = name or f"process {pid}"
        self.timeout_s = timeout_s  # a signal takes no time: what the watchdog adds to wait
        self.description = f"pause {self.name} (pid {self.pid}) with SIGSTOP"

    def inject(self) -> None:
        self._signal(signal.SIGSTOP)

    def rollback(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            if signum == signal.SIGCONT:
                return  # gone: nothing is paused any more
            raise FaultError(f"{self.name} (pid {self.pid}) does not run") from None
        except PermissionError:
            raise FaultError(f"no permission to signal {self.name} (pid {self.pid})") from None

    @property
    def target(self) -> str:
        return self.name

    def spec(self) -> dict[str, Any]:
        return {"kind": "pause_process", "pid": self.pid, "name": self.name,
                "timeout_s": self.timeout_s}

    @property
    def manual(self) -> str:
        return f"undo by hand: kill -CONT {self.pid}"


class KillProcess(Fault):
    """Kill a process; the rollback runs a restart command."""

    def __init__(self, pid: int, restart: Sequence[str], name: str = "",
                 signum: int = signal.SIGKILL, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.pid = int(pid)
        self.restart = _argv(restart, "restart")
        self.name = name or f"process {pid}"
        self.signum = int(signum)
        self.timeout_s = timeout_s
        self.description = (f"kill {self.name} (pid {self.pid}) with "
                            f"{signal.Signals(self.signum).name}, restart it with "
                            f"{self.restart[0]}")

    def inject(self) -> None:
        try:
            os.kill(self.pid, self.signum)
        except ProcessLookupError:
            raise FaultError(f"{self.name} (pid {self.pid}) does not run") from None

    def rollback(self) -> None:
        _run(self.restart, self.timeout_s, "restart command")

    @property
    def target(self) -> str:
        return self.name

    def spec(self) -> dict[str, Any]:
        return {"kind": "kill_process", "pid": self.pid, "restart": self.restart,
                "name": self.name, "signum": self.signum, "timeout_s": self.timeout_s}

    @property
    def manual(self) -> str:
        return f"undo by hand: run {' '.join(self.restart)}"


class CommandPair(Fault):
    """Two commands: one injects, one rolls back (argv lists, run without a shell)."""

    def __init__(self, inject: Sequence[str], rollback: Sequence[str], description: str = "",
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.inject_argv = _argv(inject, "inject")
        self.rollback_argv = _argv(rollback, "rollback")
        self.timeout_s = timeout_s
        self.description = description or f"run {self.inject_argv[0]} (rollback: " \
                                          f"{self.rollback_argv[0]})"

    def inject(self) -> None:
        _run(self.inject_argv, self.timeout_s, "inject command")

    def rollback(self) -> None:
        _run(self.rollback_argv, self.timeout_s, "rollback command")

    def spec(self) -> dict[str, Any]:
        return {"kind": "command_pair", "inject": self.inject_argv,
                "rollback": self.rollback_argv, "description": self.description,
                "timeout_s": self.timeout_s}

    @property
    def manual(self) -> str:
        return f"undo by hand: run {' '.join(self.rollback_argv)}"


class HttpCallPair(Fault):
    """Two HTTP calls: one injects (e.g. Toxiproxy's ``POST /proxies/<name>/toxics``), one rolls
    back. Each is ``{"method", "url", "json"?, "headers"?}``; a 2xx answer is success."""

    def __init__(self, inject: Mapping[str, Any], rollback: Mapping[str, Any],
                 description: str = "", timeout_s: float = 10.0) -> None:
        self.inject_call = self._call(inject, "inject")
        self.rollback_call = self._call(rollback, "rollback")
        self.timeout_s = timeout_s
        self.description = description or (
            f"{self.inject_call['method']} {_display(self.inject_call['url'])} (rollback: "
            f"{self.rollback_call['method']} {_display(self.rollback_call['url'])})")

    @staticmethod
    def _call(call: Mapping[str, Any], what: str) -> dict[str, Any]:
        if not isinstance(call, Mapping) or not isinstance(call.get("url"), str) or \
                not str(call.get("url")).startswith(("http://", "https://")):
            raise FaultError(f"{what} must be a mapping with an http(s) 'url'")
        return {"method": str(call.get("method", "POST")).upper(), "url": call["url"],
                **({"json": call["json"]} if "json" in call else {}),
                **({"headers": dict(call["headers"])} if call.get("headers") else {})}

    def _send(self, call: dict[str, Any], what: str) -> None:
        import requests

        try:
            response = requests.request(call["method"], call["url"], json=call.get("json"),
                                        headers=call.get("headers"), timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise FaultError(f"{what} call {call['method']} {_display(call['url'])} got no "
                             f"answer: {type(exc).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise FaultError(f"{what} call {call['method']} {_display(call['url'])} answered "
                             f"{response.status_code}")

    def inject(self) -> None:
        self._send(self.inject_call, "inject")

    def rollback(self) -> None:
        self._send(self.rollback_call, "rollback")

    @property
    def target(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.inject_call["url"]).netloc.rpartition("@")[2]

    def spec(self) -> dict[str, Any]:
        return {"kind": "http_pair", "inject": self.inject_call, "rollback": self.rollback_call,
                "description": self.description, "timeout_s": self.timeout_s}

    @property
    def manual(self) -> str:
        return (f"undo by hand: {self.rollback_call['method']} "
                f"{_display(self.rollback_call['url'])}")


def _display(url: str) -> str:
    from pytest_prodsmoke.safety.redact import display_url

    return display_url(url)


class HaproxyServerState(Fault):
    """Put a server of an HAProxy backend into ``maint`` (or ``drain``) through HAProxy's
    runtime API, back to ``ready`` on rollback. ``socket``: the stats socket's path (``stats
    socket /run/haproxy/admin.sock level admin``) or ``host:port``."""

    def __init__(self, socket: str, backend: str, server: str, state: str = "maint",
                 timeout_s: float = 5.0) -> None:
        if state not in ("maint", "drain"):
            raise FaultError(f"state must be 'maint' or 'drain', not {state!r}")
        for name, value in (("backend", backend), ("server", server)):
            if not value or any(c.isspace() or c in ";/" for c in value):
                raise FaultError(f"{name} {value!r} is not an HAProxy name")
        self.socket = str(socket)
        self.backend, self.server, self.state = backend, server, state
        self.timeout_s = timeout_s
        self.description = (f"set HAProxy server {backend}/{server} to {state} "
                            f"(rollback: ready)")

    def command(self, line: str) -> str:
        """One runtime API command; its answer (empty on success for ``set server``)."""
        import socket as sockets

        if ":" in self.socket and not self.socket.startswith("/"):
            host, _, port = self.socket.rpartition(":")
            connection = sockets.create_connection((host, int(port)), timeout=self.timeout_s)
        else:
            connection = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
            connection.settimeout(self.timeout_s)
            connection.connect(self.socket)
        with connection:
            connection.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace").strip()

    def _set(self, state: str) -> None:
        try:
            answer = self.command(f"set server {self.backend}/{self.server} state {state}")
        except OSError as exc:
            raise FaultError(f"HAProxy's runtime API at {self.socket} did not answer: "
                             f"{exc.strerror or exc}") from None
        if answer:
            raise FaultError(f"HAProxy refused 'set server {self.backend}/{self.server} state "
                             f"{state}': {answer.splitlines()[0][:200]}")

    def inject(self) -> None:
        self._set(self.state)

    def rollback(self) -> None:
        self._set("ready")

    @property
    def target(self) -> str:
        return f"{self.backend}/{self.server}"

    def spec(self) -> dict[str, Any]:
        return {"kind": "haproxy_server_state", "socket": self.socket, "backend": self.backend,
                "server": self.server, "state": self.state, "timeout_s": self.timeout_s}

    @property
    def manual(self) -> str:
        return (f"undo by hand: echo 'set server {self.backend}/{self.server} state ready' | "
                f"socat stdio {self.socket}")


class ChaosToolkitAction(Fault):
    """A Chaos Toolkit action as the fault and another as its rollback (``{"type": "action",
    "name": ..., "provider": {"type": "python" | "process" | "http", ...}}``), run with
    chaostoolkit-lib, so its extensions work as faults. A process action that exits non-zero
    and an HTTP action that answers outside 2xx count as failed."""

    def __init__(self, inject: Mapping[str, Any], rollback: Mapping[str, Any],
                 configuration: Mapping[str, Any] | None = None,
                 secrets: Mapping[str, Any] | None = None, description: str = "",
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        try:
            from chaoslib.activity import ensure_activity_is_valid
            from chaoslib.exceptions import ChaosException
        except ImportError:
            raise FaultError("ChaosToolkitAction needs chaostoolkit-lib: pip install "
                             "chaostoolkit-lib") from None
        self.inject_action, self.rollback_action = dict(inject), dict(rollback)
        for what, action in (("inject", self.inject_action), ("rollback", self.rollback_action)):
            try:
                ensure_activity_is_valid(action)
            except ChaosException as exc:
                raise FaultError(f"{what}: not a valid Chaos Toolkit action: {exc}") from None
        self.configuration = dict(configuration or {})
        self.secrets = dict(secrets or {})
        self.timeout_s = timeout_s
        self.description = description or (
            f"Chaos Toolkit action {self.inject_action.get('name')!r} (rollback: "
            f"{self.rollback_action.get('name')!r})")

    def _run(self, action: dict[str, Any], what: str) -> None:
        from chaoslib.activity import run_activity
        from chaoslib.exceptions import ChaosException

        try:
            output = run_activity(action, self.configuration, self.secrets)
        except ChaosException as exc:
            raise FaultError(f"{what} action {action.get('name')!r} failed: {exc}") from None
        kind = action.get("provider", {}).get("type")
        status = output.get("status") if isinstance(output, dict) else None
        if kind == "process" and status != 0:
            raise FaultError(f"{what} action {action.get('name')!r} exited {status}")
        if kind == "http" and not (isinstance(status, int) and 200 <= status < 300):
            raise FaultError(f"{what} action {action.get('name')!r} answered {status}")

    def inject(self) -> None:
        self._run(self.inject_action, "inject")

    def rollback(self) -> None:
        self._run(self.rollback_action, "rollback")

    def spec(self) -> dict[str, Any]:
        return {"kind": "chaostoolkit", "inject": self.inject_action,
                "rollback": self.rollback_action, "configuration": self.configuration,
                "secrets": self.secrets, "description": self.description,
                "timeout_s": self.timeout_s}


class CallRollback(Fault):
    """A user fault rebuilt from its spec: only its rollback, ``function(*args)``."""

    def __init__(self, callable_name: str, args: Sequence[Any], description: str = "") -> None:
        self.callable_name = str(callable_name)
        self.args = list(args)
        self.description = description or f"a fault rolled back by {self.callable_name}"

    def inject(self) -> None:
        raise FaultError("a fault rebuilt from the ledger can only be rolled back")

    def rollback(self) -> None:
        from pytest_prodsmoke.safety.cleanup import resolve

        resolve(self.callable_name)(*self.args)

    def spec(self) -> dict[str, Any]:
        return {"kind": "call", "callable": self.callable_name, "args": self.args,
                "description": self.description}


KINDS: dict[str, Any] = {
    "call": lambda s: CallRollback(s["callable"], s.get("args", ()), s.get("description", "")),
    "haproxy_server_state": lambda s: HaproxyServerState(
        s["socket"], s["backend"], s["server"], s.get("state", "maint"), s.get("timeout_s", 5.0)),
    "chaostoolkit": lambda s: ChaosToolkitAction(
        s["inject"], s["rollback"], s.get("configuration"), s.get("secrets"),
        s.get("description", ""), s.get("timeout_s", DEFAULT_TIMEOUT_S)),
    "pause_process": lambda s: PauseProcess(s["pid"], s.get("name", ""),
                                            s.get("timeout_s", DEFAULT_TIMEOUT_S)),
    "kill_process": lambda s: KillProcess(s["pid"], s["restart"], s.get("name", ""),
                                          s.get("signum", signal.SIGKILL),
                                          s.get("timeout_s", DEFAULT_TIMEOUT_S)),
    "command_pair": lambda s: CommandPair(s["inject"], s["rollback"], s.get("description", ""),
                                          s.get("timeout_s", DEFAULT_TIMEOUT_S)),
    "http_pair": lambda s: HttpCallPair(s["inject"], s["rollback"], s.get("description", ""),
                                        s.get("timeout_s", 10.0)),
}


def from_spec(spec: Mapping[str, Any]) -> Fault:
    """The fault a spec describes (FaultError when it cannot be made)."""
    try:
        return KINDS[str(spec["kind"])](spec)  # type: ignore[no-any-return]
    except (KeyError, TypeError, ValueError) as exc:
        raise FaultError(f"cannot rebuild the fault from the ledger: {exc!r}") from None
