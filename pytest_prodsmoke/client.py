"""HTTP client for production targets: a ``requests.Session`` that is safe by default.

- relative URLs resolve against the base URL, keeping its path;
- every request has a (connect, read) timeout;
- only idempotent methods are retried, on connection errors and 502/503/504, with backoff and a
  capped Retry-After;
- every response is recorded and, when a version is expected, checked against it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pytest_prodsmoke.errors import WrongVersionError
from pytest_prodsmoke.settings import display_url

RETRY_STATUSES = frozenset({502, 503, 504})
# Idempotent methods (RFC 9110): repeating them cannot create a second order.
RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
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
    return HTTPAdapter(max_retries=retry)


@dataclass(frozen=True)
class ResponseRecord:
    """What one request observed; per check, these feed the gate (versions) and reports."""

    target: str  # "candidate" or "baseline"
    method: str
    path: str  # without query string: queries may carry tokens
    status: int
    version: str | None
    elapsed_s: float


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
        timeout_s: float = 10.0,
        retries: int = 2,
        expected_version: str | None = None,
        version_header: str = "X-App-Version",
        adapter: HTTPAdapter | None = None,
        on_response: Callable[[ResponseRecord], None] | None = None,
    ) -> None:
        super().__init__()
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

    def reset_for_check(self) -> None:
        """Forget what the previous check changed (headers, cookies, auth, params).

        One client serves every check of a worker, to keep connections alive; each check still
        starts from the configured state.
        """
        self.headers = self._default_headers.copy()
        self.cookies.clear()
        self.auth = None
        self.params = {}

    def __repr__(self) -> str:
        return f"<ProdClient {self.target} {display_url(self.base_url)}>"

    def url_for(self, url: str) -> str:
        return join_url(self.base_url, url)

    def request(self, method: str | bytes, url: str | bytes, *args: Any,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        __tracebackhide__ = True  # failures point at the check's line, not at this wrapper
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        method_name = method.decode() if isinstance(method, bytes) else str(method)
        full_url = self.url_for(url.decode() if isinstance(url, bytes) else str(url))
        started = time.perf_counter()
        response = super().request(method_name, full_url, *args, **kwargs)
        version = response.headers.get(self.version_header)
        record = ResponseRecord(
            target=self.target,
            method=method_name.upper(),
            path=urlsplit(response.url or full_url).path or "/",
            status=response.status_code,
            version=version,
            elapsed_s=time.perf_counter() - started,
        )
        if self.on_response is not None:
            self.on_response(record)
        if self.expected_version is not None and version != self.expected_version:
            seen = version if version is not None else f"<none: no {self.version_header} header>"
            raise WrongVersionError(
                f"{record.method} {record.path}: answered by version {seen}, "
                f"expected {self.expected_version}"
            )
        return response

    def close(self) -> None:
        if self._owns_adapter:
            super().close()
