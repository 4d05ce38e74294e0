"""Running a ``@pytest.mark.canary`` check: N samples against the baseline and N against the
candidate, interleaved, then ``compare.canary.judge`` on what they observed.

The check's ``prod`` argument is the baseline's client in the baseline samples and the
candidate's in the others; every other argument (fixtures, parameters) is the same object in
all samples, set up once.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest

from pytest_prodsmoke.compare.canary import CanaryPolicy, CanaryResult, Sample, describe, judge
from pytest_prodsmoke.errors import ProdsmokeError
from pytest_prodsmoke.safety.redact import REGISTRY

if TYPE_CHECKING:
    from pytest_prodsmoke.http.client import ProdClient, ResponseRecord

SAMPLE_ERRORS: tuple[type[BaseException], ...] = (Exception, pytest.fail.Exception)


def run_canary(item: pytest.Function, policy: CanaryPolicy, baseline: ProdClient,
               records: list[ResponseRecord]) -> tuple[CanaryResult, str | None]:
    """Run the samples and judge them: the result, and the failure text unless it passed."""
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
