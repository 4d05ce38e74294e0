"""The OpenTelemetry SDK behind the span model: one ``Tracing`` per process, exporting over
OTLP/HTTP in the background (the SDK's ``BatchSpanProcessor``), counting what could not be
exported, and flushing within a bound at the end. Imported only by runs that export traces.

Every text that reaches a span — its name, attributes, status description — passes through
``Tracing._clean`` and so through the secret registry, like every other output.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from pytest_prodsmoke import __version__
from pytest_prodsmoke.outputs.traces import TraceConfig
from pytest_prodsmoke.outputs.traces.model import DEFAULT_SERVICE_NAME, SCOPE
from pytest_prodsmoke.safety.redact import display_url

# The loggers of the exporter and of the batch processor: what they say about a failed export
# becomes the one line of the run (last_error), not noise in a check's captured log.
EXPORT_LOGGERS = ("opentelemetry.exporter.otlp", "opentelemetry.sdk.trace.export",
                  "opentelemetry.sdk._shared_internal")
MAX_ERROR_CHARS = 200


class CheckIds(RandomIdGenerator):
    """The SDK's random ids, except for a check span: its trace id is the check's own, chosen
    when the check started (the gate report, the trace link and Allure name it)."""

    def __init__(self) -> None:
        self.next_trace_id: int | None = None

    def generate_trace_id(self) -> int:
        chosen, self.next_trace_id = self.next_trace_id, None
        return chosen if chosen is not None else super().generate_trace_id()


class _LastError(logging.Handler):
    """Keeps the last thing the exporter said about a failure."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__(logging.WARNING)
        self.scrub = scrub
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage().strip().splitlines()[0]
        except Exception:  # a record that cannot be formatted: its template will do
            text = str(record.msg)
        self.text = short_error(self.scrub(text))


def short_error(text: str) -> str:
    """What went wrong in a few words: the system's reason when the text names one (urllib3's
    messages repeat the URL and the pool twice)."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found.group(1).strip().lower()  # "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text[:MAX_ERROR_CHARS]


class CountingExporter(SpanExporter):
    """The OTLP/HTTP exporter, counting the spans it exported and those it could not."""

    def __init__(self, inner: SpanExporter, on_error: _LastError) -> None:
        self.inner = inner
        self.on_error = on_error
        self.exported = 0
        self.failed = 0
        self.lock = threading.Lock()

    def export(self, spans: Any) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # an exporter bug must not end the export thread
            self.on_error.text = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            result = SpanExportResult.FAILURE
        with self.lock:
            if result is SpanExportResult.SUCCESS:
                self.exported += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _within(seconds: float, work: Callable[[], Any]) -> bool:
    """Run ``work`` in a daemon thread and wait at most ``seconds``: True when it finished. (The
    SDK's flush waits as long as an export takes — 10 s per attempt against a collector that
    does not answer; a thread left behind never holds the process's exit.)"""
    worker = threading.Thread(target=work, name="prodsmoke-trace-flush", daemon=True)
    worker.start()
    worker.join(max(seconds, 0.0))
    return not worker.is_alive()


def _resource(environ: Mapping[str, str]) -> Resource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES as the SDK reads them; without a service
    name, ours (the SDK would say unknown_service)."""
    resource = Resource.create({"prodsmoke.plugin_version": __version__})
    if not environ.get("OTEL_SERVICE_NAME", "").strip() and \
            "service.name=" not in environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}))
    return resource


class Tracing:
    """The spans of one process and their export."""

    def __init__(self, config: TraceConfig, scrub: Callable[[str], str],
                 environ: Mapping[str, str] = os.environ) -> None:
        self.config = config
        self.scrub = scrub
        self.errors = _LastError(scrub)
        for name in EXPORT_LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self.errors)
            logger.propagate = False
        self.ids = CheckIds()
        self.provider = TracerProvider(resource=_resource(environ), id_generator=self.ids,
                                       shutdown_on_exit=False)
        # The exporter reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, _TIMEOUT, _COMPRESSION and
        # _CERTIFICATE itself; the endpoint is ours to say (the option may have set it).
        self.exporter = CountingExporter(OTLPSpanExporter(endpoint=config.endpoint), self.errors)
        self.processor = BatchSpanProcessor(self.exporter)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer(SCOPE, __version__)
        self.ended = 0  # spans ended (and so handed to the processor)
        self.flush_s = 0.0
        self.flushed = True
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return display_url(self.config.endpoint)

    # -- the text that reaches a span, masked
    def _clean(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        scrub = self.scrub
        clean: dict[str, Any] = {}
        for key, value in attributes.items():
            if isinstance(value, str):
                value = scrub(value)
            elif isinstance(value, (list, tuple)):
                value = [scrub(v) if isinstance(v, str) else v for v in value]
            clean[key] = value
        return clean

    # -- spans
    def start_span(self, name: str, attributes: Mapping[str, Any], *,
                   trace_id: str | None = None, parent: Any = None,
                   kind: SpanKind = SpanKind.INTERNAL, links: list[Link] | None = None,
                   start_ns: int | None = None) -> Any:
        """A span; a root (with ``trace_id`` when given) unless ``parent`` is a span."""
        context = trace_api.set_span_in_context(parent) if parent is not None else None
        if trace_id and parent is None:
            self.ids.next_trace_id = int(trace_id, 16)
        try:
            return self.tracer.start_span(self.scrub(name), context=context, kind=kind,
                                          attributes=self._clean(attributes),
                                          links=links or (), start_time=start_ns)
        finally:
            self.ids.next_trace_id = None

    def end_span(self, span: Any, attributes: Mapping[str, Any], error: str | None,
                 end_ns: int | None = None) -> None:
        """Its last attributes and status (ERROR with ``error`` as description, else OK)."""
        span.set_attributes(self._clean(attributes))
        span.set_status(Status(StatusCode.ERROR, self.scrub(error)) if error is not None
                        else Status(StatusCode.OK))
        span.end(end_time=end_ns)
        with self.lock:
            self.ended += 1
            self.flushed = False

    @staticmethod
    def ids_of(span: Any) -> tuple[str, str, bool]:
        """(trace id, span id, sampled) of a span, as W3C trace context writes them."""
        context = span.get_span_context()
        return (f"{context.trace_id:032x}", f"{context.span_id:016x}",
                bool(context.trace_flags & TraceFlags.SAMPLED))

    @staticmethod
    def link_to(trace_id: str, span_id: str) -> Link:
        return Link(SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True,
                                trace_flags=TraceFlags(TraceFlags.SAMPLED)))

    # -- export
    def flush(self, seconds: float) -> bool:
        """Export what is queued, waiting at most ``seconds``; True when all of it went."""
        started = time.monotonic()
        done = _within(seconds, self.processor.force_flush)
        self.flush_s += time.monotonic() - started
        if done:
            with self.lock:
                self.flushed = True
        return done

    def shutdown(self) -> None:
        """Stop the export thread (without waiting for an export that hangs)."""
        _within(0.2, self.provider.shutdown)
        if not self.flushed:
            return  # an export still hangs: what it says as it gives up stays ours
        for name in EXPORT_LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(self.errors)
            logger.propagate = True

    def counts(self) -> dict[str, Any]:
        """What this process exported, for the gate report (summed over xdist workers)."""
        exporter = self.exporter
        with exporter.lock:
            exported, failed = exporter.exported, exporter.failed
        return {"spans": self.ended, "exported": exported, "failed": failed,
                "not_exported": max(self.ended - exported - failed, 0),
                "flush_s": round(self.flush_s, 3), "last_error": self.errors.text}

