"""Exceptions raised by pytest-prodsmoke (no pytest import: usable from plain code), and how
the system's own errors are said in a few words."""

import re

_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def errno_reason(text: str) -> str | None:
    """The system's reason when an error text names one ("[Errno 111] Connection refused" ->
    "connection refused"): urllib3's messages bury it between the URL and the pool, twice."""
    found = _ERRNO_REASON.search(text)
    return found.group(1).strip().lower() if found else None


class ProdsmokeError(Exception):
    """Base class of every error this plugin raises on purpose."""


class SettingsError(ProdsmokeError):
    """A configuration value is invalid; the message names the option and the bad value."""


class WrongVersionError(ProdsmokeError, AssertionError):
    """A response came from another version than the one the run expects.

    It subclasses AssertionError so that pytest reports it as a failed check,
    not as an error in the test's own code.
    """


class MutationRefusedError(ProdsmokeError):
    """A check tried to change production data without declaring itself (nothing was sent)."""


class CredentialLeakRefusedError(ProdsmokeError):
    """A request would have carried fake-user credentials to a host that is not a target."""


class LatencyBudgetError(ProdsmokeError, AssertionError):
    """A request (or a check's p95) took longer than its latency budget."""


class ParallelRunMismatch(ProdsmokeError, AssertionError):
    """The candidate answered a parallel-run request differently from the baseline."""


class VariantMismatchError(ProdsmokeError, AssertionError):
    """The service served another A/B variant than the one the check was assigned."""
