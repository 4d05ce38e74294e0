"""pytest-prodsmoke: test in production with pytest, behind a fail-closed release gate."""

from pytest_prodsmoke.errors import NotConfiguredError, ProdsmokeError, WrongVersionError
from pytest_prodsmoke.gate import CheckResult, Reason, Verdict

__version__ = "0.1.0"

__all__ = [
    "CheckResult",
    "NotConfiguredError",
    "ProdsmokeError",
    "Reason",
    "Verdict",
    "WrongVersionError",
    "__version__",
]
