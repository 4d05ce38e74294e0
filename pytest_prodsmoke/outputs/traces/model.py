"""The span model: which spans a run exports and their attributes, from plain data. No pytest,
no OpenTelemetry import.

- the **run span** (``prodsmoke run``, on the gate's owner): the verdict, its reasons, counts;
- a **check span** per run of a check (named by its node id, the root of the check's own trace,
  whose id the gate report names): OpenTelemetry's ``test.case.*`` attributes and the
  ``prodsmoke.*`` facts of the check, linked to the run span;
- a **request span** (kind CLIENT) per request the check sent, child of its check span, with
  the HTTP semantic conventions; its context is the ``traceparent`` the service receives.

Values are OpenTelemetry attribute types (str, bool, int, float, or lists of one of them).
The exporter masks secrets in every text (export.py); URLs lose query, fragment and userinfo
here already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from pytest_prodsmoke.gate.facts import CheckFacts
from pytest_prodsmoke.gate.rules import (
    CRASHED,
    ERROR,
    FAILED,
    FLAKY,
    INCOMPLETE,
    PASSED,
    RERUN,
    PhaseEvent,
    summarize_check,
)

RUN_SPAN_NAME = "prodsmoke run"
SCOPE = "pytest-prodsmoke"  # the instrumentation scope of every span
DEFAULT_SERVICE_NAME = "pytest-prodsmoke"
MAX_TEXT = 500  # a status description or a reason message, at most

Attributes = dict[str, Any]


def clean_url(url: str, parts: SplitResult | None = None) -> str:
    """``url.full`` as exported: scheme, host, port and path; no userinfo, query or fragment
    (those may carry tokens). ``parts``: the URL already split."""
    parts = parts or urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}{parts.path or '/'}"


def request_attributes(method: str, url: str, target: str) -> Attributes:
    """A request span's attributes known before it is sent. (Each attribute costs every span
    its encoding: only what the conventions require, and the target when it is not the
    candidate — a baseline of a parallel run.)"""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    except ValueError:
        port = 0
    attributes: Attributes = {"http.request.method": method, "url.full": clean_url(url, parts),
                              "server.address": parts.hostname or "", "server.port": port}
    if target != "candidate":
        attributes["prodsmoke.target"] = target
    return attributes


def response_attributes(status: int, resend_count: int, error: str) -> Attributes:
    """A request span's attributes once the exchange is over; ``error`` is the few words of why
    there was no answer ("" when there was one)."""
    attributes: Attributes = {}
    if status:
        attributes["http.response.status_code"] = status
    if resend_count:
        attributes["http.request.resend_count"] = resend_count
    if error:
        attributes["error.type"] = error
    elif status >= 400:
        attributes["error.type"] = str(status)
    return attributes


def request_failed(status: int, error: str) -> bool:
    """A CLIENT span is an error when no answer came or the answer is 4xx/5xx (semconv)."""
    return bool(error) or status >= 400


def attempt_outcome(events: Iterable[PhaseEvent]) -> str:
    """The outcome of one run (attempt) of a check, read as the gate reads a check: a failed
    attempt that pytest-rerunfailures repeats counts as failed (or as an error, outside the
    check's body)."""
    events = list(events)
    final = [e._replace(outcome="failed") if e.outcome == RERUN else e for e in events]
    if not final:
        return INCOMPLETE
    outcome = summarize_check(final[0].nodeid, final).outcome
    return FAILED if outcome == FLAKY else outcome


def check_result(outcome: str, critical: bool) -> tuple[str, bool]:
    """(``test.case.result.status``, whether the span's status is ERROR). Fail closed, as the
    gate: only a check that positively passed is ``pass``; a critical check that did not pass
    (skipped, xfailed, interrupted …) is an error as much as one that failed."""
    if outcome == PASSED:
        return "pass", False
    return "fail", critical or outcome in (FAILED, ERROR, CRASHED)


def failure_text(events: Iterable[PhaseEvent], outcome: str) -> str:
    """The span status description: the phase and first line of the first failure (or skip)."""
    for event in events:
        if event.outcome in ("failed", RERUN, "skipped") and event.message:
            return f"{event.when}: {event.message}"[:MAX_TEXT]
    return outcome


def check_attributes(nodeid: str, facts: CheckFacts, outcome: str, critical: bool,
                     attempt: int, target_url: str, expected_version: str | None
                     ) -> Attributes:
    """A check span's attributes once the run of the check is over."""
    result, _ = check_result(outcome, critical)
    attributes: Attributes = {
        "test.case.name": nodeid,
        "test.case.result.status": result,
        "prodsmoke.outcome": outcome,
        "prodsmoke.critical": critical,
        "prodsmoke.synthetic": facts.synthetic,
        "prodsmoke.target": clean_url(target_url) if target_url else "",
    }
    if attempt:
        attributes["prodsmoke.attempt"] = attempt
    if expected_version:
        attributes["prodsmoke.expected_version"] = expected_version
    if facts.versions:
        attributes["prodsmoke.observed_versions"] = sorted(facts.versions)
    if facts.variant:
        attributes["prodsmoke.variant"] = facts.variant
    attributes.update(_summary("prodsmoke.canary", facts.canary, (
        "verdict", "reasons", "error_p_value", "latency_p_value", "baseline.samples",
        "baseline.error_rate", "baseline.p95_ms", "candidate.samples", "candidate.error_rate",
        "candidate.p95_ms")))
    attributes.update(_summary("prodsmoke.parallel_run", facts.parallel_run,
                               ("requests", "mismatches")))
    attributes.update(_summary("prodsmoke.chaos", facts.chaos,
                               ("verdict", "fault", "reason")))
    if facts.leftovers:
        attributes["prodsmoke.leftovers"] = len(facts.leftovers)
    return attributes


def _summary(prefix: str, found: Mapping[str, Any] | None, keys: Iterable[str]) -> Attributes:
    """The few fields of a method's result worth a span attribute (the full result is in the
    gate report)."""
    if not found:
        return {}
    out: Attributes = {}
    for key in keys:
        value: Any = found
        for part in key.split("."):  # "candidate.p95_ms": one level down
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, (bool, int, float)):
            out[f"{prefix}.{key}"] = value
        elif isinstance(value, str) and value:
            out[f"{prefix}.{key}"] = value[:MAX_TEXT]
        elif isinstance(value, (list, tuple)) and value:
            out[f"{prefix}.{key}"] = [str(v)[:MAX_TEXT] for v in value]
    return out


def run_attributes(status: str, exit_status: int, reasons: Iterable[tuple[str, str]],
                   counts: Mapping[str, int], run_id: str, targets: Iterable[str],
                   expected_version: str | None) -> Attributes:
    """The run span's attributes: the verdict and why (``reasons``: (code, message))."""
    reasons = list(reasons)
    attributes: Attributes = {
        "test.suite.name": RUN_SPAN_NAME,
        # Fail closed: only a passing gate is a success (a degraded one is not).
        "test.suite.run.status": "success" if status == "pass" else "failure",
        "prodsmoke.verdict": status,
        "prodsmoke.exit_status": exit_status,
        "prodsmoke.run_id": run_id,
        "prodsmoke.reasons": [code for code, _ in reasons],
        "prodsmoke.reason_messages": [message[:MAX_TEXT] for _, message in reasons],
        "prodsmoke.target": [clean_url(url) for url in targets],
    }
    if expected_version:
        attributes["prodsmoke.expected_version"] = expected_version
    for outcome, count in counts.items():
        attributes[f"prodsmoke.checks.{outcome}"] = int(count)
    return attributes
