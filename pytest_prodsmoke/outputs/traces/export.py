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
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
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


def random_id(bits: int) -> int:
    """A random id, never zero. From os.urandom, not the ``random`` module: pytest-randomly
    reseeds that before every test, which would give every check the same ids."""
    while True:
        value = int.from_bytes(os.urandom(bits // 8), "big")
        if value:
            return value


class ChosenIds(IdGenerator):
    """Random ids, except where the plugin chose them before the span was made: a check span's
    trace id is the check's own (the gate report, the trace link and Allure name it); a request
    span's id is the one its traceparent carried (the span is made once the answer is in). Set
    under ``Tracing.ids_lock``, taken by the next span."""

    def __init__(self) -> None:
        self.next_trace_id: int | None = None
        self.next_span_id: int | None = None

    def generate_trace_id(self) -> int:
        chosen, self.next_trace_id = self.next_trace_id, None
        return chosen if chosen is not None else random_id(128)

    def generate_span_id(self) -> int:
        chosen, self.next_span_id = self.next_span_id, None
        return chosen if chosen is not None else random_id(64)

    def is_trace_id_random(self) -> bool:  # the check's trace ids are random too (tagging.py)
        return True


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


def otlp_exporter(endpoint: str) -> SpanExporter:
    """The SDK's OTLP/HTTP exporter. It reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, _TIMEOUT,
    _COMPRESSION and _CERTIFICATE itself; the endpoint is ours to say (the option may have set
    it)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint)


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


# The batch processor's sizes unless OTEL_BSP_* say otherwise. Bigger than the SDK's (512 of
# 2048): every export encodes its batch in the export thread, which takes the GIL from the
# checks' requests (each waits up to the 5 ms switch interval to get it back), so a run of a
# few hundred checks exports once, at its end; the queue still never drops a span of a longer
# run before its batch is sent.
BATCH_SIZE = 2048
QUEUE_SIZE = 8192


def batching(environ: Mapping[str, str]) -> dict[str, int]:
    """Our sizes, for what OTEL_BSP_* leaves unset (the SDK reads those itself); the queue is
    never smaller than the batch (the SDK refuses that)."""
    def given(name: str) -> int | None:
        try:
            return int(environ.get(name, "").strip())
        except ValueError:
            return None  # the SDK says so and uses its default

    batch, queue = given("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"), given("OTEL_BSP_MAX_QUEUE_SIZE")
    sizes: dict[str, int] = {}
    if batch is None:
        sizes["max_export_batch_size"] = batch = min(BATCH_SIZE, queue or BATCH_SIZE)
    if queue is None:
        sizes["max_queue_size"] = max(QUEUE_SIZE, batch)
    return sizes


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
        self.ids = ChosenIds()
        self.provider = TracerProvider(resource=_resource(environ), id_generator=self.ids,
                                       shutdown_on_exit=False)
        # Made here, not on the first export: importing it (protobuf, ~35 ms) in the export
        # thread while checks run would hold the GIL against every request they send.
        self.exporter = CountingExporter(otlp_exporter(config.endpoint), self.errors)
        self.processor = BatchSpanProcessor(self.exporter, **batching(environ))
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer(SCOPE, __version__)
        self.ended = 0  # spans ended (and so handed to the processor)
        self.flush_s = 0.0
        self.flushed = True
        self.lock = threading.Lock()
        self.ids_lock = threading.Lock()

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
                   trace_id: str | None = None, span_id: int | None = None,
                   context: Any = None, kind: SpanKind = SpanKind.INTERNAL,
                   links: list[Link] | None = None, start_ns: int | None = None) -> Any:
        """A span; a root (with ``trace_id`` when given) unless ``context`` holds its parent
        (``context_of`` a span); ``span_id``: its id, chosen before."""
        name, attributes = self.scrub(name), self._clean(attributes)
        with self.ids_lock:  # request spans end in the threads that sent them
            if trace_id and context is None:
                self.ids.next_trace_id = int(trace_id, 16)
            self.ids.next_span_id = span_id
            try:
                return self.tracer.start_span(name, context=context, kind=kind,
                                              attributes=attributes, links=links or (),
                                              start_time=start_ns)
            finally:
                self.ids.next_trace_id = self.ids.next_span_id = None

    def end_span(self, span: Any, attributes: Mapping[str, Any], error: str | None,
                 end_ns: int | None = None) -> None:
        """Its last attributes and status (ERROR with ``error`` as description, else OK)."""
        if not span.is_recording():
            return  # left out by the sampler (OTEL_TRACES_SAMPLER): nothing to send or count
        if attributes:
            span.set_attributes(self._clean(attributes))
        span.set_status(Status(StatusCode.ERROR, self.scrub(error)) if error is not None
                        else Status(StatusCode.OK))
        span.end(end_time=end_ns)
        with self.lock:
            self.ended += 1
            self.flushed = False

    @staticmethod
    def context_of(span: Any) -> Any:
        """The context that makes ``span`` the parent of the spans started in it."""
        return trace_api.set_span_in_context(span)

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

