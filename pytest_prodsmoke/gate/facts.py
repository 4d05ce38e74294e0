"""The facts of one check: one typed record, ``CheckFacts``. Plain data, no pytest import.

What the process that ran a check knows of it beyond pytest's own report (criticality, the
versions that answered, its requests, the results of the methods it used) is written once into a
``CheckFacts`` there, crosses to the gate's owner as ``report.user_properties`` (so JUnit
shows it too, one ``prodsmoke.*`` property per fact), is read back once (``from_properties``)
and is then what the gate, the report, JUnit and Allure read.

Adding a fact: a field here with its ``fact(...)`` (property name, codec, how several reports of
one check combine), ``state.record_facts(item, <field>=value)`` where the check's method finds
it, and the outputs that show it. Nothing else: the check recorder writes every recorded fact.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from json.encoder import encode_basestring_ascii as _quote  # how json.dumps quotes a str
from typing import Any

PROPERTY_PREFIX = "prodsmoke."
MISSING_VERSION = "<missing>"  # the version key of a response that carried no version header


class Codec:
    """How one fact is written as a property value (None: not written) and read back. A
    reader never raises: unreadable evidence is kept in a form the gate fails closed on."""

    __slots__ = ("read", "write")

    # Runs at import, before mutation testing can switch a mutant in: not mutated.
    def __init__(self, write: Callable[[Any], str | None], read: Callable[[str], Any]) -> None:
        self.write = write  # pragma: no mutate
        self.read = read  # pragma: no mutate


def _read_flag(text: str) -> bool:
    return text == "true"


def _read_counts(text: str) -> Mapping[str, int]:
    try:
        return {str(k): int(v) for k, v in json.loads(text).items()}
    except (ValueError, AttributeError, TypeError):
        return {"<unreadable>": 1}  # never silently drop evidence of a wrong version


def _read_numbers(text: str) -> Mapping[str, float] | None:
    try:
        return {str(k): v if isinstance(v, int) else float(v) for k, v in json.loads(text).items()}
    except (ValueError, AttributeError, TypeError):
        return None


def _read_object(text: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"unreadable": text[:200]}


def _read_pairs(text: str) -> tuple[tuple[str, str], ...]:
    try:
        return tuple((str(d), str(e)) for d, e in json.loads(text))
    except (ValueError, TypeError):
        return (("<unreadable leftovers record>", text[:200]),)


def _read_count(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(dict(value))


def _flat_json(value: Mapping[str, Any] | None) -> str | None:
    """``json.dumps`` of a mapping of names to numbers, None when empty. Written out for the
    two such facts every check has (its versions and its latencies): json.dumps builds an
    encoder on every call. Anything else goes to json.dumps itself."""
    if not value:
        return None
    parts = []
    for key, number in value.items():
        kind = type(number)
        if type(key) is not str or (kind is not int and kind is not float) or (
                kind is float and not math.isfinite(number)):
            return json.dumps(dict(value))
        parts.append(f"{_quote(key)}: {number!r}")
    return "{" + ", ".join(parts) + "}"


FLAG = Codec(lambda v: None if v is None else ("true" if v else "false"), _read_flag)
TEXT = Codec(lambda v: str(v) if v else None, str)
COUNTS = Codec(_flat_json, _read_counts)
NUMBERS = Codec(_flat_json, _read_numbers)
OBJECT = Codec(_json_or_none, _read_object)
PAIRS = Codec(lambda v: json.dumps([list(p) for p in v]) if v else None, _read_pairs)
COUNT = Codec(lambda v: None if v is None else str(int(v)), _read_count)

# How the facts of several reports of one check (its phases, reruns, --dist each) combine.
FIRST = "first"  # the first report that has it
ANY = "any"  # true if any report says so
SUM = "sum"  # counts added up
CONCAT = "concat"  # all of them, in order


def fact(prop: str, codec: Codec, fold: str = FIRST, default: Any = None,  # pragma: no mutate
         at_collection: bool = False, secret_free: bool = True) -> Any:  # pragma: no mutate
    """A field of ``CheckFacts`` and how it travels.

    ``at_collection``: known when the check is collected, so it is on every report of the check
    (a crash report carries none); the rest go on the last report of each run of the check.
    ``secret_free``: written from values that cannot hold a secret (flags, counts, ids), so the
    scrubbing of reports passes it by.
    """
    # Runs at import, when the class is made: mutation testing cannot switch a mutant in here
    # (tests/test_facts_unit.py checks every field's declaration instead).
    meta = dict(prop=prop, codec=codec, fold=fold, at_collection=at_collection,  # pragma: no mutate
                secret_free=secret_free)  # pragma: no mutate
    return field(default=default, metadata=meta)  # pragma: no mutate


@dataclass(frozen=True)
class CheckFacts:
    # Known at collection (on every report):
    critical: bool | None = fact("prodsmoke.critical", FLAG, at_collection=True)  # None: unknown
    synthetic: bool = fact("prodsmoke.synthetic", FLAG, ANY, False, at_collection=True)
    target: str = fact("prodsmoke.target", TEXT, default="", at_collection=True)  # several URLs
    variant: str = fact("prodsmoke.variant", TEXT, default="", at_collection=True)  # A/B variant
    # Known once a run of the check ended (on its last report):
    versions: Mapping[str, int] | None = fact("prodsmoke.versions", COUNTS, SUM)
    requests: Mapping[str, float] | None = fact("prodsmoke.requests", NUMBERS)  # count, p50_ms..
    # requests, mismatches, noise, ignored. Not secret-free: learned noise paths are response
    # keys, which could be anything.
    parallel_run: Mapping[str, Any] | None = fact("prodsmoke.parallel_run", OBJECT,
                                                  secret_free=False)
    mismatches: int | None = fact("prodsmoke.mismatches", COUNT)  # parallel-run mismatches
    canary: Mapping[str, Any] | None = fact("prodsmoke.canary", OBJECT)  # verdict, reasons, ..
    # A chaos experiment: fault, verdict, reason, phases (methods/chaos/experiment.py). Not
    # secret-free: a fault's description and probe failures are the user's text.
    chaos: Mapping[str, Any] | None = fact("prodsmoke.chaos", OBJECT, secret_free=False)
    # A failed teardown: {"own": bool, "fixtures": [{"fixture", "scope", "node", "message",
    # "critical", "users"}]} (gate/teardown.py); None: unknown, so all of it is the check's own.
    teardown: Mapping[str, Any] | None = fact("prodsmoke.teardown", OBJECT, secret_free=False)
    # (what was left, why the undo failed)
    leftovers: tuple[tuple[str, str], ...] = fact("prodsmoke.leftovers", PAIRS, CONCAT, (),
                                                  secret_free=False)
    trace_id: str = fact("prodsmoke.trace_id", TEXT, default="")
    trace_url: str = fact("prodsmoke.trace_url", TEXT, default="", secret_free=False)


NO_FACTS = CheckFacts()
_FIELDS = tuple(fields(CheckFacts))
SECRET_FREE_PROPERTIES = frozenset(f.metadata["prop"] for f in _FIELDS
                                   if f.metadata["secret_free"])


# (field name, property, writer) of the facts known at collection (True) and after a run (False);
# (field name, reader) by property. Tables, not a walk over field metadata on every report.
_WRITERS = {when: tuple((f.name, f.metadata["prop"], f.metadata["codec"].write)  # pragma: no mutate
                        for f in _FIELDS  # pragma: no mutate
                        if f.metadata["at_collection"] == when)  # pragma: no mutate
            for when in (True, False)}  # pragma: no mutate
_READERS = {f.metadata["prop"]: (f.name, f.metadata["codec"].read)  # pragma: no mutate
            for f in _FIELDS}  # pragma: no mutate


def to_properties(facts: CheckFacts, at_collection: bool) -> list[tuple[str, str]]:
    """The properties of the facts known at collection, or of those known after a run."""
    out = []
    for name, prop, write in _WRITERS[at_collection]:
        value = getattr(facts, name)
        if value is None:  # nothing known: no codec writes anything for it
            continue
        text = write(value)
        if text is not None:
            out.append((prop, text))
    return out


def from_properties(properties: Iterable[tuple[object, object]]) -> CheckFacts:
    """The facts a report carries; properties that are not ours are the user's, not read."""
    ours = tuple((name, str(value))
                 for name, value in properties if isinstance(name, str) and name in _READERS)
    return _read(ours) if ours else NO_FACTS


@functools.lru_cache(maxsize=256)
def _read(properties: tuple[tuple[str, str], ...]) -> CheckFacts:
    # Cached: the setup and call reports of most checks carry the same few facts (critical,
    # synthetic), so they share one frozen record instead of building one per report.
    found: dict[str, Any] = {}
    for prop, value in properties:
        name, read = _READERS[prop]
        found[name] = read(value)
    return CheckFacts(**found)


def fold(reports: Iterable[CheckFacts]) -> CheckFacts:
    """The facts of one check from those of all its reports."""
    merged: dict[str, Any] = {}
    for facts in reports:
        if facts is NO_FACTS:
            continue
        for f in _FIELDS:
            value = getattr(facts, f.name)
            if value is None or value == f.default or (isinstance(value, Mapping) and not value):
                continue  # nothing known
            how, seen = f.metadata["fold"], merged.get(f.name)
            if seen is None:
                merged[f.name] = dict(value) if how == SUM else value
            elif how == SUM:
                for key, count in value.items():
                    seen[key] = seen.get(key, 0) + count
            elif how == CONCAT:
                merged[f.name] = seen + tuple(value)
            # FIRST and ANY: the first value stands.
    return replace(NO_FACTS, **merged) if merged else NO_FACTS
