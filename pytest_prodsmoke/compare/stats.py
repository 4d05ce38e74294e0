"""The statistics behind canary comparison, in pure Python (no scipy).

- ``mann_whitney_u``: is the candidate's latency stochastically greater than the baseline's?
  One-sided, like ``scipy.stats.mannwhitneyu(candidate, baseline, alternative="greater")``:
  the exact distribution when a sample is small (8 or fewer values) and there are no ties,
  otherwise the normal approximation with tie and continuity correction (scipy's
  ``method="auto"``).
- ``fisher_exact_greater``: is the candidate's error rate higher? One-sided Fisher exact test on
  the 2x2 table, like ``scipy.stats.fisher_exact(table, alternative="greater")``.
- ``remove_outliers``: Kayenta's rule, points beyond 3 IQR from the quartiles are dropped.

The tests hold every function to values computed with scipy offline.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the candidate sample: how often a candidate value beats a baseline value
    p_value: float  # one-sided: the candidate is slower
    method: str  # "exact" or "asymptotic"


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties get the average of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        average = (start + end) / 2 + 1
        for position in range(start, end + 1):
            result[order[position]] = average
        start = end + 1
    return result


def mann_whitney_u(candidate: Sequence[float], baseline: Sequence[float]) -> MannWhitney:
    n1, n2 = len(candidate), len(baseline)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs at least one value on each side")
    combined = [*candidate, *baseline]
    ranked = ranks(combined)
    u1 = sum(ranked[:n1]) - n1 * (n1 + 1) / 2
    has_ties = len(set(combined)) < len(combined)
    if min(n1, n2) <= 8 and not has_ties:  # scipy: exact unless both samples exceed 8
        # P(U >= u1) under H0, from the exact distribution of U.
        at_least = sum(_u_counts(n1, n2)[math.ceil(u1):])
        return MannWhitney(u1, at_least / math.comb(n1 + n2, n1), "exact")
    n = n1 + n2
    # A value that occurs once adds 1 - 1 = 0: only ties count.
    tie_term = sum(t ** 3 - t for t in Counter(combined).values())
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    mean = n1 * n2 / 2
    if variance <= 0:  # every value identical: no evidence either way
        return MannWhitney(u1, 1.0, "asymptotic")
    z = (u1 - mean - 0.5) / math.sqrt(variance)
    return MannWhitney(u1, _normal_sf(z), "asymptotic")


@lru_cache(maxsize=64)
def _u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """How many arrangements give each U = 0 .. n1*n2 (the classic recurrence)."""
    # frequencies[m][n] as a list indexed by u; build up row by row.
    table: dict[tuple[int, int], list[int]] = {}
    for m in range(n1 + 1):
        for n in range(n2 + 1):
            if m == 0 or n == 0:
                table[m, n] = [1]
                continue
            # The largest value is either a candidate one (it beats all n baseline values)
            # or a baseline one (it beats nothing).
            with_candidate = [0] * n + table[m - 1, n]
            with_baseline = table[m, n - 1]
            size = m * n + 1
            row = [0] * size
            for u, c in enumerate(with_candidate):
                row[u] += c
            for u, c in enumerate(with_baseline):
                row[u] += c
            table[m, n] = row
    return tuple(table[n1, n2])


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def fisher_exact_greater(candidate_errors: int, candidate_total: int, baseline_errors: int,
                         baseline_total: int) -> float:
    """One-sided p-value that the candidate's error rate is higher than the baseline's."""
    errors = candidate_errors + baseline_errors
    total = candidate_total + baseline_total
    denominator = math.comb(total, candidate_total)
    upper = min(errors, candidate_total)
    # P(X >= candidate_errors), X ~ hypergeometric(total, errors, candidate_total)
    tail = sum(math.comb(errors, k) * math.comb(total - errors, candidate_total - k)
               for k in range(candidate_errors, upper + 1))
    # No clamp needed: tail <= denominator (Vandermonde), and so is an empty table's 1 / 1.
    return tail / denominator


def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("quantile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def remove_outliers(values: Sequence[float], factor: float = 3.0) -> list[float]:
    """Drop values more than ``factor`` interquartile ranges outside the quartiles."""
    if len(values) < 4:
        return list(values)
    q1, q3 = quantile(values, 0.25), quantile(values, 0.75)
    spread = (q3 - q1) * factor
    return [v for v in values if q1 - spread <= v <= q3 + spread]
