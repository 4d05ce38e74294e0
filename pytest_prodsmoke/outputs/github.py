"""GitHub Actions: the gate as a job summary (``$GITHUB_STEP_SUMMARY``) and ``::error``
annotations — one per failed critical check, on its file and line, and one per run-level reason.
Plain functions from a verdict to text."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_prodsmoke.gate.rules import CHECK_FAILED, DEGRADING_CODES, Verdict
from pytest_prodsmoke.safety.redact import display_url
from pytest_prodsmoke.settings import Settings

_ICON = {"pass": "✅", "degraded": "⚠️", "fail": "❌"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def step_summary(verdict: Verdict, settings: Settings, probe_seen: str | None = None) -> str:
    """Markdown for the job summary page."""
    lines = [f"## {_ICON[verdict.status]} prodsmoke gate: {verdict.status.upper()} "
             f"(exit {verdict.exit_status})", ""]
    target = display_url(settings.prod_url) if settings.prod_url else "-"
    versions = ", ".join(f"{v} x{n}" for v, n in verdict.observed_versions.items()) or "none"
    if not verdict.observed_versions and probe_seen:
        versions += f" in checks; the readiness probe saw {probe_seen}"
    lines += [f"**Target** {target} · **expected version** "
              f"{settings.expect_version or 'not pinned'} · **observed** {versions}", ""]
    if verdict.reasons:
        lines += [f"- `{r.code}` {_cell(r.message)}" for r in verdict.reasons] + [""]
    failed = [c for c in verdict.checks if c.outcome in ("failed", "error", "crashed")]
    if failed:
        lines += ["| failed check | critical | message | trace |", "|---|---|---|---|"]
        lines += [f"| `{_cell(c.nodeid)}` | {'yes' if c.critical else 'no'} | "
                  f"{_cell(c.message[:200])} | "
                  f"{f'[trace]({c.facts.trace_url})' if c.facts.trace_url else ''} |"
                  for c in failed] + [""]
    timed = [c for c in verdict.checks if c.facts.requests]
    if timed:
        lines += ["<details><summary>Latency per check</summary>", "",
                  "| check | requests | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|"]
        lines += [f"| `{_cell(c.nodeid)}` | {int(c.facts.requests['count'])} | "
                  f"{c.facts.requests['p50_ms']} | {c.facts.requests['p95_ms']} | "
                  f"{c.facts.requests['max_ms']} |"
                  for c in timed] + ["", "</details>", ""]
    return "\n".join(lines) + "\n"


def _escape(text: str, property_value: bool = False) -> str:
    # GitHub's workflow-command escaping: % first, then line breaks (and , : in properties).
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def workspace_path(rootdir: Path, path: str, workspace: Path) -> str:
    """A rootdir-relative test path as GitHub resolves annotation files: from the workspace."""
    absolute = (rootdir / path).resolve()
    try:
        return absolute.relative_to(workspace.resolve()).as_posix()
    except ValueError:
        return os.path.relpath(absolute, workspace.resolve()).replace(os.sep, "/")


def error_annotations(verdict: Verdict, rootdir: Path, workspace: Path) -> list[str]:
    """``::error`` for every failed critical check (file and line) and for every other reason
    the gate failed for (``::warning`` for those that only degrade)."""
    lines = []
    for check in verdict.failed_critical():
        message = f"{check.nodeid} {check.outcome}: {check.message}"
        if check.facts.trace_url:
            message += f" (trace: {check.facts.trace_url})"
        where = ""
        if check.location is not None:
            path, line = check.location
            where = (f"file={_escape(workspace_path(rootdir, path, workspace), True)},"
                     f"line={line},")
        lines.append(f"::error {where}title="
                     f"{_escape('prodsmoke gate: critical check ' + check.outcome, True)}::"
                     f"{_escape(message)}")
    for reason in verdict.reasons:
        if reason.code == CHECK_FAILED:
            continue  # said above, check by check
        kind = "warning" if reason.code in DEGRADING_CODES else "error"
        lines.append(f"::{kind} title={_escape('prodsmoke gate: ' + reason.code, True)}::"
                     f"{_escape(reason.message)}")
    return lines
