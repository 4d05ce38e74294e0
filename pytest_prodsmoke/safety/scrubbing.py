"""Secrets masked in everything pytest and its plugins print or write: the reports of every
check and collector (tracebacks, locals, captured output and logs, properties) and log records
as they are made (so live logs, captured logs and log files see the masked text).

A pytest plugin registered in every process of a gate run. The masking itself is
``safety.redact``: pure, no pytest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

import pytest

from pytest_prodsmoke.gate.facts import SECRET_FREE_PROPERTIES
from pytest_prodsmoke.safety.redact import REGISTRY
from pytest_prodsmoke.state import WORKER_SECRETS_KEY


def scrub_report(report: Any) -> None:
    """Mask secrets in everything a report carries: traceback (with -l locals and assertion
    details), skip reason, captured output and logs, user properties."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, lineno, reason)
        report.longrepr = (longrepr[0], longrepr[1], REGISTRY.scrub(str(longrepr[2])))
    elif longrepr is not None:
        text = str(longrepr)
        clean = REGISTRY.scrub(text)
        if clean != text:
            # The structured traceback cannot be edited in place; its masked text replaces it.
            report.longrepr = clean
    if report.sections:
        report.sections = [(title, REGISTRY.scrub(content)) for title, content in report.sections]
    if getattr(report, "user_properties", None):
        report.user_properties = [
            (name, value) if name in SECRET_FREE_PROPERTIES or not isinstance(value, str)
            else (name, REGISTRY.scrub(value))
            for name, value in report.user_properties
        ]


def _scrubbing_record_factory(previous: Callable[..., logging.LogRecord]
                              ) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return record
        clean = REGISTRY.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Format the traceback now, so that the text every handler prints is masked.
            record.exc_text = REGISTRY.scrub(logging.Formatter().formatException(record.exc_info))
        return record

    factory.prodsmoke = True  # type: ignore[attr-defined]
    return factory


def needs_scrubbing(report: Any) -> bool:
    """Whether a report carries text that may hold a secret (most passing reports carry none)."""
    return report.longrepr is not None or bool(report.sections) or any(
        name not in SECRET_FREE_PROPERTIES for name, _ in report.user_properties)


class Scrubbing:
    """Log records masked from the session's start; failed collection reports masked; an xdist
    worker's learnt secrets handed to the controller. (Test reports are masked by the check
    recorder, last, after it added what it adds: see process.py.)"""

    def __init__(self) -> None:
        self._previous_factory: Callable[..., logging.LogRecord] | None = None

    @pytest.hookimpl
    def pytest_sessionstart(self) -> None:
        self._previous_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_scrubbing_record_factory(self._previous_factory))

    @pytest.hookimpl
    def pytest_unconfigure(self) -> None:
        current = logging.getLogRecordFactory()
        if self._previous_factory is not None and getattr(current, "prodsmoke", False):
            logging.setLogRecordFactory(self._previous_factory)

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector
                                   ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        if not report.passed:
            scrub_report(report)
        return report

    @pytest.hookimpl(trylast=True)  # after the worker's last teardown (safety/signals.py)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            # Secrets learnt in this worker (login tokens) reach the controller, which masks
            # them in the files other tools wrote (Allure). xdist sends workeroutput after
            # every sessionfinish hook has run.
            workeroutput[WORKER_SECRETS_KEY] = sorted(REGISTRY.values())
