"""Canary comparison: is the candidate worse than the baseline? Plain data in, plain data out.

A canary check runs the same check N times against each side. Each run is a ``Sample``: did
the check pass, and how long did its requests take. ``judge`` returns pass, fail or
inconclusive, with every number behind the answer:

- **fail** when the candidate's error rate is significantly higher (one-sided Fisher exact
  test), or above ``max_error_rate`` whatever the baseline does, or its latency is significantly
  higher (one-sided Mann-Whitney U) *and* materially so: its median above the baseline's by
  more than ``max_slowdown`` (relative) and ``min_slowdown_ms`` (absolute). The effect bound is
  Kayenta's idea: with many samples a 1 % slowdown is significant but not worth a rollback.
  Or its latency **tail** is significantly heavier: more of its runs exceed the baseline's p95
  than the baseline's own (one-sided Fisher exact test on those counts), with its p95 above
  the baseline's by the same material bound. This catches a minority of much slower requests,
  which barely moves Mann-Whitney U or the median (and which the outlier rule would drop).
- **inconclusive** when either side has fewer than ``min_samples`` samples or latency values.
  Inconclusive is never a pass: the check fails and says so.
- **pass** otherwise.

Latency outliers beyond 3 IQR are dropped on each side for the Mann-Whitney test only
(Kayenta's rule) and counted; medians, p95 and the tail test use every value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from pytest_prodsmoke.compare.defaults import CANARY_DEFAULTS
from pytest_prodsmoke.compare.stats import (
    fisher_exact_greater,
    mann_whitney_u,
    quantile,
    remove_outliers,
)

CanaryVerdict = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class CanaryPolicy:
    """What a canary check tolerates; the defaults (``compare.defaults``) are explained there."""

    samples: int = int(CANARY_DEFAULTS["samples"])
    min_samples: int = int(CANARY_DEFAULTS["min_samples"])
    confidence: float = CANARY_DEFAULTS["confidence"]
    max_slowdown: float = CANARY_DEFAULTS["max_slowdown"]
    min_slowdown_ms: float = CANARY_DEFAULTS["min_slowdown_ms"]
    max_error_rate: float = CANARY_DEFAULTS["max_error_rate"]

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    def with_overrides(self, overrides: Mapping[str, Any]) -> CanaryPolicy:
        """This policy with marker arguments applied; ValueError names a bad one."""
        known = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}
        for name, raw in overrides.items():
            if name not in known:
                raise ValueError(f"unknown argument {name}= (known: {', '.join(known)})")
            changes[name] = raw
        return validate_policy(replace(self, **changes))


def validate_policy(policy: CanaryPolicy) -> CanaryPolicy:
    def number(name: str, low: float, high: float, whole: bool = False) -> Any:
        value = getattr(policy, name)
        # The range first: float() of a huge int (10**400) would overflow.
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not (low <= value <= high) or (whole and not float(value).is_integer()):
            kind = "a whole number" if whole else "a number"
            shown = repr(value) if len(repr(value)) <= 40 else f"{type(value).__name__} too large"
            raise ValueError(f"{name}={shown} is not {kind} from {low:g} to {high:g}")
        return int(value) if whole else float(value)

    checked = CanaryPolicy(
        samples=number("samples", 1, 100_000, whole=True),
        min_samples=number("min_samples", 2, 100_000, whole=True),
        confidence=number("confidence", 0.5, 0.9999),
        max_slowdown=number("max_slowdown", 0, 100),
        min_slowdown_ms=number("min_slowdown_ms", 0, 3_600_000),
        max_error_rate=number("max_error_rate", 0, 1),
    )
    return checked


@dataclass(frozen=True)
class Sample:
    ok: bool
    latency_ms: float | None  # None: the run made no request


@dataclass(frozen=True)
class SideSummary:
    samples: int
    errors: int
    error_rate: float
    latency_values: int  # after outlier removal
    outliers_removed: int
    median_ms: float | None  # of every value
    p95_ms: float | None  # of every value
    over_baseline_p95: int = 0  # runs slower than the baseline's p95 (the tail test)


@dataclass(frozen=True)
class CanaryResult:
    verdict: CanaryVerdict
    reasons: tuple[str, ...]
    baseline: SideSummary
    candidate: SideSummary
    error_p_value: float
    u: float | None
    latency_p_value: float | None
    policy: CanaryPolicy
    tail_p_value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """For the gate report: every number behind the verdict, rounded for reading."""
        data = asdict(self)
        return _rounded(data)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def summarize(samples: Sequence[Sample], threshold_ms: float | None = None
              ) -> tuple[SideSummary, list[float], list[float]]:
    """The side's summary, its latencies without outliers (for Mann-Whitney) and all of them."""
    errors = sum(1 for s in samples if not s.ok)
    latencies = [s.latency_ms for s in samples if s.latency_ms is not None]
    kept = remove_outliers(latencies)
    return SideSummary(
        samples=len(samples),
        errors=errors,
        error_rate=errors / len(samples) if samples else 0.0,
        latency_values=len(kept),
        outliers_removed=len(latencies) - len(kept),
        median_ms=quantile(latencies, 0.5) if latencies else None,
        p95_ms=quantile(latencies, 0.95) if latencies else None,
        over_baseline_p95=(sum(1 for v in latencies if v > threshold_ms)
                           if threshold_ms is not None else 0),
    ), kept, latencies


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def judge(baseline: Sequence[Sample], candidate: Sequence[Sample],
          policy: CanaryPolicy) -> CanaryResult:
    threshold = summarize(baseline)[0].p95_ms  # the tail starts at the baseline's p95
    base, base_latency, base_all = summarize(baseline, threshold)
    cand, cand_latency, cand_all = summarize(candidate, threshold)
    error_p = fisher_exact_greater(cand.errors, cand.samples, base.errors, base.samples)
    failures: list[str] = []
    unknowns: list[str] = []

    if min(base.samples, cand.samples) < policy.min_samples:
        unknowns.append(f"too few samples: baseline {base.samples}, candidate {cand.samples}, "
                        f"at least {policy.min_samples} per side are needed")
    if cand.samples and error_p < policy.alpha and cand.error_rate > base.error_rate:
        failures.append(f"error rate {_pct(cand.error_rate)} vs baseline "
                        f"{_pct(base.error_rate)} is significantly higher "
                        f"(Fisher exact p={error_p:.4f} < {policy.alpha:g})")
    if cand.samples and cand.error_rate > policy.max_error_rate:
        failures.append(f"error rate {_pct(cand.error_rate)} is above the allowed "
                        f"{_pct(policy.max_error_rate)} (baseline {_pct(base.error_rate)})")

    u: float | None = None
    latency_p: float | None = None
    tail_p: float | None = None
    # Enough data is judged before outliers are dropped: dropping them must not turn a
    # verdict inconclusive, it only keeps single spikes from deciding the test.
    measured = (base.latency_values + base.outliers_removed,
                cand.latency_values + cand.outliers_removed)
    if min(measured) < policy.min_samples:
        if not unknowns:
            unknowns.append(f"too little latency data: baseline {measured[0]}, candidate "
                            f"{measured[1]} values, at least {policy.min_samples} per side "
                            "are needed")
    else:
        test = mann_whitney_u(cand_latency, base_latency)
        u, latency_p = test.u, test.p_value
        assert base.median_ms is not None and cand.median_ms is not None
        slower_by = cand.median_ms - base.median_ms
        material = (cand.median_ms > base.median_ms * (1 + policy.max_slowdown)
                    and slower_by > policy.min_slowdown_ms)
        if latency_p < policy.alpha and material:
            failures.append(
                f"latency is significantly higher: median {cand.median_ms:.1f} ms vs baseline "
                f"{base.median_ms:.1f} ms (+{slower_by:.1f} ms; Mann-Whitney U={u:g}, "
                f"p={latency_p:.4f} < {policy.alpha:g}; allowed +{policy.max_slowdown:.0%} "
                f"and +{policy.min_slowdown_ms:g} ms)")
        assert threshold is not None and cand.p95_ms is not None
        tail_p = fisher_exact_greater(cand.over_baseline_p95, len(cand_all),
                                      base.over_baseline_p95, len(base_all))
        tail_by = cand.p95_ms - threshold
        if (tail_p < policy.alpha and cand.p95_ms > threshold * (1 + policy.max_slowdown)
                and tail_by > policy.min_slowdown_ms):
            failures.append(
                f"latency tail is significantly heavier: {cand.over_baseline_p95} of "
                f"{len(cand_all)} runs slower than the baseline's p95 ({threshold:.1f} ms) vs "
                f"{base.over_baseline_p95} of {len(base_all)}; p95 {cand.p95_ms:.1f} ms "
                f"(+{tail_by:.1f} ms; Fisher exact p={tail_p:.4f} < {policy.alpha:g})")

    verdict: CanaryVerdict = "fail" if failures else "inconclusive" if unknowns else "pass"
    return CanaryResult(verdict, tuple(failures or unknowns), base, cand, error_p, u, latency_p,
                        policy, tail_p)


def describe(result: CanaryResult) -> str:
    """The numbers behind a verdict, for the terminal."""
    def side(name: str, summary: SideSummary) -> str:
        median = "-" if summary.median_ms is None else f"{summary.median_ms:.1f} ms"
        p95 = "-" if summary.p95_ms is None else f"{summary.p95_ms:.1f} ms"
        return (f"  {name:9} samples {summary.samples}, errors {summary.errors} "
                f"({_pct(summary.error_rate)}), median {median}, p95 {p95}"
                + (f", {summary.outliers_removed} outliers dropped"
                   if summary.outliers_removed else ""))

    stats = f"  error rate p={result.error_p_value:.4f}"
    if result.latency_p_value is not None:
        stats += f"; latency Mann-Whitney U={result.u:g}, p={result.latency_p_value:.4f}"
    if result.tail_p_value is not None:
        stats += (f"; tail {result.candidate.over_baseline_p95} vs "
                  f"{result.baseline.over_baseline_p95} over the baseline p95, "
                  f"p={result.tail_p_value:.4f}")
    lines = [f"canary {result.verdict.upper()}: " + "; ".join(result.reasons)
             if result.reasons else f"canary {result.verdict.upper()}",
             side("baseline", result.baseline), side("candidate", result.candidate), stats]
    return "\n".join(lines)
