"""pytest-prodsmoke: test in production with pytest, behind a fail-closed release gate."""

from pytest_prodsmoke.errors import (
    CredentialLeakRefusedError,
    MutationRefusedError,
    NotConfiguredError,
    ProdsmokeError,
    WrongVersionError,
)
from pytest_prodsmoke.gate import CheckResult, Reason, Verdict
from pytest_prodsmoke.redact import Secret, register_secret
from pytest_prodsmoke.tagging import verify_signature

__version__ = "0.1.0"

__all__ = [
    "CheckResult",
    "CredentialLeakRefusedError",
    "MutationRefusedError",
    "NotConfiguredError",
    "ProdsmokeError",
    "Reason",
    "Secret",
    "Verdict",
    "WrongVersionError",
    "__version__",
    "register_secret",
    "verify_signature",
]
