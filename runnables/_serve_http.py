"""HTTP plumbing shared by every served route (LangServe's and the OpenAI-compatible ones).

- `read_json(request, max_body_bytes=...)`: the body as JSON; 413 over the limit, 422 when it
  is not JSON.
- `HTTPError` and `error_response(exc, debug=...)`: errors as JSON bodies,
  `{"detail", "type", "status_code"}` (plus `"loc"` naming a field, `"traceback"` only with
  `debug`).
- `run_until_disconnect(request, make_coro)`: the client hanging up cancels the work.
- `sse_response(events)`: an SSE response over sse-starlette whose event iterator is always
  closed, and whose run is cancelled when the client hangs up mid-stream.
- `trace_context(request)`: the caller's W3C trace context (`traceparent`), made current while
  the run goes, when OpenTelemetry is installed.
- `config_modifier(fn)`: a `per_req_config_modifier`, sync or async (decided once), as one
  awaitable form.
"""

from __future__ import annotations

import contextlib
import json
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

import anyio
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from runnables._config import RunnableConfig
from runnables._lambda import is_async_callable

__all__ = [
    "ClientDisconnected",
    "ConfigModifier",
    "HTTPError",
    "config_modifier",
    "error_response",
    "read_json",
    "run_until_disconnect",
    "sse_response",
    "trace_context",
]

T = TypeVar("T")

ConfigModifier = Callable[[RunnableConfig, Request], Awaitable[RunnableConfig]]
"""A `per_req_config_modifier` made awaitable: `await modifier(config, request)`."""


class HTTPError(Exception):
    """An error answered with its own status: bad input (422), a body too large (413), ...

    Args:
        status_code: The HTTP status.
        message: What went wrong, for the client.
        loc: Where in the request, as FastAPI spells it (`["body", "input", "topic"]`).
    """

    def __init__(self, status_code: int, message: str, *, loc: list[str | int] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.loc = loc


class ClientDisconnected(Exception):
    """The client hung up before the answer was ready (the work was cancelled)."""


async def read_json(request: Request, *, max_body_bytes: int) -> Any:
    """The request's body, parsed as JSON.

    The body is read in pieces and refused as soon as it passes `max_body_bytes` (a declared
    `Content-Length` over it is refused before reading).

    Raises:
        HTTPError: 413 for a body over the limit, 422 for a body that is not JSON.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise HTTPError(413, f"request body over the limit of {max_body_bytes} bytes")
    pieces: list[bytes] = []
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > max_body_bytes:
            raise HTTPError(413, f"request body over the limit of {max_body_bytes} bytes")
        pieces.append(piece)
    try:
        return json.loads(b"".join(pieces))
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes not UTF-8
        raise HTTPError(422, f"malformed JSON body: {exc}", loc=["body"]) from exc


def error_body(exc: BaseException, *, debug: bool = False) -> tuple[int, dict[str, Any]]:
    """The status and JSON body for `exc` (see `error_response`)."""
    if isinstance(exc, HTTPError):
        body: dict[str, Any] = {
            "detail": exc.message,
            "type": "HTTPError",
            "status_code": exc.status_code,
        }
        if exc.loc is not None:
            body["loc"] = exc.loc
        return exc.status_code, body
    body = {"detail": str(exc), "type": type(exc).__qualname__, "status_code": 500}
    notes = getattr(exc, "__notes__", None)
    if notes:
        body["notes"] = [str(note) for note in notes]
    if debug:
        body["traceback"] = "".join(traceback.format_exception(exc))
    return 500, body


def error_response(exc: BaseException, *, debug: bool = False) -> JSONResponse:
    """`exc` as a JSON response: an `HTTPError` with its status, anything else as 500 with the
    exception's type and message (and, only when `debug`, its traceback)."""
    status, body = error_body(exc, debug=debug)
    return JSONResponse(body, status_code=status)


async def _watch_disconnect(receive: Receive, scope: anyio.CancelScope, seen: list[bool]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            seen.append(True)
            scope.cancel()
            return


async def run_until_disconnect(request: Request, make_coro: Callable[[], Awaitable[T]]) -> T:
    """Await `make_coro()` while watching the connection: a client that hangs up cancels it.

    Call it once the body has been read (the watcher takes the request's next ASGI message).
    The work runs in the calling task, so its context (a trace context made current) holds.

    Raises:
        ClientDisconnected: The client hung up first; the work was cancelled and has ended.
    """
    seen: list[bool] = []
    outcome: list[T] = []
    failure: list[Exception] = []
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(_watch_disconnect, request.receive, scope, seen)
            try:
                outcome.append(await make_coro())
            except Exception as exc:  # raised below, not wrapped in the group's ExceptionGroup
                failure.append(exc)
            group.cancel_scope.cancel()
    if failure:
        raise failure[0]
    if outcome:
        return outcome[0]
    raise ClientDisconnected("the client disconnected")


class _ClosingEventSource(EventSourceResponse):
    """sse-starlette's response, closing its event iterator however the response ends (a
    client gone mid-stream cancels the iteration, which may be parked outside the iterator)."""

    def __init__(self, events: AsyncIterator[Mapping[str, Any]], **options: Any) -> None:
        super().__init__(events, **options)
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()


def sse_response(
    events: AsyncIterator[Mapping[str, Any]],
    *,
    ping: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> EventSourceResponse:
    """An SSE response sending `events` (dicts with `event` and `data`, `data` a str).

    When the client hangs up, sse-starlette cancels the iteration; the iterator is then
    closed (an async generator's `finally` runs, a run it drives is cancelled).

    Args:
        events: The events, in order.
        ping: Seconds between keep-alive comments (sse-starlette's default when None).
        headers: Extra response headers.
    """
    options: dict[str, Any] = {"headers": dict(headers or {})}
    if ping is not None:
        options["ping"] = ping
    return _ClosingEventSource(events, **options)


@contextlib.contextmanager
def trace_context(request: Request) -> Iterator[None]:
    """Make the caller's W3C trace context (`traceparent`, `tracestate`) current inside the
    block, so the run's spans are children of the caller's span. Nothing happens without
    OpenTelemetry installed or without a `traceparent` header.

    Use it where the run starts (for a stream: inside the generator, around the iteration).
    """
    if "traceparent" not in request.headers:
        yield
        return
    try:
        from opentelemetry import context, propagate
    except ImportError:  # pragma: no cover - depends on the environment
        yield
        return
    token = context.attach(propagate.extract(dict(request.headers)))
    try:
        yield
    finally:
        context.detach(token)


def config_modifier(
    fn: Callable[[RunnableConfig, Request], Any] | None,
) -> ConfigModifier | None:
    """`fn` (sync or async, decided here, once) as an awaitable modifier; None stays None.

    Raises:
        TypeError: `fn` is not callable.
    """
    if fn is None:
        return None
    if not callable(fn):
        raise TypeError(f'Invalid "per_req_config_modifier" argument: {fn!r}; expected a callable')
    if is_async_callable(fn):
        return fn

    async def modify(config: RunnableConfig, request: Request) -> RunnableConfig:
        return fn(config, request)  # type: ignore[no-any-return]

    return modify
