"""Configuration: precedence CLI > env > ini, validation, and usage errors (exit 4, one line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_prodsmoke.errors import SettingsError
from pytest_prodsmoke.settings import DEFAULT_TIMEOUT_S, load_settings
from tests.support import NEVER_RUNS


def _load(cli: dict[str, Any] | None = None, env: dict[str, str] | None = None,
          ini: dict[str, Any] | None = None, base: Path = Path("/work")):
    ini_values = {"prodsmoke_gate_strict": False, "prodsmoke_version_header": "X-App-Version",
                  **(ini or {})}
    return load_settings(cli=lambda dest: (cli or {}).get(dest), ini=lambda k: ini_values.get(k),
                         environ=env or {}, base_dir=base)


def test_defaults_leave_the_gate_inactive() -> None:
    settings = _load()
    assert not settings.gate_active
    assert settings.timeout_s == DEFAULT_TIMEOUT_S and settings.retries == 2
    assert settings.version_header == "X-App-Version"


def test_precedence_cli_over_env_over_ini() -> None:
    ini = {"prodsmoke_url": "https://ini.example", "prodsmoke_headers": ["X-From: ini"]}
    env = {"PRODSMOKE_URL": "https://env.example", "PRODSMOKE_HEADERS": "X-From: env\nX-Two: 2"}
    cli = {"prodsmoke_url": "https://cli.example"}
    assert _load(ini=ini).prod_url == "https://ini.example"
    assert _load(ini=ini, env=env).prod_url == "https://env.example"
    assert _load(ini=ini, env=env, cli=cli).prod_url == "https://cli.example"
    assert _load(ini=ini, env=env).headers == (("X-From", "env"), ("X-Two", "2"))
    assert _load(ini=ini).headers == (("X-From", "ini"),)


def test_empty_env_counts_as_unset() -> None:
    settings = _load(env={"PRODSMOKE_URL": "", "PRODSMOKE_EXPECT_VERSION": " "})
    assert not settings.gate_active and settings.expect_version is None


def test_values_are_parsed() -> None:
    settings = _load(cli={"prodsmoke_url": "https://h.example/shop", "prodsmoke_timeout": "2.5",
                          "prodsmoke_retries": "0", "prodsmoke_gate_report": "out/gate.json",
                          "prodsmoke_headers": ["X-Canary: always"]},
                     ini={"prodsmoke_gate_strict": True})
    assert settings.prod_url == "https://h.example/shop"
    assert settings.timeout_s == 2.5 and settings.retries == 0 and settings.gate_strict
    assert settings.gate_report == Path("/work/out/gate.json")
    assert settings.header_names == ("X-Canary",)


@pytest.mark.parametrize(("cli", "env", "ini", "message"), [
    ({"prodsmoke_url": "candidate.example"}, {}, {},
     "--prod-url: 'candidate.example' is not an absolute http(s) URL"),
    ({"prodsmoke_url": "ftp://h.example"}, {}, {}, "--prod-url: 'ftp://h.example' is not"),
    ({"prodsmoke_url": "http://h:99999"}, {}, {}, "--prod-url: 'http://h:99999' is not a valid"),
    ({}, {"PRODSMOKE_URL": "https://"}, {}, "PRODSMOKE_URL: 'https://' is not"),
    ({}, {}, {"prodsmoke_url": "nope"}, "ini prodsmoke_url: 'nope' is not"),
    ({"prodsmoke_url": "https://h", "prodsmoke_timeout": "-1"}, {}, {},
     "--prod-timeout: '-1' is not a number of seconds"),
    ({"prodsmoke_url": "https://h", "prodsmoke_timeout": "nan"}, {}, {},
     "--prod-timeout: 'nan' is not"),
    ({"prodsmoke_url": "https://h"}, {}, {"prodsmoke_timeout": "soon"},
     "ini prodsmoke_timeout: 'soon' is not"),
    ({"prodsmoke_url": "https://h", "prodsmoke_retries": "-2"}, {}, {},
     "--prod-retries: '-2' is not a whole number from 0 to 10"),
    ({"prodsmoke_url": "https://h", "prodsmoke_headers": ["X-Canary always"]}, {}, {},
     "--prod-header: header #1 is not of the form 'Name: value'"),
    ({"prodsmoke_url": "https://h", "prodsmoke_headers": ["Bad Name: v"]}, {}, {},
     "--prod-header: header #1 has an invalid name 'Bad Name'"),
    ({"prodsmoke_url": "https://h", "prodsmoke_expect_version": ""}, {}, {},
     "--expect-version: '' is not a version"),
    ({"prodsmoke_expect_version": "1.2.3"}, {}, {},
     "--expect-version needs a candidate URL"),
    ({}, {"PRODSMOKE_GATE_REPORT": "gate.json"}, {}, "PRODSMOKE_GATE_REPORT needs a candidate"),
    ({"prodsmoke_url": "https://h"}, {}, {"prodsmoke_version_header": "X Version"},
     "ini prodsmoke_version_header: 'X Version' is not a valid header name"),
])
def test_invalid_values_name_the_option_and_value(cli, env, ini, message) -> None:
    with pytest.raises(SettingsError) as excinfo:
        _load(cli=cli, env=env, ini=ini)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_header_value_never_appears_in_an_error() -> None:
    with pytest.raises(SettingsError) as excinfo:
        _load(cli={"prodsmoke_url": "https://h", "prodsmoke_headers": ["Authorization s3cr3t"]})
    assert "s3cr3t" not in str(excinfo.value)


def test_url_credentials_never_appear_in_an_error() -> None:
    with pytest.raises(SettingsError) as excinfo:
        _load(cli={"prodsmoke_url": "gopher://user:hunter2@h.example"})
    assert "hunter2" not in str(excinfo.value)
    assert "***@h.example" in str(excinfo.value)


@pytest.mark.parametrize("mode", ["serial", "xdist"])
@pytest.mark.parametrize(("args", "env", "ini", "expected"), [
    (["--prod-url", "candidate.example"], {}, "",
     "ERROR: pytest-prodsmoke: --prod-url: 'candidate.example' is not an absolute http(s) URL*"),
    (["--prod-url", "http://127.0.0.1:1", "--prod-timeout", "-3"], {}, "",
     "ERROR: pytest-prodsmoke: --prod-timeout: '-3' is not a number of seconds*"),
    (["--prod-url", "http://127.0.0.1:1", "--prod-header", "X-Canary"], {}, "",
     "ERROR: pytest-prodsmoke: --prod-header: header #1 is not of the form*"),
    ([], {"PRODSMOKE_URL": "not a url"}, "",
     "ERROR: pytest-prodsmoke: PRODSMOKE_URL: 'not a url' is not an absolute*"),
    (["--prod-url", "http://127.0.0.1:1"], {}, "prodsmoke_gate_strict = maybe",
     "ERROR: pytest-prodsmoke: ini prodsmoke_gate_strict: *"),
    (["--expect-version", "1.0"], {}, "",
     "ERROR: pytest-prodsmoke: --expect-version needs a candidate URL*"),
])
def test_bad_configuration_is_a_usage_error(pytester: pytest.Pytester, monkeypatch, mode, args,
                                            env, ini, expected) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_smoke=NEVER_RUNS)
    result = pytester.runpytest_subprocess(*args, *(["-n", "2"] if mode == "xdist" else []))
    assert result.ret == 4
    result.stderr.fnmatch_lines([expected])
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert len([line for line in result.stderr.lines if line.strip()]) == 1, output
