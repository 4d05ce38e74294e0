"""The exporter process: the OpenTelemetry SDK's batch processor and OTLP/HTTP exporter, in a
process of its own beside pytest.

Why a process: importing the SDK and protobuf and encoding every span in Python costs the
pytest process about a sixth of a fast run's time (and an export in a thread there takes the GIL
from the checks' requests). Here, it runs on another core while the checks run: the pytest
process only records each span as plain data (export.py) and hands them over a pipe.

Run as a script (``python exporter.py``), so it imports neither pytest nor the plugin. It talks
to its parent in frames (``write_frame``/``read_frame``, which export.py shares):

- parent -> here: ``("start", settings)``, then ``("spans", [span, ...])`` as they end and
  ``("flush", timeout_ms)``; its stdin closing is the end (also when the parent died: what it
  handed over is still flushed, within ``LAST_FLUSH_MS``);
- here -> parent: ``("counts", exported, failed, last_error)`` after each flush, or
  ``("error", text)`` when it cannot export at all.

A span is a plain tuple (``SPAN_FIELDS``): the parent has already masked every text in it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Mapping
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")
# What one span is, in the order the tuple holds it.
SPAN_FIELDS = ("name", "trace_id", "span_id", "parent_id", "kind", "start_ns", "end_ns",
               "attributes", "error", "links")
# The loggers of the exporter and of the batch processor: what they say about a failed export
# becomes the run's last_error.
EXPORT_LOGGERS = ("opentelemetry.exporter.otlp", "opentelemetry.sdk.trace.export",
                  "opentelemetry.sdk._shared_internal")
MAX_ERROR_CHARS = 200
LAST_FLUSH_MS = 2000  # what is left when pytest went away without flushing: this long, at most


def encode_frame(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def read_frame(stream: BinaryIO) -> Any:
    """The next frame, or None at the end of the stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return pickle.loads(payload)


def write_frame(stream: BinaryIO, message: Any) -> None:
    stream.write(encode_frame(message))
    stream.flush()


class _LastError(logging.Handler):
    """Keeps the last thing the exporter said about a failure."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage().strip().splitlines()[0]
        except Exception:  # a record that cannot be formatted: its template will do
            text = str(record.msg)
        self.text = text[:MAX_ERROR_CHARS * 4]


class Export:
    """The SDK's side: spans as the SDK's ReadableSpan, batched and exported over OTLP/HTTP."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanLimits
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self.errors = _LastError()
        for name in EXPORT_LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self.errors)
            logger.propagate = False
        self.exported = self.failed = 0
        self.lock = threading.Lock()
        export = self

        class Counting(SpanExporter):
            """The OTLP/HTTP exporter (it reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, _TIMEOUT,
            _COMPRESSION and _CERTIFICATE itself), counting what it exported and what not."""

            def __init__(self) -> None:
                self.inner = OTLPSpanExporter(endpoint=settings["endpoint"])

            def export(self, spans: Any) -> Any:
                try:
                    result = self.inner.export(spans)
                except Exception as exc:  # an exporter bug must not end the export thread
                    export.errors.text = f"{type(exc).__name__}: {exc}"
                    result = SpanExportResult.FAILURE
                with export.lock:
                    if result is SpanExportResult.SUCCESS:
                        export.exported += len(spans)
                    else:
                        export.failed += len(spans)
                return result

            def shutdown(self) -> None:
                self.inner.shutdown()

        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES as the SDK reads them; without a
        # service name, ours (the SDK would say unknown_service).
        resource = Resource.create({"prodsmoke.plugin_version": settings["version"]})
        if not os.environ.get("OTEL_SERVICE_NAME", "").strip() and \
                "service.name=" not in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
            resource = resource.merge(Resource({"service.name": settings["service_name"]}))
        self.resource = resource
        self.scope = InstrumentationScope(settings["scope"], settings["version"])
        self.limits = SpanLimits()  # OTEL_SPAN_ATTRIBUTE_* and OTEL_ATTRIBUTE_* as the SDK's
        self.processor = BatchSpanProcessor(Counting())  # OTEL_BSP_* as the SDK reads them

    def add(self, spans: list[tuple[Any, ...]]) -> None:
        from opentelemetry.attributes import BoundedAttributes
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import (
            Link,
            SpanContext,
            SpanKind,
            Status,
            StatusCode,
            TraceFlags,
        )

        sampled = TraceFlags(TraceFlags.SAMPLED)  # the parent sends only what its sampler kept
        limits = self.limits
        for name, trace_id, span_id, parent_id, kind, start_ns, end_ns, attributes, error, \
                links in spans:
            context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=sampled)
            parent = SpanContext(trace_id, parent_id, is_remote=False, trace_flags=sampled) \
                if parent_id else None
            self.processor.on_end(ReadableSpan(
                name=name, context=context, parent=parent, resource=self.resource,
                attributes=BoundedAttributes(limits.max_span_attributes, attributes,
                                             immutable=True,
                                             max_value_len=limits.max_span_attribute_length),
                links=tuple(Link(SpanContext(t, s, is_remote=True, trace_flags=sampled))
                            for t, s in links),
                kind=SpanKind[kind],
                status=Status(StatusCode.ERROR, error) if error is not None
                else Status(StatusCode.OK),
                start_time=start_ns, end_time=end_ns, instrumentation_scope=self.scope))

    def flush(self, timeout_ms: int) -> tuple[str, int, int, str]:
        self.processor.force_flush(timeout_ms)
        with self.lock:
            return ("counts", self.exported, self.failed, self.errors.text)


def main() -> int:
    # Ctrl-C in a terminal, or a CI runner's SIGTERM, reaches the whole process group: pytest
    # decides when this ends (it closes the pipe, or it ends and the pipe closes), so the spans
    # of an interrupted run still go out within pytest's bound.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Run as a script, its folder came first on the path: the plugin's modules there are not
    # for the SDK's imports to find.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    export: Export | None = None
    try:
        while True:
            message = read_frame(stdin)
            if message is None:
                break
            if message[0] == "spans" and export is not None:
                export.add(message[1])
            elif message[0] == "flush" and export is not None:
                write_frame(stdout, export.flush(int(message[1])))
            elif message[0] == "start":
                export = Export(message[1])
    except BrokenPipeError:
        return 0  # the parent is gone
    except Exception as exc:  # said to the parent, which counts the spans as not exported
        with contextlib.suppress(OSError):
            write_frame(stdout, ("error", f"the exporter process failed: "
                                          f"{type(exc).__name__}: {exc}"))
        return 1
    if export is not None:
        # The pipe closed: pytest flushed and finished (nothing is left), or it died (an xdist
        # worker that crashed, a SIGKILL): what it handed over still goes out, within a bound.
        export.flush(LAST_FLUSH_MS)
    return 0


if __name__ == "__main__":
    # Without the interpreter's teardown (tens of milliseconds with the SDK loaded, which
    # pytest would wait for): every answer is written and flushed, nothing else is kept.
    os._exit(main())
