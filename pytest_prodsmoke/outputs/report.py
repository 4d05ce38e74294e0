"""Renderings of a verdict: the JSON gate report and the terminal gate block (pure functions),
plus the one function that touches disk, ``write_json_atomic``."""

# No ``from __future__ import annotations`` in this module: typing.NamedTuple compiles every
# annotation given as a string, which made its records several times dearer to define, on
# the start-up of every run (tests/test_startup.py keeps it so).

import contextlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pytest_prodsmoke.gate.events import OUTCOMES, UNKNOWN_LEFTOVER
from pytest_prodsmoke.safety.redact import display_url
from pytest_prodsmoke.settings import Settings

if TYPE_CHECKING:
    from pytest_prodsmoke.gate.rules import CheckResult, Verdict

SCHEMA = "pytest-prodsmoke/gate-report/1"


class RunInfo(NamedTuple):
    """Facts about the run itself, for the report header."""

    run_id: str
    started_at: float  # epoch seconds
    finished_at: float
    plugin_version: str
    pytest_version: str
    workers: int  # 0 when not distributed
    pytest_exit_status: int


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="milliseconds")


def _check_entry(check: "CheckResult") -> dict[str, Any]:
    facts = check.facts
    return {"nodeid": check.nodeid, "outcome": check.outcome, "critical": check.critical,
            "synthetic": check.synthetic, "duration_s": check.duration_s,
            "message": check.message, "versions": dict(check.versions),
            "requests": dict(facts.requests or {}), "trace_id": facts.trace_id or None,
            "trace_url": facts.trace_url or None, "target": facts.target or None,
            "leftovers": [_leftover(d, e) for d, e in check.leftovers],
            **({"parallel_run": dict(facts.parallel_run)} if facts.parallel_run else {}),
            **({"canary": dict(facts.canary)} if facts.canary else {}),
            **({"chaos": dict(facts.chaos)} if facts.chaos else {}),
            **({"variant": facts.variant} if facts.variant else {}),
            **({"attempts": [dict(a) for a in check.attempts]} if check.attempts else {}),
            **({"fixture_errors": [dict(f) for f in check.fixture_errors]}
               if check.fixture_errors else {})}


def _leftover(description: str, error: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"description": description, "error": error}
    if error.startswith(UNKNOWN_LEFTOVER):
        entry["unknown"] = True  # nobody knows whether it is still there
    return entry


def outcome_counts(checks: Iterable["CheckResult"]) -> dict[str, int]:
    return dict(Counter(check.outcome for check in checks))


def variant_summary(checks: tuple["CheckResult", ...]) -> dict[str, dict[str, int]]:
    """Outcomes per A/B variant ({} when no check ran as a variant)."""
    variants = dict.fromkeys(c.facts.variant for c in checks if c.facts.variant)
    return {name: outcome_counts(c for c in checks if c.facts.variant == name) for name in variants}


def dumps_readable(data: dict[str, Any]) -> str:
    """JSON with one top-level key per line and one list element (e.g. a check) per line.

    Readable in a CI log, and fast: each piece goes through the C encoder, which
    ``json.dump(indent=2)`` would bypass (it is ~10x slower on thousands of checks).
    """
    def encode(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {encode(item)}" for item in value)
            lines.append(f"  {encode(key)}: [\n{items}\n  ]")
        else:
            lines.append(f"  {encode(key)}: {encode(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def target_description(settings: Settings, verdict: "Verdict | None" = None) -> dict[str, Any]:
    return {
        "url": display_url(settings.prod_url) if settings.prod_url else None,
        "baseline_url": display_url(settings.baseline_url) if settings.baseline_url else None,
        "expected_version": settings.expect_version,
        # Header values may be routing secrets: only names leave the process.
        "headers": list(settings.header_names),
        "tls_verify": "off (--prod-insecure)" if settings.insecure else (
            str(settings.ca_bundle) if settings.ca_bundle else "on"),
        "observed_versions": dict(verdict.observed_versions) if verdict else {},
        "targets": [_target_entry(label, url, verdict)
                    for label, url in zip(settings.target_labels, settings.prod_urls,
                                          strict=True)],
    }


def _target_entry(label: str, url: str, verdict: "Verdict | None") -> dict[str, Any]:
    """One target's share of the checks (all of them when there is only one target)."""
    checks = [c for c in (verdict.checks if verdict else ())
              if c.facts.target == label or not c.facts.target]
    outcomes = outcome_counts(checks)
    versions: dict[str, int] = {}
    for check in checks:
        for version, count in check.versions.items():
            versions[version] = versions.get(version, 0) + count
    return {"label": label, "url": display_url(url), "counts": outcomes,
            "failed_critical": [c.nodeid for c in checks if c.critical and c.broken],
            "observed_versions": versions}


def build_report(verdict: "Verdict", settings: Settings, run: RunInfo) -> dict[str, Any]:
    """The gate report as JSON-ready data (schema documented in the README)."""
    return {
        "schema": SCHEMA,
        "verdict": verdict.status,
        "exit_status": verdict.exit_status,
        "reasons": [{"code": r.code, "message": r.message, "checks": list(r.checks)}
                    for r in verdict.reasons],
        "target": target_description(settings, verdict),
        "counts": dict(verdict.counts),
        "checks": [_check_entry(c) for c in verdict.checks],
        "leftovers": [{"check": c.nodeid, **_leftover(d, e)}
                      for c in verdict.checks for d, e in c.leftovers]
                     + [{"check": r.get("check") or None, "description": r.get("description"),
                         "error": r.get("error"), "run_id": r.get("run_id") or None,
                         **({"unknown": True} if r.get("outcome") == "unknown" else {})}
                        for r in verdict.replayed if r.get("outcome") != "undone"],
        "replayed": [dict(r) for r in verdict.replayed],
        "chaos_recovered": [dict(r) for r in verdict.chaos_recovered],
        "variants": variant_summary(verdict.checks),
        "options": {"strict": settings.gate_strict, "allow_skips": settings.allow_skips,
                    "timeout_s": settings.timeout_s, "retries": settings.retries},
        "run_id": run.run_id,
        "workers": run.workers,
        "pytest_exit_status": run.pytest_exit_status,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": round(run.finished_at - run.started_at, 3),
        "plugin_version": run.plugin_version,
        "pytest_version": run.pytest_version,
    }


def failure_report(message: str, settings: Settings, run: RunInfo, exit_status: int
                   ) -> dict[str, Any]:
    """A minimal ``fail`` report for when building the real one is impossible."""
    return {
        "schema": SCHEMA,
        "verdict": "fail",
        "exit_status": exit_status,
        "reasons": [{"code": "internal_error", "message": message, "checks": []}],
        "target": target_description(settings),
        "counts": {},
        "checks": [],
        "run_id": run.run_id,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": round(run.finished_at - run.started_at, 3),
        "plugin_version": run.plugin_version,
        "pytest_version": run.pytest_version,
    }


def scrubbed_json(data: dict[str, Any], scrub: Callable[[str], str],
                  scrub_any: Callable[[Any], Any]) -> str:
    """The report's JSON text with secrets masked: one pass over the text, and only if that
    broke the JSON (a secret inside an escape sequence) the slower walk over the data."""
    text = dumps_readable(data)
    clean = scrub(text)
    if clean == text:
        return text
    try:
        json.loads(clean)
    except ValueError:
        return dumps_readable(scrub_any(data))
    return clean


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, dumps_readable(data))


def write_text_atomic(path: Path, text: str) -> None:
    """Write so that readers see the old file or the complete new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def scrub_directory(directory: Path, scrub: Callable[[str], str], since: float) -> int:
    """Rewrite the text files changed since ``since`` with secrets masked; returns how many.

    For directories other tools fill during the run (Allure results): the only place that sees
    what they wrote, whichever hook they took it from.
    """
    changed = 0
    if not directory.is_dir():
        return 0
    for path in directory.rglob("*"):
        try:
            if not path.is_file() or path.stat().st_mtime < since - 1:
                continue
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # binary attachments (screenshots) are left as they are
        clean = scrub(text)
        if clean != text:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(clean)
            os.replace(tmp_name, path)
            changed += 1
    return changed


def remove_stale(path: Path) -> str | None:
    """Delete a report left by an earlier run, so it can never be mistaken for this run's.

    Returns an error text when an old report may still be there.
    """
    try:
        path.unlink()
    except (FileNotFoundError, NotADirectoryError):
        pass  # nothing there: nothing stale
    except OSError as exc:
        return f"cannot remove the previous gate report: {type(exc).__name__}: {exc}"
    return None


class GateCase(NamedTuple):
    """The verdict as one test result for tools that only count test results (JUnit readers,
    Allure): ``failed`` unless the release may go ahead, ``skipped`` (a warning) when degraded,
    ``passed`` only for pass."""

    status: str  # "passed" | "skipped" | "failed"
    message: str  # one line
    details: str  # a line per reason


GATE_CASE_CLASS, GATE_CASE_NAME = "prodsmoke", "gate"  # JUnit classname / name


def gate_case(verdict: "Verdict") -> GateCase:
    title = f"prodsmoke gate: {verdict.status.upper()} (exit {verdict.exit_status})"
    if verdict.status == "pass":
        return GateCase("passed", title, title)
    reasons = [f"[{r.code}] {r.message}" for r in verdict.reasons]
    status = "skipped" if verdict.ok else "failed"
    message = f"{title}: {'; '.join(reasons)}"
    if len(message) > 1000:
        message = message[:999] + "…"
    return GateCase(status, message, "\n".join([title, *reasons]))


def _versions_text(observed: dict[str, int]) -> str:
    return ", ".join(f"{version} x{count}" for version, count in observed.items()) or "none seen"


def observed_text(verdict: "Verdict", probe_seen: str | None = None) -> str:
    """The versions the checks saw, and what the readiness probe saw when they saw none."""
    text = _versions_text(dict(verdict.observed_versions))
    if not verdict.observed_versions and probe_seen:
        text += f" in checks (the readiness probe saw {probe_seen})"
    return text


def render_gate_block(verdict: "Verdict", settings: Settings, report_path: Path | None,
                      report_error: str | None = None, probe_seen: str | None = None
                      ) -> tuple[str, list[str]]:
    """The terminal gate block: a title for the separator line and the lines under it."""
    title = f"prodsmoke gate: {verdict.status.upper()} (exit {verdict.exit_status})"
    lines: list[str] = []
    for reason in verdict.reasons:
        lines.append(f"  [{reason.code}] {reason.message}")
    counts = verdict.counts
    shown = [f"{counts[k]} {k}" for k in OUTCOMES if counts.get(k)]
    lines.append(f"  checks: {counts.get('collected', 0)} collected ({counts.get('critical', 0)} "
                 f"critical): {', '.join(shown) or 'none reported'}")
    target = display_url(settings.prod_url) if settings.prod_url else "-"
    expected = settings.expect_version or "not pinned (--expect-version)"
    lines.append(f"  target: {target}  expected version: {expected}  "
                 f"observed: {observed_text(verdict, probe_seen)}")
    for check in verdict.failed_critical():
        if check.facts.trace_url:
            lines.append(f"  trace of {check.nodeid}: {check.facts.trace_url}")
    for check in verdict.checks:
        chaos = check.facts.chaos
        if chaos and chaos.get("verdict") == "rollback_failed":
            lines.append(f"  !!! FAULT LEFT IN PRODUCTION by {check.nodeid}: {chaos.get('fault')}"
                         f" -- {chaos.get('reason')}")
    for recovered in verdict.chaos_recovered:
        state = ("!!! STILL IN PRODUCTION" if recovered.get("outcome") == "rollback_failed"
                 else str(recovered.get("outcome", "")).replace("_", " "))
        lines.append(f"  chaos ledger: a fault an earlier run left ({recovered.get('check')}): "
                     f"{recovered.get('fault')}: {state}"
                     + (f" -- {recovered.get('error')}; {recovered.get('manual')}"
                        if recovered.get("outcome") == "rollback_failed" else ""))
    if verdict.replayed:
        undone = sum(1 for r in verdict.replayed if r.get("outcome") == "undone")
        count = len(verdict.replayed)
        lines.append(f"  replayed {count} undo action{'s' if count != 1 else ''} an earlier run "
                     f"left (--prodsmoke-state-dir): {undone} undone"
                     + "".join(f"; {r.get('description')}: {r.get('outcome')} {r.get('error')}"
                               .rstrip() for r in verdict.replayed
                               if r.get("outcome") != "undone"))
    if settings.insecure:
        lines.append("  WARNING: --prod-insecure is on: TLS certificates were NOT verified")
    if settings.allow_skips:
        lines.append("  WARNING: --gate-allow-skips is on: skipped critical checks do not fail "
                     "the gate")
    if verdict.status == "degraded":
        tail = ("fails the run (--gate-strict)" if settings.gate_strict
                else "does not fail the run; --gate-strict would")
        lines.append(f"  degraded: only noncritical problems; this {tail}")
    if report_error:
        lines.append(f"  gate report NOT written: {report_error}")
    elif report_path is not None:
        lines.append(f"  report: {report_path}")
    return title, lines
