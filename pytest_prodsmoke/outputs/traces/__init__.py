"""Traces: an OpenTelemetry span for every check and every request it sent, exported over
OTLP/HTTP (``pip install 'pytest-prodsmoke[otel]'``).

- this module: whether a run exports traces, from ``--otlp-endpoint`` (ini
  ``prodsmoke_otlp_endpoint``) and the standard ``OTEL_*`` environment. Plain functions, no
  OpenTelemetry import: a run that does not export imports none of it;
- ``model.py``: the span model, attributes from plain data (pure);
- ``export.py``: each span recorded as plain data (masked) and handed to the exporter process;
  the bounded flush and the counts;
- ``exporter.py``: the exporter process: the OpenTelemetry SDK's batch processor and OTLP/HTTP
  exporter, beside pytest;
- ``plugin.py``: the pytest shell (a check span per run of a check, the run span on the
  gate's owner).

Export never changes a verdict: what could not be exported is counted, shown in one line and in
the gate report.
"""

# No ``from __future__ import annotations`` in this module: typing.NamedTuple compiles every
# annotation given as a string, which made its records several times dearer to define, on
# the start-up of every run (tests/test_startup.py keeps it so).

import importlib.util
from collections.abc import Mapping
from typing import NamedTuple

from pytest_prodsmoke.errors import SettingsError
from pytest_prodsmoke.settings import parse_url

# The whole flush at the end of a run, check spans and run span together (and on each xdist
# worker in parallel): a collector that is down or slow cannot hold the pipeline longer.
FLUSH_BOUND_S = 2.0
RUN_SPAN_SHARE_S = 0.5  # of that bound, kept for the run span (exported after the verdict)
TRACES_PATH = "/v1/traces"
PROTOCOL = "http/protobuf"
EXTRA = "pip install 'pytest-prodsmoke[otel]'"
# What the OTLP/HTTP exporter needs (the SDK comes with it).
REQUIRED_MODULES = ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http")


class TraceConfig(NamedTuple):
    """Where a run exports its spans."""

    endpoint: str  # the full URL spans are POSTed to (…/v1/traces)
    source: str  # where it was configured: "--otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", …


def _set(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def traces_url(base: str) -> str:
    """The traces endpoint under an OTLP base URL (as the SDK derives it from
    OTEL_EXPORTER_OTLP_ENDPOINT)."""
    return base.rstrip("/") + TRACES_PATH


def trace_config(option_url: str | None, option_source: str,
                 environ: Mapping[str, str]) -> TraceConfig | None:
    """Whether (and where) this run exports traces; None when it does not. Raises SettingsError
    (one line) for a configuration it cannot honour."""
    if option_url is not None:
        config = TraceConfig(traces_url(option_url), option_source)
    elif _set(environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        source = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        config = TraceConfig(parse_url(_set(environ, source), source), source)
    elif _set(environ, "OTEL_EXPORTER_OTLP_ENDPOINT"):
        source = "OTEL_EXPORTER_OTLP_ENDPOINT"
        config = TraceConfig(traces_url(parse_url(_set(environ, source), source)), source)
    else:
        return None
    if _set(environ, "OTEL_SDK_DISABLED").lower() == "true":
        return None  # the standard switch that turns all of OpenTelemetry off
    exporters = [e.strip() for e in _set(environ, "OTEL_TRACES_EXPORTER").lower().split(",")
                 if e.strip()]
    if exporters == ["none"]:
        return None
    if any(e != "otlp" for e in exporters):
        raise SettingsError(f"OTEL_TRACES_EXPORTER: {','.join(exporters)!r} is not supported: "
                            "pytest-prodsmoke exports traces with otlp (or none)")
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = _set(environ, name)
        if protocol:
            if protocol != PROTOCOL:
                raise SettingsError(f"{name}: {protocol!r} is not supported: pytest-prodsmoke "
                                    f"exports OTLP over HTTP with protobuf ({PROTOCOL})")
            break
    return config


def missing_extra(config: TraceConfig) -> str | None:
    """The line that says traces are asked for but OpenTelemetry is not installed, or None."""
    for module in REQUIRED_MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing or broken
            found = False
        if not found:
            return (f"{config.source} asks for traces, but OpenTelemetry's OTLP/HTTP exporter "
                    f"is not installed: {EXTRA}")
    return None
