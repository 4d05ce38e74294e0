"""Traffic tags: W3C trace context, run/check identification, and the signed synthetic marker.

Pure functions, no pytest import. A service verifies that a request really came from this
plugin (and not from someone who copied the headers) with ``verify_signature``:

    from pytest_prodsmoke.http.tagging import verify_signature

    ok = verify_signature(
        key=os.environ["PRODSMOKE_SIGNING_KEY"].encode(),
        signature=request.headers["X-Prodsmoke-Signature"],
        run_id=request.headers["X-Prodsmoke-Run"],
        check_id=request.headers["X-Prodsmoke-Check"],
    )

The signature header is ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``"<t>.<run id>.<check id>"``, so a captured header cannot be replayed for another check or, once
older than ``max_age_s``, at all. The module has no dependency beyond the standard library: copy
the function into the service if it should not depend on this package.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from urllib.parse import quote

SIGNATURE_VERSION = "v1"
SIGNATURE_HEADER = "X-Prodsmoke-Signature"
DEFAULT_MAX_AGE_S = 300
BAGGAGE = "synthetic=true"


def new_trace_id() -> str:
    """32 lowercase hex digits, never all zeros (W3C trace context)."""
    while True:
        value = os.urandom(16).hex()
        if value.strip("0"):
            return value


def new_span_id() -> str:
    """16 lowercase hex digits, never all zeros."""
    while True:
        value = os.urandom(8).hex()
        if value.strip("0"):
            return value


def traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def header_safe(text: str) -> str:
    """A node id fit for an HTTP header value (latin-1 only, no line breaks): URL-quoted."""
    return quote(text, safe="/:[]-_.,=@+")


def _mac(key: bytes, timestamp: int, run_id: str, check_id: str) -> str:
    message = f"{timestamp}.{run_id}.{check_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(key: bytes, run_id: str, check_id: str, timestamp: int | None = None) -> str:
    """The value of the signature header for one request."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},{SIGNATURE_VERSION}={_mac(key, stamp, run_id, check_id)}"


def verify_signature(key: bytes, signature: str, run_id: str, check_id: str,
                     max_age_s: float = DEFAULT_MAX_AGE_S, now: float | None = None) -> bool:
    """True when ``signature`` was made with ``key`` for this run and check, recently."""
    fields = dict(part.split("=", 1) for part in signature.split(",") if "=" in part)
    try:
        stamp = int(fields["t"])
        given = fields[SIGNATURE_VERSION]
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - stamp) > max_age_s:
        return False
    return hmac.compare_digest(given, _mac(key, stamp, run_id, check_id))
