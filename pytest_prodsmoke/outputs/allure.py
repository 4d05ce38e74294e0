"""The verdict as an Allure result of its own, next to allure-pytest's results of the checks.

Allure's overview counts results: without this, a failed gate whose checks mostly passed shows
a mostly green ring, and the verdict only in the environment widget. The result is built with
allure-python-commons' own model and written under a fixed name, so writing it again (when the
verdict changed at the very end) replaces it. Imported only with ``--alluredir``.
"""

from __future__ import annotations

import json
from pathlib import Path

from allure_commons.model2 import Label, Status, StatusDetails, TestResult
from allure_commons.utils import md5
from attr import asdict

from pytest_prodsmoke.outputs.report import (
    GATE_CASE_CLASS,
    GATE_CASE_NAME,
    GateCase,
    write_text_atomic,
)

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
