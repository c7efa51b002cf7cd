"""OpenTelemetry tracing of Ponder's own work, inside Ray Serve's request traces.

Serve creates the tracer provider in every proxy and replica process and calls
`span_processors()` (named by RAY_SERVE_TRACING_EXPORTER_IMPORT_PATH) for the exporters.
Serve's spans cover proxy -> ingress -> planner -> decoder hops (and continue a caller's
`traceparent` metadata); `span()` adds Ponder's spans inside them: the plan, every
branch, every decoder call, scoring, Redis. Without a configured provider the API is a
no-op, so the core runs the same with tracing off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)

from ponder import env

EXPORTERS = ("otlp", "console", "file")
_tracer = trace.get_tracer("ponder")


def span_processors() -> list[SpanProcessor]:
    """The exporters of this process, chosen by PONDER_TRACING_EXPORTER (see env.py)."""
    kind = env.tracing_exporter()
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return [BatchSpanProcessor(OTLPSpanExporter())]  # endpoint: OTEL_EXPORTER_OTLP_*
    if kind == "console":
        return [BatchSpanProcessor(ConsoleSpanExporter())]
    if kind == "file":
        exporter = JsonLinesSpanExporter(env.tracing_dir())
        return [BatchSpanProcessor(exporter, schedule_delay_millis=500)]
    raise ValueError(f"PONDER_TRACING_EXPORTER must be one of {EXPORTERS}, got {kind!r}")


class JsonLinesSpanExporter(SpanExporter):
    """One JSON object per finished span, in a file per process (tests, offline runs)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._path = folder / f"spans-{os.getpid()}.jsonl"
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(json.loads(s.to_json()), separators=(",", ":")) for s in spans]
        with self._lock, self._path.open("a") as out:
            out.write("".join(f"{line}\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span named `ponder.<name>` as a child of the current one (a request's)."""
    with _tracer.start_as_current_span(f"ponder.{name}") as current:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(f"ponder.{key}", value)
        yield current


def open_span(name: str, **attributes: Any) -> trace.Span:
    """A child span of the current one that is not made current: for work that spans an
    async generator's yields (entering a current span there would attach the context in
    one step and detach it in another). End it with `.end()`."""
    opened = _tracer.start_span(f"ponder.{name}")
    for key, value in attributes.items():
        if value is not None:
            opened.set_attribute(f"ponder.{key}", value)
    return opened


class TraceLogFilter(logging.Filter):
    """Adds trace_id and span_id of the current span to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


def correlate_logs(logger_name: str = "ray.serve") -> None:
    """Put trace ids on every line the logger's handlers write (call in each replica)."""
    logger = logging.getLogger(logger_name)
    for handler in logger.handlers:
        if not any(isinstance(f, TraceLogFilter) for f in handler.filters):
            handler.addFilter(TraceLogFilter())
