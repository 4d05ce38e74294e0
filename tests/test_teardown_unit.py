"""Attributing a teardown error to the fixture it came from (pure parts of teardown.py)."""

from __future__ import annotations

from pytest_prodsmoke.gate.teardown import FixtureCode, leaf_exceptions, owning_fixture


def _shared_fixture():
    yield
    raise RuntimeError("not deleted")


def _helper():
    raise ValueError("deep")


def _fixture_calling_a_helper():
    yield
    _helper()


def _raised(generator) -> BaseException:
    next(generator)
    try:
        next(generator)
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def test_the_fixture_whose_code_the_error_passed_through_owns_it() -> None:
    codes = {_shared_fixture.__code__: FixtureCode("order", "module", ""),
             _fixture_calling_a_helper.__code__: FixtureCode("cache", "session", "")}
    assert owning_fixture(_raised(_shared_fixture()), codes).name == "order"
    assert owning_fixture(_raised(_fixture_calling_a_helper()), codes).name == "cache"
    assert owning_fixture(_raised(_shared_fixture()), {}) is None


def test_exception_groups_are_flattened() -> None:
    inner = [ValueError("a"), KeyError("b")]

    class Group(Exception):
        def __init__(self, exceptions: list[BaseException]) -> None:
            super().__init__("group")
            self.exceptions = exceptions

    assert list(leaf_exceptions(Group([inner[0], Group([inner[1]])]))) == inner
    plain = RuntimeError("x")
    assert list(leaf_exceptions(plain)) == [plain]
