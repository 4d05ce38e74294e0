"""Secrets: a masked wrapper type and a registry that scrubs secret values out of any text.

Pure functions and plain objects, no pytest import. The plugin registers every secret it learns
(fake-user passwords and tokens, login tokens, the signing key, values of ``prodsmoke_secret_env``
variables, values registered at run time) and passes every text that leaves the process through
``SecretRegistry.scrub``. Encoded forms are scrubbed too: URL-quoted, base64 (as in Basic auth,
``user:password``), and JSON-escaped.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values would mask common words and numbers all over the output.
MIN_SECRET_LENGTH = 4
SECRET_NAME = re.compile(r"pass|secret|token|key|otp|pin\b|cookie|session|auth|signature|cred",
                         re.IGNORECASE)
# "?token=abc" / "&api_key=abc" anywhere in a text (URLs in exception messages), whether or not
# the value was registered: the value is masked, the name kept.
_QUERY_SECRET = re.compile(
    r"([?&;][^=&\s'\"]*(?:pass|secret|token|key|sig|auth|cred|session)[^=&\s'\"]*=)"
    r"[^&#\s'\"]+",
    re.IGNORECASE,
)


class Secret:
    """A string that does not show itself: ``repr``, ``str`` and f-strings print ``***``.

    ``reveal()`` returns the value, for the one place that must send it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def looks_secret(name: str) -> bool:
    """True for names like password, api_key, X-Auth-Token, session_cookie."""
    return bool(SECRET_NAME.search(name))


def encoded_forms(value: str) -> set[str]:
    """The value as it may appear in output: raw, URL-quoted, base64, JSON-escaped, as Python's
    repr escapes it, and — for a value of several lines — each of its lines (pytest's
    assertion diffs print a multi-line string line by line)."""
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1],
             repr(value)[1:-1]}
    raw = value.encode()
    forms.add(base64.b64encode(raw).decode())
    forms.add(base64.urlsafe_b64encode(raw).decode())
    forms.add(base64.b64encode(raw).decode().rstrip("="))
    if "\n" in value or "\r" in value:
        forms.update(line.strip() for line in value.splitlines())
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


ELLIPSIS = "..."  # where pytest shortens a long repr: 'head...tail'


def _mask_around_ellipses(text: str, secrets: Iterable[str]) -> str:
    """A shortened repr keeps a secret's head before ``...`` and its tail after it: mask the
    longest head (a prefix of a secret) before each ``...`` and the longest tail (a suffix of
    one) after it, when at least MIN_SECRET_LENGTH characters long."""
    long_ones = [s for s in secrets if len(s) > MIN_SECRET_LENGTH]
    if not long_ones:
        return text
    spans: list[tuple[int, int]] = []
    start = text.find(ELLIPSIS)
    while start != -1:
        end = start + len(ELLIPSIS)
        tail_probe = text[end:end + MIN_SECRET_LENGTH]
        for secret in long_ones:
            # A head: text[begin:start] == secret[:start - begin]; it starts with secret's
            # first characters, so only their occurrences just before the ellipsis are tried.
            window = max(0, start - len(secret))
            begin = text.find(secret[:MIN_SECRET_LENGTH], window, start)
            while begin != -1:
                if secret.startswith(text[begin:start]):
                    spans.append((begin, start))
                    break
                begin = text.find(secret[:MIN_SECRET_LENGTH], begin + 1, start)
            # A tail: text[end:] starts with secret[at:]; it begins with the next characters.
            if len(tail_probe) == MIN_SECRET_LENGTH:
                at = secret.find(tail_probe)
                while at != -1:
                    if text.startswith(secret[at:], end):
                        spans.append((end, end + len(secret) - at))
                        break
                    at = secret.find(tail_probe, at + 1)
        start = text.find(ELLIPSIS, end)
    merged: list[list[int]] = []
    for begin, finish in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], finish)
        else:
            merged.append([begin, finish])
    for begin, finish in reversed(merged):
        text = text[:begin] + MASK + text[finish:]
    return text


class SecretRegistry:
    """Every secret value known in this process, and the scrubber built from them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: str | Secret | None, username: str | None = None) -> None:
        """Register a secret; with ``username``, also its Basic-auth form ``user:value``."""
        if value is None:
            return
        text = value.reveal() if isinstance(value, Secret) else str(value)
        if len(text) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            before = len(self._values)
            self._values |= encoded_forms(text)
            if username is not None:
                basic = f"{username}:{text}".encode()
                self._values.add(base64.b64encode(basic).decode())
            if len(self._values) != before:
                self._pattern = None

    def add_forms(self, forms: Iterable[str]) -> None:
        """Add already-encoded forms as they are (another process's ``values()``)."""
        with self._lock:
            before = len(self._values)
            self._values |= {f for f in forms if isinstance(f, str) and len(f) >= MIN_SECRET_LENGTH}
            if len(self._values) != before:
                self._pattern = None

    def values(self) -> frozenset[str]:
        return frozenset(self._values)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first, so an encoded form is masked whole, not around a shorter one.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern

    def found_in(self, text: str) -> bool:
        pattern = self._compiled()
        return pattern is not None and bool(text) and pattern.search(text) is not None

    def scrub(self, text: str) -> str:
        if not text:
            return text
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(MASK, text)
            if ELLIPSIS in text:
                text = _mask_around_ellipses(text, self._values)
        if "=" in text:
            text = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
        return text

    def scrub_any(self, value: Any) -> Any:
        """Scrub strings inside lists, tuples and dicts (keys too); other values unchanged."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, dict):
            return {self.scrub_any(k): self.scrub_any(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub_any(v) for v in value)
        return value


def mask_query_values(text: str) -> str:
    """``?token=abc`` / ``&api_key=abc`` anywhere in a text: the value masked, the name kept."""
    return _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)


# The secrets of this process. One registry per process on purpose: a secret learnt anywhere
# (a fixture, a hook, the command line) must be masked in every output of the process.
REGISTRY = SecretRegistry()


def register_secret(value: str | Secret) -> Secret:
    """Mask ``value`` in every output of this run from now on; returns it wrapped in Secret."""
    secret = value if isinstance(value, Secret) else Secret(str(value))
    REGISTRY.add(secret)
    return secret


# [scheme:][//]userinfo@ — up to the last "@" before the path, whatever it holds: also in
# malformed URLs ("https:/user:password@host", "http://u?:password@h"), where urlsplit sees
# no user info at all.
_USERINFO = re.compile(r"^((?:[^/@]*:)?/*)([^/]*@)")


# ":password@" wherever it stands, when the text is too broken to tell its user info.
_PASSWORD = re.compile(r"(?<=:)[^:/@\s]+(?=@)")


def display_url(url: str) -> str:
    """The URL fit to print: user info masked (credentials in URLs must never be shown), and
    the values of query parameters whose names look secret. Works on any text, never raises."""
    text = _USERINFO.sub(r"\1***@", str(url), count=1)
    if "@" in text:
        text = _PASSWORD.sub("***", text)
    return mask_query_values(text) if "=" in text else text
