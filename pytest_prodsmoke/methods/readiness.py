"""Wait for the deployment: poll the candidate until it is ready *and* the expected version
answers, with a deadline and progress, before any check runs.

One-shot probes right after a deploy flake on 503s and teach teams to ignore the gate; checks
that start while the old version still answers test the wrong thing. The loop is a plain
function with an injectable probe, clock and sleep, so its rules are unit-tested without HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from pytest_prodsmoke.http.client import CheckContext, ProdClient, json_field

READINESS_CHECK_ID = "prodsmoke:readiness"


@dataclass(frozen=True)
class Probe:
    """What one readiness probe saw."""

    status: int | None  # None: no HTTP answer at all
    version: str | None
    error: str = ""

    def describe(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        return f"status {self.status}, version {self.version or '<none>'}"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    waited_s: float
    attempts: int
    last: Probe | None

    def failure_message(self, deadline_s: float, expected_version: str | None) -> str:
        want = f"2xx with version {expected_version}" if expected_version else "2xx"
        seen = self.last.describe() if self.last else "nothing"
        return (f"the candidate was not ready within {deadline_s:g} s ({self.attempts} probes; "
                f"wanted {want}, last saw {seen})")


def is_ready(probe: Probe, expected_version: str | None) -> bool:
    if probe.status is None or not 200 <= probe.status < 300:
        return False
    return expected_version is None or probe.version == expected_version


def wait_until_ready(probe: Callable[[float], Probe], expected_version: str | None,
                     deadline_s: float, interval_s: float,
                     on_progress: Callable[[Probe, float], None] = lambda probe, left: None,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> Readiness:
    """Probe until ready or the deadline passes; ``probe(time_left)`` must not block longer."""
    started = clock()
    attempts = 0
    last: Probe | None = None
    while True:
        left = deadline_s - (clock() - started)
        if left <= 0:
            return Readiness(False, clock() - started, attempts, last)
        last = probe(left)
        attempts += 1
        if is_ready(last, expected_version):
            return Readiness(True, clock() - started, attempts, last)
        left = deadline_s - (clock() - started)
        on_progress(last, max(left, 0.0))
        if left <= 0:
            return Readiness(False, clock() - started, attempts, last)
        sleep(min(interval_s, left))


def http_probe(client: ProdClient, ready_path: str, version_path: str | None,
               version_field: str, timeout_s: float) -> Callable[[float], Probe]:
    """A probe that asks the candidate itself, through a client like the checks' own."""
    client.reset_for_check(CheckContext(check_id=READINESS_CHECK_ID))

    def probe(time_left: float) -> Probe:
        timeout = max(min(timeout_s, time_left), 0.1)
        try:
            response = client.get(ready_path, timeout=(timeout, timeout))
            version = (response.headers.get(client.version_header)
                       if client.version_header else None)
            if version_path is not None:
                answer = client.get(version_path, timeout=(timeout, timeout))
                found = json_field(answer.json(), version_field) if answer.ok else None
                version = None if found is None else str(found)
            return Probe(response.status_code, version)
        except (requests.RequestException, ValueError) as exc:
            return Probe(None, None, type(exc).__name__)

    return probe
