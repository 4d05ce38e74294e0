"""The comparison core on plain data: diff, ignore patterns, noise learning, statistics.

Statistical reference values were computed offline with scipy 1.17.1 / numpy
(``mannwhitneyu(candidate, baseline, alternative="greater")``, ``fisher_exact(...,
alternative="greater")``, ``numpy.quantile``) and written in here.
"""

from __future__ import annotations

import pytest

from pytest_prodsmoke.compare.diff import (
    MISSING,
    Answer,
    Part,
    PathPattern,
    PatternError,
    compare_answers,
    compile_patterns,
    diff_json,
    format_path,
    render,
)
from pytest_prodsmoke.compare.stats import (
    fisher_exact_greater,
    mann_whitney_u,
    quantile,
    ranks,
    remove_outliers,
)


def paths(found) -> list[str]:
    return [d.path for d in found]


def test_equal_documents_have_no_differences() -> None:
    doc = {"items": [{"id": 1, "price": 9.5}], "total": 9.5}
    assert diff_json(doc, {"items": [{"id": 1, "price": 9.5}], "total": 9.5}) == []


def test_changed_added_removed_paths() -> None:
    old = {"items": [{"id": 1, "price": 9.5}, {"id": 2}], "currency": "EUR", "odd key": 1}
    new = {"items": [{"id": 1, "price": 10.0}], "currency": "EUR", "extra": True, "odd key": 2}
    found = {d.path: d for d in diff_json(old, new)}
    assert set(found) == {"$.items[0].price", "$.items[1]", "$['odd key']", "$.extra"}
    assert found["$.items[0].price"].kind == "changed"
    assert (found["$.items[0].price"].baseline, found["$.items[0].price"].candidate) == (9.5, 10.0)
    assert found["$.items[1]"].kind == "removed" and found["$.items[1]"].candidate is MISSING
    assert found["$.extra"].kind == "added"


def test_numbers_compare_by_value_but_booleans_are_not_numbers() -> None:
    assert diff_json({"a": 1}, {"a": 1.0}) == []
    assert paths(diff_json(True, 1)) == ["$"]
    assert paths(diff_json({"a": 1}, {"a": "1"})) == ["$.a"]
    assert paths(diff_json({"a": {"b": 1}}, {"a": [1]})) == ["$.a"]


def test_format_path_quotes_keys_that_are_not_identifiers() -> None:
    assert format_path(["items", 0, "unit price", "it's"]) == \
        "$.items[0]['unit price']['it\\'s']"


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("$.generated_at", ("generated_at",), True),
    ("$.generated_at", ("generated_at", "nested"), True),  # an ignored path's subtree too
    ("$.generated_at", ("generated",), False),
    ("$.items[*].price", ("items", 3, "price"), True),
    ("$.items[*].price", ("items", 3, "id"), False),
    ("$.items[2]", ("items", 2, "id"), True),
    ("$.items[2]", ("items", 1, "id"), False),
    ("$..request_id", ("a", "b", 0, "request_id"), True),
    ("$..request_id", ("request_id",), True),
    ("$..request_id", ("a", "request"), False),
    ("$.*.id", ("x", "id"), True),
    ("$['unit price']", ("unit price",), True),
    ("status", (Part("status"),), True),
    ("headers.Date", (Part("headers.date"),), True),
    ("status", ("status",), False),  # a JSON field called status is not the HTTP status
    ("$.status", (Part("status"),), False),
])
def test_ignore_patterns(pattern: str, path: tuple, expected: bool) -> None:
    assert PathPattern.parse(pattern).matches(path) is expected


@pytest.mark.parametrize("bad", ["generated_at", "$.a[", "$.a b", "$[x]"])
def test_bad_ignore_patterns_are_refused(bad: str) -> None:
    with pytest.raises(PatternError, match="ignore pattern"):
        PathPattern.parse(bad)


def answer(body, status=200, headers=None) -> Answer:
    return Answer(status, headers or {}, body, not isinstance(body, str))


def test_noise_learned_from_two_baselines_is_ignored_but_real_changes_are_not() -> None:
    first = answer({"generated_at": "10:00:01", "request_id": "a1", "price": 10})
    second = answer({"generated_at": "10:00:02", "request_id": "b2", "price": 10})
    same_price = answer({"generated_at": "10:00:03", "request_id": "c3", "price": 10})
    new_price = answer({"generated_at": "10:00:03", "request_id": "c3", "price": 12})
    assert compare_answers(first, same_price, baseline2=second).equal
    without_noise = compare_answers(first, same_price)
    assert paths(without_noise.differences) == ["$.generated_at", "$.request_id"]
    result = compare_answers(first, new_price, baseline2=second)
    assert paths(result.differences) == ["$.price"]
    assert paths(result.noise) == ["$.generated_at", "$.request_id"]
    assert set(result.learned_noise) == {"$.generated_at", "$.request_id"}
    assert "(2 ignored as noise ($.generated_at, $.request_id))" in render(result, title="t")


def test_status_headers_and_text_bodies() -> None:
    old = Answer(200, {"content-type": "text/plain"}, "line 1\nline 2\n", False)
    new = Answer(500, {"content-type": "text/html"}, "line 1\nline two\n", False)
    result = compare_answers(old, new)
    assert paths(result.differences) == ["status", "headers.content-type", "body"]
    text = render(result, title="GET /x differs")
    assert "status: baseline 200 -> candidate 500" in text
    assert "-line 2" in text and "+line two" in text
    ignored = compare_answers(old, new, ignore=compile_patterns(["status", "headers.Content-Type"]))
    assert paths(ignored.differences) == ["body"] and ignored.ignored == 2


def test_render_is_bounded_and_masks() -> None:
    old = {"items": [{"price": i, "note": "x" * 500} for i in range(100)]}
    new = {"items": [{"price": i + 1, "note": "y" * 500} for i in range(100)]}
    result = compare_answers(answer(old), answer(new))
    text = render(result, title="GET /catalog differs", max_items=5, value_limit=40,
                  mask=lambda t: t.replace("differs", "DIFFERS"))
    lines = text.splitlines()
    assert lines[0] == "GET /catalog DIFFERS"
    assert len(lines) == 7 and lines[-1] == "  … and 195 more differences"
    assert all(len(line) <= 2 + 16 + 2 * 40 + 30 for line in lines)


def test_ranks_average_ties() -> None:
    assert ranks([10, 20, 20, 30]) == [1.0, 2.5, 2.5, 4.0]


@pytest.mark.parametrize(("candidate", "baseline", "u", "p", "method"), [
    ([12.1, 15.3, 14.2, 18.9, 16.0], [10.2, 11.5, 13.3, 9.8, 12.7, 11.1],
     28.0, 0.008658008658008658, "exact"),
    ([10.2, 11.5, 13.3, 9.8, 12.7, 11.1], [12.1, 15.3, 14.2, 18.9, 16.0],
     2.0, 0.9956709956709956, "exact"),
    ([5, 6, 6, 7, 8, 9, 9, 10, 11, 12], [4, 5, 5, 6, 7, 7, 8, 8, 9, 10],
     67.5, 0.09760039421027111, "asymptotic"),
    ([105.01, 107.99, 102.26, 96.09, 100.45, 95.08, 105.6, 118.4, 100.08, 98.8, 109.9, 108.57,
      106.05, 95.7, 104.71, 111.95, 91.56, 100.42, 85.99, 92.1, 86.58, 102.65, 92.33, 107.71,
      106.57, 103.13, 79.83, 99.61, 104.51, 106.13, 89.7, 100.22, 95.21, 96.91, 115.61, 96.92,
      104.67, 113.84, 99.16, 103.88],
     [82.62, 86.63, 86.39, 96.48, 76.87, 98.11, 90.43, 108.94, 109.57, 113.92, 107.67, 99.47,
      108.6, 115.05, 93.46, 106.1, 99.57, 114.4, 91.63, 96.98, 103.62, 102.58, 83.61, 103.6,
      98.82, 97.6, 98.45, 102.19, 81.84, 115.52, 91.39, 77.59, 99.18, 114.57, 94.81, 115.51,
      115.57, 91.37, 75.35, 87.65],
     916.0, 0.13319826359822434, "asymptotic"),
])
def test_mann_whitney_matches_scipy(candidate, baseline, u, p, method) -> None:
    result = mann_whitney_u(candidate, baseline)
    assert result.u == u
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.method == method


def test_mann_whitney_on_identical_values_finds_nothing() -> None:
    assert mann_whitney_u([5.0] * 10, [5.0] * 10).p_value == 1.0


@pytest.mark.parametrize(("table", "p"), [
    ((5, 30, 0, 30), 0.02609277430865299),
    ((3, 30, 0, 30), 0.11864406779661019),
    ((10, 50, 2, 50), 0.01387312957408518),
    ((0, 20, 0, 20), 1.0),
    ((4, 10, 4, 10), 0.6750416765896641),
])
def test_fisher_exact_matches_scipy(table, p) -> None:
    assert fisher_exact_greater(*table) == pytest.approx(p, rel=1e-9)


def test_quantile_matches_numpy_and_outliers_use_three_iqr() -> None:
    assert quantile([1, 2, 3, 4, 10], 0.95) == pytest.approx(8.8)
    assert quantile([3.5, 1.0, 2.0], 0.5) == 2.0
    assert quantile([1, 2, 3, 4], 0.25) == pytest.approx(1.75)
    values = [10.0, 11, 12, 10, 11, 12, 10, 11, 500]
    assert remove_outliers(values) == values[:-1]


# --- canary verdicts ---------------------------------------------------------------------------

from pytest_prodsmoke.compare.canary import (  # noqa: E402
    CanaryPolicy,
    Sample,
    describe,
    judge,
)


def samples(latencies, errors: int = 0) -> list[Sample]:
    return [Sample(ok=i >= errors, latency_ms=ms) for i, ms in enumerate(latencies)]


STEADY = [10.0 + (i % 7) * 0.5 for i in range(30)]  # 10.0 .. 13.0 ms


def test_canary_equal_sides_pass() -> None:
    result = judge(samples(STEADY), samples(list(reversed(STEADY))), CanaryPolicy())
    assert result.verdict == "pass" and result.reasons == ()
    assert result.candidate.median_ms == result.baseline.median_ms


def test_canary_fails_on_significantly_higher_error_rate() -> None:
    result = judge(samples(STEADY), samples(STEADY, errors=6), CanaryPolicy(max_error_rate=1))
    assert result.verdict == "fail"
    assert "significantly higher" in result.reasons[0] and "Fisher" in result.reasons[0]
    assert result.error_p_value < 0.05


def test_canary_error_rate_bound_holds_even_when_the_baseline_is_as_bad() -> None:
    result = judge(samples(STEADY, errors=15), samples(STEADY, errors=15), CanaryPolicy())
    assert result.verdict == "fail"
    assert result.reasons == ("error rate 50.0% is above the allowed 10.0% (baseline 50.0%)",)


def test_canary_fails_on_material_slowdown_only() -> None:
    slow = [ms + 40 for ms in STEADY]
    result = judge(samples(STEADY), samples(slow), CanaryPolicy())
    assert result.verdict == "fail" and "latency is significantly higher" in result.reasons[0]
    assert result.latency_p_value is not None and result.latency_p_value < 1e-6
    # 1 ms slower is significant with these samples, but under the effect bound: a pass.
    slightly = [ms + 1 for ms in STEADY]
    nudged = judge(samples(STEADY), samples(slightly), CanaryPolicy())
    assert nudged.latency_p_value is not None and nudged.latency_p_value < 0.05
    assert nudged.verdict == "pass"


def test_canary_with_too_few_samples_or_no_data_is_inconclusive() -> None:
    few = judge(samples(STEADY[:5]), samples(STEADY[:5]), CanaryPolicy())
    assert few.verdict == "inconclusive" and "too few samples" in few.reasons[0]
    no_data = [Sample(ok=True, latency_ms=None)] * 30
    blind = judge(no_data, no_data, CanaryPolicy())
    assert blind.verdict == "inconclusive" and "too little latency data" in blind.reasons[0]
    # A failure found with few samples still fails: fail outranks inconclusive.
    broken = judge(samples(STEADY[:5]), samples(STEADY[:5], errors=5), CanaryPolicy())
    assert broken.verdict == "fail"


def test_canary_outliers_are_dropped_and_reported() -> None:
    spiky = [*STEADY[:-1], 5000.0]
    result = judge(samples(STEADY), samples(spiky), CanaryPolicy())
    assert result.candidate.outliers_removed == 1 and result.verdict == "pass"
    text = describe(result)
    assert "1 outliers dropped" in text and "Mann-Whitney" in text
    assert result.as_dict()["candidate"]["outliers_removed"] == 1


@pytest.mark.parametrize(("overrides", "message"), [
    ({"samples": 0}, "samples=0 is not a whole number"),
    ({"samples": 2.5}, "samples=2.5 is not a whole number"),
    ({"confidence": 1.5}, "confidence=1.5 is not a number"),
    ({"max_error_rate": "x"}, "max_error_rate='x'"),
    ({"bogus": 1}, "unknown argument bogus="),
])
def test_canary_policy_overrides_are_validated(overrides, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        CanaryPolicy().with_overrides(overrides)
    assert CanaryPolicy().with_overrides({"samples": 50}).samples == 50


def test_canary_fails_on_a_heavier_tail_that_the_median_does_not_show() -> None:
    # A quarter of the candidate's runs take 200 ms: the median does not move, the outlier rule
    # would drop them, yet users would feel it. The tail test catches it.
    tail = [200.0 if i % 4 == 0 else ms for i, ms in enumerate(STEADY)]
    result = judge(samples(STEADY), samples(tail), CanaryPolicy())
    assert result.verdict == "fail"
    assert result.candidate.median_ms == pytest.approx(result.baseline.median_ms, abs=1)
    assert any("latency tail is significantly heavier" in r for r in result.reasons)
    assert result.candidate.p95_ms == 200.0  # reported on every value, outliers included
    assert result.tail_p_value is not None and result.tail_p_value < 0.05
    # One slow run in thirty is a spike, not a tail.
    spike = [200.0 if i == 3 else ms for i, ms in enumerate(STEADY)]
    assert judge(samples(STEADY), samples(spike), CanaryPolicy()).verdict == "pass"


def test_binary_bodies_are_compared_as_bytes() -> None:
    from pytest_prodsmoke.compare.diff import Answer, Bytes, answer_differences, first_difference

    old, new = b"\x89PNG" + bytes(100), b"\x89PNG" + bytes(50) + b"\x01" + bytes(49)
    assert first_difference(old, new) == 54
    assert first_difference(b"abc", b"abcd") == 3 and first_difference(b"", b"x") == 0
    [difference] = answer_differences(Answer(200, {}, old, False), Answer(200, {}, new, False))
    assert difference.path == "body" and isinstance(difference.baseline, Bytes)
    assert difference.note == "first difference at byte 54"
    assert str(difference.candidate).startswith("104 bytes, sha256 ")
    assert answer_differences(Answer(200, {}, old, False), Answer(200, {}, old, False)) == []


def test_values_the_plugin_sent_are_masked_where_echoed() -> None:
    from pytest_prodsmoke.compare.diff import mask_sent_values

    body = {"headers": {"traceparent": "00-abc-def-01", "X-Other": "x"},
            "log": ["saw 00-abc-def-01"]}
    masked = mask_sent_values(body, {"00-abc-def-01": "<sent traceparent>"})
    assert masked == {"headers": {"traceparent": "<sent traceparent>", "X-Other": "x"},
                      "log": ["saw <sent traceparent>"]}
    assert mask_sent_values(body, {}) is body


def test_dotted_names_with_hyphens_are_patterns() -> None:
    from pytest_prodsmoke.compare.diff import PathPattern

    assert PathPattern.parse("$.headers.X-Canary").matches(("headers", "X-Canary"))
    assert PathPattern.parse("$..X-Request-Id").matches(("a", 0, "X-Request-Id"))


# -------------------------------------------------- what mutation testing found untested (#11)

def test_statistics_edges_against_scipy() -> None:
    """Values computed offline with scipy 1.17 / numpy: the exact/asymptotic switch at 8
    samples, ties at the top of the ranks, a tiny variance, empty sides."""
    from pytest_prodsmoke.compare.stats import MannWhitney

    odd, even = [float(i * 2 + 1) for i in range(9)], [float(i * 2) for i in range(9)]
    eight = mann_whitney_u(odd[:8], even[:8])
    assert (eight.u, eight.method) == (36.0, "exact")
    assert eight.p_value == pytest.approx(0.3604506604506604, rel=1e-12)
    nine = mann_whitney_u(odd, even)
    assert (nine.u, nine.method) == (45.0, "asymptotic")
    assert nine.p_value == pytest.approx(0.36196601980698784, rel=1e-9)
    tied = mann_whitney_u([1.0, 2.0, 3.0, 9.0, 9.0], [4.0, 5.0, 6.0, 9.0, 9.0, 9.0])
    assert (tied.u, tied.method) == (9.0, "asymptotic")
    assert tied.p_value == pytest.approx(0.8933707471960455, rel=1e-9)
    small_variance = mann_whitney_u([2.0], [1.0, 2.0])  # variance 0.5: still a statistic
    assert (small_variance.u, small_variance.p_value) == (1.5, pytest.approx(0.5))
    assert mann_whitney_u([1.0], [2.0]) == MannWhitney(0.0, 1.0, "exact")
    assert mann_whitney_u([5.0, 5.0], [5.0, 5.0, 5.0]) == MannWhitney(3.0, 1.0, "asymptotic")
    for candidate, baseline in (([], [1.0]), ([1.0], []), ([], [])):
        with pytest.raises(ValueError, match=r"^Mann-Whitney U needs at least one value on "
                                             r"each side$"):
            mann_whitney_u(candidate, baseline)
    assert ranks([1.0, 3.0, 3.0]) == [1.0, 2.5, 2.5]  # a tie at the very top


def test_fisher_quantile_and_outlier_edges() -> None:
    assert fisher_exact_greater(0, 0, 0, 0) == 1.0
    assert fisher_exact_greater(3, 3, 0, 3) == pytest.approx(0.05)
    assert fisher_exact_greater(5, 5, 0, 5) == pytest.approx(0.003968253968253969)
    with pytest.raises(ValueError, match=r"^quantile of no values$"):
        quantile([], 0.5)
    assert quantile([1.0, 2.0], 1.0) == 2.0 and quantile([5.0], 0.5) == 5.0
    assert (quantile([1.0, 2.0, 3.0, 10.0], 0.25), quantile([1.0, 2.0, 3.0, 10.0], 0.75)) == (
        1.75, 4.75)
    # The factor (3) and the formula (quartiles -/+ factor * IQR), both bounds inclusive.
    assert remove_outliers([10.0, 11.0, 12.0, 13.0, 14.0, 40.0]) == [10.0, 11.0, 12.0, 13.0,
                                                                      14.0]
    assert remove_outliers([0.0, 0.0, 0.0, 8.0]) == [0.0, 0.0, 0.0, 8.0]  # 8 is the bound
    assert remove_outliers([-8.0, 0.0, 0.0, 0.0]) == [-8.0, 0.0, 0.0, 0.0]  # so is -8
    assert remove_outliers([0.0, 0.0, 0.0, 0.0, 1.0]) == [0.0, 0.0, 0.0, 0.0]  # five: dropped
    assert remove_outliers([1.0, 2.0, 30.0]) == [1.0, 2.0, 30.0]  # fewer than four: kept
    assert remove_outliers([1.0, 2.0, 3.0, 4.0, 9.5], factor=1.0) == [1.0, 2.0, 3.0, 4.0]
    assert remove_outliers([1.0, 2.0, 3.0, 4.0, 9.5]) == [1.0, 2.0, 3.0, 4.0, 9.5]
    assert remove_outliers([1.0, 2.0, 3.0, 4.0, 11.0]) == [1.0, 2.0, 3.0, 4.0]  # 3 IQR, not 4


def test_canary_description_in_full() -> None:
    """Every word and number of describe() and as_dict(), for a failing and a blind canary."""
    tail = [200.0 if i % 4 == 0 else ms for i, ms in enumerate(STEADY)]
    result = judge(samples(STEADY, errors=1), samples(tail, errors=2),
                   CanaryPolicy(max_error_rate=1))
    assert describe(result) == (
        "canary FAIL: latency tail is significantly heavier: 8 of 30 runs slower than the "
        "baseline's p95 (13.0 ms) vs 0 of 30; p95 200.0 ms (+187.0 ms; Fisher exact p=0.0023 "
        "< 0.05)\n"
        "  baseline  samples 30, errors 1 (3.3%), median 11.5 ms, p95 13.0 ms\n"
        "  candidate samples 30, errors 2 (6.7%), median 12.0 ms, p95 200.0 ms\n"
        "  error rate p=0.5000; latency Mann-Whitney U=577.5, p=0.0292; tail 8 vs 0 over the "
        "baseline p95, p=0.0023")
    data = result.as_dict()
    assert data["tail_p_value"] == 0.002288 and data["latency_p_value"] == 0.029204
    assert data["reasons"] == list(result.reasons) and data["u"] == 577.5
    assert data["policy"]["max_error_rate"] == 1 and result.policy == CanaryPolicy(max_error_rate=1)
    assert result.candidate.over_baseline_p95 == 8 and result.baseline.over_baseline_p95 == 0

    blind = judge([Sample(ok=True, latency_ms=None)] * 30, samples(STEADY[:25]), CanaryPolicy())
    assert describe(blind) == (
        "canary INCONCLUSIVE: too little latency data: baseline 0, candidate 25 values, at "
        "least 20 per side are needed\n"
        "  baseline  samples 30, errors 0 (0.0%), median -, p95 -\n"
        "  candidate samples 25, errors 0 (0.0%), median 11.5 ms, p95 13.0 ms\n"
        "  error rate p=1.0000")
    assert (blind.u, blind.latency_p_value, blind.tail_p_value) == (None, None, None)
    assert blind.candidate.over_baseline_p95 == 0  # no baseline p95: nothing to be over
    spiky = judge(samples(STEADY), samples([*STEADY[:-1], 5000.0]), CanaryPolicy())
    assert describe(spiky).splitlines()[:3] == [
        "canary PASS",
        "  baseline  samples 30, errors 0 (0.0%), median 11.5 ms, p95 13.0 ms",
        "  candidate samples 30, errors 0 (0.0%), median 11.5 ms, p95 13.0 ms, 1 outliers "
        "dropped"]
    empty = judge([], [], CanaryPolicy())
    assert (empty.baseline.error_rate, empty.candidate.error_rate) == (0.0, 0.0)
    assert empty.verdict == "inconclusive"


def test_canary_counts_runs_over_the_baseline_p95_strictly() -> None:
    base = [10.0] * 19 + [12.0, 14.0]  # 21 runs: the p95 is exactly the 12.0 run
    result = judge(samples(base), samples(base), CanaryPolicy())
    assert result.baseline.p95_ms == 12.0
    assert result.baseline.over_baseline_p95 == 1  # only 14.0: 12.0 is not over 12.0


def test_canary_sample_and_error_boundaries() -> None:
    policy = CanaryPolicy(min_samples=20)
    exactly = judge(samples(STEADY[:20]), samples(STEADY[:20]), policy)
    assert exactly.verdict == "pass"  # as many samples as needed is enough
    one_error = judge(samples(STEADY), samples(STEADY, errors=1), CanaryPolicy())
    assert one_error.verdict == "pass"  # a higher rate, but not significantly so
    at_bound = judge(samples(STEADY, errors=3), samples(STEADY, errors=3), CanaryPolicy())
    assert at_bound.candidate.error_rate == 0.1 and at_bound.verdict == "pass"  # 10% allowed
    # p exactly alpha is not significant: 1 error of 1 vs 0 of 3 gives p = 1/4.
    quarter = judge(samples([10.0, 11.0, 12.0]), samples([10.0], errors=1),
                    CanaryPolicy(confidence=0.75, min_samples=2, max_error_rate=1))
    assert quarter.error_p_value == 0.25 and quarter.verdict == "inconclusive"
    # Enough latency data is counted with the outliers: 19 kept + 1 dropped = 20.
    spiked = judge(samples(STEADY[:20]), samples([*STEADY[:19], 5000.0]), policy)
    assert spiked.candidate.outliers_removed == 1 and spiked.verdict == "pass"
    lopsided = judge(samples(STEADY[:25]), samples(STEADY[:10]), CanaryPolicy(min_samples=2))
    assert lopsided.verdict == "pass"
    short = judge(samples(STEADY[:25]), [*samples(STEADY[:10]),
                                         *[Sample(ok=True, latency_ms=None)] * 15], policy)
    assert short.reasons == ("too little latency data: baseline 25, candidate 10 values, at "
                             "least 20 per side are needed",)


def _flat(ms: float, count: int = 30) -> list[Sample]:
    return [Sample(ok=True, latency_ms=ms) for _ in range(count)]


def test_canary_material_slowdown_bounds_are_exclusive() -> None:
    """Both halves of the effect bound, each at its exact limit: not yet material."""
    relative = judge(_flat(20.0), _flat(30.0), CanaryPolicy(max_slowdown=0.5, min_slowdown_ms=1))
    assert relative.verdict == "pass"  # 30 is not more than 20 * 1.5
    absolute = judge(_flat(20.0), _flat(30.0), CanaryPolicy(max_slowdown=0.25,
                                                             min_slowdown_ms=10))
    assert absolute.verdict == "pass"  # +10 ms is not more than 10 ms
    beyond = judge(_flat(20.0), _flat(45.0), CanaryPolicy(max_slowdown=0.5, min_slowdown_ms=1))
    assert beyond.verdict == "fail" and beyond.reasons[0].startswith(
        "latency is significantly higher: median 45.0 ms vs baseline 20.0 ms (+25.0 ms;")
    tiny = judge(_flat(3.0), _flat(4.5), CanaryPolicy())  # +50 %, but only +1.5 ms
    assert tiny.verdict == "pass"


def test_canary_tail_bounds_are_exclusive() -> None:
    def quarter_at(ms: float) -> list[Sample]:
        return [Sample(ok=True, latency_ms=ms if i % 4 == 0 else 20.0) for i in range(30)]

    at_relative = judge(_flat(20.0), quarter_at(30.0), CanaryPolicy(max_slowdown=0.5,
                                                                    min_slowdown_ms=1))
    assert at_relative.verdict == "pass"  # p95 30 is not more than 20 * 1.5
    at_absolute = judge(_flat(20.0), quarter_at(30.0), CanaryPolicy(max_slowdown=0.1,
                                                                    min_slowdown_ms=10))
    assert at_absolute.verdict == "pass"  # p95 +10 ms is not more than 10 ms
    beyond = judge(_flat(20.0), quarter_at(45.0), CanaryPolicy(max_slowdown=0.5,
                                                               min_slowdown_ms=1))
    assert beyond.verdict == "fail" and beyond.reasons[0].startswith(
        "latency tail is significantly heavier: 8 of 30 runs")
    small = [Sample(ok=True, latency_ms=17.0 if i % 4 == 0 else ms) for i, ms in
             enumerate(STEADY)]
    assert judge(samples(STEADY), small, CanaryPolicy()).verdict == "pass"  # +4 ms < 5 ms


def test_canary_policy_bounds_types_and_overrides() -> None:
    def policy(**overrides):
        return CanaryPolicy().with_overrides(overrides)

    for name, low, high in (("samples", 1, 100_000), ("min_samples", 2, 100_000),
                            ("confidence", 0.5, 0.9999), ("max_slowdown", 0, 100),
                            ("min_slowdown_ms", 0, 3_600_000), ("max_error_rate", 0, 1)):
        assert getattr(policy(**{name: low}), name) == low
        assert getattr(policy(**{name: high}), name) == high
    for name, bad in (("samples", 100_001), ("min_samples", 1), ("min_samples", 100_001),
                      ("min_samples", 2.5), ("max_slowdown", 100.5),
                      ("min_slowdown_ms", 3_600_001), ("max_error_rate", 1.5)):
        with pytest.raises(ValueError):
            policy(**{name: bad})
    assert policy(min_slowdown_ms=0.5).min_slowdown_ms == 0.5
    chosen = policy(min_samples=7, max_slowdown=0.3, min_slowdown_ms=2, samples=9)
    assert (chosen.min_samples, chosen.max_slowdown, chosen.min_slowdown_ms, chosen.samples) == (
        7, 0.3, 2.0, 9)
    assert type(chosen.samples) is int and type(chosen.min_samples) is int
    assert type(chosen.confidence) is float and type(chosen.max_slowdown) is float
    with pytest.raises(ValueError, match=r"^samples=10{39} is not a whole number from 1 to "
                                         r"100000$"):
        policy(samples=10**39)
    with pytest.raises(ValueError, match=r"^samples=int too large is not a whole number "
                                         r"from 1 to 100000$"):
        policy(samples=10**40)
    with pytest.raises(ValueError, match=r"^unknown argument bogus= \(known: samples, "
                                         r"min_samples, confidence, max_slowdown, "
                                         r"min_slowdown_ms, max_error_rate\)$"):
        policy(bogus=1)


def test_diff_records_kinds_values_and_keys_exactly() -> None:
    from pytest_prodsmoke.compare.diff import ADDED, CHANGED, REMOVED, Difference

    found = diff_json({"gone": 1, "same": 2, "list": [1, 2], "short": [1, 2, 3]},
                      {"same": 2, "new": 3, "list": [1, 2, 4], "short": [1]})
    assert found == [
        Difference("$.gone", REMOVED, 1, MISSING),
        Difference("$.list[2]", ADDED, MISSING, 4),
        Difference("$.short[1]", REMOVED, 2, MISSING),
        Difference("$.short[2]", REMOVED, 3, MISSING),
        Difference("$.new", ADDED, MISSING, 3),
    ]
    assert [d.key for d in found] == [("gone",), ("list", 2), ("short", 1), ("short", 2),
                                      ("new",)]
    assert diff_json(1, 1.0) == [] and diff_json([1], [1.0]) == []
    assert diff_json(True, 1) == [Difference("$", CHANGED, True, 1)]
    assert diff_json(1, True) == [Difference("$", CHANGED, 1, True)]


def test_answer_differences_exactly() -> None:
    from pytest_prodsmoke.compare.diff import (
        ADDED,
        CHANGED,
        REMOVED,
        Bytes,
        Difference,
        answer_differences,
    )

    old = Answer(200, {"a": "1", "only-old": "x", "same": "s"}, {"k": 1}, True)
    new = Answer(500, {"a": "2", "only-new": "y", "same": "s"}, {"k": 1}, True)
    found = answer_differences(old, new)
    assert found == [Difference("status", CHANGED, 200, 500),
                     Difference("headers.a", CHANGED, "1", "2"),
                     Difference("headers.only-new", ADDED, MISSING, "y"),
                     Difference("headers.only-old", REMOVED, "x", MISSING)]
    assert [d.key for d in found] == [(Part("status"),), (Part("headers.a"),),
                                      (Part("headers.only-new"),), (Part("headers.only-old"),)]
    # JSON on one side only is compared as a whole body, not path by path.
    mixed = answer_differences(Answer(200, {}, {"k": 1}, True), Answer(200, {}, "text", False))
    assert mixed == [Difference("body", CHANGED, {"k": 1}, "text")]
    assert mixed[0].key == (Part("body"),)
    # Bytes on either side: both compared as bytes.
    [binary] = answer_differences(Answer(200, {}, b"abc", False), Answer(200, {}, "abd", False))
    assert binary == Difference("body", CHANGED, Bytes.of(b"abc"), Bytes.of(b"abd"))
    assert binary.key == (Part("body"),) and binary.note == "first difference at byte 2"
    [other] = answer_differences(Answer(200, {}, "abc", False), Answer(200, {}, b"abc!", False))
    assert other.baseline == Bytes.of(b"abc") and other.candidate == Bytes.of(b"abc!")
    assert str(Bytes.of(b"abc")) == ("3 bytes, sha256 " +
                                     __import__("hashlib").sha256(b"abc").hexdigest()[:16])


def test_first_difference_at_every_offset() -> None:
    from pytest_prodsmoke.compare.diff import first_difference

    base = bytes(range(40))
    for offset in range(40):
        changed = base[:offset] + b"\xff" + base[offset + 1:]
        assert first_difference(base, changed) == offset, offset
    assert first_difference(base, base) == 40


def test_noise_and_ignore_details() -> None:
    from pytest_prodsmoke.compare.diff import CHANGED, Difference

    # A top-level scalar that is noisy between the baselines does not hide a status change.
    noisy = compare_answers(Answer(200, {}, 1, True), Answer(500, {}, 3, True),
                            baseline2=Answer(200, {}, 2, True))
    assert noisy.differences == (Difference("status", CHANGED, 200, 500),)
    assert noisy.noise == (Difference("$", CHANGED, 1, 3),)
    calm = compare_answers(Answer(200, {}, 1, True), Answer(200, {}, 3, True),
                           baseline2=Answer(200, {}, 1, True))
    assert calm.differences == (Difference("$", CHANGED, 1, 3),) and calm.noise == ()
    # Ignore patterns also decide what is learned as noise, and are counted.
    ignored = compare_answers(Answer(200, {}, {"ts": 1, "id": 1}, True),
                              Answer(200, {}, {"ts": 9, "id": 9}, True),
                              baseline2=Answer(200, {}, {"ts": 2, "id": 2}, True),
                              ignore=compile_patterns(["$.ts"]))
    assert ignored.learned_noise == ("$.id",) and ignored.ignored == 1
    assert [d.path for d in ignored.noise] == ["$.id"] and ignored.differences == ()


def test_rendering_exactly() -> None:
    from pytest_prodsmoke.compare.diff import (
        CHANGED,
        Bytes,
        Comparison,
        Difference,
        shorten,
        show_value,
    )

    comparison = Comparison(
        (Difference("body", CHANGED, "a\nb", "a\nc"),
         Difference("body", CHANGED, Bytes(3, "ab" * 32), Bytes(4, "cd" * 32),
                    note="first difference at byte 0"),
         Difference("status", CHANGED, 200, 500)),
        noise=(Difference("$.x", CHANGED, 1, 2),), ignored=2,
        learned_noise=("$.a", "$.b", "$.c", "$.d", "$.e", "$.f"))
    assert render(comparison, title="T").splitlines() == [
        "T", "  body (text):", "    --- baseline", "    +++ candidate", "    @@ -1,2 +1,2 @@",
        "     a", "    -b", "    +c",
        f"  body (binary): baseline 3 bytes, sha256 {'ab' * 8} -> candidate 4 bytes, sha256 "
        f"{'cd' * 8}; first difference at byte 0",
        "  status: baseline 200 -> candidate 500",
        "  (1 ignored as noise ($.a, $.b, $.c, $.d, $.e, …), 2 ignored by pattern)"]
    five = Comparison((Difference("status", CHANGED, 200, 500),), noise=(
        Difference("$.x", CHANGED, 1, 2),), learned_noise=("$.a", "$.b", "$.c", "$.d", "$.e"))
    assert render(five, title="T").splitlines()[-1] == (
        "  (1 ignored as noise ($.a, $.b, $.c, $.d, $.e))")
    text = "\n".join(f"line {i}" for i in range(30))
    long_diff = render(Comparison((Difference("body", CHANGED, text, text.replace("line",
                                                                                  "LINE")),)),
                       title="T", max_items=5).splitlines()
    assert long_diff[1:] == ["  body (text):", "    --- baseline", "    +++ candidate",
                             "    @@ -1,30 +1,30 @@", "    -line 0", "    -line 1",
                             "    … 58 more diff lines"]
    exact = render(Comparison((Difference("body", CHANGED, "a", "b"),)), title="T",
                   max_items=5).splitlines()
    assert exact[-1] == "    +b"  # five diff lines in five: nothing more to say
    assert shorten("abcdef", 6) == "abcdef" and shorten("abcdef", 4) == "abc…"
    assert shorten("abcdef", 1) == "…" and shorten("abcdef", 0) == "…"
    assert show_value(MISSING) == "<missing>" and show_value("é") == '"é"'
    assert show_value({"b": 1, "a": "é"}) == '{"a": "é", "b": 1}'
    assert show_value(Bytes(1, "ff" * 32)) == f'"1 bytes, sha256 {"ff" * 8}"'


def test_path_details() -> None:
    from pytest_prodsmoke.compare.diff import mask_sent_values, parse_body

    assert format_path(["a\\b", "it's", 0]) == "$['a\\\\b']['it\\'s'][0]"
    assert mask_sent_values({"00-abc": {"00-abc": "x 00-abc"}}, {"00-abc": "<s>"}) == {
        "<s>": {"<s>": "x <s>"}}
    assert parse_body('{"a": 1}', "Application/JSON; charset=utf-8") == ({"a": 1}, True)
    assert parse_body('{"a": 1}', "text/plain") == ('{"a": 1}', False)
    assert parse_body("{not json", "application/json") == ("{not json", False)
    assert parse_body('{"a": 1}', None) == ('{"a": 1}', False)


@pytest.mark.parametrize(("pattern", "key", "expected"), [
    ("$.id", ("items", 0, "id"), False),  # not at any depth: that is $..id
    ("$..id", ("items", 0, "id"), True),
    ("$.a.b", ("a", "x", "b"), False),
    ("$.a.a", ("a", "x"), False),
    ("$.x..x", ("x",), False),
    ("$.a", ("x", "a"), False),
    ("$[0]", ("x", 0), False),
    ("$['odd key']", ("x", "odd key"), False),
    ("$['it\\'s']", ("it's",), True),
    ("$..*", ("a", "b", 3), True),
    ("$.*", ("a",), True),
])
def test_pattern_positions(pattern: str, key: tuple, expected: bool) -> None:
    assert PathPattern.parse(pattern).matches(key) is expected


def test_pattern_texts_and_errors() -> None:
    assert PathPattern.parse(" status ").text == "status"
    assert PathPattern.parse("headers.Date").text == "headers.Date"
    assert PathPattern.parse("$.a").text == "$.a"
    with pytest.raises(PatternError, match=r"^ignore pattern 'id' must start with '\$' \(like "
                                           r"\$\.items\[\*\]\.id\), or be 'status' or "
                                           r"'headers\.<Name>'$"):
        PathPattern.parse("id")


def test_a_body_field_named_like_a_part_of_the_answer_is_not_that_part() -> None:
    """`$.status` is a JSON field, `status` the HTTP status: neither pattern, nor noise learned
    on one, may hide a change of the other."""
    old = Answer(200, {"x": "1"}, {"status": "ok", "headers.x": 1, "body": 1}, True)
    new = Answer(500, {"x": "2"}, {"status": "down", "headers.x": 2, "body": 2}, True)
    by_json = compare_answers(old, new, ignore=compile_patterns(
        ["$.status", "$['headers.x']", "$.body"]))
    assert paths(by_json.differences) == ["status", "headers.x"]
    by_part = compare_answers(old, new, ignore=compile_patterns(["status", "headers.x"]))
    assert paths(by_part.differences) == ["$.status", "$['headers.x']", "$.body"]
    text = compare_answers(Answer(200, {}, "a", False), Answer(200, {}, "b", False),
                           ignore=compile_patterns(["$.body"]))
    assert paths(text.differences) == ["body"]
    nested = compare_answers(Answer(200, {}, {"a": {"status": 1}}, True),
                             Answer(200, {}, {"a": {"status": 2}}, True),
                             ignore=compile_patterns(["status"]))
    assert paths(nested.differences) == ["$.a.status"]
    # The baselines differ in their HTTP status only: the body's status field is no noise.
    learned = compare_answers(Answer(200, {}, {"status": "ok"}, True),
                              Answer(200, {}, {"status": "down"}, True),
                              baseline2=Answer(503, {}, {"status": "ok"}, True))
    assert paths(learned.differences) == ["$.status"] and learned.learned_noise == ("status",)


def test_canary_judges_at_alpha_exactly_and_counts_baseline_outliers() -> None:
    strict = CanaryPolicy(min_samples=2, max_slowdown=0, min_slowdown_ms=0, confidence=0.6)
    # U = 4 of 6 for 2 candidate vs 3 baseline runs: the exact p is 0.4, alpha is 0.4.
    at_alpha = judge(samples([10.0, 20.0, 30.0]), samples([25.0, 26.0]), strict)
    assert at_alpha.latency_p_value == 0.4 and at_alpha.verdict == "pass"
    # 1 of 2 candidate runs over the baseline's (flat) p95, 0 of 2: Fisher p = 0.5 = alpha.
    tail = judge(samples([10.0, 10.0]), samples([10.0, 30.0]),
                 CanaryPolicy(min_samples=2, max_slowdown=1, min_slowdown_ms=0,
                              confidence=0.5))
    assert tail.tail_p_value == 0.5 and tail.verdict == "pass"
    # Enough latency data on the baseline side too is counted with its outliers.
    policy = CanaryPolicy(min_samples=20)
    spiked = judge(samples([*STEADY[:19], 5000.0]), samples(STEADY[:20]), policy)
    assert spiked.baseline.outliers_removed == 1 and spiked.verdict == "pass"


def test_canary_description_lists_every_reason() -> None:
    result = judge(samples(STEADY), samples([ms + 40 for ms in STEADY], errors=6),
                   CanaryPolicy(max_error_rate=0.1))
    assert len(result.reasons) == 4
    assert describe(result).splitlines()[0] == "canary FAIL: " + "; ".join(result.reasons)


def test_text_diffs_keep_one_line_of_context_and_defaults_bound_the_output() -> None:
    from pytest_prodsmoke.compare.diff import CHANGED, Comparison, Difference, show_value

    old = "\n".join(f"line {i}" for i in range(9))
    new = old.replace("line 4", "LINE 4")
    text = render(Comparison((Difference("body", CHANGED, old, new),)), title="T")
    assert text.splitlines()[4:] == ["    @@ -4,3 +4,3 @@", "     line 3", "    -line 4",
                                     "    +LINE 4", "     line 5"]
    assert show_value("x" * 78) == '"' + "x" * 78 + '"'
    assert show_value("x" * 79) == '"' + "x" * 78 + "…"
    assert show_value({"k": "x" * 80}) == '{"k": "' + "x" * 72 + "…"
    many = Comparison(tuple(Difference(f"$.k{i}", CHANGED, "x" * 90, i) for i in range(21)))
    lines = render(many, title="T").splitlines()
    assert len(lines) == 22 and lines[-1] == "  … and 1 more differences"
    assert lines[1] == '  $.k0: baseline "' + "x" * 78 + "… -> candidate 0"
    twenty = render(Comparison(many.differences[:20]), title="T").splitlines()
    assert len(twenty) == 21 and twenty[-1].startswith("  $.k19:")


def test_outliers_of_four_values() -> None:
    assert remove_outliers([1.0, 1.0, 1.0, 100.0], factor=1.0) == [1.0, 1.0, 1.0]
    assert remove_outliers([1.0, 1.0, 100.0], factor=1.0) == [1.0, 1.0, 100.0]
