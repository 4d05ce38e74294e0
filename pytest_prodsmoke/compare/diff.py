"""Structural diff of two answers, explicit ignores, and noise learned from two baseline answers.

Plain data in, plain data out. A path names where two JSON documents differ, in the JSONPath
style users read in API docs: ``$.items[0].price``, ``$['odd key']``. Outside the body the
paths are ``status`` and ``headers.<Name>``.

Speed: equal subtrees are skipped with one C-level ``==`` before any Python-level walking, and
path strings are only built for the differences found, so two 1 MB documents with a few hundred
differences compare in a few milliseconds (``bench/run.py``). One consequence of ``==`` is
Python's number equality: ``1`` and ``1.0`` compare equal (as JSON numbers they are the same);
the price is that ``true`` and ``1`` at the same place inside otherwise equal containers do too.
Lists are compared index by index; an element inserted at the front shows as many differences,
which the rendering summarises.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Part:
    """The key of a part of the answer that is not a JSON path: its HTTP status, a header, a
    body that is not JSON. Never equal to a JSON key spelt alike, so that ignoring (or learning
    as noise) the body field ``$.status`` cannot hide a change of the HTTP status, and back."""

    name: str  # "status", "headers.<lowercased name>", "body"


Segment = str | int | Part  # a dict key, a list index, or a part of the answer
PathKey = tuple[Segment, ...]

CHANGED, ADDED, REMOVED = "changed", "added", "removed"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MISSING_TEXT = "<missing>"


class _Missing:
    """The value on the side where a key or element does not exist."""

    def __repr__(self) -> str:
        return _MISSING_TEXT


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Difference:
    """One place where the candidate's answer differs from the baseline's."""

    path: str
    kind: str  # changed | added (only the candidate has it) | removed (only the baseline has it)
    baseline: Any
    candidate: Any
    key: PathKey = field(default=(), compare=False, repr=False)  # the segments, for matching
    note: str = field(default="", compare=False)  # e.g. where two binary bodies first differ


@dataclass(frozen=True)
class Bytes:
    """A binary body as a person can compare it: size and digest (the bytes stay out)."""

    size: int
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> Bytes:
        return cls(len(data), hashlib.sha256(data).hexdigest())

    def __str__(self) -> str:
        return f"{self.size} bytes, sha256 {self.sha256[:16]}"


def first_difference(old: bytes, new: bytes) -> int:
    """The offset of the first byte where two byte strings differ."""
    shared = min(len(old), len(new))
    left, right = memoryview(old), memoryview(new)  # slices without copies
    low, high = 0, shared  # binary search on equal stretches: few C-level comparisons
    while low < high:
        middle = (low + high) // 2
        if left[low:middle + 1] == right[low:middle + 1]:
            low = middle + 1
        else:
            high = middle
    return low


def format_path(segments: Iterable[Segment], root: str = "$") -> str:
    parts = [root]
    for segment in segments:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif _IDENTIFIER.match(segment):
            parts.append(f".{segment}")
        else:
            escaped = segment.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"['{escaped}']")
    return "".join(parts)


def diff_json(baseline: Any, candidate: Any) -> list[Difference]:
    """Every path where two parsed JSON documents differ (changed, added or removed)."""
    found: list[Difference] = []
    stack: list[Segment] = []

    def record(kind: str, old: Any, new: Any) -> None:
        key = tuple(stack)
        found.append(Difference(format_path(key), kind, old, new, key))

    def walk(old: Any, new: Any) -> None:
        if old == new and type(old) is type(new):
            return
        if isinstance(old, dict) and isinstance(new, dict):
            for name, value in old.items():
                stack.append(name)
                if name in new:
                    walk(value, new[name])
                else:
                    record(REMOVED, value, MISSING)
                stack.pop()
            for name, value in new.items():
                if name not in old:
                    stack.append(name)
                    record(ADDED, MISSING, value)
                    stack.pop()
        elif isinstance(old, list) and isinstance(new, list):
            shared = min(len(old), len(new))
            for index in range(shared):
                stack.append(index)
                walk(old[index], new[index])
                stack.pop()
            for index in range(shared, len(old)):
                stack.append(index)
                record(REMOVED, old[index], MISSING)
                stack.pop()
            for index in range(shared, len(new)):
                stack.append(index)
                record(ADDED, MISSING, new[index])
                stack.pop()
        elif _same_number(old, new):
            return
        else:
            record(CHANGED, old, new)

    walk(baseline, candidate)
    return found


def _same_number(old: Any, new: Any) -> bool:
    # 1 and 1.0 are the same JSON number; True and 1 are not the same JSON value.
    numbers = (int, float)
    return (isinstance(old, numbers) and isinstance(new, numbers)
            and not isinstance(old, bool) and not isinstance(new, bool) and old == new)


# --- ignore patterns -------------------------------------------------------------------------

_TOKEN = re.compile(  # dotted names may hold hyphens: $.headers.X-Canary
    r"\.\.(?P<deep>[A-Za-z_][A-Za-z0-9_-]*|\*)"  # ..name: at any depth
    r"|\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*|\*)"  # .name or .*
    r"|\[(?P<index>\d+|\*)\]"  # [3] or [*]
    r"|\['(?P<quoted>(?:[^'\\]|\\.)*)'\]"  # ['odd key']
)
_ANY = object()  # a wildcard segment


class PatternError(ValueError):
    """An ignore pattern that is not a path."""


@dataclass(frozen=True)
class PathPattern:
    """A compiled ignore pattern; it matches a path and everything below it."""

    text: str
    tokens: tuple[tuple[bool, Any], ...]  # (deep, segment or _ANY)

    @classmethod
    def parse(cls, text: str) -> PathPattern:
        source = text.strip()
        if source == "status" or source.lower().startswith("headers."):
            # Header names are case-insensitive.
            return cls(source, ((False, Part(source.lower())),))
        if not source.startswith("$"):
            raise PatternError(f"ignore pattern {text!r} must start with '$' (like $.items[*].id)"
                               ", or be 'status' or 'headers.<Name>'")
        tokens: list[tuple[bool, Any]] = []
        position = 1
        while position < len(source):
            match = _TOKEN.match(source, position)
            if match is None:
                raise PatternError(f"ignore pattern {text!r}: cannot read {source[position:]!r}")
            if match["deep"] is not None:
                tokens.append((True, _ANY if match["deep"] == "*" else match["deep"]))
            elif match["name"] is not None:
                tokens.append((False, _ANY if match["name"] == "*" else match["name"]))
            elif match["index"] is not None:
                tokens.append((False, _ANY if match["index"] == "*" else int(match["index"])))
            else:
                tokens.append((False, re.sub(r"\\(.)", r"\1", match["quoted"])))
            position = match.end()
        return cls(source, tuple(tokens))

    def matches(self, key: PathKey) -> bool:
        return _match(self.tokens, 0, key, 0)


def _match(tokens: tuple[tuple[bool, Any], ...], t: int, key: PathKey, k: int) -> bool:
    if t == len(tokens):
        return True  # the pattern names an ancestor of (or exactly) this path
    deep, want = tokens[t]
    starts = range(k, len(key)) if deep else range(k, min(k + 1, len(key)))
    for start in starts:
        segment = key[start]
        if (want is _ANY or (segment == want and type(segment) is type(want))) and \
                _match(tokens, t + 1, key, start + 1):
            return True
    return False


def compile_patterns(patterns: Iterable[str]) -> tuple[PathPattern, ...]:
    return tuple(PathPattern.parse(p) for p in patterns)


# --- whole answers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """What was compared of one response: status, the selected headers, and the body."""

    status: int
    headers: Mapping[str, str]  # selected headers only, names lowercased
    body: Any  # parsed JSON, or text
    is_json: bool


@dataclass(frozen=True)
class Comparison:
    differences: tuple[Difference, ...]  # what fails the check
    noise: tuple[Difference, ...] = ()  # candidate differences the baseline also showed
    ignored: int = 0  # differences dropped by explicit ignore patterns
    learned_noise: tuple[str, ...] = ()  # paths where the two baseline answers differed

    @property
    def equal(self) -> bool:
        return not self.differences


def answer_differences(baseline: Answer, candidate: Answer) -> list[Difference]:
    found: list[Difference] = []
    if baseline.status != candidate.status:
        found.append(Difference("status", CHANGED, baseline.status, candidate.status,
                                (Part("status"),)))
    for name in sorted(set(baseline.headers) | set(candidate.headers)):
        old, new = baseline.headers.get(name, MISSING), candidate.headers.get(name, MISSING)
        if old != new:
            kind = ADDED if old is MISSING else REMOVED if new is MISSING else CHANGED
            found.append(Difference(f"headers.{name}", kind, old, new,
                                    (Part(f"headers.{name}"),)))
    old, new = baseline.body, candidate.body
    if baseline.is_json and candidate.is_json:
        found.extend(diff_json(old, new))
    elif isinstance(old, bytes) or isinstance(new, bytes):
        old_bytes = old if isinstance(old, bytes) else str(old).encode()
        new_bytes = new if isinstance(new, bytes) else str(new).encode()
        if old_bytes != new_bytes:
            at = first_difference(old_bytes, new_bytes)
            found.append(Difference("body", CHANGED, Bytes.of(old_bytes), Bytes.of(new_bytes),
                                    (Part("body"),), note=f"first difference at byte {at}"))
    elif old != new:
        found.append(Difference("body", CHANGED, old, new, (Part("body"),)))
    return found


def mask_sent_values(value: Any, replacements: Mapping[str, str]) -> Any:
    """``value`` with every occurrence of these strings (what the plugin itself sent to this
    side, e.g. its trace id) replaced by a placeholder: a service that echoes its request is
    not answering differently because each side got its own trace id."""
    if not replacements:
        return value
    if isinstance(value, str):
        for sent, placeholder in replacements.items():
            if sent in value:
                value = value.replace(sent, placeholder)
        return value
    if isinstance(value, dict):
        return {mask_sent_values(k, replacements): mask_sent_values(v, replacements)
                for k, v in value.items()}
    if isinstance(value, list):
        return [mask_sent_values(v, replacements) for v in value]
    return value


def compare_answers(baseline: Answer, candidate: Answer, *, baseline2: Answer | None = None,
                    ignore: Sequence[PathPattern] = ()) -> Comparison:
    """The candidate against the baseline. With a second baseline answer, every path where the
    two baseline answers already differ is learned as noise (the idea of Twitter's Diffy)."""
    differences = answer_differences(baseline, candidate)
    kept = [d for d in differences if not any(p.matches(d.key) for p in ignore)]
    ignored = len(differences) - len(kept)
    if baseline2 is None:
        return Comparison(tuple(kept), ignored=ignored)
    noisy = [d for d in answer_differences(baseline, baseline2)
             if not any(p.matches(d.key) for p in ignore)]
    noisy_keys = {d.key for d in noisy}
    real: list[Difference] = []
    noise: list[Difference] = []
    for difference in kept:
        key = difference.key
        if any(key[:depth] in noisy_keys for depth in range(1, len(key) + 1)) or \
                (not key and () in noisy_keys):
            noise.append(difference)
        else:
            real.append(difference)
    return Comparison(tuple(real), tuple(noise), ignored, tuple(d.path for d in noisy))


# --- reading and rendering ----------------------------------------------------------------

def parse_body(text: str, content_type: str | None) -> tuple[Any, bool]:
    """(parsed JSON, True) for a JSON answer; (text, False) otherwise."""
    if content_type is not None and "json" in content_type.lower():
        try:
            return json.loads(text), True
        except ValueError:
            return text, False
    return text, False


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def show_value(value: Any, limit: int = 80) -> str:
    if value is MISSING:
        return _MISSING_TEXT
    if isinstance(value, str):
        return shorten(json.dumps(value, ensure_ascii=False), limit)
    return shorten(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str), limit)


def render(comparison: Comparison, *, title: str, max_items: int = 20, value_limit: int = 80,
           mask: Callable[[str], str] = lambda text: text) -> str:
    """A readable, bounded account of a failed comparison: one line per differing path."""
    lines = [title]
    shown = comparison.differences[:max_items]
    for difference in shown:
        if difference.path == "body" and isinstance(difference.baseline, str) \
                and isinstance(difference.candidate, str):
            lines.extend(_text_diff(difference.baseline, difference.candidate, max_items,
                                    value_limit))
            continue
        if isinstance(difference.baseline, Bytes):
            lines.append(f"  body (binary): baseline {difference.baseline} -> candidate "
                         f"{difference.candidate}; {difference.note}")
            continue
        lines.append(f"  {difference.path}: baseline {show_value(difference.baseline, value_limit)}"
                     f" -> candidate {show_value(difference.candidate, value_limit)}")
    hidden = len(comparison.differences) - len(shown)
    if hidden:
        lines.append(f"  … and {hidden} more differences")
    notes = []
    if comparison.noise:
        learned = ", ".join(comparison.learned_noise[:5]) + (
            ", …" if len(comparison.learned_noise) > 5 else "")
        notes.append(f"{len(comparison.noise)} ignored as noise ({learned})")
    if comparison.ignored:
        notes.append(f"{comparison.ignored} ignored by pattern")
    if notes:
        lines.append("  (" + ", ".join(notes) + ")")
    return mask("\n".join(lines))


def _text_diff(old: str, new: str, max_lines: int, width: int) -> list[str]:
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "baseline", "candidate",
                                     lineterm="", n=1))
    lines = ["  body (text):"] + [f"    {shorten(line, width)}" for line in diff[:max_lines]]
    if len(diff) > max_lines:
        lines.append(f"    … {len(diff) - max_lines} more diff lines")
    return lines
