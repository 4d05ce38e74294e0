"""Fake users: where they come from, the fake-name guard, and exclusive leases across processes.

A record is a mapping with ``username`` (required), optional ``password`` and ``token``, and any
extra fields. Every username must match the fake-user pattern, so a real customer's account can
never be configured by mistake. Errors name the record's position, never its values.

Leases are ``flock`` locks on one file per username in a directory shared by every process on
the host that may use the same users: one directory per host and OS user
(``lease_directory``), whatever ``--prodsmoke-state-dir`` a run has. So neither two xdist
workers, nor two cycles of ``prodsmoke monitor``, nor a monitor cycle and a gate run on the same
host ever hold the same user at once. The kernel drops a dead process's locks, so a crashed
worker can never keep a user leased.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from pytest_prodsmoke.errors import ProdsmokeError, SettingsError
from pytest_prodsmoke.safety.ownership import host_directory
from pytest_prodsmoke.safety.redact import Secret, looks_secret
from pytest_prodsmoke.settings import compile_user_pattern

if TYPE_CHECKING:
    from pytest_prodsmoke.http.client import ProdClient
    from pytest_prodsmoke.safety.redact import SecretRegistry

_POLL_S = 0.05


class NoFakeUserFree(ProdsmokeError):
    """Every fake user stayed leased by other checks for the whole wait."""


@dataclass(frozen=True)
class FakeUser:
    """One fake account. ``password`` and ``token`` are ``Secret``: they never print."""

    username: str
    password: Secret | None = None
    token: Secret | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def secrets(self) -> list[Secret]:
        found = [s for s in (self.password, self.token) if s is not None]
        found += [v for v in self.extra.values() if isinstance(v, Secret)]
        return found

    def to_record(self) -> dict[str, Any]:
        """Plain data (secrets revealed) to hand to xdist workers over their private channel."""
        record: dict[str, Any] = {"username": self.username}
        if self.password is not None:
            record["password"] = self.password.reveal()
        if self.token is not None:
            record["token"] = self.token.reveal()
        for key, value in self.extra.items():
            record[key] = value.reveal() if isinstance(value, Secret) else value
        return record


def user_from_record(record: Any, position: int, pattern: re.Pattern[str], source: str
                     ) -> FakeUser:
    if not isinstance(record, Mapping):
        raise SettingsError(f"{source}: fake user #{position} is not an object with a username")
    username = record.get("username")
    if not isinstance(username, str) or not username.strip():
        raise SettingsError(f"{source}: fake user #{position} has no username")
    if not pattern.search(username):
        # Not even the username is printed: it could be a real person's.
        raise SettingsError(
            f"{source}: fake user #{position} does not match the fake-user pattern "
            f"{pattern.pattern!r} (ini prodsmoke_fake_user_pattern): only fake accounts may be "
            "used in production"
        )
    extra = {str(k): (Secret(str(v)) if looks_secret(str(k)) and v is not None else v)
             for k, v in record.items() if k not in ("username", "password", "token")}
    password, token = record.get("password"), record.get("token")
    return FakeUser(
        username=username.strip(),
        password=Secret(str(password)) if password not in (None, "") else None,
        token=Secret(str(token)) if token not in (None, "") else None,
        extra=extra,
    )


def _records(data: Any, source: str) -> list[Any]:
    if isinstance(data, Mapping) and "users" in data:
        data = data["users"]
    if not isinstance(data, list):
        raise SettingsError(f"{source}: expected a list of fake users (or {{\"users\": [...]}})")
    return data


def parse_users_text(text: str, source: str, toml: bool = False) -> list[Any]:
    try:
        if toml:
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # the same parser, from PyPI (a dependency on Python 3.10)
                import tomli as tomllib
            data: Any = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (ValueError, TypeError) as exc:
        # The parser's message may quote the text around the error, i.e. a secret: only the
        # position is taken from it (tomllib names it in its message only).
        kind = "TOML" if toml else "JSON"
        line = getattr(exc, "lineno", None)
        if line is None:
            found = re.search(r"\(at line (\d+)", str(exc))
            line = int(found.group(1)) if found else None
        where = f" (line {line})" if line else ""
        raise SettingsError(f"{source}: not valid {kind}{where}") from None
    except RecursionError:
        kind = "TOML" if toml else "JSON"
        raise SettingsError(f"{source}: not valid {kind} (nested too deeply)") from None
    return _records(data, source)


def load_users(file_path: Path | None, file_source: str, env_text: str | None,
               hook_results: Iterable[Iterable[Any]], pattern_text: str) -> tuple[FakeUser, ...]:
    """All fake users, in source order (file, environment, hooks), validated, deduplicated."""
    pattern = compile_user_pattern(pattern_text)
    sources: list[tuple[str, list[Any]]] = []
    if file_path is not None:
        try:
            text = file_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{file_source}: cannot read {str(file_path)!r}: "
                                f"{exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise SettingsError(f"{file_source}: not UTF-8 text (byte {exc.start} cannot be "
                                "read); save the file as UTF-8") from None
        sources.append((file_source, parse_users_text(text, file_source,
                                                      toml=file_path.suffix == ".toml")))
    if env_text:
        sources.append(("PRODSMOKE_FAKE_USERS", parse_users_text(env_text, "PRODSMOKE_FAKE_USERS")))
    for index, result in enumerate(hook_results, start=1):
        records = [u.to_record() if isinstance(u, FakeUser) else u for u in result or ()]
        sources.append((f"pytest_prodsmoke_fake_users hook #{index}", records))
    users: dict[str, FakeUser] = {}
    for source, records in sources:
        for position, record in enumerate(records, start=1):
            user = user_from_record(record, position, pattern, source)
            users.setdefault(user.username, user)
    return tuple(users.values())


def lease_directory() -> Path | None:
    """Where fake users are leased: the host's directory for this OS user, whatever state
    directory a run has — so runs with different ones (a monitor's cycles and a gate run)
    still see each other's leases."""
    return host_directory(None, "leases")


def lock_name(username: str) -> str:
    """The lock file of a username (any username makes a safe file name)."""
    return "user-" + hashlib.sha256(username.encode()).hexdigest()[:24] + ".lock"


class LeaseManager:
    """Exclusive leases on fake users, shared by every process that uses the same directory."""

    def __init__(self, directory: Path, users: tuple[FakeUser, ...], wait_s: float,
                 start_at: int = 0) -> None:
        self.directory = directory
        self.users = users
        self.wait_s = wait_s
        self.start_at = start_at  # workers start at different users to collide less

    def acquire(self) -> tuple[FakeUser, int]:
        """Lease a free user, waiting up to ``wait_s``; returns the user and a handle."""
        if not self.users:
            raise NoFakeUserFree("no fake users are configured: use --fake-users PATH, "
                                 "PRODSMOKE_FAKE_USERS or the pytest_prodsmoke_fake_users hook")
        deadline = time.monotonic() + self.wait_s
        count = len(self.users)
        while True:
            for offset in range(count):
                index = (self.start_at + offset) % count
                fd = os.open(self.directory / lock_name(self.users[index].username),
                             os.O_CREAT | os.O_RDWR, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                return self.users[index], fd
            if time.monotonic() >= deadline:
                raise NoFakeUserFree(
                    f"no fake user became free within {self.wait_s:g} s: all {count} are leased "
                    "by other checks running at the same time; add fake users, lower -n, or "
                    "raise --fake-user-wait"
                )
            time.sleep(_POLL_S)

    @staticmethod
    def release(handle: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            os.close(handle)


class FakeUserAuth(requests.auth.AuthBase):
    """Bearer token when there is one, else HTTP Basic with the user's password."""

    def __init__(self, user: FakeUser, token: Secret | None) -> None:
        self.user = user
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.token is not None:
            request.headers["Authorization"] = f"Bearer {self.token.reveal()}"
        elif self.user.password is not None:
            basic = requests.auth.HTTPBasicAuth(self.user.username, self.user.password.reveal())
            return basic(request)
        else:
            raise ProdsmokeError(f"fake user {self.user.username} has neither a token nor a "
                                 "password to authenticate with")
        return request

    def __repr__(self) -> str:
        return f"<FakeUserAuth {self.user.username}>"


@dataclass
class LeasedUser:
    """What the ``fake_user`` fixture gives a check: the user, its auth, and login state."""

    user: FakeUser
    session_token: Secret | None = None  # set by pytest_prodsmoke_login

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def password(self) -> Secret | None:
        return self.user.password

    @property
    def token(self) -> Secret | None:
        return self.session_token or self.user.token

    @property
    def extra(self) -> Mapping[str, Any]:
        return self.user.extra

    @property
    def auth(self) -> FakeUserAuth:
        return FakeUserAuth(self.user, self.token)

    def __repr__(self) -> str:
        return f"<FakeUser {self.user.username}>"


def login_once(config: Any, leased: LeasedUser, client: ProdClient,
               tokens: dict[str, Secret | None], credentials: SecretRegistry) -> Secret | None:
    """Once per user and process: the pytest_prodsmoke_login hook's token (``config`` is
    pytest's), as a secret, kept in ``tokens`` (by username) and among the ``credentials``
    that may only go to the targets. For the ``fake_user`` fixture and replayed undo actions."""
    from pytest_prodsmoke.safety.redact import REGISTRY

    with client.mutations_allowed("fake-user login"):
        token = config.hook.pytest_prodsmoke_login(user=leased, client=client)
    if token is None:
        tokens[leased.username] = leased.user.token
        return leased.user.token
    secret = token if isinstance(token, Secret) else Secret(str(token))
    # A token obtained at run time is a secret like any other.
    REGISTRY.add(secret)
    credentials.add(secret)
    tokens[leased.username] = secret
    return secret
