"""A small shop service to run pytest-prodsmoke against: a real HTTP server on loopback.

    python examples/shop/server.py --version 2.0.0 --port 8001
    python examples/shop/server.py --version 2.0.1 --port 0 --fail /catalog --delay /slow=200

It prints one line ``shop <version> listening on http://127.0.0.1:<port>`` when ready (with
``--port 0`` the system picks a free port). Every response carries ``X-App-Version``.

Endpoints: GET /healthz, GET /version, GET /catalog (with noisy fields: generated_at,
request_id), GET /catalog/<sku>, GET /recommendations (an A/B feature: variant assigned by the
X-Variant header or the ab_variant cookie, named in the X-Variant response header and the
"variant" field), POST /login, POST /orders, GET /orders/<id>, DELETE /orders/<id>,
GET /slow?ms=N; for tests: GET /echo
(the request's headers), GET /_counts (requests seen per path), GET /_orders (open orders),
GET /redirect?to=URL (a 302), GET /logo.png (64 bytes of binary that depend on the version),
POST /_faults {"fail": [PATH, ...]} (replace the --fail paths while it runs: break, repair),
POST /pay (as a payment service). With --payment-url every order calls that payment service,
with a timeout (--payment-timeout) and a circuit breaker; --no-breaker calls it without either.
Fault switches: --fail PATH (answer 500 on that path and below), --delay PATH=MS (answer late),
--unavailable PATH=N (answer 503 to the first N requests of PATH), --ready-after SECONDS
(/healthz answers 503 for that long after start, like a deploy still starting),
--token TOKEN=USER (a bearer token valid without login, as from an identity provider that the
released and the new version share),
--old-version V --old-every N (every Nth response says version V: a rollout in progress),
--price-factor F (every price times F: a candidate that changed prices), --ab-broken (always
serves variant A: a broken assignment), --error-rate PATH=FRACTION (answer 500 to that share
of requests, pseudo-randomly with a fixed seed). --trace-log FILE logs the trace context
(traceparent) every request arrived with, one JSON line each.
Standard library only, so it runs anywhere the tests run.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CATALOG = [
    {"sku": "tea-01", "name": "Green tea", "price": 4.5, "currency": "EUR"},
    {"sku": "cof-02", "name": "Coffee beans", "price": 9.9, "currency": "EUR"},
    {"sku": "mug-03", "name": "Mug", "price": 7.0, "currency": "EUR"},
]
FAKE_USER_PREFIX = "smoke-"


class Payments:
    """The call of an order to the payment service: with a timeout and a circuit breaker
    (``--payment-url``, ``--payment-timeout``, ``--no-breaker``). The breaker opens after three
    failed calls in a row and answers "pending" at once for five seconds, then lets one call
    through to see whether the service is back."""

    FAILURES_TO_OPEN = 3
    OPEN_S = 5.0

    def __init__(self, url: str | None, timeout_s: float | None, breaker: bool) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.breaker = breaker
        self.failures = 0
        self.open_until = 0.0
        self.lock = threading.Lock()

    def charge(self, order_id: str) -> str:
        """"paid", or "pending" (the payment service failed or the breaker is open)."""
        if self.url is None:
            return "paid"
        if self.breaker:
            with self.lock:
                if time.monotonic() < self.open_until:
                    return "pending"
        import urllib.request

        request = urllib.request.Request(self.url.rstrip("/") + "/pay", method="POST",
                                         data=json.dumps({"order": order_id}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            # Without the breaker the shop also has no timeout: a frozen service freezes it.
            with urllib.request.urlopen(request, timeout=self.timeout_s if self.breaker
                                        else None) as answer:
                answer.read()
        except OSError:
            with self.lock:
                self.failures += 1
                if self.breaker and self.failures >= self.FAILURES_TO_OPEN:
                    self.open_until = time.monotonic() + self.OPEN_S
            return "pending"
        with self.lock:
            self.failures = 0
        return "paid"


class Shop:
    """Shop state shared by all request threads."""

    def __init__(self, version: str, fail: list[str], delays: dict[str, float],
                 unavailable: dict[str, float], ready_after_s: float = 0.0,
                 old_version: str | None = None, old_every: int = 0,
                 price_factor: float = 1.0, ab_broken: bool = False,
                 error_rates: dict[str, float] | None = None) -> None:
        self.version = version
        self.price_factor = price_factor
        self.ab_broken = ab_broken
        self.error_rates = error_rates or {}
        self.random = random.Random(42)  # faults at a steady rate, the same in every run
        self.old_version = old_version  # a rollout in progress: some answers from the old one
        self.old_every = old_every
        self.answers = 0
        self.ready_at = time.monotonic() + ready_after_s
        self.fail = fail
        self.delays = delays
        self.unavailable = {path: int(n) for path, n in unavailable.items()}
        self.counts: dict[str, int] = {}
        self.lock = threading.RLock()  # _send (which counts answers) runs under it too
        self.tokens: dict[str, str] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.requests_seen = 0
        self.payments = Payments(None, None, True)

    def answering_version(self) -> str:
        with self.lock:
            self.answers += 1
            if self.old_version and self.old_every and self.answers % self.old_every == 0:
                return self.old_version
        return self.version


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as production servers do
    # Send headers and body in one segment with no Nagle delay: otherwise every keep-alive
    # response waits ~40 ms for a delayed ACK, which would swamp any measurement.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: ShopServer
    raw_body: bytes = b""  # the current request's body, read before any answer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing
    def _catalog(self) -> list[dict[str, Any]]:
        factor = self.server.shop.price_factor
        return [{**item, "price": round(item["price"] * factor, 2)} for item in CATALOG]

    def _variant(self) -> str:
        """The A/B variant asked for (header, then cookie); A when none is asked for."""
        if self.server.shop.ab_broken:
            return "A"
        asked = self.headers.get("X-Variant")
        if asked is None:
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == "ab_variant":
                    asked = value
        return asked if asked in ("A", "B") else "A"

    def _send(self, status: int, body: Any, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-App-Version", self.server.shop.answering_version())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> Any:
        try:
            return json.loads(self.raw_body or b"{}")
        except ValueError:
            return None

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        with self.server.shop.lock:
            return self.server.shop.tokens.get(auth[len("Bearer "):])

    def _route(self, method: str) -> None:
        shop = self.server.shop
        parts = urlsplit(self.path)
        path = parts.path
        # Read the body before any answer, faults included: an unread body would stay on the
        # keep-alive connection and be taken for the next request.
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""
        if self.server.trace_log is not None:
            # The trace context each request arrived with, as a traced service would join it.
            line = json.dumps({"method": method, "path": path,
                               "traceparent": self.headers.get("traceparent"),
                               "baggage": self.headers.get("baggage")})
            with shop.lock, open(self.server.trace_log, "a", encoding="utf-8") as log:
                log.write(line + "\n")
        if method == "POST" and path == "/_faults":  # the tests' switch: break and repair
            body = self._body()
            with shop.lock:
                shop.fail = [str(p) for p in body.get("fail", [])] if isinstance(body, dict) \
                    else shop.fail
            self._send(200, {"fail": shop.fail})
            return
        with shop.lock:
            shop.requests_seen += 1
            shop.counts[path] = shop.counts.get(path, 0) + 1
            still_unavailable = any(_matches(path, p) and shop.counts[path] <= n
                                    for p, n in shop.unavailable.items())
        if still_unavailable:
            self._send(503, {"error": "injected unavailability", "path": path})
            return
        for prefix, seconds in shop.delays.items():
            if _matches(path, prefix):
                time.sleep(seconds)
        if any(_matches(path, prefix) for prefix in shop.fail):
            self._send(500, {"error": "injected fault", "path": path})
            return
        for prefix, rate in shop.error_rates.items():
            if not _matches(path, prefix):
                continue
            with shop.lock:
                unlucky = shop.random.random() < rate
            if unlucky:
                self._send(500, {"error": "injected intermittent fault", "path": path})
                return
        handler = getattr(self, f"_{method.lower()}", None)
        if handler is None:
            self._send(405, {"error": "method not allowed"})
            return
        handler(path, parse_qs(parts.query))

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    # -- endpoints
    def _get(self, path: str, query: dict[str, list[str]]) -> None:
        shop = self.server.shop
        if path == "/healthz":
            if time.monotonic() < shop.ready_at:
                self._send(503, {"status": "starting"})
            else:
                self._send(200, {"status": "ok", "version": shop.version})
        elif path == "/version":
            self._send(200, {"version": shop.version})
        elif path == "/catalog":
            items = self._catalog()
            self._send(200, {"items": items, "count": len(items), "generated_at": time.time(),
                             "request_id": secrets.token_hex(8)})
        elif path.startswith("/catalog/"):
            sku = path.split("/", 2)[2]
            item = next((i for i in self._catalog() if i["sku"] == sku), None)
            self._send(200 if item else 404, item or {"error": "no such item"})
        elif path == "/recommendations":
            variant = self._variant()
            items = self._catalog()
            picks = items[:2] if variant == "A" else sorted(items, key=lambda i: i["price"])[:2]
            self._send(200, {"variant": variant, "items": [i["sku"] for i in picks]},
                       extra_headers={"X-Variant": variant})
        elif path.startswith("/orders/"):
            with shop.lock:
                order = shop.orders.get(path.split("/", 2)[2])
            self._send(200 if order else 404, order or {"error": "no such order"})
        elif path == "/_counts":
            with shop.lock:
                self._send(200, dict(shop.counts))
        elif path == "/_orders":
            with shop.lock:
                self._send(200, {"open_orders": len(shop.orders)})
        elif path == "/redirect":
            target = (query.get("to") or ["/"])[0]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.send_header("X-App-Version", shop.version)
            self.end_headers()
        elif path == "/echo":
            self._send(200, {"headers": dict(self.headers.items()), "path": self.path})
        elif path == "/logo.png":
            # Binary: a PNG signature, then bytes that depend on the version (a changed image).
            data = b"\x89PNG\r\n\x1a\n" + (shop.version.encode() * 12)[:56]
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-App-Version", shop.answering_version())
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        elif path == "/slow":
            ms = float((query.get("ms") or ["200"])[0])
            time.sleep(ms / 1000)
            self._send(200, {"slept_ms": ms})
        else:
            self._send(404, {"error": "not found", "path": path})

    def _post(self, path: str, query: dict[str, list[str]]) -> None:
        shop = self.server.shop
        body = self._body()
        if not isinstance(body, dict):
            self._send(400, {"error": "JSON object expected"})
        elif path == "/login":
            username = str(body.get("username", ""))
            if not username.startswith(FAKE_USER_PREFIX) or not body.get("password"):
                self._send(401, {"error": "unknown user"})
                return
            token = secrets.token_hex(16)
            with shop.lock:
                shop.tokens[token] = username
            self._send(200, {"token": token})
        elif path == "/pay":  # as the payment service (another instance of this server)
            self._send(200, {"paid": True})
        elif path == "/orders":
            user = self._user()
            if user is None:
                self._send(401, {"error": "login required"})
                return
            order_id = secrets.token_hex(6)
            order = {"id": order_id, "user": user, "items": body.get("items", []),
                     "payment": shop.payments.charge(order_id)}
            with shop.lock:
                shop.orders[order_id] = order
            self._send(201, order)
        else:
            self._send(404, {"error": "not found", "path": path})

    def _delete(self, path: str, query: dict[str, list[str]]) -> None:
        shop = self.server.shop
        if path.startswith("/orders/") and self._user() is not None:
            with shop.lock:
                found = shop.orders.pop(path.split("/", 2)[2], None)
            self._send(204 if found else 404, {} if found else {"error": "no such order"})
        else:
            self._send(404, {"error": "not found", "path": path})


class ShopServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client (a load balancer's health check, a test) that hung up is no error here.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], shop: Shop, verbose: bool) -> None:
        super().__init__(address, Handler)
        self.shop = shop
        self.trace_log: str | None = None
        self.verbose = verbose


def _path_number(text: str) -> tuple[str, float]:
    path, _, number = text.partition("=")
    try:
        if path.startswith("/"):
            return path, float(number)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected /PATH=NUMBER, got {text!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="version this instance reports")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--fail", action="append", default=[], metavar="PATH",
                        help="answer 500 on PATH and below (repeatable)")
    parser.add_argument("--delay", action="append", default=[], type=_path_number,
                        metavar="PATH=MS",
                        help="answer PATH after MS milliseconds (repeatable)")
    parser.add_argument("--unavailable", action="append", default=[], type=_path_number,
                        metavar="PATH=N", help="answer 503 to the first N requests of PATH")
    parser.add_argument("--ready-after", type=float, default=0.0, metavar="SECONDS",
                        help="answer 503 on /healthz for this long after start (a deploy)")
    parser.add_argument("--old-version", metavar="VERSION",
                        help="with --old-every: a rollout in progress, some answers from VERSION")
    parser.add_argument("--old-every", type=int, default=0, metavar="N",
                        help="every Nth response carries --old-version")
    parser.add_argument("--price-factor", type=float, default=1.0, metavar="F",
                        help="every price times F (a candidate that changed prices)")
    parser.add_argument("--ab-broken", action="store_true",
                        help="/recommendations always serves variant A (broken assignment)")
    parser.add_argument("--error-rate", action="append", default=[], type=_path_number,
                        metavar="PATH=FRACTION",
                        help="answer 500 to this share of the requests of PATH (repeatable)")
    parser.add_argument("--token", action="append", default=[], metavar="TOKEN=USERNAME",
                        help="accept this bearer token for this user without a login, as a "
                             "shared identity provider would (repeatable)")
    parser.add_argument("--payment-url", metavar="URL",
                        help="call this payment service (POST /pay) for every order")
    parser.add_argument("--payment-timeout", type=float, default=300.0, metavar="MS",
                        help="timeout of the payment call (default 300 ms)")
    parser.add_argument("--no-breaker", action="store_true",
                        help="call the payment service without timeout or circuit breaker "
                             "(a shop that is not resilient)")
    parser.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--trace-log", metavar="FILE",
                        help="append each request's method, path, traceparent and baggage to "
                             "FILE (one JSON line per request)")
    args = parser.parse_args(argv)

    shop = Shop(args.version, args.fail, {path: ms / 1000 for path, ms in args.delay},
                dict(args.unavailable), args.ready_after, args.old_version, args.old_every,
                args.price_factor, args.ab_broken, dict(args.error_rate))
    for pair in args.token:
        token, _, username = pair.partition("=")
        shop.tokens[token] = username
    shop.payments = Payments(args.payment_url, args.payment_timeout / 1000,
                             breaker=not args.no_breaker)
    server = ShopServer((args.host, args.port), shop, args.verbose)
    server.trace_log = args.trace_log
    host, port = server.server_address[:2]
    scheme = "http"
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"shop {args.version} listening on {scheme}://{host}:{port}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
