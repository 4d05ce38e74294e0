"""Test-in-production methods in real pytest sessions against real shops on loopback, serial
and -n 2: parallel run (with noise learning), canary comparison, A/B variants."""

from __future__ import annotations

import pytest

from examples.shop.launch import RunningShop, running_shop
from tests.support import run_gate


def gate(pytester: pytest.Pytester, mode: str, candidate: RunningShop, baseline: RunningShop,
         *args: str):
    return run_gate(pytester, mode, "--baseline-url", baseline.url, *args, url=candidate.url)


# --------------------------------------------------------------------------- parallel run

PARALLEL_SUITE = """
import pytest

@pytest.mark.parallel_run(ignore=["$.generated_at", "$.request_id"])
def test_catalog(parallel_run):
    response = parallel_run.get("/catalog")
    assert response.json()["count"] == 3

def test_item(parallel_run):
    parallel_run.get("/catalog/tea-01")
"""


def test_parallel_run_equal_answers_pass(pytester: pytest.Pytester, mode: str, equivalent,
                                         released) -> None:
    pytester.makepyfile(test_parallel=PARALLEL_SUITE)
    # Per-check JUnit properties exist in the families that allow them (not xunit2).
    run = gate(pytester, mode, equivalent, released, "-o", "junit_family=xunit1")
    assert run.ret == 0, run.output
    stats = {c["nodeid"].split("::")[1]: c["parallel_run"] for c in run.report["checks"]}
    assert stats["test_catalog"] == {"requests": 1, "mismatches": 0, "noise": 0, "ignored": 2,
                                     "noise_paths": []}
    assert stats["test_item"]["mismatches"] == 0
    props = {p.get("name"): p.get("value") for p in run.junit().iter("property")}
    assert props["prodsmoke.mismatches"] == "0"


def test_parallel_run_changed_field_fails_with_a_readable_diff(
        pytester: pytest.Pytester, mode: str, repriced, released) -> None:
    pytester.makepyfile(test_parallel=PARALLEL_SUITE)
    run = gate(pytester, mode, repriced, released, "-o", "junit_family=xunit1")
    assert run.ret == 1, run.output
    assert run.codes == ["check_failed", "parallel_run_mismatch"]
    expected_lines = [
        "GET /catalog: the candidate answered differently from the baseline (3 differences)",
        "  $.items[0].price: baseline 4.5 -> candidate 4.95",
        "  $.items[1].price: baseline 9.9 -> candidate 10.89",
        "  (2 ignored by pattern)",
        "GET /catalog/tea-01: the candidate answered differently from the baseline "
        "(1 difference)",
    ]
    for line in expected_lines:
        assert line in run.output
    checks = {c["nodeid"].split("::")[1]: c for c in run.report["checks"]}
    assert checks["test_catalog"]["parallel_run"]["mismatches"] == 1
    assert checks["test_item"]["outcome"] == "failed"
    mismatches = [p.get("value") for p in run.junit().iter("property")
                  if p.get("name") == "prodsmoke.mismatches"]
    assert mismatches == ["1", "1"]


NOISY_SUITE = """
def test_catalog(parallel_run):
    parallel_run.get("/catalog")
"""


@pytest.mark.parametrize("how", ["baseline2", "ask-twice"])
def test_noise_is_learned_but_a_real_difference_is_still_caught(
        pytester: pytest.Pytester, mode: str, how: str, equivalent, repriced, released,
        released_twin) -> None:
    pytester.makepyfile(test_noisy=NOISY_SUITE)
    learn = (["--baseline2-url", released_twin.url] if how == "baseline2"
             else ["-o", "prodsmoke_learn_noise=true"])
    # Without noise learning the noisy fields (timestamp, request id) fail the check ...
    plain = gate(pytester, mode, equivalent, released)
    assert plain.ret == 1
    plain.result.stdout.fnmatch_lines(["*$.generated_at: baseline *", "*$.request_id: *"])
    # ... with it, they are learned as noise and the equivalent candidate passes ...
    learned = gate(pytester, mode, equivalent, released, *learn)
    assert learned.ret == 0, learned.output
    assert learned.report["checks"][0]["parallel_run"]["noise"] == 2
    # What was learned is reported, not only counted.
    assert learned.report["checks"][0]["parallel_run"]["noise_paths"] == ["$.generated_at",
                                                                          "$.request_id"]
    # ... and changed prices are still caught, next to the noise.
    caught = gate(pytester, mode, repriced, released, *learn)
    assert caught.ret == 1, caught.output
    for line in ["(3 differences)", "$.items[0].price: baseline 4.5",
                 "(2 ignored as noise ($.generated_at, $.request_id))"]:
        assert line in caught.output
    assert "generated_at: baseline" not in caught.output


def test_a_server_error_on_either_side_fails_even_when_equal(pytester: pytest.Pytester,
                                                           mode: str) -> None:
    with running_shop("1.0.0", "--fail", "/catalog") as broken_baseline, \
            running_shop("2.0.0", "--fail", "/catalog") as broken_candidate:
        pytester.makepyfile(test_parallel="""
def test_catalog(parallel_run):
    parallel_run.get("/catalog")

def test_compare_errors_on_purpose(parallel_run):
    assert parallel_run.fetch("GET", "/catalog").equal
""")
        run = gate(pytester, mode, broken_candidate, broken_baseline)
    assert run.ret == 1, run.output
    assert run.outcomes() == {"test_parallel.py::test_catalog": "failed",
                              "test_parallel.py::test_compare_errors_on_purpose": "passed"}
    assert ("GET /catalog: the baseline answered 500 and the candidate answered 500: a "
            "comparison with a server error proves nothing") in run.output


def test_parallel_mutations_need_an_explicit_opt_in(pytester: pytest.Pytester, mode: str,
                                                    equivalent, released) -> None:
    pytester.makepyfile(test_mutation="""
def test_order(parallel_run):
    parallel_run.post("/orders", json={"items": ["tea-01"]})
""")
    run = gate(pytester, mode, equivalent, released)
    assert run.ret == 1
    run.result.stdout.fnmatch_lines(["*POST /orders refused before sending: a parallel run "
                                     "sends it to the baseline and the candidate*"])
    assert "allow_mutation=True" in run.output


def test_compare_hook_can_accept_a_difference(pytester: pytest.Pytester, mode: str, repriced,
                                              released) -> None:
    pytester.makeconftest("""
import dataclasses

def pytest_prodsmoke_compare(item, method, url, baseline, candidate, comparison):
    kept = tuple(d for d in comparison.differences if not d.path.endswith(".price")
                 or abs(d.candidate / d.baseline - 1) > 0.2)
    return dataclasses.replace(comparison, differences=kept)
""")
    pytester.makepyfile(test_parallel=PARALLEL_SUITE)
    run = gate(pytester, mode, repriced, released)
    assert run.ret == 0, run.output


def test_parallel_run_without_a_baseline_errors(pytester: pytest.Pytester, equivalent) -> None:
    pytester.makepyfile(test_parallel=PARALLEL_SUITE)
    run = run_gate(pytester, "serial", url=equivalent.url)
    assert run.ret == 1
    assert "the parallel_run fixture needs a baseline URL: pass --baseline-url" in run.output


def test_bad_ignore_pattern_fails_the_check(pytester: pytest.Pytester, equivalent,
                                            released) -> None:
    pytester.makepyfile(test_parallel="""
import pytest

@pytest.mark.parallel_run(ignore=["generated_at"])
def test_catalog(parallel_run):
    parallel_run.get("/catalog")
""")
    run = gate(pytester, "serial", equivalent, released)
    assert run.ret == 1
    assert "ignore pattern 'generated_at' must start with '$'" in run.output


# --------------------------------------------------------------------------- canary

CANARY_SUITE = """
import pytest

@pytest.mark.canary(samples={samples}, min_samples={min_samples})
def test_catalog(prod):
    assert prod.get("/catalog").status_code == 200
"""


def canary_suite(samples: int = 24, min_samples: int = 20) -> str:
    return CANARY_SUITE.format(samples=samples, min_samples=min_samples)


def test_canary_passes_on_an_equal_candidate(pytester: pytest.Pytester, mode: str, equivalent,
                                            released) -> None:
    pytester.makepyfile(test_canary=canary_suite())
    run = gate(pytester, mode, equivalent, released)
    assert run.ret == 0, run.output
    canary = run.report["checks"][0]["canary"]
    assert canary["verdict"] == "pass"
    assert canary["baseline"]["samples"] == canary["candidate"]["samples"] == 24
    assert {"error_p_value", "u", "latency_p_value"} <= set(canary)
    assert canary["candidate"]["median_ms"] > 0


def test_canary_fails_on_a_higher_error_rate(pytester: pytest.Pytester, mode: str,
                                             released) -> None:
    with running_shop("2.0.0", "--error-rate", "/catalog=0.4") as flaky:
        pytester.makepyfile(test_canary=canary_suite())
        run = gate(pytester, mode, flaky, released)
    assert run.ret == 1, run.output
    assert run.codes == ["check_failed", "canary_failed"]
    canary = run.report["checks"][0]["canary"]
    assert canary["verdict"] == "fail"
    assert canary["candidate"]["errors"] > canary["baseline"]["errors"] == 0
    run.result.stdout.fnmatch_lines(["*canary FAIL: error rate *significantly higher*",
                                     "*first candidate error: AssertionError*"])


def test_canary_fails_on_slower_latency(pytester: pytest.Pytester, mode: str,
                                        released) -> None:
    with running_shop("2.0.0", "--delay", "/catalog=40") as slow:
        pytester.makepyfile(test_canary=canary_suite())
        run = gate(pytester, mode, slow, released)
    assert run.ret == 1, run.output
    canary = run.report["checks"][0]["canary"]
    assert canary["verdict"] == "fail" and canary["latency_p_value"] < 0.05
    assert canary["candidate"]["median_ms"] > canary["baseline"]["median_ms"] + 30
    run.result.stdout.fnmatch_lines(["*canary FAIL: latency is significantly higher*"])


def test_canary_with_too_few_samples_is_inconclusive_and_fails(
        pytester: pytest.Pytester, mode: str, equivalent, released) -> None:
    pytester.makepyfile(test_canary=canary_suite(samples=5))
    run = gate(pytester, mode, equivalent, released)
    assert run.ret == 1, run.output
    assert run.codes == ["check_failed", "canary_inconclusive"]
    assert run.report["checks"][0]["canary"]["verdict"] == "inconclusive"
    run.result.stdout.fnmatch_lines(["*canary INCONCLUSIVE: too few samples*"])


def test_canary_marker_misuse_is_explained(pytester: pytest.Pytester, equivalent,
                                           released) -> None:
    pytester.makepyfile(test_canary="""
import pytest

@pytest.mark.canary(samples=0)
def test_a(prod):
    pass

@pytest.mark.canary()
def test_b():
    pass
""")
    run = gate(pytester, "serial", equivalent, released)
    assert run.ret == 1
    assert "@pytest.mark.canary: samples=0 is not a whole number from 1" in run.output
    assert "a canary check must talk to the service through the prod fixture" in run.output


# --------------------------------------------------------------------------- A/B variants

VARIANT_SUITE = """
import pytest

@pytest.mark.variants("A", "B")
def test_recommendations(prod, prodsmoke_variant):
    response = prod.get("/recommendations")
    assert response.status_code == 200
    assert len(response.json()["items"]) == 2
"""


@pytest.mark.parametrize("assign", ["header", "cookie"])
def test_variants_each_run_and_are_confirmed(pytester: pytest.Pytester, mode: str,
                                             assign: str, equivalent, released) -> None:
    routing = (["-o", "prodsmoke_variant_header=X-Variant"] if assign == "header" else
               ["-o", "prodsmoke_variant_cookie=ab_variant",
                "-o", "prodsmoke_variant_field=variant"])
    pytester.makepyfile(test_ab=VARIANT_SUITE)
    run = gate(pytester, mode, equivalent, released, *routing)
    assert run.ret == 0, run.output
    assert sorted(c["variant"] for c in run.report["checks"]) == ["A", "B"]
    assert sorted(run.outcomes()) == ["test_ab.py::test_recommendations[A]",
                                      "test_ab.py::test_recommendations[B]"]
    assert run.report["variants"] == {"A": {"passed": 1}, "B": {"passed": 1}}


MARKED_ABOVE_SUITE = """
import pytest

pytestmark = pytest.mark.variants("A", "B")

def test_module_marked(prod):
    assert prod.get("/recommendations").status_code == 200

class TestMarkedClass:
    pytestmark = pytest.mark.variants("B")  # the closest marker wins

    def test_class_marked(self, prod):
        assert prod.get("/recommendations").status_code == 200
"""


def test_variants_marked_on_a_module_or_class_run_without_asking_for_the_fixture(
        pytester: pytest.Pytester, mode: str, equivalent, released) -> None:
    # The marker parametrizes the prodsmoke_variant fixture, which only checks marked
    # (themselves, or their module or class) use: no check of this suite names it.
    pytester.makepyfile(test_ab=MARKED_ABOVE_SUITE, test_plain="""
def test_health(prod, request):
    assert "prodsmoke_variant" not in request.fixturenames
    assert prod.get("/healthz").ok
""")
    run = gate(pytester, mode, equivalent, released, "-o", "prodsmoke_variant_header=X-Variant")
    assert run.ret == 0, run.output
    assert run.outcomes() == {"test_ab.py::test_module_marked[A]": "passed",
                              "test_ab.py::test_module_marked[B]": "passed",
                              "test_ab.py::TestMarkedClass::test_class_marked[B]": "passed",
                              "test_plain.py::test_health": "passed"}
    assert run.report["variants"] == {"A": {"passed": 1}, "B": {"passed": 2}}


def test_a_broken_assignment_fails(pytester: pytest.Pytester, mode: str, released) -> None:
    with running_shop("2.0.0", "--ab-broken") as broken:
        pytester.makepyfile(test_ab=VARIANT_SUITE)
        run = gate(pytester, mode, broken, released, "-o", "prodsmoke_variant_header=X-Variant")
    assert run.ret == 1, run.output
    assert run.outcomes() == {"test_ab.py::test_recommendations[A]": "passed",
                              "test_ab.py::test_recommendations[B]": "failed"}
    assert run.report["variants"] == {"A": {"passed": 1}, "B": {"failed": 1}}
    run.result.stdout.fnmatch_lines(["*GET /recommendations: served variant 'A', but the check "
                                     "was assigned 'B' (the A/B assignment is broken)*"])


def test_a_variant_nobody_confirms_fails(pytester: pytest.Pytester, equivalent,
                                         released) -> None:
    pytester.makepyfile(test_ab="""
import pytest

@pytest.mark.variants("A", "B")
def test_health(prod):
    prod.get("/healthz")
""")
    run = gate(pytester, "serial", equivalent, released, "-o",
               "prodsmoke_variant_header=X-Variant")
    assert run.ret == 1
    assert "no answer of the candidate confirmed variant 'A' (looked for response header " \
        "X-Variant)" in run.output


def test_variants_without_routing_configured_fail(pytester: pytest.Pytester, equivalent,
                                                  released) -> None:
    pytester.makepyfile(test_ab=VARIANT_SUITE)
    run = gate(pytester, "serial", equivalent, released)
    assert run.ret == 1
    assert "@pytest.mark.variants needs a way to assign the variant" in run.output


def test_canary_ini_defaults_apply_and_bad_ones_are_a_usage_error(
        pytester: pytest.Pytester, equivalent, released) -> None:
    pytester.makepyfile(test_canary="""
import pytest

@pytest.mark.canary
def test_catalog(prod):
    assert prod.get("/catalog").status_code == 200
""")
    run = gate(pytester, "serial", equivalent, released, "-o", "prodsmoke_canary_samples=12",
               "-o", "prodsmoke_canary_min_samples=10")
    assert run.ret == 0, run.output
    assert run.report["checks"][0]["canary"]["candidate"]["samples"] == 12
    bad = gate(pytester, "serial", equivalent, released, "-o", "prodsmoke_canary_confidence=2")
    assert bad.ret == 4
    bad.result.stderr.fnmatch_lines(["ERROR: pytest-prodsmoke: ini prodsmoke_canary_*: "
                                     "confidence=2.0 is not a number from 0.5 to 0.9999"])
    assert "Traceback" not in bad.output


def test_parallel_run_diff_masks_secrets(pytester: pytest.Pytester, mode: str, repriced,
                                         released, monkeypatch: pytest.MonkeyPatch) -> None:
    # A value registered as a secret that shows up in a difference is masked in the diff, the
    # terminal, JUnit and the gate report (here, contrived: the candidate's new price).
    monkeypatch.setenv("SHOP_SECRET", "10.89")
    pytester.makeini("[pytest]\nprodsmoke_secret_env = SHOP_SECRET\n")
    pytester.makepyfile(test_parallel=PARALLEL_SUITE)
    run = gate(pytester, mode, repriced, released)
    assert run.ret == 1
    assert "$.items[1].price: baseline 9.9 -> candidate ***" in run.output
    for text in (run.output, run.junit_path.read_text(), run.report_path.read_text()):
        assert "10.89" not in text


def test_second_baseline_without_a_first_is_a_usage_error(pytester: pytest.Pytester,
                                                           equivalent, released) -> None:
    pytester.makepyfile(test_parallel=PARALLEL_SUITE)
    run = run_gate(pytester, "serial", "--baseline2-url", released.url, url=equivalent.url)
    assert run.ret == 4
    run.result.stderr.fnmatch_lines(["ERROR: pytest-prodsmoke: --baseline2-url needs a first "
                                     "baseline: pass --baseline-url URL too"])


def test_bad_variant_names_are_a_collection_error_in_one_line(pytester: pytest.Pytester,
                                                                equivalent, released) -> None:
    pytester.makepyfile(test_ab="""
import pytest

@pytest.mark.variants("A", "A")
def test_recommendations(prod):
    pass
""")
    run = gate(pytester, "serial", equivalent, released, "-o",
               "prodsmoke_variant_header=X-Variant")
    assert run.ret == 2  # pytest's own status for a collection error
    assert run.codes[0] == "collection_error"
    assert "@pytest.mark.variants needs distinct, non-empty variant names; got ['A', 'A']" \
        in run.output
    assert "Traceback" not in run.output and "checks.py" not in run.output
    # (the hook lives in methods/variants.py since #12: no module of the plugin is named)
    assert "pytest_prodsmoke/" not in run.output


def test_learned_noise_paths_are_masked_like_any_property(
        pytester: pytest.Pytester, equivalent, released, monkeypatch: pytest.MonkeyPatch) -> None:
    # The paths are made of response keys; a key that is a secret must not reach JUnit.
    monkeypatch.setenv("SHOP_SECRET", "request_id")
    pytester.makeini("[pytest]\nprodsmoke_secret_env = SHOP_SECRET\n")
    pytester.makepyfile(test_noisy=NOISY_SUITE)
    run = gate(pytester, "serial", equivalent, released, "-o", "prodsmoke_learn_noise=true")
    assert run.ret == 0, run.output
    assert "request_id" not in run.junit_path.read_text()
    assert "request_id" not in run.report_path.read_text()


def test_bodies_too_large_to_parse_are_still_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pure logic on built responses: equal lengths must not pass for equal contents.
    import requests

    from pytest_prodsmoke.methods import parallel as parallel

    def response(body: bytes) -> requests.Response:
        built = requests.Response()
        built.status_code, built._content = 200, body
        built.headers["Content-Type"] = "application/json"
        return built

    monkeypatch.setattr(parallel, "MAX_COMPARED_BYTES", 8)
    first = parallel.read_answer(response(b'{"a": 1, "b": 2}'), ())
    second = parallel.read_answer(response(b'{"a": 1, "b": 3}'), ())
    assert not first.is_json and first.body != second.body
    assert first.body.startswith("<16 bytes, sha256 ")
    assert parallel.read_answer(response(b'{"a": 1, "b": 2}'), ()).body == first.body
