"""Whose teardown error is it? pytest books an error raised while tearing down a session-,
package-, module- or class-scoped fixture on whichever check happened to run last in that
process, which under xdist depends on distribution. The gate judges such an error by the
checks that used the fixture instead: it is critical when a critical check used it.

The worker that ran the teardown attributes each exception to the fixture whose code it passed
through (from its traceback), finds that fixture's users among the collected checks, and puts
the result on the teardown report. Plain Python on duck-typed pytest objects (only ``scope_node``
needs pytest's node classes); the gate reads the result without pytest.
"""

# No ``from __future__ import annotations`` in this module: typing.NamedTuple compiles every
# annotation given as a string, which made its records several times dearer to define, on
# the start-up of every run (tests/test_startup.py keeps it so).

from collections.abc import Callable, Iterable, Iterator, Mapping
from types import CodeType, TracebackType
from typing import Any, NamedTuple

MAX_USERS_LISTED = 10


class FixtureCode(NamedTuple):
    """What is known of a fixture function, keyed by its code object. (Made as the first shared
    fixture of a run is set up: a NamedTuple, several times cheaper to define than a frozen
    dataclass.)"""

    name: str
    scope: str  # "function" | "class" | "module" | "package" | "session"
    baseid: str  # where it is visible ("" for plugins and the root conftest)


def leaf_exceptions(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions of an exception group (pytest raises one when several finalizers fail),
    recursively; the exception itself otherwise."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, (list, tuple)) and inner:
        for item in inner:
            yield from leaf_exceptions(item)
    else:
        yield exc


def owning_fixture(exc: BaseException, codes: Mapping[CodeType, FixtureCode]
                   ) -> FixtureCode | None:
    """The first fixture (outermost frame first) whose code the exception passed through."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        found = codes.get(tb.tb_frame.f_code)
        if found is not None:
            return found
        tb = tb.tb_next
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return line if len(line) <= 300 else line[:299] + "…"


def scope_node(booked: Any, scope: str) -> Any | None:
    """The node the fixture's instance belonged to: the booked check's class, module, package,
    or None for the whole session."""
    import pytest  # the shell passes pytest items; only the node classes are needed here

    kind = {"class": pytest.Class, "module": pytest.Module, "package": pytest.Package}.get(scope)
    return booked.getparent(kind) if kind is not None else None


def users_of(items: Iterable[Any], fixture: FixtureCode, node: Any | None) -> list[Any]:
    """The collected checks that request the fixture (directly or through other fixtures),
    within the node its instance belonged to and where its definition is visible."""
    users = []
    for item in items:
        if fixture.name not in getattr(item, "fixturenames", ()):
            continue
        if fixture.baseid and not item.nodeid.startswith(fixture.baseid):
            continue
        if node is not None and node not in item.listchain():
            continue
        users.append(item)
    return users


def attribute(exc: BaseException, booked: Any, items: list[Any],
              codes: Mapping[CodeType, FixtureCode], is_critical: Callable[[Any], bool]
              ) -> dict[str, Any]:
    """The teardown facts of the booked check: ``own`` (some of the error is the check's own:
    its function-scoped fixtures, or code no fixture owns) and the failed shared fixtures with
    their users and whether any of them is critical."""
    own = False
    failed: dict[tuple[str, str], dict[str, Any]] = {}
    for leaf in leaf_exceptions(exc):
        fixture = owning_fixture(leaf, codes)
        if fixture is None or fixture.scope == "function":
            own = True  # unattributed counts as the booked check's own: fail closed
            continue
        node = scope_node(booked, fixture.scope)
        node_id = getattr(node, "nodeid", "") if node is not None else ""
        key = (fixture.name, node_id)
        if key in failed:
            continue
        users = users_of(items, fixture, node)
        critical = [u.nodeid for u in users if is_critical(u)]
        failed[key] = {
            "fixture": fixture.name,
            "scope": fixture.scope,
            "node": node_id,
            "message": _one_line(leaf),
            "critical": bool(critical),
            # The critical users when there are any (they are why it fails), else all users.
            "users": (critical or [u.nodeid for u in users])[:MAX_USERS_LISTED],
        }
    return {"own": own, "fixtures": list(failed.values())}
