"""Allure: each check labelled (severity, trace link) and given its request log, and the verdict
as an Allure result of its own, next to allure-pytest's results of the checks.

Allure's overview counts results: without this, a failed gate whose checks mostly passed shows
a mostly green ring, and the verdict only in the environment widget. The result is built with
allure-python-commons' own model and written under a fixed name, so writing it again (when the
verdict changed at the very end) replaces it. Imported only with ``--alluredir``.
"""

from __future__ import annotations

import json
from pathlib import Path

import allure
import pytest
from allure_commons.model2 import Label, Status, StatusDetails, TestResult
from allure_commons.utils import md5
from attr import asdict

from pytest_prodsmoke.http.requestlog import format_request_log, trace_link
from pytest_prodsmoke.http.tagging import new_trace_id
from pytest_prodsmoke.outputs.report import (
    GATE_CASE_CLASS,
    GATE_CASE_NAME,
    GateCase,
    write_text_atomic,
)
from pytest_prodsmoke.safety.redact import REGISTRY
from pytest_prodsmoke.state import RECORDS_KEY, TRACE_ID_KEY, ProcessState

GATE_RESULT_FILE = "prodsmoke-gate-result.json"  # Allure reads every *-result.json
_STATUS = {"passed": Status.PASSED, "skipped": Status.SKIPPED, "failed": Status.FAILED}


def gate_result(case: GateCase, started_at: float, finished_at: float) -> dict[str, object]:
    full_name = f"{GATE_CASE_CLASS}::{GATE_CASE_NAME}"
    result = TestResult(
        uuid=md5(full_name, str(started_at)),
        historyId=md5(full_name),  # the same in every run: Allure's history and trends
        testCaseId=md5(full_name),
        fullName=full_name,
        name="prodsmoke gate",
        status=_STATUS[case.status],
        statusDetails=None if case.status == "passed" else StatusDetails(
            message=case.message, trace=case.details),
        stage="finished",
        start=int(started_at * 1000),
        stop=int(finished_at * 1000),
        labels=[Label(name="severity", value="blocker"), Label(name="suite", value="prodsmoke"),
                Label(name="tag", value="prodsmoke-gate")],
    )
    return asdict(result, filter=lambda _, value: value or value is False)


def write_gate_result(alluredir: Path, case: GateCase, started_at: float,
                      finished_at: float) -> None:
    write_text_atomic(alluredir / GATE_RESULT_FILE,
                      json.dumps(gate_result(case, started_at, finished_at), ensure_ascii=False))


class AllureLabels:
    """With ``--alluredir``, in every process: labels through allure-pytest's own markers (no
    allure import in user code), and the request log of each check inline in its result."""

    def __init__(self, state: ProcessState) -> None:
        self.state = state

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        trace_template = self.state.settings.trace_url
        for item in items:
            # (noncritical and synthetic, argument-less markers, become Allure tags.)
            item.add_marker(pytest.mark.allure_label(
                "blocker" if item.get_closest_marker("noncritical") is None else "normal",
                label_type="severity"))
            if trace_template:
                # Allure reads links before the check starts, so its trace id is chosen now.
                trace_id = item.stash[TRACE_ID_KEY] = new_trace_id()
                item.add_marker(pytest.mark.allure_link(
                    trace_link(trace_template, trace_id), link_type="link", name="trace"))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        item = self.state.current
        if report.when != "call" or item is None or item.nodeid != report.nodeid:
            return
        records = item.stash.get(RECORDS_KEY, [])
        if records:
            context = self.state.context
            url = trace_link(self.state.settings.trace_url, context.trace_id if context else "")
            # A text type, so Allure's report shows the request log inline (not only a download).
            allure.attach(REGISTRY.scrub(format_request_log(records, url)),
                          name="prodsmoke requests", attachment_type=allure.attachment_type.TEXT)
