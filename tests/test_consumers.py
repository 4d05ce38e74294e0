"""Issue #10: what users' tools see. Every output is read by a real consumer nobody here wrote
(an XML schema validator, junitparser, actionlint, gitlab-ci-local), in real pytest sessions
against the real shop, serial and ``-n 2``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GateRun, run_gate

DATA = Path(__file__).with_name("data")

MIXED = """
import pytest

def test_health(prod):
    assert prod.get("/healthz").ok

def test_broken(prod):
    assert prod.get("/broken").ok

@pytest.mark.noncritical
@pytest.mark.skip(reason="feature off")
def test_wishlist(prod):
    pass

@pytest.fixture
def order():
    yield
    raise RuntimeError("order not deleted")

def test_order(prod, order):
    assert prod.get("/healthz").ok
"""


def _summary(run: GateRun) -> str:
    return f"exit {run.ret}\n{run.output[-3000:]}"


def test_default_junit_xml_is_valid_under_pytests_own_schema(pytester: pytest.Pytester, shop,
                                                             mode: str) -> None:
    """pytest's default junit_family (xunit2) allows no <properties> in a <testcase>."""
    import xmlschema

    pytester.makepyfile(test_smoke=MIXED)
    run = run_gate(pytester, mode, "--expect-version", "2.0.0", url=shop.url)
    assert run.ret == 1, _summary(run)
    schema = xmlschema.XMLSchema(str(DATA / "junit-10.xsd"))  # from pytest's sdist
    schema.validate(str(run.junit_path))
    suite = run.junit().find("testsuite")
    suite_props = {p.get("name") for p in suite.findall("./properties/property")}
    assert {"prodsmoke.verdict", "prodsmoke.exit_status"} <= suite_props  # suite facts stay
    assert run.report["checks"][0]["versions"] == {"2.0.0": 1}  # the gate still read them


@pytest.mark.parametrize("family", ["xunit1", "legacy"])
def test_per_check_properties_in_the_families_that_allow_them(pytester: pytest.Pytester, shop,
                                                              mode: str, family: str) -> None:
    pytester.makepyfile(test_smoke=MIXED)
    run = run_gate(pytester, mode, "-o", f"junit_family={family}", url=shop.url)
    cases = {case.get("name"): {p.get("name"): p.get("value")
                                for p in case.findall("./properties/property")}
             for case in run.junit().iter("testcase")}
    assert cases["test_health"]["prodsmoke.critical"] == "true"
    assert "prodsmoke.trace_id" in cases["test_health"]
