"""The spans of one process and their export: each span recorded as plain data here and handed,
masked, to the exporter process (exporter.py: the OpenTelemetry SDK's batch processor and
OTLP/HTTP exporter), which sends them while the checks run; its counts come back at each
flush, and the flush at the end is bounded. Imported only by runs that export traces.

Every text that reaches a span — its name, attributes, status description — passes through
``Tracing._clean`` and so through the secret registry, like every other output.
"""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_prodsmoke import __version__
from pytest_prodsmoke.errors import errno_reason
from pytest_prodsmoke.outputs.traces import TraceConfig
from pytest_prodsmoke.outputs.traces.exporter import HEADER, MAX_ERROR_CHARS, encode_frame
from pytest_prodsmoke.outputs.traces.model import DEFAULT_SERVICE_NAME, SCOPE
from pytest_prodsmoke.safety.redact import display_url

EXPORTER_SCRIPT = str(Path(__file__).with_name("exporter.py"))
# Spans go to the exporter process at the end of each check (one pipe write), and in chunks of
# this many within a check that sends more requests.
CHUNK = 128
# How long a chunk may wait for the exporter process to read it during the run: more means it
# is stuck, and its spans are counted as not exported rather than holding the checks.
SEND_BOUND_S = 2.0
# The samplers that keep every root span (and so every span: children follow their parent).
KEEP_ALL = ("", "always_on", "parentbased_always_on")


def random_id(bits: int) -> int:
    """A random id, never zero. From os.urandom, not the ``random`` module: pytest-randomly
    reseeds that before every test, which would give every check the same ids."""
    while True:
        value = int.from_bytes(os.urandom(bits // 8), "big")
        if value:
            return value


def short_error(text: str) -> str:
    """What went wrong in a few words: the system's reason when the text names one."""
    reason = errno_reason(text)
    if reason:
        return reason  # "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text[:MAX_ERROR_CHARS]


class Span:
    """A span being recorded: what the exporter process gets once it ends."""

    __slots__ = ("attributes", "kind", "links", "name", "parent_id", "sampled", "span_id",
                 "start_ns", "trace_id")

    def __init__(self, name: str, trace_id: int, span_id: int, parent_id: int, kind: str,
                 start_ns: int, attributes: dict[str, Any], links: list[tuple[int, int]],
                 sampled: bool) -> None:
        self.name, self.trace_id, self.span_id, self.parent_id = name, trace_id, span_id, \
            parent_id
        self.kind, self.start_ns, self.attributes, self.links = kind, start_ns, attributes, links
        self.sampled = sampled


def _sampler(environ: Mapping[str, str]) -> Any:
    """The SDK's sampler when OTEL_TRACES_SAMPLER chooses one that may leave spans out (the SDK
    reads it and OTEL_TRACES_SAMPLER_ARG itself), else None: every span is kept."""
    if environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() in KEEP_ALL:
        return None
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider(shutdown_on_exit=False).sampler


class Tracing:
    """The spans of one process and their export."""

    def __init__(self, config: TraceConfig, scrub: Callable[[str], str],
                 environ: Mapping[str, str] = os.environ) -> None:
        self.config = config
        self.scrub = scrub
        self.sampler = _sampler(environ)
        self.pending: list[tuple[Any, ...]] = []  # ended, not yet handed to the exporter
        self.ended = 0  # spans ended (and so to be exported)
        self.exported = self.failed = 0  # as the exporter process last said
        self.last_error = ""
        self.flush_s = 0.0
        self.flushes = 0  # flushes asked of the exporter process
        self.answered = 0  # and those it answered
        self.inbox = bytearray()
        # Request spans end in the threads that sent them (a parallel run's sides): one frame
        # on the pipe at a time.
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        try:
            # Started now, so that it imports the SDK on another core while pytest collects.
            self.process = subprocess.Popen(
                [sys.executable, EXPORTER_SCRIPT], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError as exc:
            self.last_error = f"the exporter process did not start: {exc}"
            return
        assert self.process.stdin is not None and self.process.stdout is not None
        self.to_exporter = self.process.stdin.fileno()
        self.from_exporter = self.process.stdout.fileno()
        os.set_blocking(self.to_exporter, False)
        os.set_blocking(self.from_exporter, False)
        # The endpoint goes over the pipe, not the command line: its URL may carry a secret.
        self._send(("start", {"endpoint": config.endpoint, "version": __version__,
                              "scope": SCOPE, "service_name": DEFAULT_SERVICE_NAME}),
                   SEND_BOUND_S)

    @property
    def flushed(self) -> bool:
        """Everything ended was exported or failed, as the exporter process last said."""
        return self.exported + self.failed >= self.ended

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
                   context: tuple[int, int, bool] | None = None, kind: str = "INTERNAL",
                   links: list[tuple[int, int]] | None = None,
                   start_ns: int | None = None) -> Span:
        """A span; a root (with ``trace_id`` when given) unless ``context`` holds its parent
        (``context_of`` a span); ``span_id``: its id, chosen before."""
        if context is not None:
            trace, parent_id, sampled = context  # a child follows its parent's sampling
        else:
            trace = int(trace_id, 16) if trace_id else random_id(128)
            parent_id, sampled = 0, self._sampled(trace, name, kind, attributes)
        return Span(self.scrub(name), trace, span_id or random_id(64), parent_id, kind,
                    start_ns or time.time_ns(), self._clean(attributes), links or [], sampled)

    def _sampled(self, trace_id: int, name: str, kind: str, attributes: Mapping[str, Any]) -> bool:
        if self.sampler is None:
            return True
        from opentelemetry.trace import SpanKind

        return bool(self.sampler.should_sample(None, trace_id, name, SpanKind[kind],
                                               attributes).decision.is_sampled())

    def end_span(self, span: Span, attributes: Mapping[str, Any], error: str | None,
                 end_ns: int | None = None) -> None:
        """Its last attributes and status (ERROR with ``error`` as description, else OK)."""
        if not span.sampled:
            return  # left out by the sampler (OTEL_TRACES_SAMPLER): nothing to send or count
        if attributes:
            span.attributes.update(self._clean(attributes))
        ended = (span.name, span.trace_id, span.span_id, span.parent_id, span.kind,
                 span.start_ns, end_ns or time.time_ns(), span.attributes,
                 None if error is None else self.scrub(error), span.links)
        with self.lock:
            self.pending.append(ended)
            self.ended += 1
            if not span.parent_id or len(self.pending) >= CHUNK:
                # A check's span ends after its requests': the check goes over as one, so the
                # exporter sends while the next checks run, and what a run finished goes out
                # even if pytest dies (the exporter process flushes when its pipe closes).
                self._hand_over(SEND_BOUND_S)

    @staticmethod
    def context_of(span: Span) -> tuple[int, int, bool]:
        """The context that makes ``span`` the parent of the spans started in it."""
        return (span.trace_id, span.span_id, span.sampled)

    @staticmethod
    def ids_of(span: Span) -> tuple[str, str, bool]:
        """(trace id, span id, sampled) of a span, as W3C trace context writes them."""
        return f"{span.trace_id:032x}", f"{span.span_id:016x}", span.sampled

    @staticmethod
    def link_to(trace_id: str, span_id: str) -> tuple[int, int]:
        return int(trace_id, 16), int(span_id, 16)

    # -- the exporter process
    def _hand_over(self, seconds: float) -> bool:
        spans, self.pending = self.pending, []
        return self._send(("spans", spans), seconds) if spans else True

    def _send(self, message: Any, seconds: float) -> bool:
        """Write one frame within ``seconds``; False (and the exporter given up) when it could
        not."""
        if self.process is None:
            return False
        data = memoryview(encode_frame(message))
        deadline = time.monotonic() + seconds
        try:
            while data:
                try:
                    data = data[os.write(self.to_exporter, data):]
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([], [self.to_exporter], [], left)[1]:
                        self._give_up("the exporter process did not take the spans in time")
                        return False
                except OSError:  # a broken pipe: it ended
                    self._give_up(self._ended_why())
                    return False
        except BaseException:
            # Interrupted (SIGTERM and Ctrl-C raise KeyboardInterrupt) with part of a frame
            # perhaps written: the stream cannot be trusted any more, nor resumed.
            self._give_up("interrupted while handing spans to the exporter process")
            raise
        return True

    def _receive(self, deadline: float) -> bool:
        """Read the exporter's answers until every flush asked for is answered or the deadline
        passes; True when all are."""
        try:
            return self._read_answers(deadline)
        except BaseException:
            self._give_up("interrupted while waiting for the exporter process")  # as in _send
            raise

    def _read_answers(self, deadline: float) -> bool:
        while self.process is not None and self.answered < self.flushes:
            if len(self.inbox) >= HEADER.size:
                (size,) = HEADER.unpack_from(self.inbox)
                if len(self.inbox) >= HEADER.size + size:
                    message = pickle.loads(bytes(self.inbox[HEADER.size:HEADER.size + size]))
                    del self.inbox[:HEADER.size + size]
                    self._answer(message)
                    continue
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_exporter], [], [], left)[0]:
                return False
            chunk = os.read(self.from_exporter, 1 << 16)
            if not chunk:
                self._give_up(self._ended_why())
                return False
            self.inbox += chunk
        return self.process is not None

    def _answer(self, message: tuple[Any, ...]) -> None:
        if message[0] == "counts":
            self.answered += 1
            _, self.exported, self.failed, error = message
            if error:
                self.last_error = short_error(self.scrub(str(error)))
        else:  # ("error", text): it cannot export at all
            self._give_up(str(message[1]))

    def _ended_why(self) -> str:
        code = self.process.poll() if self.process is not None else None
        return f"the exporter process ended (exit status {code})" if code is not None \
            else "the exporter process stopped reading"

    def _give_up(self, why: str) -> None:
        """The exporter process cannot be reached: what it did not export stays counted as not
        exported (or failed, as it last said)."""
        self.last_error = short_error(self.scrub(why))
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            _close(process)

    # -- export
    def flush(self, seconds: float) -> bool:
        """Export what is ended, waiting at most ``seconds``; True when all of it went (or
        failed, as the exporter process says)."""
        started = time.monotonic()
        deadline = started + max(seconds, 0.0)
        done = False
        with self.lock:
            if self._hand_over(seconds):
                self.flushes += 1
                left_ms = int(max(deadline - time.monotonic(), 0.0) * 1000)
                done = self._send(("flush", left_ms), seconds) and self._receive(deadline)
            self.flush_s += time.monotonic() - started
            return done and self.flushed

    def shutdown(self) -> None:
        """End the exporter process: by closing its pipe once everything went, else at once (an
        export that hangs would outlive the run)."""
        with self.lock:
            process, self.process = self.process, None
        if process is None:
            return
        if not self.flushed:
            process.kill()
        _close(process)  # once its pipe closes, it ends at once

    def counts(self) -> dict[str, Any]:
        """What this process exported, for the gate report (summed over xdist workers)."""
        with self.lock:
            return {"spans": self.ended, "exported": self.exported, "failed": self.failed,
                    "not_exported": max(self.ended - self.exported - self.failed, 0),
                    "flush_s": round(self.flush_s, 3), "last_error": self.last_error}


def _close(process: subprocess.Popen[bytes]) -> None:
    """Close its pipes and reap it."""
    for stream in (process.stdin, process.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    try:
        process.wait(1.0)
    except subprocess.TimeoutExpired:  # not ours to wait for longer: the run ends
        process.kill()
