"""HTTP client for production targets: a ``requests.Session`` that is safe by default.

- relative URLs resolve against the base URL, keeping its path;
- every request has a (connect, read) timeout;
- only idempotent methods are retried, on connection errors and 502/503/504, with backoff and a
  capped Retry-After;
- every response is recorded and, when a version is expected, checked against it.
"""

# No ``from __future__ import annotations`` in this module: typing.NamedTuple compiles every
# annotation given as a string, which made its records several times dearer to define, on
# the start-up of every run (tests/test_startup.py keeps it so).

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, ReadTimeoutError
from urllib3.util.retry import Retry

from pytest_prodsmoke.errors import (
    CredentialLeakRefusedError,
    LatencyBudgetError,
    MutationRefusedError,
    ProdsmokeError,
    VariantMismatchError,
    WrongVersionError,
    errno_reason,
)
from pytest_prodsmoke.gate.facts import MISSING_VERSION
from pytest_prodsmoke.http.ratelimit import SharedRateLimiter
from pytest_prodsmoke.http.tagging import (
    BAGGAGE,
    SIGNATURE_HEADER,
    header_safe,
    new_span_id,
    sign,
    traceparent,
)
from pytest_prodsmoke.safety.redact import Secret, SecretRegistry, display_url, looks_secret
from pytest_prodsmoke.settings import (
    DEFAULT_CHECK_HEADER,
    DEFAULT_RETRIES,
    DEFAULT_RUN_HEADER,
    DEFAULT_TIMEOUT_S,
    DEFAULT_VERSION_HEADER,
    VariantRouting,
)

RETRY_STATUSES = frozenset({502, 503, 504})
# Idempotent methods (RFC 9110): repeating them cannot create a second order.
RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_AFTER_CAP_S = 5.0
BACKOFF_FACTOR_S = 0.25
BACKOFF_MAX_S = 2.0


def user_agent() -> str:
    from pytest_prodsmoke import __version__

    # "synthetics" lets observability tools classify the traffic as synthetic.
    return f"pytest-prodsmoke/{__version__} (synthetics)"


class CappedRetry(Retry):
    """urllib3 Retry whose Retry-After sleep is capped.

    urllib3 otherwise honours Retry-After up to hours; a smoke check must stay bounded.
    """

    retry_after_cap_s = RETRY_AFTER_CAP_S

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), self.retry_after_cap_s)


# How many ProdClient.send calls are under way in this thread: the pool sends only for them.
_SENDING = threading.local()


class GuardedAdapter(HTTPAdapter):
    """The connection pool of the production clients. It sends only what a ``ProdClient``
    passed through its guard (refusal, pinning, tags, recording): ``prod.get_adapter(url)
    .send(prepared)`` would go around all of that."""

    def send(self, request: requests.PreparedRequest, *args: Any,  # type: ignore[override]
             **kwargs: Any) -> requests.Response:
        if not getattr(_SENDING, "depth", 0):
            path = urlsplit(request.url or "").path or "/"
            raise ProdsmokeError(
                f"{request.method} {path} refused before sending: it was handed to the "
                "connection pool directly, around the ProdClient that refuses, pins, tags and "
                "records every request; send it with prod.send(prepared) instead")
        return super().send(request, *args, **kwargs)


def build_adapter(retries: int) -> HTTPAdapter:
    """One connection pool with the retry policy; share it to keep connections alive."""
    retry = CappedRetry(
        total=retries,
        connect=retries,
        # A read error may mean the server acted: never repeat it. False (not 0) re-raises the
        # original error, so users see requests.ReadTimeout rather than a ConnectionError.
        read=False,
        status=retries,
        other=0,
        redirect=None,
        allowed_methods=RETRY_METHODS,  # never None: None would retry POST too
        status_forcelist=RETRY_STATUSES,
        backoff_factor=BACKOFF_FACTOR_S,
        backoff_max=BACKOFF_MAX_S,
        respect_retry_after_header=True,
        raise_on_status=False,  # give the test the last response to assert on
        raise_on_redirect=False,
    )
    return GuardedAdapter(max_retries=retry)


class ResponseRecord(NamedTuple):
    """What one request observed; per check, these feed the gate (versions) and reports."""

    target: str  # "candidate" or "baseline"
    method: str
    path: str  # without query string: queries may carry tokens
    status: int
    version: str | None
    elapsed_s: float
    trace_id: str = ""
    redirect: bool = False  # answered with a redirect that was followed (not the final answer)
    error: str = ""  # no answer at all: why, in a few words (status is 0 then)
    retried: bool = False  # an attempt the pool repeated (a 502/503/504 or a connection error)
    probe: bool = False  # the plugin's own version probe: shown, not counted as the check's


def failure_cause(error: BaseException) -> str:
    """Why a request got no answer, in a few words, without a URL (it may carry a token)."""
    if isinstance(error, (requests.exceptions.ConnectTimeout, ConnectTimeoutError)):
        return "connect timeout"
    if isinstance(error, (requests.exceptions.ReadTimeout, ReadTimeoutError)):
        return "read timeout"
    reason: object = error.args[0] if getattr(error, "args", None) else error
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    text = str(reason)
    if isinstance(error, requests.exceptions.SSLError) or "SSL" in type(reason).__name__:
        found = re.search(r"\[SSL: [A-Z_]+\][^(')]*", text)
        return f"TLS error: {found.group(0).strip()}" if found else "TLS error"
    reason_text = errno_reason(text)
    if reason_text:
        return reason_text  # "connection refused", "name or service ..."
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection closed by the server"
    return type(reason).__name__


class CheckContext(NamedTuple):
    """The check a client currently works for: tags its traffic and decides what it may do.
    (A NamedTuple: one is made for every check, several times cheaper than a frozen
    dataclass.)"""

    check_id: str = ""
    trace_id: str = ""
    synthetic: bool = False
    uses_fake_user: bool = False
    latency_max_ms: float | None = None  # every request of the check must be faster
    variant: str | None = None  # the A/B variant the check is assigned (@pytest.mark.variants)


class RequestSpans(Protocol):
    """Where a client reports its requests as trace spans (outputs/traces/plugin.py's
    CheckSpans, when the run exports traces)."""

    def start_request(self, method: str, url: str, target: str
                      ) -> tuple[Any, str, bool] | None:
        """The span of a request about to be sent: (what ``end_request`` takes, the span id
        for its traceparent, sampled), or None (no span: outside a check)."""

    def end_request(self, handle: Any, status: int, resend_count: int, error: str,
                    duration_s: float | None = None) -> None:
        """The span's end: the answer's status (0: none), attempts repeated, why no answer,
        how long (None: until now)."""


class TrafficTags(NamedTuple):
    """Run-wide tagging of every request (names configurable, key optional)."""

    run_id: str = ""
    run_header: str = DEFAULT_RUN_HEADER
    check_header: str = DEFAULT_CHECK_HEADER
    signature_header: str = SIGNATURE_HEADER
    signing_key: Secret | None = None


def join_url(base_url: str, url: str) -> str:
    """Resolve ``url`` against ``base_url`` keeping the base's path.

    ``https://h/shop`` + ``/healthz`` -> ``https://h/shop/healthz`` (``urljoin`` would drop
    ``/shop``). Absolute URLs are returned unchanged.
    """
    if urlsplit(url).scheme:
        return url
    if not url or url.startswith("?"):
        return base_url.rstrip("/") + ("/" if not urlsplit(base_url).path else "") + url
    return base_url.rstrip("/") + "/" + url.lstrip("/")


class ProdClient(requests.Session):
    """A ``requests.Session`` bound to one production target.

    Use it like requests: ``prod.get("/healthz")``. A response from another version than
    ``expected_version`` raises ``WrongVersionError`` ("answered by version X, expected Y").
    """

    def __init__(
        self,
        base_url: str,
        *,
        target: str = "candidate",
        headers: Iterable[tuple[str, str]] = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        expected_version: str | None = None,
        version_header: str | None = DEFAULT_VERSION_HEADER,
        adapter: HTTPAdapter | None = None,
        on_response: Callable[[ResponseRecord], None] | None = None,
        read_only: bool = True,
        tags: TrafficTags | None = None,
        limiter: SharedRateLimiter | None = None,
        credentials: SecretRegistry | None = None,
        credential_hosts: Iterable[str] = (),
        verify: bool | str = True,
        variant_routing: VariantRouting | None = None,
        spans: RequestSpans | None = None,
    ) -> None:
        super().__init__()
        self.spans = spans
        self._hop = 0  # which hop of a redirect chain is being sent (0: the first request)
        self.variant_routing = variant_routing
        self.variant_confirmed = 0  # answers of this check that named its assigned variant
        self._base_origin = origin(base_url)
        parts = urlsplit(base_url)
        self._base_prefix = f"{parts.scheme}://{parts.netloc}/"
        self.read_only = read_only
        self.context = CheckContext()
        self._check_header: str | None = None  # the check's id for a header, once it is asked
        self.tags = tags or TrafficTags()
        self.limiter = limiter
        # Fake-user secrets, which may only travel to these hosts (scheme://host:port).
        self.credentials = credentials
        self.credential_hosts = frozenset(origin(u) for u in (base_url, *credential_hosts))
        self.verify = verify
        self._mutation_reason: str | None = None
        self.base_url = base_url
        self.target = target
        self.timeout = (timeout_s, timeout_s)
        self.expected_version = expected_version
        self.version_header = version_header
        self.on_response = on_response
        # A shared adapter (one per worker) keeps connections alive across checks; it belongs to
        # whoever passed it in, so close() must not close it.
        self._owns_adapter = adapter is None
        pool = adapter if adapter is not None else build_adapter(retries)
        self.mount("http://", pool)
        self.mount("https://", pool)
        self.headers["User-Agent"] = user_agent()
        for name, value in headers:
            self.headers[name] = value
        self._default_headers = self.headers.copy()
        # Headers meant for this client's origin only (routing to the candidate, the A/B
        # assignment): a request to any other origin, e.g. a redirect's next hop, loses them.
        self._origin_headers = tuple(name for name, _ in headers) + tuple(
            filter(None, [variant_routing.request_header if variant_routing else None]))
        self._depth = 0  # > 0 while a send of this client is under way: its redirect hops
        self._probing = False  # True while the plugin asks the version endpoint
        self._environ_proxies: dict[tuple[str, str, str | None], dict[str, str]] = {}

    def reset_for_check(self, context: CheckContext | None = None) -> None:
        """Forget what the previous check changed (headers, cookies, auth, params).

        One client serves every check of a worker, to keep connections alive; each check still
        starts from the configured state.
        """
        self.context = context or CheckContext()
        self._check_header = None
        self.variant_confirmed = 0
        self.headers = self._default_headers.copy()
        self.cookies.clear()
        self.auth = None
        self.params = {}

    def __repr__(self) -> str:
        return f"<ProdClient {self.target} {display_url(self.base_url)}>"

    def url_for(self, url: str) -> str:
        return join_url(self.base_url, url)

    @contextlib.contextmanager
    def mutations_allowed(self, reason: str) -> Iterator[None]:
        """Let the plugin itself mutate on a check's behalf (e.g. a fake user's login)."""
        previous, self._mutation_reason = self._mutation_reason, reason
        try:
            yield
        finally:
            self._mutation_reason = previous

    def _refuse_undeclared_mutation(self, method: str, path: str) -> None:
        __tracebackhide__ = True
        if not self.read_only or method not in MUTATING_METHODS or self._mutation_reason:
            return
        if not self.context.synthetic:
            raise MutationRefusedError(
                f"{method} {path} refused before sending: production checks are read-only. "
                "A check that changes data must declare it: mark it @pytest.mark.synthetic and "
                "run it as a fake user (request the fake_user fixture)"
            )
        if not self.context.uses_fake_user:
            raise MutationRefusedError(
                f"{method} {path} refused before sending: a synthetic transaction that changes "
                "data must run as a fake user: request the fake_user fixture"
            )

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        # Relative URLs resolve against the base URL here, so that a request prepared by hand,
        # prod.prepare_request(requests.Request("GET", "/x")), works like prod.get("/x").
        if isinstance(request.url, bytes):
            request.url = request.url.decode()
        request.url = self.url_for(str(request.url))
        return super().prepare_request(request)

    def request(self, method: str | bytes, url: str | bytes, *args: Any,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        __tracebackhide__ = True  # failures point at the check's line, not at this wrapper
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        try:
            return super().request(method, url, *args, **kwargs)  # prepare_request, then send
        except requests.RequestException as exc:
            if getattr(exc, "prodsmoke_no_answer", False):
                # Raised afresh from here: the traceback a check shows skips the frames of
                # requests' own Session.request, which say nothing about the check.
                raise exc.with_traceback(None) from None
            raise

    def send(self, request: requests.PreparedRequest, **kwargs: Any  # type: ignore[override]
             ) -> requests.Response:
        """Every request passes here, whatever sent it: ``request()`` and its verbs, a
        prepared request handed to ``send`` directly, and each hop of a redirect (requests
        sends those from inside the first ``send``). So this is the one place that refuses,
        keeps headers to their origin, guards credentials, tags, limits the rate, and —
        once the whole exchange is over — records, pins the version and checks budgets."""
        __tracebackhide__ = True
        redirect_hop = self._depth > 0
        method = (request.method or "GET").upper()
        if method in MUTATING_METHODS:
            self._refuse_undeclared_mutation(method, urlsplit(request.url or "").path or "/")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        # Fake-user credentials bound for another host refuse the request (they are named in
        # no header list), before other origin-bound headers are dropped from it.
        self._guard_credentials(request)
        self._keep_to_origin(request, redirect_hop)
        span = hop = None
        if self.spans is not None and self.context.trace_id:
            hop = self._hop = self._hop + 1 if redirect_hop else 0
            span = self.spans.start_request(method, request.url or "", self.target)
        self._tag(request, span)
        if self.limiter is not None:
            self.limiter.wait()
        started = time.perf_counter()
        self._depth += 1
        _SENDING.depth = getattr(_SENDING, "depth", 0) + 1
        try:
            response = super().send(request, **kwargs)
        except requests.RequestException as exc:
            if span is not None and hop is not None:
                self._end_span(span, hop + self._repeated(request, exc), failure_cause(exc))
            if redirect_hop:
                raise  # the first hop's send records it
            # One line instead of urllib3's chained tracebacks, and recorded like an answer.
            raise self._no_answer(method, request, exc, time.perf_counter() - started) from None
        finally:
            self._depth -= 1
            _SENDING.depth -= 1
        if span is not None and hop is not None:
            # This hop's own answer: requests followed the redirects from here, and returns
            # the last hop's; the first hop ended when its own answer came.
            own = response.history[0] if response.history else response
            self._end_span(span, hop + len(_repeats(own)), "", own.status_code,
                           own.elapsed.total_seconds() if own is not response else None)
        if not redirect_hop and not self._probing:
            try:
                self._observe(method, response, time.perf_counter() - started)
            except ProdsmokeError as exc:
                # The request was answered (and may have changed data): whoever must undo it
                # (a parallel run's cleanup) finds the answer on the error.
                exc.response = response  # type: ignore[attr-defined]
                raise
        return response

    def _end_span(self, span: tuple[Any, str, bool], resend_count: int, error: str,
                  status: int = 0, duration_s: float | None = None) -> None:
        """A request span's end; ``resend_count``: hops of a redirect chain before this one and
        attempts urllib3 repeated (OpenTelemetry's http.request.resend_count counts both)."""
        assert self.spans is not None
        self.spans.end_request(span[0], status, resend_count, error, duration_s)

    def _no_answer(self, method: str, request: requests.PreparedRequest,
                   error: requests.RequestException, elapsed_s: float
                   ) -> requests.RequestException:
        """Record a request that got no answer (and the attempts retried before it); the error
        to raise instead, of the same type, with a one-line message."""
        path = urlsplit(request.url or "").path or "/"
        cause = failure_cause(error)
        retried = self._repeated(request, error)
        for _ in range(retried):
            self._emit(method, path, 0, None, 0.0, error=cause, retried=True)
        self._emit(method, path, 0, None, elapsed_s, error=cause)
        attempts = f" ({retried + 1} attempts)" if retried else ""
        message = f"{method} {path}: no answer: {cause} after {elapsed_s:.1f} s{attempts}"
        try:
            short = type(error)(message, request=error.request, response=error.response)
        except Exception:  # an exception type with another signature
            short = requests.RequestException(message, request=error.request)
        short.prodsmoke_no_answer = True  # type: ignore[attr-defined]
        return short

    def _repeated(self, request: requests.PreparedRequest, error: BaseException) -> int:
        """How many attempts of a request that got no answer urllib3 repeated: all it may
        (the error says the retries ran out)."""
        if error.args and isinstance(error.args[0], MaxRetryError):
            total = getattr(self.get_adapter(request.url or "").max_retries, "total", 0)
            return total if isinstance(total, int) and total > 0 else 0
        return 0

    def _retried_attempts(self, method: str, response: requests.Response) -> None:
        """The attempts urllib3 repeated before this answer (Retry keeps their history)."""
        for attempt in _repeats(response):
            self._emit(method, urlsplit(response.url or "").path or "/", attempt.status or 0,
                       None, 0.0, error=failure_cause(attempt.error) if attempt.error else "",
                       retried=True)

    def _observe(self, method: str, response: requests.Response, elapsed_s: float) -> None:
        """Record every hop of one exchange; hold its final answer to the version, the latency
        budget and the A/B assignment."""
        __tracebackhide__ = True
        header = self.version_header
        for hop in [*response.history, response]:
            self._retried_attempts(method, hop)
        for hop in response.history:
            # A redirect is pinned when it names a version (a proxy's redirect may not).
            version = hop.headers.get(header) if header else None
            record = self._record(method, hop, version, hop.elapsed.total_seconds(),
                                  redirect=True)
            if version is not None:
                self._hold_to_version(record.method, hop, version)
        version = response.headers.get(header) if header else None
        record = self._record(method, response, version, elapsed_s)
        budget = self.context.latency_max_ms
        if budget is not None and record.elapsed_s * 1000 > budget:
            raise LatencyBudgetError(
                f"{record.method} {record.path} took {record.elapsed_s * 1000:.0f} ms, over the "
                f"latency budget of {budget:g} ms")
        if self.expected_version is not None and header is not None:
            self._hold_to_version(record.method, response, version)
        if self.context.variant is not None and self.variant_routing is not None:
            self._hold_to_variant(response, record)

    def _record(self, method: str, response: requests.Response, version: str | None,
                elapsed_s: float, redirect: bool = False) -> ResponseRecord:
        sent = response.request  # each hop's own (a 303 turns a POST into a GET)
        return self._emit((sent.method or method).upper() if sent is not None else method,
                          urlsplit(response.url or "").path or "/", response.status_code,
                          version, elapsed_s, redirect=redirect)

    def _emit(self, method: str, path: str, status: int, version: str | None,
              elapsed_s: float, **flags: Any) -> ResponseRecord:
        record = ResponseRecord(target=self.target, method=method, path=path, status=status,
                                version=version, elapsed_s=elapsed_s,
                                trace_id=self.context.trace_id,
                                probe=self._probing, **flags)
        if self.on_response is not None:
            self.on_response(record)
        return record

    def _hold_to_version(self, method: str, response: requests.Response,
                         version: str | None) -> None:
        __tracebackhide__ = True
        if self.expected_version is None or version == self.expected_version:
            return
        path = urlsplit(response.url or "").path or "/"
        seen = version if version is not None else f"<none: no {self.version_header} header>"
        raise WrongVersionError(
            f"{method} {path}: answered by version {seen}, expected {self.expected_version}")

    def _same_origin(self, url: str) -> bool:
        # The common case without parsing: the URL starts with the base URL's own origin.
        return url.startswith(self._base_prefix) or origin(url) == self._base_origin

    def _keep_to_origin(self, request: requests.PreparedRequest, redirect_hop: bool) -> None:
        """Nothing assigned or secret follows a request off the client's origin. requests
        copies a redirect's headers to its next hop, wherever that is; it drops only
        Authorization and rebuilds only Cookie."""
        if not (self._origin_headers or redirect_hop) or self._same_origin(request.url or ""):
            return
        headers = request.headers
        for name in self._origin_headers:
            headers.pop(name, None)
        if redirect_hop:
            for name in [n for n in headers if looks_secret(n)
                         and n.lower() not in ("authorization", "cookie")]:
                del headers[name]

    def _hold_to_variant(self, response: requests.Response, record: ResponseRecord) -> None:
        """An answer that names a variant must name the check's own (A/B assignment works)."""
        __tracebackhide__ = True
        routing = self.variant_routing
        assert routing is not None
        if origin(response.url or "") != self._base_origin:
            return
        served: str | None = None
        if routing.response_header is not None:
            served = response.headers.get(routing.response_header)
        if served is None and routing.field is not None and \
                "json" in response.headers.get("Content-Type", ""):

            try:
                found = json_field(response.json(), routing.field)
            except ValueError:
                found = None
            served = None if found is None else str(found)
        if served is None:
            return
        if served != self.context.variant:
            raise VariantMismatchError(
                f"{record.method} {record.path}: served variant {served!r}, but the check was "
                f"assigned {self.context.variant!r} (the A/B assignment is broken)")
        self.variant_confirmed += 1

    def merge_environment_settings(  # type: ignore[override]
        self, url: str, proxies: dict[str, str] | None, stream: bool | None,
        verify: bool | str | None, cert: Any,
    ) -> dict[str, Any]:
        # requests' own logic, with two changes. It scans the whole process environment for
        # *_proxy variables on every request (~0.2 ms, more with CI's large environments); the
        # environment does not change during a run, so proxies are looked up once per origin.
        # And it lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify; an explicit
        # --prod-ca-bundle or --prod-insecure (self.verify not True) must win.
        if self.trust_env:
            no_proxy = proxies.get("no_proxy") if proxies is not None else None
            scheme, netloc = urlsplit(url)[:2]
            key = (scheme, netloc, no_proxy)
            env_proxies = self._environ_proxies.get(key)
            if env_proxies is None:
                env_proxies = self._environ_proxies[key] = get_environ_proxies(
                    url, no_proxy=no_proxy)
            if proxies is not None:
                for name, value in env_proxies.items():
                    proxies.setdefault(name, value)
            if (verify is True or verify is None) and self.verify is True:
                verify = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                          or verify)
        return {"proxies": merge_setting(proxies, self.proxies),
                "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify),
                "cert": merge_setting(cert, self.cert)}

    def check_version_endpoint(self, path: str, field: str) -> str | None:
        """Ask the JSON version endpoint which version answers, record it, and hold it to the
        expected version (for services that put no version header on their responses)."""
        __tracebackhide__ = True

        started = time.perf_counter()
        self._probing = True  # recorded once, below, with the version the JSON names
        try:
            response = self.get(path)
        finally:
            self._probing = False
        try:
            found = json_field(response.json(), field) if response.ok else None
        except ValueError:
            found = None
        version = None if found is None else str(found)
        self._probing = True
        try:
            self._emit("GET", path, response.status_code, version or MISSING_VERSION,
                       time.perf_counter() - started)
        finally:
            self._probing = False
        if self.expected_version is not None and version != self.expected_version:
            raise WrongVersionError(
                f"GET {path}: answered by version {version or f'<none: no {field!r} field>'}, "
                f"expected {self.expected_version}")
        return version

    def _guard_credentials(self, request: requests.PreparedRequest) -> None:
        __tracebackhide__ = True
        if self.credentials is None or not len(self.credentials):
            return
        url = request.url or ""
        if origin(url) in self.credential_hosts:
            return
        body = request.body
        texts = [url, *map(str, request.headers.values())]
        if isinstance(body, bytes) and len(body) <= 1_000_000:
            texts.append(body.decode("latin-1"))
        elif isinstance(body, str):
            texts.append(body)
        if any(self.credentials.found_in(text) for text in texts):
            raise CredentialLeakRefusedError(
                f"{request.method} to {display_url(origin(url))} refused before sending: it "
                "carries fake-user credentials, which only go to the configured targets"
            )

    def _tag(self, request: requests.PreparedRequest,
             span: tuple[Any, str, bool] | None = None) -> None:
        tags, context = self.tags, self.context
        headers = request.headers
        if span is not None:
            # The request's own span is the parent the service's spans join.
            headers["traceparent"] = traceparent(context.trace_id, span[1], span[2])
        elif context.trace_id:
            headers["traceparent"] = traceparent(context.trace_id, new_span_id())
        headers["baggage"] = BAGGAGE
        if context.variant is not None and self.variant_routing is not None and \
                origin(request.url or "") == self._base_origin:
            routing = self.variant_routing
            if routing.request_header is not None:
                headers[routing.request_header] = context.variant
            if routing.cookie is not None:
                cookie = f"{routing.cookie}={context.variant}"
                headers["Cookie"] = f"{headers['Cookie']}; {cookie}" if headers.get(
                    "Cookie") else cookie
        if tags.run_id:
            headers[tags.run_header] = tags.run_id
        if context.check_id:
            check = self._check_header
            if check is None:  # once per check, not per request
                check = self._check_header = header_safe(context.check_id)
            headers[tags.check_header] = check
            if tags.signing_key is not None and tags.run_id:
                headers[tags.signature_header] = sign(tags.signing_key.reveal().encode(),
                                                      tags.run_id, check)

    def close(self) -> None:
        if self._owns_adapter:
            super().close()


def _repeats(response: requests.Response) -> list[Any]:
    """The attempts urllib3 repeated before this answer (a 502/503/504 or a connection error;
    its Retry keeps their history), redirects left out."""
    history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
    return [attempt for attempt in history if not getattr(attempt, "redirect_location", None)]


def origin(url: str) -> str:
    """``scheme://host:port`` with the default port filled in, lowercased."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or {"http": 80, "https": 443}.get(scheme, 0)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def json_field(data: Any, dotted: str) -> Any:
    """The value at a dotted path of a JSON answer (``app.version``), None when absent."""
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data
