"""The per-check facts record: written once as properties, read back once, folded per check."""

from __future__ import annotations

import enum
import json
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pytest_prodsmoke.gate import facts as facts_module
from pytest_prodsmoke.gate.facts import (
    NO_FACTS,
    SECRET_FREE_PROPERTIES,
    CheckFacts,
    fold,
    from_properties,
    to_properties,
)


@pytest.fixture(autouse=True)
def _fresh_reads() -> None:
    """from_properties keeps what it read: each test reads afresh (mutation testing runs the
    tests in processes forked after an earlier run filled the cache)."""
    facts_module._read.cache_clear()


EVERYTHING = CheckFacts(
    critical=False, synthetic=True, target="eu", variant="B", versions={"2.0.0": 3},
    requests={"count": 3, "p50_ms": 1.5}, parallel_run={"requests": 2, "mismatches": 1},
    mismatches=1, canary={"verdict": "pass"}, teardown={"own": True},
    leftovers=(("order 1", "404"),), trace_id="abc", trace_url="https://t/abc")


def test_facts_travel_as_properties_and_come_back_the_same() -> None:
    collection = to_properties(EVERYTHING, at_collection=True)
    run = to_properties(EVERYTHING, at_collection=False)
    assert [name for name, _ in collection] == [
        "prodsmoke.critical", "prodsmoke.synthetic", "prodsmoke.target", "prodsmoke.variant"]
    # The order JUnit shows them in (and the order before the record existed).
    assert [name for name, _ in run] == [
        "prodsmoke.versions", "prodsmoke.requests", "prodsmoke.parallel_run",
        "prodsmoke.mismatches", "prodsmoke.canary", "prodsmoke.teardown", "prodsmoke.leftovers",
        "prodsmoke.trace_id", "prodsmoke.trace_url"]
    assert dict(collection)["prodsmoke.critical"] == "false"
    assert dict(run)["prodsmoke.leftovers"] == '[["order 1", "404"]]'
    assert from_properties([*collection, *run]) == EVERYTHING


def test_nothing_known_writes_nothing_and_reads_as_no_facts() -> None:
    assert to_properties(NO_FACTS, at_collection=False) == []
    assert to_properties(NO_FACTS, at_collection=True) == [("prodsmoke.synthetic", "false")]
    assert from_properties([]) is NO_FACTS
    assert from_properties([("user.own", "x"), ("prodsmoke.unknown", "y")]) is NO_FACTS
    assert to_properties(CheckFacts(mismatches=0), at_collection=False) == [
        ("prodsmoke.mismatches", "0")]


def test_unreadable_facts_fail_closed() -> None:
    facts = from_properties([("prodsmoke.versions", "not json"),
                             ("prodsmoke.leftovers", "{broken"),
                             ("prodsmoke.canary", "[1, 2]"),
                             ("prodsmoke.requests", '{"count": "many"}'),
                             ("prodsmoke.mismatches", "x"),
                             ("prodsmoke.critical", "yes please")])
    assert facts.versions == {"<unreadable>": 1}  # an unknown version, never none
    assert facts.leftovers == (("<unreadable leftovers record>", "{broken"),)
    assert facts.canary == {"unreadable": "[1, 2]"}
    assert facts.requests is None and facts.mismatches is None
    assert facts.critical is False  # only "true" is true; unknown is None (not written)
    assert from_properties([("prodsmoke.versions", '["a"]')]).versions == {"<unreadable>": 1}


def test_folding_the_reports_of_one_check() -> None:
    setup = CheckFacts(critical=True, target="eu")
    call = CheckFacts(critical=True, synthetic=True, canary={"verdict": "fail"}, requests={})
    first_run = CheckFacts(critical=True, versions={"2": 1}, leftovers=(("a", "e"),),
                           trace_id="t1")
    second_run = CheckFacts(critical=True, versions={"2": 2, "1": 1}, leftovers=(("b", "e"),),
                            trace_id="t2", canary={"verdict": "pass"})
    folded = fold([setup, NO_FACTS, call, first_run, second_run])
    assert folded == CheckFacts(critical=True, synthetic=True, target="eu",
                                versions={"2": 3, "1": 1}, leftovers=(("a", "e"), ("b", "e")),
                                trace_id="t1", canary={"verdict": "fail"})
    assert first_run.versions == {"2": 1}  # folding copies, never changes a report's facts
    assert fold([]) is NO_FACTS and fold([NO_FACTS, CheckFacts(versions={})]) is NO_FACTS
    assert fold([CheckFacts(critical=False), CheckFacts(critical=True)]).critical is False


def test_secret_free_properties_are_only_flags_counts_and_ids() -> None:
    # The others can hold text from responses or users: every report scrubs them.
    assert set(SECRET_FREE_PROPERTIES) == {
        "prodsmoke.critical", "prodsmoke.synthetic", "prodsmoke.target", "prodsmoke.variant",
        "prodsmoke.versions", "prodsmoke.requests", "prodsmoke.mismatches", "prodsmoke.canary",
        "prodsmoke.trace_id"}


def test_equal_reports_read_once_still_count_twice() -> None:
    # --dist each: two workers' teardown reports carry the same properties, and reading shares
    # one record between them; both still count.
    properties = [("prodsmoke.critical", "true"), ("prodsmoke.versions", '{"2.0.0": 1}'),
                  ("prodsmoke.leftovers", '[["order 1", "404"]]')]
    first, second = from_properties(properties), from_properties(list(properties))
    assert first is second
    folded = fold([first, second])
    assert folded.versions == {"2.0.0": 2}
    assert folded.leftovers == (("order 1", "404"), ("order 1", "404"))
    assert first.versions == {"2.0.0": 1}  # the shared record is never changed


def test_each_codec_reads_what_it_wrote_and_fails_closed_on_the_rest() -> None:
    def read(name: str, text: str):
        return getattr(from_properties([(f"prodsmoke.{name}", text)]), name)

    assert read("critical", "true") is True and read("critical", "false") is False
    assert read("synthetic", "true") is True and read("synthetic", "TRUE") is False
    assert read("versions", '{"2.0.0": 3, "1": "4"}') == {"2.0.0": 3, "1": 4}
    for broken in ("[1]", '{"2": "x"}', "{", '{"2": null}'):
        assert read("versions", broken) == {"<unreadable>": 1}, broken
    assert read("requests", '{"count": 3, "p50_ms": 1}') == {"count": 3, "p50_ms": 1}
    numbers = read("requests", '{"count": 3, "p95_ms": "2.5"}')
    assert numbers == {"count": 3, "p95_ms": 2.5} and isinstance(numbers["p95_ms"], float)
    assert isinstance(read("requests", '{"count": 3}')["count"], int)
    for broken in ("[]", "{", '{"count": null}', '{"count": "x"}'):
        assert read("requests", broken) is None, broken
    assert read("canary", '{"verdict": "pass"}') == {"verdict": "pass"}
    long_text = "[" + "1," * 300 + "1]"
    assert read("canary", long_text) == {"unreadable": long_text[:200]}
    assert read("canary", "{x") == {"unreadable": "{x"}
    assert read("leftovers", '[["a", "b"], [1, 2]]') == (("a", "b"), ("1", "2"))
    assert read("leftovers", "5") == (("<unreadable leftovers record>", "5"),)
    assert read("leftovers", "[[1, 2, 3]]") == (("<unreadable leftovers record>", "[[1, 2, 3]]"),)
    assert read("leftovers", "{" + "x" * 300)[0][1] == ("{" + "x" * 300)[:200]
    assert read("mismatches", "3") == 3 and read("mismatches", "3.5") is None
    assert read("target", "eu") == "eu"


def test_every_fact_declares_where_it_travels() -> None:
    from dataclasses import fields

    declared = {f.name: (f.metadata["prop"], f.metadata["fold"], f.metadata["at_collection"])
                for f in fields(CheckFacts)}
    assert declared == {
        "critical": ("prodsmoke.critical", "first", True),
        "synthetic": ("prodsmoke.synthetic", "any", True),
        "target": ("prodsmoke.target", "first", True),
        "variant": ("prodsmoke.variant", "first", True),
        "versions": ("prodsmoke.versions", "sum", False),
        "requests": ("prodsmoke.requests", "first", False),
        "parallel_run": ("prodsmoke.parallel_run", "first", False),
        "mismatches": ("prodsmoke.mismatches", "first", False),
        "canary": ("prodsmoke.canary", "first", False),
        "chaos": ("prodsmoke.chaos", "first", False),
        "teardown": ("prodsmoke.teardown", "first", False),
        "leftovers": ("prodsmoke.leftovers", "concat", False),
        "trace_id": ("prodsmoke.trace_id", "first", False),
        "trace_url": ("prodsmoke.trace_url", "first", False),
    }


def test_property_values_that_are_not_text_are_read_as_their_text() -> None:
    # xdist and other plugins may hand back numbers: read as str(value), never as they are.
    facts = from_properties([("prodsmoke.mismatches", 1), ("prodsmoke.canary", 5),
                             (7, "not ours")])
    assert facts.mismatches == 1
    assert facts.canary == {"unreadable": "5"}


class Enumerated(enum.IntEnum):  # an int that is not exactly an int
    LOW, MID, HIGH = -1, 0, 1


_NUMBERS = st.one_of(st.integers(), st.floats(), st.booleans(), st.none(),
                     st.integers(min_value=-1, max_value=1).map(Enumerated))


@given(st.dictionaries(st.one_of(st.text(), st.integers()), _NUMBERS, max_size=6))
@example({"nan": math.nan, "inf": math.inf, "-inf": -math.inf})  # json's own spellings
@example({"count": 1, "p50_ms": 0.8, "flag": True, "none": None})
@example({"é\"\\\n": 2, 3: 1.5e-07})
def test_the_written_out_encoder_of_counts_and_numbers_is_json_dumps(
        value: dict[object, object]) -> None:
    # The versions and latencies of every check are written without json.dumps (faster); the
    # text must be exactly json.dumps's, whatever the mapping holds (else json.dumps writes it).
    expected = json.dumps(value) if value else None
    assert facts_module.COUNTS.write(value) == expected
    assert facts_module.NUMBERS.write(value) == expected


def test_no_codec_writes_anything_for_an_unknown_fact() -> None:
    # to_properties skips None without asking the codec: every codec must agree.
    for codec in (facts_module.FLAG, facts_module.TEXT, facts_module.COUNTS,
                  facts_module.NUMBERS, facts_module.OBJECT, facts_module.PAIRS,
                  facts_module.COUNT):
        assert codec.write(None) is None
