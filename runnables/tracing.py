"""OpenTelemetry tracing: one span per step, chat-model spans in the GenAI conventions.

Install the extra (`pip install "runnables[otel]"`), configure an OpenTelemetry SDK as usual (an
OTLP exporter to Jaeger, Phoenix, Langfuse, ...), then either

- `instrument()`: trace every run in the process (`uninstrument()` stops), or
- `config={"callbacks": [OpenTelemetryHandler()]}`: trace one run.

Spans:

- the root step: `invoke_workflow {name}` (`gen_ai.operation.name` "invoke_workflow",
  `gen_ai.workflow.name`), parented under the caller's current span (the caller's context
  crosses threads, the sync bridge and trio);
- a chat model: `chat {gen_ai.request.model}`, kind CLIENT, with `gen_ai.operation.name`,
  `gen_ai.provider.name`, `gen_ai.request.*` (model, temperature, max_tokens, top_p,
  stop_sequences, seed, where set), `gen_ai.response.id` / `model` / `finish_reasons`,
  `gen_ai.usage.input_tokens` / `output_tokens`, `server.address` / `server.port`; message
  content (`gen_ai.input.messages`, `gen_ai.output.messages`) only when
  `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`;
- a tool: `execute_tool {name}` (`gen_ai.tool.name`);
- any other step: its name, with `runnables.kind`, `runnables.tags` and `runnables.metadata.*`.

A failing step's span gets `error.type`, status ERROR and the exception; a stream's span ends when
the stream is exhausted or closed early.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from typing import Any

from runnables._handlers import RunEvent, add_global_handler, remove_global_handler

try:
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'runnables.tracing needs OpenTelemetry: pip install "runnables[otel]"'
    ) from exc

__all__ = ["OpenTelemetryHandler", "instrument", "uninstrument"]

CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


def _capture_content() -> bool:
    return os.environ.get(CAPTURE_CONTENT, "").strip().lower() == "true"


class OpenTelemetryHandler:
    """A run handler that turns every step into an OpenTelemetry span.

    Args:
        tracer_provider: Where spans go; the global provider when None.
    """

    raise_error = False

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer("runnables", tracer_provider=tracer_provider)
        self._spans: dict[str, Span] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "OpenTelemetryHandler()"

    def on_start(self, event: RunEvent) -> None:
        parent = self._spans.get(event.parent_id) if event.parent_id else None
        # A root span's parent is the caller's current span (None: the current context).
        context = trace.set_span_in_context(parent) if parent is not None else None
        name, kind, attributes = _describe(event)
        span = self._tracer.start_span(name, context=context, kind=kind, attributes=attributes)
        with self._lock:
            self._spans[event.run_id] = span

    def on_end(self, event: RunEvent) -> None:
        with self._lock:
            span = self._spans.pop(event.run_id, None)
        if span is None:
            return
        if event.kind == "chat_model":
            span.set_attributes(_chat_response(event.data.get("output")))
        span.end()

    def on_error(self, event: RunEvent) -> None:
        with self._lock:
            span = self._spans.pop(event.run_id, None)
        if span is None:
            return
        error = event.data.get("error")
        if isinstance(error, BaseException):
            span.set_attribute("error.type", type(error).__qualname__)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()


def _describe(event: RunEvent) -> tuple[str, SpanKind, dict[str, Any]]:
    attributes: dict[str, Any] = {"runnables.kind": event.kind}
    if event.tags:
        attributes["runnables.tags"] = list(event.tags)
    for key, value in event.metadata.items():
        if isinstance(value, str | bool | int | float):
            attributes[f"runnables.metadata.{key}"] = value
    if event.kind == "chat_model":
        attributes.update(_chat_request(event))
        model = attributes.get("gen_ai.request.model", event.name)
        return f"chat {model}", SpanKind.CLIENT, attributes
    if event.kind == "tool":
        attributes["gen_ai.operation.name"] = "execute_tool"
        attributes["gen_ai.tool.name"] = event.name
        return f"execute_tool {event.name}", SpanKind.INTERNAL, attributes
    if not event.parent_ids:
        attributes["gen_ai.operation.name"] = "invoke_workflow"
        attributes["gen_ai.workflow.name"] = event.name
        return f"invoke_workflow {event.name}", SpanKind.INTERNAL, attributes
    return event.name, SpanKind.INTERNAL, attributes


def _chat_request(event: RunEvent) -> dict[str, Any]:
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat"}
    describe = getattr(event.step, "_genai_request", None)
    if describe is not None:
        attributes.update(
            {k: v for k, v in describe(event.options).items() if v is not None and v != []}
        )
    if _capture_content():
        messages = event.data.get("input", {}).get("messages", [[]])[0]
        attributes["gen_ai.input.messages"] = json.dumps([_message(m) for m in messages])
    return attributes


def _chat_response(output: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    metadata: Mapping[str, Any] = getattr(output, "response_metadata", None) or {}
    if metadata.get("id"):
        attributes["gen_ai.response.id"] = str(metadata["id"])
    if metadata.get("model"):
        attributes["gen_ai.response.model"] = str(metadata["model"])
    if metadata.get("finish_reason"):
        attributes["gen_ai.response.finish_reasons"] = [str(metadata["finish_reason"])]
    usage = getattr(output, "usage", None)
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
    if _capture_content() and output is not None:
        message = _message(output)
        if metadata.get("finish_reason"):
            message["finish_reason"] = str(metadata["finish_reason"])
        attributes["gen_ai.output.messages"] = json.dumps([message])
    return attributes


def _message(message: Any) -> dict[str, Any]:
    role = getattr(message, "role", "user")
    content = getattr(message, "content", message)
    return {"role": role, "parts": [{"type": "text", "content": str(content)}]}


_installed: list[OpenTelemetryHandler] = []


def instrument(tracer_provider: TracerProvider | None = None) -> OpenTelemetryHandler:
    """Trace every run in this process (until `uninstrument()`); returns the handler.

    Calling it again replaces the previous handler (e.g. with another tracer provider).
    """
    uninstrument()
    handler = OpenTelemetryHandler(tracer_provider)
    add_global_handler(handler)
    _installed.append(handler)
    return handler


def uninstrument() -> None:
    """Stop tracing every run (runs given a handler in their config are still traced)."""
    while _installed:
        remove_global_handler(_installed.pop())
