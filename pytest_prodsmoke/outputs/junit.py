"""Suite-level JUnit XML properties written from a plugin.

pytest's public ``record_testsuite_property`` is a fixture and does nothing on xdist workers, so
the controller has no public way to add suite properties at the end of a run. This is the one
place that uses pytest's private API for it (``_pytest.junitxml.xml_key``,
``LogXML.add_global_property`` and ``LogXML.pytest_runtest_logreport``), present from pytest 7
to 9.2. If pytest moves it, the function says so and the gate reports an internal error instead
of silently writing less.

The verdict also becomes a test case of its own (``prodsmoke.gate``): JUnit readers count test
cases, and a run where nothing ran would otherwise read "0 tests, 0 failures" — a success.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from pytest_prodsmoke.outputs.report import GATE_CASE_CLASS, GATE_CASE_NAME, GateCase


def junit_requested(config: Any) -> bool:
    return bool(getattr(config.option, "xmlpath", None))


def find_logxml(config: Any) -> Any | None:
    """The LogXML object that will write --junitxml, or None if there is none (or it moved)."""
    try:
        from _pytest.junitxml import xml_key  # private: see module docstring
    except ImportError:
        return None
    logxml = config.stash.get(xml_key, None)
    if logxml is None or not all(callable(getattr(logxml, name, None)) for name in
                                 ("add_global_property", "pytest_runtest_logreport")):
        return None
    return logxml


def add_suite_properties(logxml: Any, properties: Mapping[str, str]) -> None:
    for name, value in properties.items():
        logxml.add_global_property(name, value)


class _GateFailure:
    """A longrepr for LogXML: its one-line ``message`` attribute and its full text."""

    def __init__(self, case: GateCase) -> None:
        self.reprcrash = SimpleNamespace(message=case.message)
        self.text = case.details

    def __str__(self) -> str:
        return self.text


def add_gate_testcase(logxml: Any, case: GateCase, duration_s: float) -> None:
    """Hand LogXML the reports of one more test case, ``prodsmoke.gate``, as if it had run.

    Only LogXML sees them: the terminal's counts and the gate's own stay those of the checks.
    """
    import pytest

    nodeid = f"{GATE_CASE_CLASS}::{GATE_CASE_NAME}"
    location = (GATE_CASE_CLASS, None, GATE_CASE_NAME)
    longrepr: Any = None
    if case.status == "failed":
        longrepr = _GateFailure(case)
    elif case.status == "skipped":
        longrepr = (GATE_CASE_CLASS, 0, case.message)  # pytest's skip form: path, line, reason
    call = pytest.TestReport(nodeid, location, {}, case.status, longrepr, "call",
                             duration=duration_s)
    logxml.pytest_runtest_logreport(call)
    logxml.pytest_runtest_logreport(
        pytest.TestReport(nodeid, location, {}, "passed", None, "teardown"))


def chaos_phase_properties(properties: list[tuple[str, object]]) -> list[tuple[str, str]]:
    """One JUnit property per phase of a chaos experiment (``prodsmoke.chaos.during``:
    "deviated ...: 1 probes, 1 failed, 0.5 s"), read from the check's chaos fact, for the
    junit_family that has testcase properties."""
    from pytest_prodsmoke.gate.facts import from_properties

    chaos = from_properties(properties).chaos
    phases = chaos.get("phases") if chaos else None
    if not isinstance(phases, list):
        return []
    return [(f"prodsmoke.chaos.{phase.get('phase')}",
             f"{phase.get('outcome')}: {phase.get('probes')} probes, {phase.get('failures')} "
             f"failed, {float(phase.get('ended_s', 0)) - float(phase.get('started_s', 0)):.1f} s")
            for phase in phases if isinstance(phase, dict)]
