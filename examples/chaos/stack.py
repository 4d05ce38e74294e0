"""The example shop, made resilient, for the chaos experiments: a payment service, two shop
instances that call it (with a timeout and a circuit breaker, or without: ``breaker=False``),
and Debian's HAProxy in front of them with health checks and its runtime API.

    with running_stack() as stack:      # stack.url is HAProxy's; stack.env for the suite
        ...

Used by ``make demo``, the tests and ``python -m examples.chaos.stack`` (prints the URLs and
waits, for trying the experiments by hand).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from examples.shop.launch import SERVER, RunningShop, start_shop  # noqa: E402

# The experiments' fake user, known to every instance (a shared identity provider's token).
DEMO_USER, DEMO_TOKEN = "smoke-chaos", "chaos-demo-token-7f2c"
FAKE_USERS = json.dumps([{"username": DEMO_USER, "token": DEMO_TOKEN}])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def haproxy_config(port: int, socket_path: Path, servers: list[str]) -> str:
    """HAProxy in front of ``servers`` (host:port), health-checked every 200 ms, retrying a
    request an instance dropped on another one, with its runtime API (level admin)."""
    lines = [f"    server s{i} {address} check inter 200ms fall 2 rise 1"
             for i, address in enumerate(servers, start=1)]
    return "\n".join([
        "global", f"    stats socket {socket_path} mode 600 level admin",
        "defaults", "    mode http", "    timeout connect 1s", "    timeout client 10s",
        "    timeout server 10s", "    retries 3", "    option redispatch",
        # An instance killed mid-request: the request goes to another (idempotent ones).
        "    retry-on all-retryable-errors",
        "frontend shop", f"    bind 127.0.0.1:{port}", "    default_backend shops",
        # One client sticks to one instance (its orders live there); another takes over when
        # that one is down.
        "backend shops", "    balance source", "    option httpchk GET /healthz",
        *lines, ""])


@contextmanager
def running_haproxy(workdir: Path, servers: list[str], timeout_s: float = 30.0
                    ) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """HAProxy until the block ends: (its URL, its runtime API socket, its process)."""
    binary = shutil.which("haproxy")
    if binary is None:
        raise RuntimeError("haproxy is not installed (make demo / make test install Debian's)")
    port = free_port()
    socket_path = workdir / "haproxy.sock"
    config = workdir / "haproxy.cfg"
    config.write_text(haproxy_config(port, socket_path, servers))
    log = (workdir / "haproxy.log").open("wb")
    process = subprocess.Popen([binary, "-f", str(config), "-db"], stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"haproxy exited {process.returncode}: "
                                   f"{(workdir / 'haproxy.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("haproxy did not become ready") from None
                time.sleep(0.1)
        yield url, socket_path, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        log.close()


@dataclass
class Stack:
    url: str  # HAProxy's: what the suite checks
    payments: RunningShop
    instances: list[RunningShop]
    haproxy_socket: Path

    @property
    def env(self) -> dict[str, str]:
        """What the example experiments (examples/chaos/conftest.py) read."""
        first = self.instances[0]
        port = first.url.rsplit(":", 1)[1]
        return {
            "SHOP_PAYMENTS_PID": str(self.payments.process.pid),
            "SHOP_INSTANCE_PID": str(first.process.pid),
            "SHOP_INSTANCE_RESTART": json.dumps(restart_command(port, self.payments.url)),
            "SHOP_HAPROXY_SOCKET": str(self.haproxy_socket),
            "PRODSMOKE_FAKE_USERS": FAKE_USERS,
        }


def restart_command(port: str, payments_url: str) -> list[str]:
    """Start a killed instance again on its port and return, as a service manager's start
    does (the new process leaves its pid in /tmp for whoever stops the stack)."""
    launcher = ("import subprocess, sys; subprocess.Popen([sys.executable, "
                f"{str(SERVER)!r}, '--version', '2.0.0', '--port', '{port}', '--payment-url', "
                f"{payments_url!r}, '--token', '{DEMO_TOKEN}={DEMO_USER}'], "
                "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")
    return [sys.executable, "-c", launcher]


@contextmanager
def running_stack(breaker: bool = True) -> Iterator[Stack]:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        payments = start_shop("payments-1")
        stack.callback(payments.stop)
        extra = ("--payment-url", payments.url, "--token", f"{DEMO_TOKEN}={DEMO_USER}",
                 *(() if breaker else ("--no-breaker",)))
        instances = [start_shop("2.0.0", *extra) for _ in range(2)]
        for instance in instances:
            stack.callback(instance.stop)
        url, socket_path, _ = stack.enter_context(running_haproxy(
            Path(tmp), [i.url.removeprefix("http://") for i in instances]))
        running = Stack(url, payments, instances, socket_path)
        stack.callback(_stop_restarted, [i.url.rsplit(":", 1)[1] for i in instances])
        yield running


def _stop_restarted(ports: list[str]) -> None:
    """Instances a rollback started again run in a session of their own: stop them."""
    import os
    import signal

    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(SERVER).encode() in command and any(p.encode() in command for p in ports):
            with suppress(OSError):
                os.kill(int(pid), signal.SIGTERM)


if __name__ == "__main__":
    with running_stack(breaker="--no-breaker" not in sys.argv) as running:
        print(f"HAProxy: {running.url}")
        for name, value in running.env.items():
            print(f"export {name}='{value}'")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
