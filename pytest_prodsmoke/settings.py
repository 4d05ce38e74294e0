"""Every option of the plugin: declared once, parsed and validated into one frozen ``Settings``.

Precedence for each setting: command line > environment variable > ini key > default.
An empty environment variable counts as unset (CI systems often export empty values).

This module does not import pytest at module level: ``load_settings`` takes plain callables
and a mapping, so every validation rule can be unit-tested without a pytest session.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pytest_prodsmoke.commands import DEFAULT_COMMAND_TIMEOUT_S, parse_command
from pytest_prodsmoke.compare.defaults import CANARY_DEFAULTS
from pytest_prodsmoke.errors import SettingsError
from pytest_prodsmoke.redact import Secret, looks_secret, mask_query_values

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 2
MAX_RETRIES = 10
MAX_TIMEOUT_S = 3600.0
DEFAULT_VERSION_HEADER = "X-App-Version"
DEFAULT_FAKE_USER_PATTERN = r"^(smoke|synthetic|test)[-_.+]"
DEFAULT_FAKE_USER_WAIT_S = 30.0
DEFAULT_RUN_HEADER = "X-Prodsmoke-Run"
DEFAULT_READY_DEADLINE_S = 300.0
DEFAULT_READY_INTERVAL_S = 2.0
DEFAULT_CHECK_HEADER = "X-Prodsmoke-Check"
MAX_RPS = 10_000.0
DEFAULT_CANCEL_GRACE_S = 20.0

# RFC 9110 token: what a header name may contain.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

Kind = Literal["str", "list", "bool"]


@dataclass(frozen=True)
class OptionSpec:
    """One setting and the places it can come from."""

    dest: str
    kind: Kind
    help: str
    flag: str | None = None
    env: str | None = None
    ini: str | None = None
    ini_default: Any = None
    metavar: str | None = None
    const: str | None = None  # value of a flag given without one (--wait-ready)


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("prodsmoke_url", "list", "base URL of the new, unreleased version (the candidate); "
               "repeat it for several targets (regions, instances); "
               "configuring it activates the gate",
               flag="--prod-url", env="PRODSMOKE_URL", ini="prodsmoke_url", metavar="URL"),
    OptionSpec("prodsmoke_baseline_url", "str", "base URL of the version users get today",
               flag="--baseline-url", env="PRODSMOKE_BASELINE_URL", ini="prodsmoke_baseline_url",
               metavar="URL"),
    OptionSpec("prodsmoke_headers", "list", "'Name: value' header added to every candidate "
               "request, e.g. to route to the unreleased version (repeatable)",
               flag="--prod-header", env="PRODSMOKE_HEADERS", ini="prodsmoke_headers",
               metavar="'NAME: VALUE'"),
    OptionSpec("prodsmoke_expect_version", "str", "the version that must answer every request",
               flag="--expect-version", env="PRODSMOKE_EXPECT_VERSION", metavar="VERSION"),
    OptionSpec("prodsmoke_gate_report", "str", "write the JSON gate report to PATH",
               flag="--gate-report", env="PRODSMOKE_GATE_REPORT", ini="prodsmoke_gate_report",
               metavar="PATH"),
    OptionSpec("prodsmoke_gate_strict", "bool", "a degraded verdict fails the run too",
               flag="--gate-strict", ini="prodsmoke_gate_strict", ini_default=False),
    OptionSpec("prodsmoke_gate_allow_skips", "bool", "accept skipped or xfailed critical checks "
               "(the verdict becomes degraded instead of fail)", flag="--gate-allow-skips"),
    OptionSpec("prodsmoke_timeout", "str", f"connect and read timeout of every request in "
               f"seconds (default {DEFAULT_TIMEOUT_S:g})",
               flag="--prod-timeout", ini="prodsmoke_timeout", metavar="SECONDS"),
    OptionSpec("prodsmoke_retries", "str", "retries of idempotent requests on connection errors "
               f"and 502/503/504, with backoff (default {DEFAULT_RETRIES})",
               flag="--prod-retries", ini="prodsmoke_retries", metavar="N"),
    OptionSpec("prodsmoke_version_header", "str", "response header that names the answering "
               f"version (default {DEFAULT_VERSION_HEADER}, unless prodsmoke_version_path is set)",
               ini="prodsmoke_version_header"),
    OptionSpec("prodsmoke_fake_users_file", "str", "JSON (or .toml) file of fake users",
               flag="--fake-users", env="PRODSMOKE_FAKE_USERS_FILE",
               ini="prodsmoke_fake_users_file", metavar="PATH"),
    OptionSpec("prodsmoke_fake_user_pattern", "str", "regex every fake username must match "
               f"(case-insensitive; default {DEFAULT_FAKE_USER_PATTERN!r})",
               ini="prodsmoke_fake_user_pattern", ini_default=DEFAULT_FAKE_USER_PATTERN),
    OptionSpec("prodsmoke_fake_user_wait", "str", "seconds a check waits for a free fake user "
               f"(default {DEFAULT_FAKE_USER_WAIT_S:g})",
               flag="--fake-user-wait", ini="prodsmoke_fake_user_wait", metavar="SECONDS"),
    OptionSpec("prodsmoke_secret_env", "list", "names of environment variables whose values are "
               "secrets to mask in every output", ini="prodsmoke_secret_env"),
    OptionSpec("prodsmoke_run_header", "str", "header carrying the run id "
               f"(default {DEFAULT_RUN_HEADER})",
               ini="prodsmoke_run_header", ini_default=DEFAULT_RUN_HEADER),
    OptionSpec("prodsmoke_check_header", "str", "header carrying the check's node id "
               f"(default {DEFAULT_CHECK_HEADER})",
               ini="prodsmoke_check_header", ini_default=DEFAULT_CHECK_HEADER),
    OptionSpec("prodsmoke_max_rps", "str", "at most N requests per second to the targets, "
               "shared by all xdist workers (default: no limit)",
               flag="--prod-max-rps", ini="prodsmoke_max_rps", metavar="N"),
    OptionSpec("prodsmoke_ca_bundle", "str", "CA bundle (PEM) to verify the targets' TLS "
               "certificates, for private CAs", flag="--prod-ca-bundle",
               env="PRODSMOKE_CA_BUNDLE", ini="prodsmoke_ca_bundle", metavar="PATH"),
    OptionSpec("prodsmoke_on_gate_fail", "str", "command to run once when the verdict is fail "
               "(e.g. roll back); split like a shell would, run without one",
               flag="--on-gate-fail", ini="prodsmoke_on_gate_fail", metavar="CMD"),
    OptionSpec("prodsmoke_on_gate_pass", "str", "command to run once when the verdict is pass "
               "(e.g. promote)", flag="--on-gate-pass", ini="prodsmoke_on_gate_pass",
               metavar="CMD"),
    OptionSpec("prodsmoke_on_gate_degraded", "str", "command to run once when the verdict is "
               "degraded", flag="--on-gate-degraded", ini="prodsmoke_on_gate_degraded",
               metavar="CMD"),
    OptionSpec("prodsmoke_gate_command_timeout", "str", "seconds a gate command may run "
               "(default 300)", flag="--gate-command-timeout",
               ini="prodsmoke_gate_command_timeout", metavar="SECONDS"),
    OptionSpec("prodsmoke_cancel_grace", "str", "on SIGTERM under xdist, seconds the "
               "controller waits for the workers to interrupt their checks and clean up "
               f"(default {DEFAULT_CANCEL_GRACE_S:g}); cleanup not confirmed by then is reported "
               "as unknown leftovers", flag="--cancel-grace", ini="prodsmoke_cancel_grace",
               metavar="SECONDS"),
    OptionSpec("prodsmoke_wait_ready", "str", "before any check, wait until the candidate "
               "answers 2xx on the ready path with the expected version (deadline, default "
               f"{DEFAULT_READY_DEADLINE_S:g} s; write --wait-ready=SECONDS)",
               flag="--wait-ready", metavar="SECONDS", const=f"{DEFAULT_READY_DEADLINE_S:g}"),
    OptionSpec("prodsmoke_ready_interval", "str", "seconds between readiness probes "
               f"(default {DEFAULT_READY_INTERVAL_S:g})", flag="--ready-interval",
               ini="prodsmoke_ready_interval", metavar="SECONDS"),
    OptionSpec("prodsmoke_ready_path", "str", "path probed by --wait-ready (default /healthz)",
               ini="prodsmoke_ready_path", ini_default="/healthz"),
    OptionSpec("prodsmoke_version_path", "str", "JSON endpoint that names the running version "
               "(used by --wait-ready; default: the version header of the ready path)",
               ini="prodsmoke_version_path"),
    OptionSpec("prodsmoke_version_field", "str", "field of that JSON holding the version, dotted "
               "for nesting (default version)", ini="prodsmoke_version_field",
               ini_default="version"),
    OptionSpec("prodsmoke_trace_url", "str", "link to a check's trace, with {trace_id} in it "
               "(e.g. https://grafana.example/explore?traceId={trace_id})",
               flag="--trace-url", env="PRODSMOKE_TRACE_URL", ini="prodsmoke_trace_url",
               metavar="TEMPLATE"),
    OptionSpec("prodsmoke_latency_max_ms", "str", "default latency budget of every request, in "
               "ms (overridden by @pytest.mark.latency)", ini="prodsmoke_latency_max_ms"),
    OptionSpec("prodsmoke_latency_p95_ms", "str", "default budget for the 95th percentile of a "
               "check's request latencies, in ms", ini="prodsmoke_latency_p95_ms"),
    OptionSpec("prodsmoke_gate_fail_fast", "bool", "stop the whole run (every xdist worker) at "
               "the first critical failure: checks in flight finish, nothing new starts",
               flag="--gate-fail-fast", ini="prodsmoke_gate_fail_fast", ini_default=False),
    OptionSpec("prodsmoke_insecure", "bool", "do not verify TLS certificates (loudly reported; "
               "never for a real release gate)", flag="--prod-insecure"),
    # Parallel runs, canary comparison, A/B variants.
    OptionSpec("prodsmoke_baseline2_url", "str", "a second instance of the released version: "
               "parallel_run asks it too and ignores what differs between the two baselines "
               "(noise)", flag="--baseline2-url", env="PRODSMOKE_BASELINE2_URL",
               ini="prodsmoke_baseline2_url", metavar="URL"),
    OptionSpec("prodsmoke_learn_noise", "bool", "parallel_run asks the baseline twice to learn "
               "noisy fields, in every check (default false; on with --baseline2-url)",
               ini="prodsmoke_learn_noise", ini_default=False),
    OptionSpec("prodsmoke_compare_headers", "list", "response headers parallel_run compares "
               "(default Content-Type)", ini="prodsmoke_compare_headers"),
    OptionSpec("prodsmoke_canary_samples", "str", "runs per side of a canary check (default "
               f"{CANARY_DEFAULTS['samples']:g})", ini="prodsmoke_canary_samples"),
    OptionSpec("prodsmoke_canary_min_samples", "str", "fewer samples per side is inconclusive "
               f"(default {CANARY_DEFAULTS['min_samples']:g})",
               ini="prodsmoke_canary_min_samples"),
    OptionSpec("prodsmoke_canary_confidence", "str", "confidence of the canary tests (default "
               f"{CANARY_DEFAULTS['confidence']:g})", ini="prodsmoke_canary_confidence"),
    OptionSpec("prodsmoke_canary_max_slowdown", "str", "relative latency increase a canary "
               f"tolerates (default {CANARY_DEFAULTS['max_slowdown']:g}: 20%)",
               ini="prodsmoke_canary_max_slowdown"),
    OptionSpec("prodsmoke_canary_min_slowdown_ms", "str", "absolute latency increase a canary "
               f"tolerates (default {CANARY_DEFAULTS['min_slowdown_ms']:g} ms)",
               ini="prodsmoke_canary_min_slowdown_ms"),
    OptionSpec("prodsmoke_canary_max_error_rate", "str", "candidate error rate above which a "
               "canary fails whatever the baseline does (default "
               f"{CANARY_DEFAULTS['max_error_rate']:g})",
               ini="prodsmoke_canary_max_error_rate"),
    OptionSpec("prodsmoke_variant_header", "str", "request header that assigns an A/B variant",
               ini="prodsmoke_variant_header"),
    OptionSpec("prodsmoke_variant_cookie", "str", "cookie that assigns an A/B variant",
               ini="prodsmoke_variant_cookie"),
    OptionSpec("prodsmoke_variant_response_header", "str", "response header that names the "
               "variant served (default: prodsmoke_variant_header)",
               ini="prodsmoke_variant_response_header"),
    OptionSpec("prodsmoke_variant_field", "str", "JSON field (dotted) of a response that names "
               "the variant served", ini="prodsmoke_variant_field"),
)


@dataclass(frozen=True)
class VariantRouting:
    """How a check is assigned an A/B variant, and how a response says which one it served."""

    request_header: str | None = None
    cookie: str | None = None
    response_header: str | None = None
    field: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything the plugin was told, validated. Immutable for the whole run."""

    prod_urls: tuple[str, ...] = ()  # the candidate's targets; most runs have one
    baseline_url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    expect_version: str | None = None
    gate_report: Path | None = None
    gate_strict: bool = False
    allow_skips: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    version_header: str | None = DEFAULT_VERSION_HEADER  # None: version_path is the source
    fake_users_file: Path | None = None
    fake_users_file_source: str = "--fake-users"
    fake_user_pattern: str = DEFAULT_FAKE_USER_PATTERN
    fake_user_wait_s: float = DEFAULT_FAKE_USER_WAIT_S
    secret_env: tuple[str, ...] = ()
    run_header: str = DEFAULT_RUN_HEADER
    check_header: str = DEFAULT_CHECK_HEADER
    max_rps: float | None = None
    ca_bundle: Path | None = None
    insecure: bool = False
    signing_key: Secret | None = None
    # Commands by verdict ("pass" / "degraded" / "fail"), already split into arguments.
    gate_commands: tuple[tuple[str, tuple[str, ...]], ...] = ()
    gate_command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S
    cancel_grace_s: float = DEFAULT_CANCEL_GRACE_S
    wait_ready_s: float | None = None  # None: do not wait
    ready_interval_s: float = DEFAULT_READY_INTERVAL_S
    ready_path: str = "/healthz"
    version_path: str | None = None
    version_field: str = "version"
    trace_url: str | None = None  # template containing {trace_id}
    latency_max_ms: float | None = None
    latency_p95_ms: float | None = None
    fail_fast: bool = False
    baseline2_url: str | None = None
    learn_noise: bool = False
    compare_headers: tuple[str, ...] = ("content-type",)  # lowercased
    # ini prodsmoke_canary_* values (validated); markers override them: compare.canary
    # builds the policy, imported only by runs that have canary checks.
    canary_overrides: tuple[tuple[str, float], ...] = ()
    variant: VariantRouting | None = None

    def gate_command(self, status: str) -> tuple[str, ...] | None:
        return dict(self.gate_commands).get(status)

    @property
    def tls_verify(self) -> bool | str:
        """The value for requests' ``verify``."""
        if self.insecure:
            return False
        return str(self.ca_bundle) if self.ca_bundle is not None else True

    @property
    def gate_active(self) -> bool:
        """The gate runs exactly when a candidate URL is configured."""
        return bool(self.prod_urls)

    @property
    def prod_url(self) -> str | None:
        """The first (usually the only) target."""
        return self.prod_urls[0] if self.prod_urls else None

    @property
    def target_labels(self) -> tuple[str, ...]:
        return target_labels(self.prod_urls)

    @property
    def header_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.headers)


def add_options(parser: Any) -> None:
    """Register every flag and ini key on pytest's parser (called from ``pytest_addoption``)."""
    group = parser.getgroup("prodsmoke", "pytest-prodsmoke: production checks and release gate")
    for spec in OPTIONS:
        help_text = spec.help + (f" [env {spec.env}]" if spec.env else "")
        if spec.flag:
            if spec.kind == "bool":
                group.addoption(spec.flag, dest=spec.dest, action="store_true", default=None,
                                help=help_text)
            elif spec.const is not None:
                group.addoption(spec.flag, dest=spec.dest, metavar=spec.metavar, default=None,
                                nargs="?", const=spec.const, help=help_text)
            else:
                group.addoption(spec.flag, dest=spec.dest, metavar=spec.metavar, default=None,
                                action="append" if spec.kind == "list" else "store",
                                help=help_text)
        if spec.ini:
            ini_type = {"str": "string", "list": "linelist", "bool": "bool"}[spec.kind]
            parser.addini(spec.ini, spec.help, type=ini_type, default=spec.ini_default)


def _is_unset(value: Any) -> bool:
    return value is None or value == "" or value == []


def _pick(spec: OptionSpec, cli: Callable[[str], Any], ini: Callable[[str], Any],
          environ: Mapping[str, str]) -> tuple[Any, str]:
    """The raw value of one setting and a label of where it came from (for error messages)."""
    if spec.flag:
        value = cli(spec.dest)
        if not _is_unset(value) or (value == "" and spec.kind == "str"):
            return value, spec.flag
    if spec.env:
        value = environ.get(spec.env, "")
        if value.strip():
            if spec.kind == "list":
                return [line for line in value.splitlines() if line.strip()], spec.env
            return value, spec.env
    if spec.ini:
        try:
            value = ini(spec.ini)
        except ValueError as exc:  # e.g. a bool ini key set to "maybe"
            raise SettingsError(f"ini {spec.ini}: {exc}") from None
        if spec.kind == "str" and isinstance(value, (list, tuple)):
            # pyproject.toml can give a list where one value belongs.
            raise SettingsError(f"ini {spec.ini}: expected one value, got a list of "
                                f"{len(value)}")
        if not _is_unset(value):
            return value, f"ini {spec.ini}"
    return None, spec.flag or spec.env or f"ini {spec.ini}"


def configured_gate_report(cli: Callable[[str], Any], ini: Callable[[str], Any],
                           environ: Mapping[str, str], base_dir: Path) -> Path | None:
    """The gate report path of a gate run, read before anything else (no validation): the
    earliest moment the previous run's report can be removed. None when unsure."""
    by_dest = {spec.dest: spec for spec in OPTIONS}
    try:
        url, _ = _pick(by_dest["prodsmoke_url"], cli, ini, environ)
        path, _ = _pick(by_dest["prodsmoke_gate_report"], cli, ini, environ)
        if not url or not path or not str(path).strip():
            return None
        return base_dir / Path(str(path).strip()).expanduser()
    except (SettingsError, ValueError, TypeError, RuntimeError, OSError):
        return None  # load_settings reports the problem in its one line


# [scheme:][//]userinfo@ — up to the last "@" before the path, whatever it holds: also in
# malformed URLs ("https:/user:password@host", "http://u?:password@h"), where urlsplit sees
# no user info at all.
_USERINFO = re.compile(r"^((?:[^/@]*:)?/*)([^/]*@)")


# ":password@" wherever it stands, when the text is too broken to tell its user info.
_PASSWORD = re.compile(r"(?<=:)[^:/@\s]+(?=@)")


def display_url(url: str) -> str:
    """The URL fit to print: user info masked (credentials in URLs must never be shown), and
    the values of query parameters whose names look secret. Works on any text, never raises."""
    text = _USERINFO.sub(r"\1***@", str(url), count=1)
    if "@" in text:
        text = _PASSWORD.sub("***", text)
    return mask_query_values(text) if "=" in text else text


def header_name_value(name: str, source: str) -> str:
    name = name.strip()
    if not _HEADER_NAME.match(name):
        raise SettingsError(f"{source}: {name!r} is not a valid header name")
    return name


# What no host name holds (whitespace and controls are refused separately).
_NOT_IN_HOST = frozenset('<>"{}|\\^`')


def parse_url(value: Any, source: str) -> str:
    if not isinstance(value, str):
        raise SettingsError(f"{source}: expected one URL, got {type(value).__name__}")
    text = value.strip()
    shown = display_url(text)  # computed before parsing: it never raises, never shows secrets
    try:
        parts = urlsplit(text)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise SettingsError(f"{source}: {shown!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise SettingsError(
            f"{source}: {shown!r} is not an absolute http(s) URL "
            "(expected e.g. https://candidate.example.com)"
        )
    if any(ch.isspace() or not ch.isprintable() or ch in _NOT_IN_HOST for ch in host):
        raise SettingsError(f"{source}: {shown!r} has an invalid host name")
    if port == 0:
        raise SettingsError(f"{source}: {shown!r} has port 0, which nothing listens on")
    if parts.fragment:
        raise SettingsError(f"{source}: {shown!r} has a #fragment; remove it")
    return text


def parse_urls(values: list[str], source: str) -> tuple[str, ...]:
    urls = tuple(parse_url(v, source) for v in values if str(v).strip())
    if not urls:
        raise SettingsError(f"{source}: empty URL")
    if len(set(urls)) != len(urls):
        raise SettingsError(f"{source}: the same URL is given twice")
    return urls


def target_labels(urls: tuple[str, ...]) -> tuple[str, ...]:
    """Short names for the targets, used in check ids: host[:port], numbered if they repeat."""
    hosts = [urlsplit(u).netloc.rsplit("@", 1)[-1] for u in urls]
    return tuple(f"{h}#{i + 1}" if hosts.count(h) > 1 else h for i, h in enumerate(hosts))


def parse_headers(lines: list[str], source: str) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for position, line in enumerate(lines, start=1):
        # The value may be a routing secret: errors name the position and the header name only.
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon:
            raise SettingsError(
                f"{source}: header #{position} is not of the form 'Name: value' (no colon; "
                "value not shown)"
            )
        if not _HEADER_NAME.match(name):
            words = name.split()
            if "=" in name or (len(words) > 1 and (looks_secret(words[0])
                                                   or words[0].lower() == "bearer")):
                # A typo'd separator puts the value into the "name" ("Authorization=Bearer
                # TOKEN", "X-Api-Token TOKEN"): not shown.
                hint = " ('=' where ':' belongs?)" if "=" in name else ""
                raise SettingsError(f"{source}: header #{position} has an invalid name (not "
                                    f"shown: it seems to hold the value; expected "
                                    f"'Name: value'{hint})")
            raise SettingsError(f"{source}: header #{position} has an invalid name {name!r}")
        if "\r" in value or "\n" in value:
            raise SettingsError(f"{source}: header {name!r} has a line break in its value")
        headers.append((name, value.strip()))
    return tuple(headers)


def compile_user_pattern(text: str) -> re.Pattern[str]:
    """The fake-user pattern, compiled; one line naming the ini key if it is no regex."""
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as exc:
        problem = f"invalid regex: {exc}"
    except (OverflowError, RecursionError, MemoryError, ValueError):
        problem = "invalid regex: a repeat count too large, or groups nested too deeply"
    raise SettingsError(f"ini prodsmoke_fake_user_pattern: {problem}")


def usable_path(base_dir: Path, value: Any, source: str) -> Path:
    """``value`` as a path relative to ``base_dir``, with ``~`` expanded; one line if not."""
    text = str(value).strip()
    try:
        return base_dir / Path(text).expanduser()
    except (RuntimeError, ValueError):  # ~nosuchuser; a NUL byte
        raise SettingsError(f"{source}: {_shorten(text)!r} is not a usable path (unknown "
                            "user in ~, or a character no path may hold)") from None


def _probe(test: Callable[[], bool], source: str) -> bool:
    try:
        return test()
    except (OSError, ValueError) as exc:  # a name over 255 characters, a NUL byte
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise SettingsError(f"{source}: not a usable path ({reason})") from None


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_timeout(value: Any, source: str) -> float:
    try:
        seconds = float(str(value).strip())
    except ValueError:
        seconds = math.nan
    if not (0 < seconds <= MAX_TIMEOUT_S):  # also rejects NaN
        raise SettingsError(
            f"{source}: {value!r} is not a number of seconds between 0 (exclusive) "
            f"and {MAX_TIMEOUT_S:g}"
        )
    return seconds


def parse_seconds(value: Any, source: str, hint: str = "") -> float:
    """A deadline in seconds: 0 < s <= 24 h."""
    try:
        seconds = float(str(value).strip())
    except ValueError:
        seconds = math.nan
    if not (0 < seconds <= 86_400):
        raise SettingsError(f"{source}: {value!r} is not a number of seconds between 0 "
                            f"(exclusive) and 86400{hint}")
    return seconds


def parse_millis(value: Any, source: str) -> float:
    try:
        millis = float(str(value).strip())
    except ValueError:
        millis = math.nan
    if not (0 < millis <= 3_600_000):
        raise SettingsError(f"{source}: {value!r} is not a number of milliseconds above 0")
    return millis


def trace_template(value: Any, source: str) -> str:
    text = str(value).strip()
    if "{trace_id}" not in text:
        raise SettingsError(f"{source}: {display_url(text)!r} has no {{trace_id}} placeholder")
    parse_url(text.replace("{trace_id}", "0" * 32), source)
    return text


def url_path(value: Any, source: str) -> str:
    text = str(value).strip()
    if not text.startswith("/") or any(ch.isspace() for ch in text):
        raise SettingsError(f"{source}: {text!r} is not a URL path (it must start with /)")
    return text


def parse_retries(value: Any, source: str) -> int:
    text = str(value).strip()
    # isascii(): str.isdigit() also takes "²", which int() then refuses.
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_RETRIES:
        raise SettingsError(f"{source}: {value!r} is not a whole number from 0 to {MAX_RETRIES}")
    return int(text)


def parse_bool(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{source}: {value!r} is not a boolean (true/false)")


def load_settings(
    cli: Callable[[str], Any],
    ini: Callable[[str], Any],
    environ: Mapping[str, str],
    base_dir: Path,
) -> Settings:
    """Read every option from its sources, validate it, and return the frozen settings.

    Raises SettingsError with a one-line message naming the option and the bad value.
    """
    raw: dict[str, tuple[Any, str]] = {spec.dest: _pick(spec, cli, ini, environ)
                                       for spec in OPTIONS}

    def value(dest: str) -> Any:
        return raw[dest][0]

    def source(dest: str) -> str:
        return raw[dest][1]

    prod_url = value("prodsmoke_url")
    baseline_url = value("prodsmoke_baseline_url")
    header_lines = value("prodsmoke_headers")
    expect_version = value("prodsmoke_expect_version")
    gate_report = value("prodsmoke_gate_report")

    if expect_version is not None:
        expect_version = str(expect_version).strip()
        if not expect_version or any(ch.isspace() for ch in expect_version):
            raise SettingsError(
                f"{source('prodsmoke_expect_version')}: {value('prodsmoke_expect_version')!r} "
                "is not a version (empty or contains whitespace)"
            )
    if gate_report is not None:
        if not str(gate_report).strip():
            raise SettingsError(f"{source('prodsmoke_gate_report')}: empty path")
        gate_report = usable_path(base_dir, gate_report, source("prodsmoke_gate_report"))
        if _probe(gate_report.is_dir, source("prodsmoke_gate_report")):
            raise SettingsError(
                f"{source('prodsmoke_gate_report')}: {str(gate_report)!r} is a directory, "
                "not a file path"
            )

    # The version source: a header on every response, or (when only a JSON version endpoint is
    # configured) that endpoint, asked once at the end of each check.
    version_header: str | None = (str(value("prodsmoke_version_header")).strip()
                                  if value("prodsmoke_version_header") is not None else None)
    if version_header is None and value("prodsmoke_version_path") is None:
        version_header = DEFAULT_VERSION_HEADER
    if version_header is not None and not _HEADER_NAME.match(version_header):
        raise SettingsError(
            f"ini prodsmoke_version_header: {version_header!r} is not a valid header name"
        )

    def header_name(dest: str, default: str) -> str:
        return header_name_value(str(value(dest) or default), source(dest))

    def path_value(dest: str, must_exist: bool) -> Path | None:
        raw_path = value(dest)
        if raw_path is None:
            return None
        path = usable_path(base_dir, raw_path, source(dest))
        if must_exist and not _probe(path.is_file, source(dest)):
            raise SettingsError(f"{source(dest)}: {str(path)!r} is not a readable file")
        return path

    max_rps = value("prodsmoke_max_rps")
    if max_rps is not None:
        try:
            max_rps = float(str(max_rps).strip())
        except ValueError:
            max_rps = math.nan
        if not (0 < max_rps <= MAX_RPS):
            raise SettingsError(f"{source('prodsmoke_max_rps')}: {value('prodsmoke_max_rps')!r} "
                                f"is not a rate between 0 (exclusive) and {MAX_RPS:g} per second")
    secret_env = tuple(str(n).strip() for n in (value("prodsmoke_secret_env") or ())
                       if str(n).strip())
    insecure = bool(value("prodsmoke_insecure"))
    ca_bundle = path_value("prodsmoke_ca_bundle", must_exist=True)
    if insecure and ca_bundle is not None:
        raise SettingsError("--prod-insecure and --prod-ca-bundle contradict each other: "
                            "choose one")
    signing_key = environ.get("PRODSMOKE_SIGNING_KEY", "")
    gate_commands = tuple(
        (status, parse_command(str(value(dest)), source(dest)))
        for status, dest in (("fail", "prodsmoke_on_gate_fail"),
                             ("pass", "prodsmoke_on_gate_pass"),
                             ("degraded", "prodsmoke_on_gate_degraded"))
        if value(dest) is not None
    )

    def number(dest: str) -> float | None:
        raw_number = value(dest)
        if raw_number is None:
            return None
        try:
            return float(str(raw_number).strip())
        except ValueError:
            raise SettingsError(f"{source(dest)}: {raw_number!r} is not a number") from None

    canary_overrides = {field_name: found for field_name in ("samples", "min_samples",
                                                             "confidence", "max_slowdown",
                                                             "min_slowdown_ms", "max_error_rate")
                        if (found := number(f"prodsmoke_canary_{field_name}")) is not None}
    if canary_overrides:
        from pytest_prodsmoke.compare.canary import CanaryPolicy

        try:
            CanaryPolicy().with_overrides(canary_overrides)
        except ValueError as exc:
            raise SettingsError(f"ini prodsmoke_canary_*: {exc}") from None
    compare_headers = tuple(header_name_value(str(n), "ini prodsmoke_compare_headers").lower()
                            for n in (value("prodsmoke_compare_headers") or ["Content-Type"])
                            if str(n).strip())
    variant_header = (header_name("prodsmoke_variant_header", "")
                      if value("prodsmoke_variant_header") else None)
    variant_cookie = str(value("prodsmoke_variant_cookie") or "").strip() or None
    if variant_cookie is not None and not _HEADER_NAME.match(variant_cookie):
        raise SettingsError(f"ini prodsmoke_variant_cookie: {variant_cookie!r} is not a valid "
                            "cookie name")
    variant_response_header = (header_name("prodsmoke_variant_response_header", "")
                               if value("prodsmoke_variant_response_header") else variant_header)
    variant_field = str(value("prodsmoke_variant_field") or "").strip() or None
    variant = (VariantRouting(variant_header, variant_cookie, variant_response_header,
                              variant_field)
               if variant_header or variant_cookie or variant_response_header or variant_field
               else None)

    settings = Settings(
        baseline2_url=(parse_url(value("prodsmoke_baseline2_url"),
                                 source("prodsmoke_baseline2_url"))
                       if value("prodsmoke_baseline2_url") is not None else None),
        learn_noise=(parse_bool(value("prodsmoke_learn_noise"), source("prodsmoke_learn_noise"))
                     if value("prodsmoke_learn_noise") is not None else False),
        compare_headers=compare_headers,
        canary_overrides=tuple(canary_overrides.items()),
        variant=variant,
        fake_users_file=path_value("prodsmoke_fake_users_file", must_exist=True),
        fake_users_file_source=source("prodsmoke_fake_users_file"),
        fake_user_pattern=compile_user_pattern(
            str(value("prodsmoke_fake_user_pattern") or DEFAULT_FAKE_USER_PATTERN)).pattern,
        fake_user_wait_s=(parse_timeout(value("prodsmoke_fake_user_wait"),
                                        source("prodsmoke_fake_user_wait"))
                          if value("prodsmoke_fake_user_wait") is not None
                          else DEFAULT_FAKE_USER_WAIT_S),
        secret_env=secret_env,
        run_header=header_name("prodsmoke_run_header", DEFAULT_RUN_HEADER),
        check_header=header_name("prodsmoke_check_header", DEFAULT_CHECK_HEADER),
        max_rps=max_rps,
        ca_bundle=ca_bundle,
        insecure=insecure,
        signing_key=Secret(signing_key) if signing_key.strip() else None,
        gate_commands=gate_commands,
        cancel_grace_s=(parse_timeout(value("prodsmoke_cancel_grace"),
                                      source("prodsmoke_cancel_grace"))
                        if value("prodsmoke_cancel_grace") is not None
                        else DEFAULT_CANCEL_GRACE_S),
        wait_ready_s=(parse_seconds(value("prodsmoke_wait_ready"), source("prodsmoke_wait_ready"),
                                    hint=" (write --wait-ready=SECONDS, or put paths first)")
                      if value("prodsmoke_wait_ready") is not None else None),
        ready_interval_s=(parse_timeout(value("prodsmoke_ready_interval"),
                                        source("prodsmoke_ready_interval"))
                          if value("prodsmoke_ready_interval") is not None
                          else DEFAULT_READY_INTERVAL_S),
        ready_path=url_path(value("prodsmoke_ready_path") or "/healthz",
                            source("prodsmoke_ready_path")),
        version_path=(url_path(value("prodsmoke_version_path"), source("prodsmoke_version_path"))
                      if value("prodsmoke_version_path") is not None else None),
        version_field=str(value("prodsmoke_version_field") or "version").strip(),
        fail_fast=(parse_bool(value("prodsmoke_gate_fail_fast"), source("prodsmoke_gate_fail_fast"))
                   if value("prodsmoke_gate_fail_fast") is not None else False),
        latency_max_ms=(parse_millis(value("prodsmoke_latency_max_ms"),
                                     source("prodsmoke_latency_max_ms"))
                        if value("prodsmoke_latency_max_ms") is not None else None),
        latency_p95_ms=(parse_millis(value("prodsmoke_latency_p95_ms"),
                                     source("prodsmoke_latency_p95_ms"))
                        if value("prodsmoke_latency_p95_ms") is not None else None),
        trace_url=(trace_template(value("prodsmoke_trace_url"), source("prodsmoke_trace_url"))
                   if value("prodsmoke_trace_url") is not None else None),
        gate_command_timeout_s=(parse_timeout(value("prodsmoke_gate_command_timeout"),
                                              source("prodsmoke_gate_command_timeout"))
                                if value("prodsmoke_gate_command_timeout") is not None
                                else DEFAULT_COMMAND_TIMEOUT_S),
        prod_urls=(parse_urls([prod_url] if isinstance(prod_url, str) else list(prod_url),
                              source("prodsmoke_url")) if prod_url else ()),
        baseline_url=(parse_url(baseline_url, source("prodsmoke_baseline_url"))
                      if baseline_url is not None else None),
        headers=(parse_headers(list(header_lines), source("prodsmoke_headers"))
                 if header_lines is not None else ()),
        expect_version=expect_version,
        gate_report=gate_report,
        gate_strict=(parse_bool(value("prodsmoke_gate_strict"), source("prodsmoke_gate_strict"))
                     if value("prodsmoke_gate_strict") is not None else False),
        allow_skips=bool(value("prodsmoke_gate_allow_skips")),
        timeout_s=(parse_timeout(value("prodsmoke_timeout"), source("prodsmoke_timeout"))
                   if value("prodsmoke_timeout") is not None else DEFAULT_TIMEOUT_S),
        retries=(parse_retries(value("prodsmoke_retries"), source("prodsmoke_retries"))
                 if value("prodsmoke_retries") is not None else DEFAULT_RETRIES),
        version_header=version_header,
    )

    if settings.baseline2_url is not None and settings.baseline_url is None:
        raise SettingsError(f"{source('prodsmoke_baseline2_url')} needs a first baseline: pass "
                            "--baseline-url URL too")
    if not settings.gate_active:
        # Gate options given on the command line or in the environment without a candidate URL
        # would otherwise be ignored silently and the run would look like a passing gate.
        explicit = [source(dest) for dest in ("prodsmoke_expect_version", "prodsmoke_gate_report",
                                              "prodsmoke_baseline_url", "prodsmoke_headers",
                                              "prodsmoke_gate_allow_skips",
                                              "prodsmoke_fake_users_file", "prodsmoke_max_rps",
                                              "prodsmoke_insecure", "prodsmoke_on_gate_fail",
                                              "prodsmoke_on_gate_pass",
                                              "prodsmoke_on_gate_degraded",
                                              "prodsmoke_wait_ready",
                                              "prodsmoke_baseline2_url")
                    if value(dest) is not None and not source(dest).startswith("ini ")]
        if explicit:
            raise SettingsError(
                f"{explicit[0]} needs a candidate URL: pass --prod-url URL "
                "(or set PRODSMOKE_URL, or ini prodsmoke_url)"
            )
    return settings


@dataclass(frozen=True)
class Target:
    """Read-only description of the candidate, as the ``prod_target`` fixture gives it."""

    url: str
    expected_version: str | None
    header_names: tuple[str, ...]
    version_header: str | None
    baseline_url: str | None

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> Target:
        if settings.prod_url is None:
            raise ValueError("no candidate URL configured")
        return cls(
            url=url or settings.prod_url,
            expected_version=settings.expect_version,
            header_names=settings.header_names,
            version_header=settings.version_header,
            baseline_url=settings.baseline_url,
        )
