"""Running a ``@pytest.mark.canary`` check: N samples against the baseline and N against the
candidate, interleaved, then ``compare.canary.judge`` on what they observed.

``CanaryMarker`` (registered in every gate run) reads the marker at collection; ``CanaryRuns``
runs the samples in place of the check's body. The statistics are imported only by a run that has a
canary check.

The check's ``prod`` argument is the baseline's client in the baseline samples and the
candidate's in the others; every other argument (fixtures, parameters) is the same object in
all samples, set up once.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodsmoke.errors import ProdsmokeError
from pytest_prodsmoke.safety.redact import REGISTRY
from pytest_prodsmoke.state import (
    CANARY_KEY,
    MARKER_ERROR_KEY,
    RECORDS_KEY,
    ProcessState,
    record_facts,
    stashed,
)

if TYPE_CHECKING:
    from pytest_prodsmoke.compare.canary import CanaryPolicy, CanaryResult, Sample
    from pytest_prodsmoke.http.client import ProdClient, ResponseRecord

SAMPLE_ERRORS: tuple[type[BaseException], ...] = (Exception, pytest.fail.Exception)


def run_canary(item: pytest.Function, policy: CanaryPolicy, baseline: ProdClient,
               records: list[ResponseRecord]) -> tuple[CanaryResult, str | None]:
    """Run the samples and judge them: the result, and the failure text unless it passed."""
    from pytest_prodsmoke.compare.canary import Sample, describe, judge

    __tracebackhide__ = True
    function = item.obj
    if inspect.iscoroutinefunction(function):
        pytest.fail("@pytest.mark.canary does not support async checks", pytrace=False)
    names = [name for name in inspect.signature(function).parameters if name in item.funcargs]
    if "prod" not in names:
        pytest.fail("a canary check must talk to the service through the prod fixture (it is "
                    "the baseline's client in baseline samples, the candidate's otherwise)",
                    pytrace=False)
    candidate: ProdClient = item.funcargs["prod"]  # type: ignore[assignment]
    context = candidate.context
    samples: dict[str, list[Sample]] = {"baseline": [], "candidate": []}
    first_error: dict[str, str] = {}
    for round_number in range(policy.samples):
        order: list[tuple[str, ProdClient]] = [("baseline", baseline), ("candidate", candidate)]
        if round_number % 2:
            order.reverse()  # neither side always goes first (warm caches, connection reuse)
        for side, client in order:
            client.reset_for_check(context)  # each sample starts from the configured state
            arguments: dict[str, Any] = {name: item.funcargs[name] for name in names}
            arguments["prod"] = client
            start = len(records)
            try:
                function(**arguments)
                ok = True
            except ProdsmokeError:
                raise  # a wrong version, a refused mutation, ...: not a statistic
            except SAMPLE_ERRORS as exc:
                ok = False
                first_error.setdefault(side, f"{type(exc).__name__}: {exc}".splitlines()[0])
            made = records[start:]
            latency = sum(r.elapsed_s for r in made) * 1000 if made else None
            samples[side].append(Sample(ok, latency))
    result = judge(samples["baseline"], samples["candidate"], policy)
    if result.verdict == "pass":
        return result, None
    errors = "".join(f"\n  first {side} error: {text[:300]}" for side, text in first_error.items())
    return result, REGISTRY.scrub(describe(result) + errors)


class CanaryMarker:
    """Reads ``@pytest.mark.canary`` at collection; registers ``CanaryRuns`` when a collected
    check has it (only then: a hook in place of every check's body costs every check)."""

    def __init__(self, state: ProcessState) -> None:
        self.state = state

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        found = False
        for item in items:
            marker = item.get_closest_marker("canary")
            if marker is not None:
                self._stash_policy(item, marker)
                found = True
        if found and not config.pluginmanager.has_plugin("prodsmoke-canary-runs"):
            config.pluginmanager.register(CanaryRuns(self.state), "prodsmoke-canary-runs")

    def _stash_policy(self, item: pytest.Item, marker: pytest.Mark) -> None:
        """The check's CanaryPolicy (ini defaults, then the marker's), or the marker's misuse,
        which fails the check's setup in one line."""
        if marker.args:
            item.stash[MARKER_ERROR_KEY] = ("@pytest.mark.canary takes keyword arguments only, "
                                            "e.g. canary(samples=50)")
            return
        if not isinstance(item, pytest.Function):
            item.stash[MARKER_ERROR_KEY] = "@pytest.mark.canary works on test functions only"
            return
        from pytest_prodsmoke.compare.canary import CanaryPolicy

        try:
            item.stash[CANARY_KEY] = CanaryPolicy().with_overrides(
                {**dict(self.state.settings.canary_overrides), **marker.kwargs})
        except ValueError as exc:
            item.stash[MARKER_ERROR_KEY] = f"@pytest.mark.canary: {exc}"


class CanaryRuns:
    """The samples of a canary check, run in place of its body."""

    def __init__(self, state: ProcessState) -> None:
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        policy = stashed(pyfuncitem.stash, CANARY_KEY, None)  # every check asks
        if policy is None:
            return None
        __tracebackhide__ = True
        baseline = self.state.baseline("a canary check")
        result, failure = run_canary(pyfuncitem, policy, baseline, pyfuncitem.stash[RECORDS_KEY])
        record_facts(pyfuncitem, canary=result.as_dict())
        if failure is not None:
            pytest.fail(failure, pytrace=False)
        return True
