"""What a gate run does before its first check, which every run pays (the figures are bench/run.py's
``startup`` scenario, in the README): what it loads, and how cheaply its records are made."""

from __future__ import annotations

import importlib

import pytest

from tests.support import HEALTH, run_gate

# The modules a gate run imports before its first check that define typing.NamedTuple records.
START_UP_RECORDS = ("pytest_prodsmoke.gate.events", "pytest_prodsmoke.http.client",
                    "pytest_prodsmoke.settings", "pytest_prodsmoke.outputs.traces",
                    "pytest_prodsmoke.outputs.report", "pytest_prodsmoke.gate.teardown")


@pytest.mark.parametrize("name", START_UP_RECORDS)
def test_records_made_at_start_up_have_no_string_annotations(name: str) -> None:
    # typing.NamedTuple compiles each annotation written as a string (``from __future__ import
    # annotations``): those modules do without it, which makes their records several times
    # cheaper to define.
    module = importlib.import_module(name)
    records = [value for value in vars(module).values()
               if isinstance(value, type) and issubclass(value, tuple)
               and hasattr(value, "_fields") and value.__module__ == name]
    assert records, f"{name} defines no NamedTuple any more: update START_UP_RECORDS"
    for record in records:
        strings = [field for field, annotation in record.__annotations__.items()
                   if isinstance(annotation, str)]
        assert not strings, f"{name}.{record.__name__}: {strings} annotated with strings"


LOADED_PROBE = """
import sys

def pytest_collection_finish(session):
    print("rules loaded before the checks:", "pytest_prodsmoke.gate.rules" in sys.modules)

def pytest_terminal_summary(terminalreporter):
    print("rules loaded at the end:", "pytest_prodsmoke.gate.rules" in sys.modules)
"""


def test_the_gate_rules_load_only_when_the_gate_decides(pytester: pytest.Pytester,
                                                        shop) -> None:
    # Serial: the process that runs the checks is the one that decides (xdist workers never
    # decide, and their output is not shown).
    pytester.makeconftest(LOADED_PROBE)
    pytester.makepyfile(test_smoke=HEALTH)
    run = run_gate(pytester, "serial", "-s", url=shop.url)
    assert run.ret == 0, run.output
    assert run.report["verdict"] == "pass"
    assert "rules loaded before the checks: False" in run.output
    assert "rules loaded at the end: True" in run.output
