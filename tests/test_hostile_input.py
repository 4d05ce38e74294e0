"""Issue #11: hostile input gets one clear line (exit 4, naming the option, no traceback) and
never shows a secret; the plugin's own rules inside a check fail it in one line. End to end,
in real pytest sessions, serial and ``-n 2``; the same rules as properties of the settings
parser and the fake-user loader (hypothesis) at the end."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import NEVER_RUNS, XDIST_ARGS

LONG = "x" * 300  # a path component over 255 characters: ENAMETOOLONG


@dataclass(frozen=True)
class Hostile:
    """One bad input: how to give it, which option the one line must name, what it must hide."""

    name: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    ini: str = ""  # pytest.ini lines
    pyproject: str = ""  # [tool.pytest.ini_options] lines
    files: dict[str, bytes] = field(default_factory=dict)
    source: str = ""  # what the error line must name
    secret: str = ""  # what must appear nowhere


URL = "--prod-url=http://127.0.0.1:9"  # a valid candidate URL, where one is needed besides

CASES = [
    # 1. Secrets in error messages.
    Hostile("url-credentials", (URL, "--baseline-url", "https:/u:PASSWORD1x@127.0.0.1"),
            source="--baseline-url", secret="PASSWORD1x"),
    Hostile("env-url-credentials", env={"PRODSMOKE_URL": "http:/u:PASSWORD2x@host"},
            source="PRODSMOKE_URL", secret="PASSWORD2x"),
    Hostile("header-typo", (URL, "--prod-header", "Authorization=Bearer TOKEN3xyz:x"),
            source="--prod-header", secret="TOKEN3xyz"),
    Hostile("env-header-typo", (URL,), env={"PRODSMOKE_HEADERS": "Authorization=Bearer TOKEN4:x"},
            source="PRODSMOKE_HEADERS", secret="TOKEN4"),
    Hostile("ini-header-typo", (URL,), ini="prodsmoke_headers = Authorization=Bearer TOKEN5:x",
            source="ini prodsmoke_headers", secret="TOKEN5"),
    Hostile("pyproject-header-typo", (URL,),
            pyproject='prodsmoke_headers = ["Authorization=Bearer TOKEN6:x"]',
            source="ini prodsmoke_headers", secret="TOKEN6"),
    Hostile("command-assignment", (URL, "--on-gate-fail", "TOKEN=SECRET7x ./rollback.sh"),
            source="--on-gate-fail", secret="SECRET7x"),
    # 2. Tracebacks instead of one line.
    Hostile("unclosed-ipv6", ("--prod-url", "http://[::1"), source="--prod-url"),
    Hostile("credentials-bad-port", ("--prod-url", "http://u:PASSWORD9x@127.0.0.1:99999"),
            source="--prod-url", secret="PASSWORD9x"),
    Hostile("report-no-such-user", (URL, "--gate-report", "~nosuchuser/x.json"),
            source="--gate-report"),
    Hostile("report-name-too-long", (URL, "--gate-report", f"{LONG}/x.json"),
            source="--gate-report"),
    Hostile("users-no-such-user", (URL, "--fake-users", "~nosuchuser/u.json"),
            source="--fake-users"),
    Hostile("ca-name-too-long", (URL, "--prod-ca-bundle", f"{LONG}.pem"),
            source="--prod-ca-bundle"),
    Hostile("retries-superscript", (URL, "--prod-retries", "²"), source="--prod-retries"),
    Hostile("pattern-overflow", (URL,), ini="prodsmoke_fake_user_pattern = a{4294967296}",
            source="ini prodsmoke_fake_user_pattern"),
    Hostile("pattern-recursion", (URL,),
            ini="prodsmoke_fake_user_pattern = " + "(" * 3000 + ")" * 3000,
            source="ini prodsmoke_fake_user_pattern"),
    Hostile("users-latin-1", (URL, "--fake-users", "users.json"),
            files={"users.json": '[{"username": "smoke-é", "password": "p"}]'.encode("latin-1")},
            source="--fake-users"),
    Hostile("users-nested-json", (URL, "--fake-users", "users.json"),
            files={"users.json": b"[" * 100_000}, source="--fake-users"),
    Hostile("users-nested-toml", (URL, "--fake-users", "users.toml"),
            files={"users.toml": b"a = " + b"[" * 5000}, source="--fake-users"),
    Hostile("users-broken-toml", (URL, "--fake-users", "users.toml"),
            files={"users.toml": b'[[users]]\nusername = "smoke-a"\npassword = "SEKRIT12"x\n'},
            source="--fake-users", secret="SEKRIT12"),
    Hostile("ini-list-for-one-url", (URL,), pyproject='prodsmoke_baseline_url = ["a", "b"]',
            source="ini prodsmoke_baseline_url"),
    Hostile("port-zero", ("--prod-url", "http://127.0.0.1:0/"), source="--prod-url"),
    Hostile("space-in-host", ("--prod-url", "http://ho st/"), source="--prod-url"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line_exit_4_and_no_secret(pytester: pytest.Pytester, mode: str,
                                                    case: Hostile,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if case.ini:
        pytester.makefile(".ini", pytest=f"[pytest]\n{case.ini}\n")
    if case.pyproject:
        pytester.makepyprojecttoml(f"[tool.pytest.ini_options]\n{case.pyproject}\n")
    for name, content in case.files.items():
        (pytester.path / name).write_bytes(content)
    pytester.makepyfile(test_smoke=NEVER_RUNS)
    result = pytester.runpytest_subprocess(*case.args, *(XDIST_ARGS if mode == "xdist" else ()),
                                           timeout=120)
    out, err = result.stdout.str(), result.stderr.str()
    assert result.ret == 4, f"exit {result.ret}\n{out[-2000:]}\n{err[-3000:]}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[-3000:]
    assert lines[0].startswith(f"ERROR: pytest-prodsmoke: {case.source}"), lines[0]
    assert "Traceback" not in out + err
    if case.secret:
        assert case.secret not in out + err


def test_a_broken_toml_file_names_the_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "users.toml").write_text('[[users]]\nusername = "smoke-a"\nx = = 1\n')
    pytester.makepyfile(test_smoke=NEVER_RUNS)
    result = pytester.runpytest_subprocess(URL, "--fake-users", "users.toml")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: pytest-prodsmoke: --fake-users: not valid TOML (line 3)"])


# ---------------------------------------------------------- the plugin's own rules in a check

MARKER_CASES = {
    "latency-overflow": "@pytest.mark.latency(max_ms=10**400)",
    "canary-overflow": "@pytest.mark.canary(samples=10**400)",
    "ignore-number": "@pytest.mark.parallel_run(ignore=[123])",
    "ignore-none": "@pytest.mark.parallel_run(ignore=[None])",
    "headers-number": "@pytest.mark.parallel_run(headers=[123])",
    "ignore-dot-dot": '@pytest.mark.parallel_run(ignore=["$.."])',
    "ignore-bracket": '@pytest.mark.parallel_run(ignore=["$["])',
}


@pytest.mark.parametrize("marker", MARKER_CASES.values(), ids=list(MARKER_CASES))
def test_a_misused_marker_fails_its_check_in_one_line(pytester: pytest.Pytester, shop,
                                                      mode: str, marker: str) -> None:
    from tests.support import run_gate

    pytester.makepyfile(test_smoke=f"""
import pytest

def test_health(prod):
    assert prod.get("/healthz").ok

{marker}
def test_marked(prod, parallel_run):
    pass
""")
    run = run_gate(pytester, mode, "--baseline-url", shop.url, url=shop.url)
    assert run.ret == 1, run.output[-3000:]
    assert "check_failed" in run.codes or "collection_error" in run.codes
    marked = next(c for c in run.report["checks"] if "test_marked" in c["nodeid"])
    assert marked["outcome"] in ("error", "failed")
    assert "Traceback" not in run.output and "pytest_prodsmoke/" not in run.output
    assert run.output.count(marked["message"]) <= 3  # the section, the summary, the gate block
    assert marked["message"].startswith("@pytest.mark.")


def test_a_variant_name_that_is_no_header_value_is_a_collection_error(
        pytester: pytest.Pytester, shop, mode: str) -> None:
    from tests.support import run_gate

    pytester.makepyfile(test_smoke="""
import pytest

def test_health(prod):
    assert prod.get("/healthz").ok

@pytest.mark.variants("A\\r\\nX-Evil: 1")
def test_variant(prod, prodsmoke_variant):
    pass
""")
    run = run_gate(pytester, mode, "-o", "prodsmoke_variant_header=X-Variant", url=shop.url)
    assert run.ret in (1, 2), run.output[-3000:]
    assert "collection_error" in run.codes
    assert "@pytest.mark.variants" in run.output and "Traceback" not in run.output
    assert "X-Evil" not in json.dumps(run.report["checks"])


# ------------------------------------------------------ every fragment of a secret is masked

FRAGMENTS = """
def test_newline_password(fake_user):
    assert fake_user.password.reveal() == "something else"
"""


@pytest.mark.parametrize("password", [
    "first-line-SEKRIT\nsecond-line-SEKRIT",
    "LONGSEKRITbe" + "x" * 300 + "LONGSEKRITend",
], ids=["newline", "long"])
def test_no_fragment_of_a_secret_reaches_any_output(pytester: pytest.Pytester, shop, mode: str,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    password: str) -> None:
    from tests.support import run_gate

    monkeypatch.setenv("PRODSMOKE_FAKE_USERS",
                       json.dumps([{"username": "smoke-z", "password": password}]))
    pytester.makepyfile(test_smoke=FRAGMENTS)
    for verbosity in ((), ("-vv",)):
        run = run_gate(pytester, mode, *verbosity, "-o", "junit_family=xunit1", url=shop.url)
        assert run.ret == 1
        texts = {"terminal": run.output, "junit": run.junit_path.read_text(),
                 "report": run.report_path.read_text()}
        fragments = ([line for line in password.splitlines()] if "\n" in password
                     else ["LONGSEKRITbe", "LONGSEKRITend"])
        leaks = [(where, fragment) for where, text in texts.items() for fragment in fragments
                 if fragment in text]
        assert leaks == [], leaks


# ------------------------------------------------------------------------ property-based

def _load(values: dict[str, object], environ: dict[str, str] | None = None,
          base_dir: Path = Path("/tmp")):
    from pytest_prodsmoke.settings import load_settings

    return load_settings(cli=lambda dest: values.get(dest), ini=lambda name: None,
                         environ=environ or {}, base_dir=base_dir)


# Made at run time: hypothesis also draws text from the string constants of the code it sees,
# and a secret it found there could land where no secret belongs.
SECRET = "PLANTED-" + __import__("uuid").uuid4().hex[:10]
# Options whose values may hold a secret, and where it sits in them.
SECRET_BEARING = {"prodsmoke_url", "prodsmoke_baseline_url", "prodsmoke_baseline2_url",
                  "prodsmoke_headers", "prodsmoke_on_gate_fail", "prodsmoke_on_gate_pass",
                  "prodsmoke_on_gate_degraded", "prodsmoke_trace_url"}


def _secret_positions():
    from hypothesis import strategies as st

    junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
    urls = st.one_of(
        st.builds(lambda scheme, user, host, rest: f"{scheme}:{'/' * 2}{user}:{SECRET}@{host}"
                  f"{rest}", st.sampled_from(["http", "https", "ftp", "", "h t"]),
                  junk, junk, junk),
        st.builds(lambda scheme, host: f"{scheme}:/u:{SECRET}@{host}",
                  st.sampled_from(["http", "https"]), junk),
        st.builds(lambda host, name: f"http://{host}/p?{name}={SECRET}", junk,
                  st.sampled_from(["token", "api_key", "session", "auth"])))
    headers = st.builds(lambda name, sep: f"{name}{sep}{SECRET}", junk,
                        st.sampled_from([":", "=", " ", "", "=Bearer "]))
    commands = st.one_of(st.builds(lambda name: f"{name}={SECRET} ./deploy.sh",
                                   st.sampled_from(["TOKEN", "A", "_X"])),
                         st.just(f"./no-such-deploy.sh --token {SECRET}"),
                         st.just(f"'unclosed {SECRET}"))
    return {"url": urls, "header": headers, "command": commands}


def test_settings_are_valid_or_one_line_naming_the_option() -> None:
    """Any text for any option: valid settings, or a one-line SettingsError that names the
    option; where a value may hold a secret (URL credentials, a header, a command), the
    secret planted there never shows."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from pytest_prodsmoke.errors import SettingsError
    from pytest_prodsmoke.settings import OPTIONS

    flagged = [spec for spec in OPTIONS if spec.flag and spec.kind != "bool"]
    planted = _secret_positions()
    anything = st.one_of(st.text(max_size=40), st.sampled_from([
        "http://[::1", "http://127.0.0.1:0/", "http://ho st/", "²", "1e400", "nan", "-1", "0",
        "~nosuchuser/x", LONG, "\x00"])).filter(lambda text: SECRET not in text)

    def value_for(spec):
        if spec.dest in SECRET_BEARING:
            kind = ("header" if spec.dest == "prodsmoke_headers" else
                    "command" if spec.dest.startswith("prodsmoke_on_gate") else "url")
            return st.one_of(planted[kind], anything)
        return anything

    @settings(max_examples=400, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.sampled_from(flagged).flatmap(lambda spec: st.tuples(st.just(spec),
                                                                   value_for(spec))))
    def check(case) -> None:
        spec, text = case
        values = {spec.dest: [text] if spec.kind == "list" else text}
        if spec.dest != "prodsmoke_url":
            values["prodsmoke_url"] = ["http://127.0.0.1:9"]
        try:
            _load(values)
        except SettingsError as exc:
            message = str(exc)
            assert "\n" not in message, message
            assert spec.flag in message, message
            if spec.dest in SECRET_BEARING:
                assert SECRET not in message, message

    check()


def test_fake_users_are_valid_or_one_line_without_secrets() -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from pytest_prodsmoke.errors import SettingsError
    from pytest_prodsmoke.safety.users import load_users

    secret = "PLANTED-" + __import__("uuid").uuid4().hex[:10]
    json_values = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
                  st.just(secret)),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
            st.sampled_from(["username", "password", "token", "api_key", secret]), inner,
            max_size=4), max_leaves=12)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(json_values, st.sampled_from([".*", r"^(smoke|synthetic|test)[-_.+]", "a{99999999999}",
                                         "(", "[a-"]))
    def check(data, pattern) -> None:
        try:
            load_users(None, "--fake-users", json.dumps(data), (), pattern)
        except SettingsError as exc:
            message = str(exc)
            assert "\n" not in message and secret not in message, message

    check()
