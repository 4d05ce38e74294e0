"""A/B variants: ``@pytest.mark.variants("A", "B")`` runs a check once per variant
(``test_x[A]``, ``test_x[B]``); each run asks for its variant (a request header or a cookie) and
passes only if an answer of the candidate positively named that variant.

A plugin module, registered in gate runs: the ``prodsmoke_variant`` fixture, the
parametrization, the marker's checks at collection and the rule that holds after the body.
Only the checks of a module or class with the marker use the fixture: an autouse one would
cost every check of every run its resolution.
"""

from __future__ import annotations

import pytest

from pytest_prodsmoke.errors import VariantMismatchError
from pytest_prodsmoke.state import (
    MARKER_ERROR_KEY,
    SETTINGS_KEY,
    VARIANT_KEY,
    VARIANTS_USED_KEY,
    ProcessState,
)

VARIANT_FIXTURE = "prodsmoke_variant"
MARKER = "variants"


@pytest.fixture(scope="session")
def prodsmoke_variant() -> str | None:
    """The A/B variant this check runs as (``@pytest.mark.variants("A", "B")``), or None.

    The variants marker parametrizes it directly (the parameter replaces this None). No
    ``request`` argument: pytest would resolve it on every check, cached or not.
    """
    return None


def _marked(obj: object) -> bool:
    """Whether a test function carries the variants marker itself (``pytestmark``, where
    pytest's mark decorators keep a function's marks)."""
    try:  # whatever a module holds: pytest itself reads its attributes with care
        marks = getattr(getattr(obj, "__func__", obj), "pytestmark", ())  # staticmethods too
    except Exception:
        return False
    return any(getattr(mark, "name", None) == MARKER
               for mark in (marks if isinstance(marks, list) else [marks]))


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Module | pytest.Class, name: str,
                              obj: object) -> None:
    """Before pytest makes a check of a marked function (or of a marked module or class): its
    module or class uses the ``prodsmoke_variant`` fixture from here on, so the marker can
    parametrize it. (pytest lets a check parametrize only the fixtures it uses.)"""
    if VARIANTS_USED_KEY not in collector.stash:  # the module's or class's marker, once
        collector.stash[VARIANTS_USED_KEY] = False
        if collector.get_closest_marker(MARKER) is not None:
            _use_fixture(collector)
    if not collector.stash[VARIANTS_USED_KEY] and _marked(obj) and \
            collector.istestfunction(obj, name):
        _use_fixture(collector)


def _use_fixture(collector: pytest.Collector) -> None:
    collector.add_marker(pytest.mark.usefixtures(VARIANT_FIXTURE))
    collector.stash[VARIANTS_USED_KEY] = True


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    collector = metafunc.definition.parent
    if collector is not None and not collector.stash.get(VARIANTS_USED_KEY, True):
        return  # neither the function nor its module or class has the marker (above)
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None:
        return
    names = [str(name) for name in marker.args]
    # A collection error (the gate fails) that shows one line, not our traceback.
    if not all(n.isprintable() and not set(n) & set(';,"\\') for n in names):
        # A variant name travels in a header or a cookie; this one cannot (not shown: a line
        # break in it would split the output too).
        raise pytest.Collector.CollectError(
            "@pytest.mark.variants: a variant name must fit in a header or a cookie "
            '(printable; no ; , " or \\)')
    if not names or len(set(names)) != len(names) or not all(n.strip() for n in names):
        raise pytest.Collector.CollectError(
            f"@pytest.mark.variants needs distinct, non-empty variant names; got "
            f"{list(marker.args)!r}")
    # Function scope, so checks keep their order: test_x[A], test_x[B].
    metafunc.parametrize(VARIANT_FIXTURE, names, ids=names, scope="function")


def variant_of(item: pytest.Item) -> str:
    """The variant a check runs as ("" when it is no A/B check)."""
    callspec = getattr(item, "callspec", None)
    return str(callspec.params[VARIANT_FIXTURE]) if (
        callspec is not None and VARIANT_FIXTURE in callspec.params) else ""


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    routing = config.stash[SETTINGS_KEY].variant
    for item in items:
        variant = variant_of(item)
        if not variant:
            continue
        item.stash[VARIANT_KEY] = variant
        if routing is None or (routing.request_header is None and routing.cookie is None):
            item.stash[MARKER_ERROR_KEY] = (
                "@pytest.mark.variants needs a way to assign the variant: set ini "
                "prodsmoke_variant_header or prodsmoke_variant_cookie")
        elif routing.response_header is None and routing.field is None:
            item.stash[MARKER_ERROR_KEY] = (
                "@pytest.mark.variants needs a way to confirm the variant served: set ini "
                "prodsmoke_variant_response_header or prodsmoke_variant_field")


def require_confirmed(state: ProcessState, variant: str) -> None:
    """Fail closed: an A/B check passes only if an answer positively named its variant."""
    __tracebackhide__ = True
    if any(c.variant_confirmed for c in state.clients if c.target == "candidate"):
        return
    routing = state.settings.variant
    assert routing is not None
    where = " or ".join(filter(None, [
        f"response header {routing.response_header}" if routing.response_header else "",
        f"JSON field {routing.field!r}" if routing.field else ""]))
    raise VariantMismatchError(f"no answer of the candidate confirmed variant {variant!r} "
                               f"(looked for {where})")
