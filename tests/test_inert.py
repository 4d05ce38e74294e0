"""Without a candidate URL the plugin changes nothing: same output shape, same exit codes."""

from __future__ import annotations

import pytest

UNRELATED = """
import pytest

def test_ok():
    assert 1 + 1 == 2

@pytest.mark.skip(reason="not here")
def test_skipped():
    pass
"""


@pytest.mark.parametrize("mode", ["serial", "xdist"])
@pytest.mark.parametrize(("source", "expected"), [
    (UNRELATED, 0),
    (UNRELATED + "\ndef test_bad():\n    assert False\n", 1),
    ("def helper():\n    pass\n", 5),
])
def test_unrelated_suite_behaves_like_plain_pytest(pytester: pytest.Pytester, mode: str,
                                                   source: str, expected: int) -> None:
    pytester.makepyfile(test_unrelated=source)
    xdist = ["-n", "2"] if mode == "xdist" else []
    with_plugin = pytester.runpytest_subprocess(*xdist)
    without_plugin = pytester.runpytest_subprocess("-p", "no:prodsmoke", *xdist)
    assert with_plugin.ret == without_plugin.ret == expected
    assert with_plugin.parseoutcomes() == without_plugin.parseoutcomes()
    assert "prodsmoke gate" not in with_plugin.stdout.str()
    assert "prodsmoke:" not in with_plugin.stdout.str()  # no report header line
    assert not list(pytester.path.glob("*.json"))


def test_markers_are_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_marks="""
import pytest

@pytest.mark.noncritical
@pytest.mark.synthetic
def test_marked():
    pass
""")
    result = pytester.runpytest_subprocess("--strict-markers")
    assert result.ret == 0


def test_prod_fixture_without_url_names_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_smoke="def test_health(prod):\n    prod.get('/healthz')\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*the prod fixture needs a candidate URL: pass --prod-url URL*"])
    assert "Traceback" not in result.stdout.str()
