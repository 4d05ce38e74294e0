"""--wait-ready: poll the candidate until it is ready with the expected version, then check.
The loop's rules as plain functions; the behaviour in real sessions, serial and -n 2."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from examples.shop.launch import RunningShop, start_shop
from pytest_prodsmoke.http.client import json_field
from pytest_prodsmoke.methods.readiness import Probe, wait_until_ready
from tests.support import HEALTH, FakeClock, run_gate


def scripted(*probes: Probe):
    answers = list(probes)

    def probe(time_left: float) -> Probe:
        return answers.pop(0) if len(answers) > 1 else answers[0]
    return probe


def test_ready_at_once() -> None:
    clock = FakeClock()
    result = wait_until_ready(scripted(Probe(200, "2.0.0")), "2.0.0", 10, 1, clock=clock,
                              sleep=clock.sleep)
    assert result.ready and result.attempts == 1 and result.waited_s == 0


def test_waits_through_503_and_old_version() -> None:
    clock = FakeClock()
    seen: list[tuple[str, float]] = []
    result = wait_until_ready(
        scripted(Probe(None, None, "ConnectionError"), Probe(503, None), Probe(200, "1.0.0"),
                 Probe(200, "2.0.0")),
        "2.0.0", 60, 2, on_progress=lambda probe, left: seen.append((probe.describe(), left)),
        clock=clock, sleep=clock.sleep)
    assert result.ready and result.attempts == 4 and result.waited_s == 6
    assert seen == [("no answer (ConnectionError)", 60), ("status 503, version <none>", 58),
                    ("status 200, version 1.0.0", 56)]


def test_deadline_gives_up_with_the_last_probe() -> None:
    clock = FakeClock()
    result = wait_until_ready(scripted(Probe(200, "1.0.0")), "2.0.0", 5, 2, clock=clock,
                              sleep=clock.sleep)
    assert not result.ready and result.waited_s == 5
    assert result.failure_message(5, "2.0.0") == (
        "the candidate was not ready within 5 s (3 probes; wanted 2xx with version 2.0.0, "
        "last saw status 200, version 1.0.0)")


def test_without_expected_version_any_2xx_is_ready() -> None:
    clock = FakeClock()
    assert wait_until_ready(scripted(Probe(204, None)), None, 5, 1, clock=clock,
                            sleep=clock.sleep).ready


def test_json_field_is_dotted() -> None:
    assert json_field({"app": {"version": "2"}}, "app.version") == "2"
    assert json_field({"app": {}}, "app.version") is None
    assert json_field(["x"], "version") is None


@pytest.fixture
def deploying_shop() -> Iterator[RunningShop]:
    """A candidate still starting: /healthz answers 503 for 3 s (long enough that a loaded
    machine still sees it starting)."""
    server = start_shop("2.0.0", "--ready-after", "3")
    yield server
    server.stop()


def test_checks_start_once_the_candidate_is_ready(pytester: pytest.Pytester, deploying_shop,
                                                  mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTH)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", "--wait-ready=30",
                   "--ready-interval", "0.2", url=deploying_shop.url)
    assert run.ret == 0, run.output
    assert "status 503" in run.output and f"{deploying_shop.url} ready after" in run.output
    assert run.report["verdict"] == "pass"


def test_deadline_fails_fast_without_running_checks(pytester: pytest.Pytester, mode: str) -> None:
    server = start_shop("2.0.0", "--ready-after", "120")
    try:
        pytester.makepyfile(test_smoke=HEALTH)
        started = time.monotonic()
        run = run_gate(pytester, mode, "--wait-ready=1", "--ready-interval", "0.2",
                       url=server.url)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert run.ret == 1, run.output
    assert run.codes == ["not_ready"]
    assert "last saw status 503" in run.report["reasons"][0]["message"]
    assert run.report["counts"]["passed"] == 0 and run.report["checks"] == []
    assert elapsed < 30  # a sanity bound, not a benchmark: the deadline was 1 s


def test_old_version_never_becomes_ready(pytester: pytest.Pytester, old_shop, mode: str) -> None:
    pytester.makepyfile(test_smoke=HEALTH)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", "--wait-ready=1",
                   "--ready-interval", "0.2", url=old_shop.url)
    assert run.ret == 1, run.output
    assert run.codes == ["not_ready"]
    assert "last saw status 200, version 1.0.0" in run.report["reasons"][0]["message"]


def test_version_from_a_json_endpoint(pytester: pytest.Pytester, shop) -> None:
    pytester.makeini("[pytest]\nprodsmoke_version_path = /version\n"
                     "prodsmoke_version_field = version\n")
    pytester.makepyfile(test_smoke=HEALTH)
    run = run_gate(pytester, "serial", "--expect-version", "2.0.0", "--wait-ready=10",
                   url=shop.url)
    assert run.ret == 0, run.output


def test_wait_ready_value_must_be_seconds(pytester: pytest.Pytester, shop) -> None:
    pytester.makepyfile(test_smoke=HEALTH)
    result = pytester.runpytest_subprocess("--prod-url", shop.url, "--wait-ready", "soon")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: pytest-prodsmoke: --wait-ready: 'soon' is not a number "
                                 "of seconds*(write --wait-ready=SECONDS, or put paths first)"])


VERSION_ENDPOINT_INI = "[pytest]\nprodsmoke_version_path = /version\n"


def test_version_pinned_through_the_json_endpoint(pytester: pytest.Pytester, shop,
                                                  mode: str) -> None:
    """No version header configured: each check that talked to the candidate is followed by
    one question to the version endpoint, counted like a response."""
    pytester.makeini(VERSION_ENDPOINT_INI)
    pytester.makepyfile(test_smoke=HEALTH + "\ndef test_two(prod):\n"
                        "    assert prod.get('/catalog').ok\n    assert prod.get('/healthz').ok\n")
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=shop.url)
    assert run.ret == 0, run.output
    assert run.report["target"]["observed_versions"] == {"2.0.0": 2}  # one per check


def test_wrong_version_through_the_json_endpoint(pytester: pytest.Pytester, old_shop,
                                                 mode: str) -> None:
    pytester.makeini(VERSION_ENDPOINT_INI)
    pytester.makepyfile(test_smoke=HEALTH)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=old_shop.url)
    assert run.ret == 1, run.output
    assert run.codes == ["check_failed", "wrong_version"]
    assert "GET /version: answered by version 1.0.0, expected 2.0.0" in run.output
