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
    ("status", ("status",), True),
    ("headers.Date", ("headers.date",), True),
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
