"""pytest-prodsmoke: test in production with pytest, behind a fail-closed release gate.

Public names are loaded on first use, so that merely having the plugin installed next to an
unrelated test suite costs that suite (almost) no import time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "CheckResult": "pytest_prodsmoke.gate.rules",
    "Comparison": "pytest_prodsmoke.compare.diff",
    "Difference": "pytest_prodsmoke.compare.diff",
    "ParallelRunMismatch": "pytest_prodsmoke.errors",
    "VariantMismatchError": "pytest_prodsmoke.errors",
    "CredentialLeakRefusedError": "pytest_prodsmoke.errors",
    "LatencyBudgetError": "pytest_prodsmoke.errors",
    "MutationRefusedError": "pytest_prodsmoke.errors",
    "ProdsmokeError": "pytest_prodsmoke.errors",
    "Reason": "pytest_prodsmoke.gate.rules",
    "Secret": "pytest_prodsmoke.safety.redact",
    "Verdict": "pytest_prodsmoke.gate.rules",
    "WrongVersionError": "pytest_prodsmoke.errors",
    "register_secret": "pytest_prodsmoke.safety.redact",
    "verify_signature": "pytest_prodsmoke.http.tagging",
}

__all__ = [
    "CheckResult",
    "Comparison",
    "CredentialLeakRefusedError",
    "Difference",
    "LatencyBudgetError",
    "MutationRefusedError",
    "ParallelRunMismatch",
    "ProdsmokeError",
    "Reason",
    "Secret",
    "VariantMismatchError",
    "Verdict",
    "WrongVersionError",
    "__version__",
    "register_secret",
    "verify_signature",
]

if TYPE_CHECKING:
    from pytest_prodsmoke.compare.diff import Comparison, Difference
    from pytest_prodsmoke.errors import (
        CredentialLeakRefusedError,
        LatencyBudgetError,
        MutationRefusedError,
        ParallelRunMismatch,
        ProdsmokeError,
        VariantMismatchError,
        WrongVersionError,
    )
    from pytest_prodsmoke.gate.rules import CheckResult, Reason, Verdict
    from pytest_prodsmoke.http.tagging import verify_signature
    from pytest_prodsmoke.safety.redact import Secret, register_secret


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'pytest_prodsmoke' has no attribute {name!r}")
