"""The real monitoring components the monitor's tests talk to: Debian's Prometheus,
Pushgateway and Alertmanager, each started on a free loopback port with its own temporary
config and data directory, and stopped afterwards. Plus a webhook receiver (a loopback HTTP
server that keeps what it is sent).

``make test`` installs the Debian packages when missing (``make system-tools``); without them
these tests fail under ``PRODSMOKE_REQUIRE_TOOLS`` (as in ``make test``) and skip otherwise.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from examples.chaos.stack import free_port
from tests.support import missing_tool

PROMETHEUS = "prometheus"
PUSHGATEWAY = "prometheus-pushgateway"
ALERTMANAGER = "prometheus-alertmanager"
PROMTOOL = "promtool"


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_tool(f"{name} is not installed (make test installs Debian's package)")
    return path


@dataclass
class Daemon:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_daemon(name: str, argv: list[str], url: str, ready_path: str, workdir: Path,
                 timeout_s: float = 30.0) -> Daemon:
    log = workdir / f"{name}.log"
    process = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, cwd=workdir)
    daemon = Daemon(name, url, process, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited {process.returncode}:\n{daemon.output()}")
        try:
            if requests.get(url + ready_path, timeout=1).ok:
                return daemon
        except requests.RequestException:
            pass
        time.sleep(0.1)
    daemon.stop()
    raise RuntimeError(f"{name} did not become ready in {timeout_s} s:\n{daemon.output()}")


@contextmanager
def running(name: str, flags: list[str], workdir: Path) -> Iterator[Daemon]:
    """``name`` with ``flags`` and ``--web.listen-address`` on a free loopback port, until the
    block ends (all three report ready on ``/-/ready``)."""
    port = free_port()
    daemon = start_daemon(name, [binary(name), *flags, f"--web.listen-address=127.0.0.1:{port}"],
                          f"http://127.0.0.1:{port}", "/-/ready", workdir)
    try:
        yield daemon
    finally:
        daemon.stop()


def pushgateway(workdir: Path) -> contextlib.AbstractContextManager[Daemon]:
    return running(PUSHGATEWAY, ["--persistence.interval=1h"], workdir)


def alertmanager(workdir: Path) -> contextlib.AbstractContextManager[Daemon]:
    config = workdir / "alertmanager.yml"
    # A receiver without integrations: Alertmanager keeps the alerts; the test reads them.
    config.write_text("route:\n  receiver: keep\n  group_wait: 1s\nreceivers:\n  - name: keep\n")
    storage = workdir / "alertmanager-data"
    storage.mkdir()
    return running(ALERTMANAGER, [f"--config.file={config}", f"--storage.path={storage}",
                                  "--cluster.listen-address="], workdir)


def prometheus(workdir: Path, scrape_target: str) -> contextlib.AbstractContextManager[Daemon]:
    """Prometheus scraping ``scrape_target`` (host:port) every second."""
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: prodsmoke-monitor\n"
        f"    static_configs:\n      - targets: ['{scrape_target}']\n")
    storage = workdir / "prometheus-data"
    storage.mkdir()
    return running(PROMETHEUS, [f"--config.file={config}", f"--storage.tsdb.path={storage}"],
                   workdir)


def query(prometheus_url: str, expression: str) -> list[dict[str, Any]]:
    answer = requests.get(prometheus_url + "/api/v1/query", params={"query": expression},
                          timeout=5).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


@dataclass
class WebhookReceiver:
    """A loopback HTTP server that keeps every JSON body POSTed to it; ``fail_next`` answers
    that many requests with a 503 first."""

    url: str = ""
    received: list[Any] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                failing = receiver.fail_next > 0
                if failing:
                    receiver.fail_next -= 1
                else:
                    receiver.received.append(json.loads(body))
            self.send_response(503 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


HAPROXY = "haproxy"


@contextmanager
def haproxy(workdir: Path, servers: list[str]) -> Iterator[tuple[Daemon, Path]]:
    """HAProxy in front of ``servers`` (host:port each), as the chaos examples run it
    (examples/chaos/stack.py). Yields it as a daemon and its runtime API socket's path."""
    from examples.chaos.stack import running_haproxy

    binary(HAPROXY)  # fail (or skip) in one line when it is not installed
    with running_haproxy(workdir, servers) as (url, socket_path, process):
        yield Daemon(HAPROXY, url, process, workdir / "haproxy.log"), socket_path


def haproxy_status(socket_path: Path, backend: str, server: str) -> str:
    """A server's status in ``show stat`` (UP, DOWN, MAINT, DRAIN, ...), without the
    transition HAProxy appends while its health checks count ("UP 1/2": up, going down)."""
    from pytest_prodsmoke.chaos import HaproxyServerState

    table = HaproxyServerState(str(socket_path), backend, server).command("show stat")
    header = table.splitlines()[0].lstrip("# ").split(",")
    for line in table.splitlines()[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == backend and row.get("svname") == server:
            return row["status"].split()[0]
    raise LookupError(f"{backend}/{server} not in show stat")


# -- an OTLP/HTTP receiver (the traces' tests): oteltest's HttpSink, which nobody here wrote


@dataclass
class ReceivedSpan:
    """One span as the receiver decoded it from the OTLP protobuf."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: str  # "SPAN_KIND_INTERNAL", "SPAN_KIND_CLIENT", ...
    attributes: dict[str, Any]
    status: str  # "STATUS_CODE_OK", "STATUS_CODE_ERROR", "STATUS_CODE_UNSET"
    status_message: str
    links: list[tuple[str, str]]  # (trace id, span id)
    resource: dict[str, Any]
    start_ns: int
    end_ns: int


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


class OtlpReceiver:
    """Every span POSTed to it, and the headers of every export request."""

    def __init__(self, port: int) -> None:
        import logging

        from oteltest.sink import HttpSink

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.spans: list[ReceivedSpan] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.sink = HttpSink(self, logging.getLogger("otlp-receiver"), port=port, daemon=True)

    # oteltest's RequestHandler interface
    def handle_trace(self, request: Any, headers: dict[str, str]) -> None:
        from opentelemetry.proto.trace.v1.trace_pb2 import Span

        found = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(ReceivedSpan(
                        name=span.name, trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        kind=Span.SpanKind.Name(span.kind), attributes=_attributes(span.attributes),
                        status=type(span.status).StatusCode.Name(span.status.code),
                        status_message=span.status.message,
                        links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        resource=resource, start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano))
        with self.lock:
            self.spans.extend(found)
            self.headers.append({k.lower(): v for k, v in headers.items()})

    def handle_metrics(self, request: Any, headers: Any) -> None:
        pass

    def handle_logs(self, request: Any, headers: Any) -> None:
        pass

    def received(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)

    def stop(self) -> None:
        self.sink.stop()


@contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver(free_port())
    receiver.sink.start()
    deadline = time.monotonic() + 10
    while True:  # listening once it answers
        try:
            requests.post(f"{receiver.url}/v1/metrics", data=b"", timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    try:
        yield receiver
    finally:
        receiver.stop()


@contextmanager
def silent_collector() -> Iterator[str]:
    """A collector that accepts connections and never answers: the export hangs until its
    timeout (the flush at exit must not wait for it)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        server.close()
