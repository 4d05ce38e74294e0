"""Suite-level JUnit XML properties written from a plugin.

pytest's public ``record_testsuite_property`` is a fixture and does nothing on xdist workers, so
the controller has no public way to add suite properties at the end of a run. This is the one
place that uses pytest's private API for it (``_pytest.junitxml.xml_key`` and
``LogXML.add_global_property``), present from pytest 7 to 9.2. If pytest moves it, the function
says so and the gate reports an internal error instead of silently writing less.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def junit_requested(config: Any) -> bool:
    return bool(getattr(config.option, "xmlpath", None))


def find_logxml(config: Any) -> Any | None:
    """The LogXML object that will write --junitxml, or None if there is none (or it moved)."""
    try:
        from _pytest.junitxml import xml_key  # private: see module docstring
    except ImportError:
        return None
    logxml = config.stash.get(xml_key, None)
    if logxml is None or not callable(getattr(logxml, "add_global_property", None)):
        return None
    return logxml


def add_suite_properties(logxml: Any, properties: Mapping[str, str]) -> None:
    for name, value in properties.items():
        logxml.add_global_property(name, value)
