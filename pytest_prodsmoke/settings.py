"""Every option of the plugin, declared once: a field of ``Settings`` with its flag, environment
variable, ini key, help, default, parser and whether it needs a candidate URL. The pytest
options, the loading and the "needs a URL" rule are derived from those declarations.

Precedence for each setting: command line > environment variable > ini key > default.
An empty environment variable counts as unset (CI systems often export empty values).

This module does not import pytest at module level: ``load_settings`` takes plain callables
and a mapping, so every validation rule can be unit-tested without a pytest session.

Adding an option: one field of ``Settings`` (with ``option(...)``) and its line in the README.
"""

# No ``from __future__ import annotations`` in this module: typing.NamedTuple compiles every
# annotation given as a string, which made its records several times dearer to define, on
# the start-up of every run (tests/test_startup.py keeps it so).

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from pytest_prodsmoke.compare.defaults import CANARY_DEFAULTS
from pytest_prodsmoke.errors import SettingsError
from pytest_prodsmoke.safety.redact import Secret, display_url, looks_secret

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 2
MAX_RETRIES = 10
MAX_TIMEOUT_S = 3600.0
DEFAULT_VERSION_HEADER = "X-App-Version"
DEFAULT_RUN_HEADER = "X-Prodsmoke-Run"
DEFAULT_CHECK_HEADER = "X-Prodsmoke-Check"
DEFAULT_FAKE_USER_PATTERN = r"^(smoke|synthetic|test)[-_.+]"
DEFAULT_FAKE_USER_WAIT_S = 30.0
DEFAULT_READY_DEADLINE_S = 300.0
DEFAULT_READY_INTERVAL_S = 2.0
DEFAULT_READY_PATH = "/healthz"
DEFAULT_VERSION_FIELD = "version"
MAX_RPS = 10_000.0
DEFAULT_CANCEL_GRACE_S = 20.0
DEFAULT_COMMAND_TIMEOUT_S = 300.0

# RFC 9110 token: what a header name may contain.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

Kind = Literal["str", "list", "bool"]
# A parser turns the raw value of a set option into its typed value, or raises SettingsError
# with one line naming ``source`` (where the value came from). Path parsers also get the
# directory relative paths are resolved against.
Parser = Callable[..., Any]


class OptionSpec(NamedTuple):
    """One setting and the places it can come from. (A NamedTuple, as the other small records
    made when the plugin loads: several times cheaper to create than a frozen dataclass.)"""

    dest: str
    kind: Kind
    help: str
    parse: Parser
    flag: str | None = None
    env: str | None = None
    ini: str | None = None
    metavar: str | None = None
    const: str | None = None  # value of a flag given without one (--wait-ready)
    needs_url: bool = False  # given on the command line or in the environment, it needs one
    path: bool = False  # the parser resolves a path: it gets base_dir too
    default: Any = None
    field: str = ""  # the Settings field it fills (set from the field itself)

    @property
    def ini_default(self) -> Any:
        # Defaults that are text or a flag are what pytest's ini shows too.
        return self.default if isinstance(self.default, (str, bool)) else None


def option(dest: str, kind: Kind, help: str, parse: Parser, *, default: Any = None,
           **where: Any) -> Any:
    """A ``Settings`` field that is an option (``where``: flag, env, ini, metavar, const,
    needs_url, path)."""
    spec = OptionSpec(dest, kind, help, parse, default=default, **where)
    return field(default=default, metadata={"option": spec})


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


def _number(value: Any) -> float:
    """The value as a number, NaN when it is none: NaN fails every range test below."""
    try:
        return float(str(value).strip())
    except ValueError:
        return math.nan


def parse_timeout(value: Any, source: str) -> float:
    seconds = _number(value)
    if not (0 < seconds <= MAX_TIMEOUT_S):  # also rejects NaN
        raise SettingsError(
            f"{source}: {value!r} is not a number of seconds between 0 (exclusive) "
            f"and {MAX_TIMEOUT_S:g}"
        )
    return seconds


def parse_seconds(value: Any, source: str, hint: str = "") -> float:
    """A deadline in seconds: 0 < s <= 24 h."""
    seconds = _number(value)
    if not (0 < seconds <= 86_400):
        raise SettingsError(f"{source}: {value!r} is not a number of seconds between 0 "
                            f"(exclusive) and 86400{hint}")
    return seconds


def parse_millis(value: Any, source: str) -> float:
    millis = _number(value)
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


def parse_version(value: Any, source: str) -> str:
    text = str(value).strip()
    if not text or any(ch.isspace() for ch in text):
        raise SettingsError(f"{source}: {value!r} is not a version (empty or contains whitespace)")
    return text


def report_path(value: Any, source: str, base_dir: Path) -> Path:
    if not str(value).strip():
        raise SettingsError(f"{source}: empty path")
    path = usable_path(base_dir, value, source)
    if _probe(path.is_dir, source):
        raise SettingsError(f"{source}: {str(path)!r} is a directory, not a file path")
    return path


def state_directory(value: Any, source: str, base_dir: Path) -> Path:
    """A directory that outlives the run (made if missing)."""
    if not str(value).strip():
        raise SettingsError(f"{source}: empty path")
    path = usable_path(base_dir, value, source)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:  # not a directory, no permission, a NUL byte
        raise SettingsError(f"{source}: cannot use {_shorten(str(path))!r} as a directory: "
                            f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    return path


def any_path(value: Any, source: str, base_dir: Path) -> Path:
    if not str(value).strip():
        raise SettingsError(f"{source}: empty path")
    return usable_path(base_dir, value, source)


def readable_file(value: Any, source: str, base_dir: Path) -> Path:
    path = usable_path(base_dir, value, source)
    if not _probe(path.is_file, source):
        raise SettingsError(f"{source}: {str(path)!r} is not a readable file")
    return path


def parse_rate(value: Any, source: str) -> float:
    rate = _number(value)
    if not (0 < rate <= MAX_RPS):
        raise SettingsError(f"{source}: {value!r} is not a rate between 0 (exclusive) and "
                            f"{MAX_RPS:g} per second")
    return rate


def parse_number(value: Any, source: str) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        raise SettingsError(f"{source}: {value!r} is not a number") from None


def parse_names(values: list[Any], source: str) -> tuple[str, ...]:
    return tuple(str(n).strip() for n in values if str(n).strip())


def parse_header_names(values: list[Any], source: str) -> tuple[str, ...]:
    """Header names, lowercased (as responses are compared)."""
    return tuple(header_name_value(str(n), source).lower() for n in values if str(n).strip())


def parse_header_name(value: Any, source: str) -> str:
    return header_name_value(str(value), source)


def parse_cookie_name(value: Any, source: str) -> str | None:
    name = str(value).strip() or None
    if name is not None and not _HEADER_NAME.match(name):
        raise SettingsError(f"{source}: {name!r} is not a valid cookie name")
    return name


def parse_text(value: Any, source: str) -> str | None:
    return str(value).strip() or None


def parse_flag(value: Any, source: str) -> bool:
    return bool(value)


def parse_pattern(value: Any, source: str) -> str:
    return compile_user_pattern(str(value)).pattern


def parse_ready_deadline(value: Any, source: str) -> float:
    return parse_seconds(value, source, hint=" (write --wait-ready=SECONDS, or put paths first)")


def parse_secret(value: Any, source: str) -> Secret | None:
    return Secret(str(value)) if str(value).strip() else None


def parse_prod_urls(value: Any, source: str) -> tuple[str, ...]:
    return parse_urls([value] if isinstance(value, str) else list(value), source)


def parse_header_lines(value: Any, source: str) -> tuple[tuple[str, str], ...]:
    return parse_headers(list(value), source)


def parse_command_text(value: Any, source: str) -> tuple[str, ...]:
    from pytest_prodsmoke.outputs.commands import parse_command  # only with a gate command

    return parse_command(str(value), source)


class VariantRouting(NamedTuple):
    """How a check is assigned an A/B variant, and how a response says which one it served."""

    request_header: str | None = None
    cookie: str | None = None
    response_header: str | None = None
    field: str | None = None


@dataclass(frozen=True, eq=False)  # one per run: equality would only cost (45 fields)
class Settings:
    """Everything the plugin was told, validated. Immutable for the whole run.

    Each field that is an option declares it here (``option``); the order is that of
    ``pytest --help``.
    """

    prod_urls: tuple[str, ...] = option(  # the candidate's targets; most runs have one
        "prodsmoke_url", "list", "base URL of the new, unreleased version (the candidate); "
        "repeat it for several targets (regions, instances); configuring it activates the gate",
        parse_prod_urls, default=(), flag="--prod-url", env="PRODSMOKE_URL",
        ini="prodsmoke_url", metavar="URL")
    baseline_url: str | None = option(
        "prodsmoke_baseline_url", "str", "base URL of the version users get today", parse_url,
        flag="--baseline-url", env="PRODSMOKE_BASELINE_URL", ini="prodsmoke_baseline_url",
        metavar="URL", needs_url=True)
    headers: tuple[tuple[str, str], ...] = option(
        "prodsmoke_headers", "list", "'Name: value' header added to every candidate request, "
        "e.g. to route to the unreleased version (repeatable)", parse_header_lines, default=(),
        flag="--prod-header", env="PRODSMOKE_HEADERS", ini="prodsmoke_headers",
        metavar="'NAME: VALUE'", needs_url=True)
    expect_version: str | None = option(
        "prodsmoke_expect_version", "str", "the version that must answer every request",
        parse_version, flag="--expect-version", env="PRODSMOKE_EXPECT_VERSION",
        metavar="VERSION", needs_url=True)
    gate_report: Path | None = option(
        "prodsmoke_gate_report", "str", "write the JSON gate report to PATH", report_path,
        flag="--gate-report", env="PRODSMOKE_GATE_REPORT", ini="prodsmoke_gate_report",
        metavar="PATH", needs_url=True, path=True)
    gate_strict: bool = option(
        "prodsmoke_gate_strict", "bool", "a degraded verdict fails the run too", parse_bool,
        default=False, flag="--gate-strict", ini="prodsmoke_gate_strict")
    allow_skips: bool = option(
        "prodsmoke_gate_allow_skips", "bool", "accept skipped or xfailed critical checks (the "
        "verdict becomes degraded instead of fail)", parse_flag, default=False,
        flag="--gate-allow-skips", needs_url=True)
    timeout_s: float = option(
        "prodsmoke_timeout", "str", "connect and read timeout of every request in seconds "
        f"(default {DEFAULT_TIMEOUT_S:g})", parse_timeout, default=DEFAULT_TIMEOUT_S,
        flag="--prod-timeout", ini="prodsmoke_timeout", metavar="SECONDS")
    retries: int = option(
        "prodsmoke_retries", "str", "retries of idempotent requests on connection errors and "
        f"502/503/504, with backoff (default {DEFAULT_RETRIES})", parse_retries,
        default=DEFAULT_RETRIES, flag="--prod-retries", ini="prodsmoke_retries", metavar="N")
    # None after loading: prodsmoke_version_path is the source (the default applies only
    # without one).
    version_header: str | None = option(
        "prodsmoke_version_header", "str", "response header that names the answering version "
        f"(default {DEFAULT_VERSION_HEADER}, unless prodsmoke_version_path is set)",
        parse_header_name, ini="prodsmoke_version_header")
    fake_users_file: Path | None = option(
        "prodsmoke_fake_users_file", "str", "JSON (or .toml) file of fake users", readable_file,
        flag="--fake-users", env="PRODSMOKE_FAKE_USERS_FILE", ini="prodsmoke_fake_users_file",
        metavar="PATH", needs_url=True, path=True)
    state_dir: Path | None = option(
        "prodsmoke_state_dir", "str", "a directory that outlives the run: undo actions a "
        "killed run left pending are replayed from it by the next run, and the chaos ledger "
        "is kept in it",
        state_directory, flag="--prodsmoke-state-dir", env="PRODSMOKE_STATE_DIR",
        ini="prodsmoke_state_dir", metavar="DIR", needs_url=True, path=True)
    fake_user_pattern: str = option(
        "prodsmoke_fake_user_pattern", "str", "regex every fake username must match "
        f"(case-insensitive; default {DEFAULT_FAKE_USER_PATTERN!r})", parse_pattern,
        default=DEFAULT_FAKE_USER_PATTERN, ini="prodsmoke_fake_user_pattern")
    fake_user_wait_s: float = option(
        "prodsmoke_fake_user_wait", "str", "seconds a check waits for a free fake user "
        f"(default {DEFAULT_FAKE_USER_WAIT_S:g})", parse_timeout,
        default=DEFAULT_FAKE_USER_WAIT_S, flag="--fake-user-wait", ini="prodsmoke_fake_user_wait",
        metavar="SECONDS")
    secret_env: tuple[str, ...] = option(
        "prodsmoke_secret_env", "list", "names of environment variables whose values are "
        "secrets to mask in every output", parse_names, default=(), ini="prodsmoke_secret_env")
    run_header: str = option(
        "prodsmoke_run_header", "str", f"header carrying the run id (default {DEFAULT_RUN_HEADER})",
        parse_header_name, default=DEFAULT_RUN_HEADER, ini="prodsmoke_run_header")
    check_header: str = option(
        "prodsmoke_check_header", "str", "header carrying the check's node id "
        f"(default {DEFAULT_CHECK_HEADER})", parse_header_name, default=DEFAULT_CHECK_HEADER,
        ini="prodsmoke_check_header")
    max_rps: float | None = option(
        "prodsmoke_max_rps", "str", "at most N requests per second to the targets, shared by all "
        "xdist workers (default: no limit)", parse_rate, flag="--prod-max-rps",
        ini="prodsmoke_max_rps", metavar="N", needs_url=True)
    ca_bundle: Path | None = option(
        "prodsmoke_ca_bundle", "str", "CA bundle (PEM) to verify the targets' TLS certificates, "
        "for private CAs", readable_file, flag="--prod-ca-bundle", env="PRODSMOKE_CA_BUNDLE",
        ini="prodsmoke_ca_bundle", metavar="PATH", path=True)
    # Commands by verdict, already split into arguments (gate_command(status)).
    on_gate_fail: tuple[str, ...] | None = option(
        "prodsmoke_on_gate_fail", "str", "command to run once when the verdict is fail (e.g. "
        "roll back); split like a shell would, run without one", parse_command_text,
        flag="--on-gate-fail", ini="prodsmoke_on_gate_fail", metavar="CMD", needs_url=True)
    on_gate_pass: tuple[str, ...] | None = option(
        "prodsmoke_on_gate_pass", "str", "command to run once when the verdict is pass (e.g. "
        "promote)", parse_command_text, flag="--on-gate-pass", ini="prodsmoke_on_gate_pass",
        metavar="CMD", needs_url=True)
    on_gate_degraded: tuple[str, ...] | None = option(
        "prodsmoke_on_gate_degraded", "str", "command to run once when the verdict is degraded",
        parse_command_text, flag="--on-gate-degraded", ini="prodsmoke_on_gate_degraded",
        metavar="CMD", needs_url=True)
    gate_command_timeout_s: float = option(
        "prodsmoke_gate_command_timeout", "str", "seconds a gate command may run "
        f"(default {DEFAULT_COMMAND_TIMEOUT_S:g})", parse_timeout,
        default=DEFAULT_COMMAND_TIMEOUT_S, flag="--gate-command-timeout",
        ini="prodsmoke_gate_command_timeout", metavar="SECONDS")
    cancel_grace_s: float = option(
        "prodsmoke_cancel_grace", "str", "on SIGTERM under xdist, seconds the controller waits "
        "for the workers to interrupt their checks and clean up "
        f"(default {DEFAULT_CANCEL_GRACE_S:g}); cleanup not confirmed by then is reported as "
        "unknown leftovers", parse_timeout, default=DEFAULT_CANCEL_GRACE_S,
        flag="--cancel-grace", ini="prodsmoke_cancel_grace", metavar="SECONDS")
    wait_ready_s: float | None = option(  # None: do not wait
        "prodsmoke_wait_ready", "str", "before any check, wait until the candidate answers 2xx "
        "on the ready path with the expected version (deadline, default "
        f"{DEFAULT_READY_DEADLINE_S:g} s; write --wait-ready=SECONDS)", parse_ready_deadline,
        flag="--wait-ready", metavar="SECONDS", const=f"{DEFAULT_READY_DEADLINE_S:g}",
        needs_url=True)
    ready_interval_s: float = option(
        "prodsmoke_ready_interval", "str", "seconds between readiness probes "
        f"(default {DEFAULT_READY_INTERVAL_S:g})", parse_timeout,
        default=DEFAULT_READY_INTERVAL_S, flag="--ready-interval", ini="prodsmoke_ready_interval",
        metavar="SECONDS")
    ready_path: str = option(
        "prodsmoke_ready_path", "str",
        f"path probed by --wait-ready (default {DEFAULT_READY_PATH})", url_path,
        default=DEFAULT_READY_PATH, ini="prodsmoke_ready_path")
    version_path: str | None = option(
        "prodsmoke_version_path", "str", "JSON endpoint that names the running version (used by "
        "--wait-ready; default: the version header of the ready path)", url_path,
        ini="prodsmoke_version_path")
    version_field: str = option(
        "prodsmoke_version_field", "str", "field of that JSON holding the version, dotted for "
        f"nesting (default {DEFAULT_VERSION_FIELD})", parse_text, default=DEFAULT_VERSION_FIELD,
        ini="prodsmoke_version_field")
    trace_url: str | None = option(  # template containing {trace_id}
        "prodsmoke_trace_url", "str", "link to a check's trace, with {trace_id} in it "
        "(e.g. https://grafana.example/explore?traceId={trace_id})", trace_template,
        flag="--trace-url", env="PRODSMOKE_TRACE_URL", ini="prodsmoke_trace_url",
        metavar="TEMPLATE")
    otlp_endpoint: str | None = option(  # outputs/traces: spans of every check and request
        "prodsmoke_otlp_endpoint", "str", "export OpenTelemetry traces over OTLP/HTTP to this "
        "collector (its base URL, as OTEL_EXPORTER_OTLP_ENDPOINT; that variable, "
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and the other OTEL_* variables work too; needs "
        "pytest-prodsmoke[otel])", parse_url, flag="--otlp-endpoint",
        ini="prodsmoke_otlp_endpoint", metavar="URL", needs_url=True)
    latency_max_ms: float | None = option(
        "prodsmoke_latency_max_ms", "str", "default latency budget of every request, in ms "
        "(overridden by @pytest.mark.latency)", parse_millis, ini="prodsmoke_latency_max_ms")
    latency_p95_ms: float | None = option(
        "prodsmoke_latency_p95_ms", "str", "default budget for the 95th percentile of a check's "
        "request latencies, in ms", parse_millis, ini="prodsmoke_latency_p95_ms")
    fail_fast: bool = option(
        "prodsmoke_gate_fail_fast", "bool", "stop the whole run (every xdist worker) at the "
        "first critical failure: checks in flight finish, nothing new starts", parse_bool,
        default=False, flag="--gate-fail-fast", ini="prodsmoke_gate_fail_fast")
    chaos: bool = option(
        "prodsmoke_chaos", "bool", "run the @pytest.mark.chaos experiments (without it they "
        "are deselected, said in one line)", parse_bool, default=False, flag="--chaos")
    chaos_max_duration_s: float = option(
        "prodsmoke_chaos_max_duration", "str", "the longest a chaos experiment may keep its "
        "fault in, in seconds (default 60)", parse_timeout, default=60.0,
        flag="--chaos-max-duration", ini="prodsmoke_chaos_max_duration", metavar="SECONDS")
    chaos_allow: tuple[str, ...] = option(
        "prodsmoke_chaos_allow", "list", "what chaos experiments may act on: a fault's target "
        "(its process name, host, HAProxy backend/server, ...) or a shell-style pattern; "
        "repeatable. An experiment whose target is not allowed is aborted, nothing injected",
        parse_names, default=(), flag="--chaos-allow", ini="prodsmoke_chaos_allow",
        metavar="TARGET")
    chaos_halt_file: Path | None = option(
        "prodsmoke_chaos_halt_file", "str", "while this file exists no experiment starts, and "
        "a running one stops within one probe interval, rolled back", any_path,
        flag="--chaos-halt-file", env="PRODSMOKE_CHAOS_HALT_FILE",
        ini="prodsmoke_chaos_halt_file", metavar="PATH", path=True)
    insecure: bool = option(
        "prodsmoke_insecure", "bool", "do not verify TLS certificates (loudly reported; never "
        "for a real release gate)", parse_flag, default=False, flag="--prod-insecure",
        needs_url=True)
    signing_key: Secret | None = option(
        "prodsmoke_signing_key", "str", "key that signs the synthetic marker of every request "
        "(X-Prodsmoke-Signature)", parse_secret, env="PRODSMOKE_SIGNING_KEY")
    # Parallel runs, canary comparison, A/B variants.
    baseline2_url: str | None = option(
        "prodsmoke_baseline2_url", "str", "a second instance of the released version: "
        "parallel_run asks it too and ignores what differs between the two baselines (noise)",
        parse_url, flag="--baseline2-url", env="PRODSMOKE_BASELINE2_URL",
        ini="prodsmoke_baseline2_url", metavar="URL", needs_url=True)
    learn_noise: bool = option(
        "prodsmoke_learn_noise", "bool", "parallel_run asks the baseline twice to learn noisy "
        "fields, in every check (default false; on with --baseline2-url)", parse_bool,
        default=False, ini="prodsmoke_learn_noise")
    compare_headers: tuple[str, ...] = option(  # lowercased
        "prodsmoke_compare_headers", "list", "response headers parallel_run compares (default "
        "Content-Type)", parse_header_names, default=("content-type",),
        ini="prodsmoke_compare_headers")
    # ini prodsmoke_canary_* (validated together); markers override them: compare.canary
    # builds the policy, imported only by runs that have canary checks.
    canary_samples: float | None = option(
        "prodsmoke_canary_samples", "str", "runs per side of a canary check (default "
        f"{CANARY_DEFAULTS['samples']:g})", parse_number, ini="prodsmoke_canary_samples")
    canary_min_samples: float | None = option(
        "prodsmoke_canary_min_samples", "str", "fewer samples per side is inconclusive (default "
        f"{CANARY_DEFAULTS['min_samples']:g})", parse_number, ini="prodsmoke_canary_min_samples")
    canary_confidence: float | None = option(
        "prodsmoke_canary_confidence", "str", "confidence of the canary tests (default "
        f"{CANARY_DEFAULTS['confidence']:g})", parse_number, ini="prodsmoke_canary_confidence")
    canary_max_slowdown: float | None = option(
        "prodsmoke_canary_max_slowdown", "str", "relative latency increase a canary tolerates "
        f"(default {CANARY_DEFAULTS['max_slowdown']:g}: 20%)", parse_number,
        ini="prodsmoke_canary_max_slowdown")
    canary_min_slowdown_ms: float | None = option(
        "prodsmoke_canary_min_slowdown_ms", "str", "absolute latency increase a canary "
        f"tolerates (default {CANARY_DEFAULTS['min_slowdown_ms']:g} ms)", parse_number,
        ini="prodsmoke_canary_min_slowdown_ms")
    canary_max_error_rate: float | None = option(
        "prodsmoke_canary_max_error_rate", "str", "candidate error rate above which a canary "
        f"fails whatever the baseline does (default {CANARY_DEFAULTS['max_error_rate']:g})",
        parse_number, ini="prodsmoke_canary_max_error_rate")
    variant_header: str | None = option(
        "prodsmoke_variant_header", "str", "request header that assigns an A/B variant",
        parse_header_name, ini="prodsmoke_variant_header")
    variant_cookie: str | None = option(
        "prodsmoke_variant_cookie", "str", "cookie that assigns an A/B variant",
        parse_cookie_name, ini="prodsmoke_variant_cookie")
    variant_response_header: str | None = option(
        "prodsmoke_variant_response_header", "str", "response header that names the variant "
        "served (default: prodsmoke_variant_header)", parse_header_name,
        ini="prodsmoke_variant_response_header")
    variant_field: str | None = option(
        "prodsmoke_variant_field", "str", "JSON field (dotted) of a response that names the "
        "variant served", parse_text, ini="prodsmoke_variant_field")
    # Where each option's value came from ("--prod-url", "PRODSMOKE_URL", "ini prodsmoke_url"),
    # by field: error messages found later (a fake-user file's content) name it.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def gate_command(self, status: str) -> tuple[str, ...] | None:
        """The command for a verdict ("pass" / "degraded" / "fail"), None when none is set."""
        return {"fail": self.on_gate_fail, "pass": self.on_gate_pass,
                "degraded": self.on_gate_degraded}.get(status)

    @cached_property
    def canary_overrides(self) -> tuple[tuple[str, float], ...]:
        """The ini prodsmoke_canary_* values that are set, by CanaryPolicy field."""
        return tuple((name, value) for name in CANARY_DEFAULTS
                     if (value := getattr(self, f"canary_{name}")) is not None)

    @cached_property
    def variant(self) -> VariantRouting | None:
        """How A/B variants are routed and confirmed; None when nothing is configured."""
        response_header = self.variant_response_header or self.variant_header
        if not (self.variant_header or self.variant_cookie or response_header
                or self.variant_field):
            return None
        return VariantRouting(self.variant_header, self.variant_cookie, response_header,
                              self.variant_field)

    @property
    def fake_users_file_source(self) -> str:
        return self.sources.get("fake_users_file", "--fake-users")

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


OPTIONS: tuple[OptionSpec, ...] = tuple(
    f.metadata["option"]._replace(field=f.name) for f in fields(Settings)
    if "option" in f.metadata)


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


def load_settings(
    cli: Callable[[str], Any],
    ini: Callable[[str], Any],
    environ: Mapping[str, str],
    base_dir: Path,
) -> Settings:
    """Read every option from its sources, validate it, and return the frozen settings.

    Raises SettingsError with a one-line message naming the option and the bad value.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    given: list[str] = []  # options given on the command line or in the environment
    for spec in OPTIONS:
        raw, source = _pick(spec, cli, ini, environ)
        sources[spec.field] = source
        if raw is None:
            continue
        values[spec.field] = (spec.parse(raw, source, base_dir) if spec.path
                              else spec.parse(raw, source))
        if spec.needs_url and not source.startswith("ini "):
            given.append(source)
    settings = Settings(**values, sources=sources)

    # The rules that join several options.
    if settings.version_header is None and settings.version_path is None:
        # The version source: a header on every response, or (when only a JSON version
        # endpoint is configured) that endpoint, asked once at the end of each check.
        settings = replace(settings, version_header=DEFAULT_VERSION_HEADER)
    if settings.insecure and settings.ca_bundle is not None:
        raise SettingsError("--prod-insecure and --prod-ca-bundle contradict each other: "
                            "choose one")
    if settings.canary_overrides:
        from pytest_prodsmoke.compare.canary import CanaryPolicy

        try:
            CanaryPolicy().with_overrides(dict(settings.canary_overrides))
        except ValueError as exc:
            raise SettingsError(f"ini prodsmoke_canary_*: {exc}") from None
    if settings.baseline2_url is not None and settings.baseline_url is None:
        raise SettingsError(f"{sources['baseline2_url']} needs a first baseline: pass "
                            "--baseline-url URL too")
    if not settings.gate_active and given:
        # Gate options given on the command line or in the environment without a candidate URL
        # would otherwise be ignored silently and the run would look like a passing gate.
        raise SettingsError(f"{given[0]} needs a candidate URL: pass --prod-url URL "
                            "(or set PRODSMOKE_URL, or ini prodsmoke_url)")
    return settings
