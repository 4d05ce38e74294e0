"""What a check's requests did: a readable log for failures and latency figures for reports.
Plain functions on ``ResponseRecord``s."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_prodsmoke.http.client import ResponseRecord

MAX_BUDGET_MS = 3_600_000.0  # an hour: anything above is a typo, not a budget


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is a latency that happened)."""
    return _ranked(sorted(values), fraction)


def timed(records: Sequence[ResponseRecord]) -> list[ResponseRecord]:
    """The check's requests whose latency is known: not the plugin's probes, not the attempts
    the pool retried (their time is part of the attempt that followed)."""
    return [r for r in records if not r.probe and not r.retried]


def latency_summary(records: Sequence[ResponseRecord]) -> dict[str, float | int]:
    """``count``: every request the check sent, retried attempts and requests that got no
    answer included; the latencies: of the requests whose time is known (``timed``)."""
    # One pass and one sort: this runs once for every check.
    count = 0
    millis = []
    for record in records:
        if not record.probe:
            count += 1
            if not record.retried:
                millis.append(record.elapsed_s * 1000)
    millis.sort()
    return {
        "count": count,
        "p50_ms": round(_ranked(millis, 0.50), 1),
        "p95_ms": round(_ranked(millis, 0.95), 1),
        "max_ms": round(millis[-1], 1) if millis else 0.0,
    }


def _ranked(ordered: list[float], fraction: float) -> float:
    """``percentile`` of values already in order."""
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1] if ordered else 0.0


def latency_budget(args: tuple[object, ...], kwargs: dict[str, object]
                   ) -> tuple[float | None, float | None] | str:
    """The (max_ms, p95_ms) of ``@pytest.mark.latency(max_ms=..., p95_ms=...)``, or what is wrong
    with the marker (the check then errors with that message, rather than run unbudgeted)."""
    if args or not kwargs or set(kwargs) - {"max_ms", "p95_ms"}:
        return ("@pytest.mark.latency takes max_ms= and/or p95_ms= (milliseconds), got "
                f"args {args!r} and kwargs {sorted(kwargs)}")
    values: list[float | None] = []
    for name in ("max_ms", "p95_ms"):
        value = kwargs.get(name)
        if value is None:
            values.append(None)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) \
                and 0 < value <= MAX_BUDGET_MS:  # compared first: float(10**400) overflows
            values.append(float(value))
        else:
            shown = repr(value) if len(repr(value)) <= 40 else f"{type(value).__name__} too large"
            return (f"@pytest.mark.latency: {name}={shown} is not a positive number of ms "
                    f"(at most {MAX_BUDGET_MS:g})")
    return values[0], values[1]


def trace_link(template: str | None, trace_id: str) -> str | None:
    return template.replace("{trace_id}", trace_id) if template and trace_id else None


def format_request_log(records: Sequence[ResponseRecord], trace_url: str | None,
                       limit: int = 50) -> str:
    """One line per request: method, path (no query: it may carry secrets), status, latency,
    version that answered, trace id."""
    trace_id = next((r.trace_id for r in records if r.trace_id), "")
    where = (f"; trace: {trace_url}" if trace_url
             else f"; trace id {trace_id}" if trace_id else "")
    count = sum(1 for r in records if not r.probe)
    lines = [f"{count} request{'s' if count != 1 else ''}{where}"]
    shown = records[-limit:]
    if len(records) > limit:
        lines.append(f"... {len(records) - limit} earlier requests not shown")
    for record in shown:
        kind = f"{record.target}, version probe" if record.probe else record.target
        if record.retried:
            why = f": {record.error}" if record.error else ""
            answer = f"{record.status or 'no answer'} (retried{why})"
            lines.append(f"{record.method:6} {record.path}  -> {answer}  [{kind}]")
        elif record.error:
            lines.append(f"{record.method:6} {record.path}  -> no answer ({record.error}) "
                         f"{record.elapsed_s * 1000:7.1f} ms  [{kind}]")
        else:
            lines.append(f"{record.method:6} {record.path}  -> {record.status}  "
                         f"{record.elapsed_s * 1000:7.1f} ms  version "
                         f"{record.version or '<none>'}  [{kind}]")
    return "\n".join(lines)
