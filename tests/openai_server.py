"""A real loopback HTTP server speaking the OpenAI Chat Completions wire format, for tests.

Starlette handles routing and uvicorn handles HTTP; the server runs on its own asyncio loop in a
background thread bound to ``127.0.0.1`` on a free port, so clients under test (the official
``openai`` SDK, sync or async, on asyncio or trio) talk to it over a real socket.

The Batch API (``/v1/files``, ``/v1/batches``) is `tests.openai_batches.BatchJobs`, mounted
here as ``server.batches``: each job line is answered by the same reply queue.

Example:
    >>> with OpenAIServer() as server:  # doctest: +SKIP
    ...     server.reply("Hello")  # next request gets "Hello"; otherwise "echo: <last user msg>"
    ...     hold = server.hold_requests(3)  # the next 3 requests wait at arrival
    ...     ...  # start 3 requests concurrently
    ...     hold.wait_arrived()  # all 3 are in flight at the same time
    ...     hold.release()
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.openai_batches import BatchJobs

Fault = Literal["drop", "malformed", "hang"]
"""``drop`` closes the socket mid-response, ``malformed`` sends unparseable data,
``hang`` never answers: it waits on its gate (or until reset/stop) and then drops."""

_CREATED = 1_700_000_000  # a fixed timestamp keeps payloads deterministic
_POLL = 0.002  # async waits poll thread-safe state; cheap, and works on any anyio backend
WAIT_LIMIT = 60.0
"""Safety limit (seconds) of every wait on the server (gates, requests, disconnects): a wait
that passes never comes near it, and a starved machine (CI, CPU burners) is not a failure.
Wrap a ``*_async`` wait in ``anyio.fail_after`` where less is the behaviour under test."""


class Gate:
    """A one-shot barrier between a test and the server's request handlers.

    Handlers *arrive* at the gate and then wait, without blocking the server loop, until the
    test calls `release`. Create gates with `OpenAIServer.gate` or `OpenAIServer.hold_requests`.

    Attributes:
        count: How many arrivals `wait_arrived` waits for.
    """

    def __init__(self, server: OpenAIServer, count: int) -> None:
        self.count = count
        self._server = server
        self._lock = threading.Lock()
        self._arrived = 0
        self._all_arrived = threading.Event()
        self._released_flag = threading.Event()
        # Binds lazily to the server loop on first wait; only ever set on that loop.
        self._released = asyncio.Event()

    @property
    def arrived(self) -> int:
        """Number of handlers that have reached the gate so far."""
        with self._lock:
            return self._arrived

    @property
    def released(self) -> bool:
        """Whether `release` has been called."""
        return self._released_flag.is_set()

    def wait_arrived(self, timeout: float = WAIT_LIMIT) -> None:
        """Block until `count` handlers have arrived.

        Raises:
            TimeoutError: If they did not arrive within ``timeout`` seconds.
        """
        if not self._all_arrived.wait(timeout):
            raise TimeoutError(f"only {self.arrived}/{self.count} arrived within {timeout}s")

    async def wait_arrived_async(self) -> None:
        """Like `wait_arrived`, but awaitable from asyncio or trio code (see `WAIT_LIMIT`)."""
        await _poll_until(self._all_arrived.is_set, lambda: f"{self.arrived}/{self.count} arrived")

    def release(self) -> None:
        """Let every current and future arrival proceed. Idempotent, callable from any thread."""
        if not self._released_flag.is_set():
            self._released_flag.set()
            self._server._call_soon(self._released.set)

    def _arrive(self) -> None:
        with self._lock:
            self._arrived += 1
            if self._arrived >= self.count:
                self._all_arrived.set()

    async def _wait_released(self) -> None:
        # The flag is set before the loop-side event, so checking it first cannot miss a release.
        if not self._released_flag.is_set():
            await self._released.wait()

    async def _pass(self) -> None:
        """Arrive, then wait for release (on the server loop)."""
        self._arrive()
        await self._wait_released()


@dataclass(frozen=True)
class ToolCallSpec:
    """One tool call in a `Reply`, as the server sends it.

    Attributes:
        name: The function's name.
        arguments: The arguments: a dict is sent as its JSON text, a str exactly as given (so
            tests can send invalid JSON).
        id: The call's id; default ``call_<n>`` by position.
        fragment: Characters of ``arguments`` per streamed delta.
    """

    name: str
    arguments: dict[str, Any] | str = "{}"
    id: str | None = None
    fragment: int = 7

    @property
    def text(self) -> str:
        """The arguments as sent."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """A successful completion; sent as SSE when the request has ``"stream": true``.

    Attributes:
        content: The assistant message text (defaults to ``"".join(chunks)``).
        chunks: Stream pieces; by default ``content`` is split before each word.
        finish_reason: Reported in ``choices[0]`` (and in the last stream chunk).
        usage: ``(prompt_tokens, completion_tokens)``; default counts whitespace-separated words.
        delay: Seconds to wait before answering (after any hold).
        chunk_delay: Seconds to wait before each stream content chunk after the first.
        gate: Wait for this gate before answering (JSON) or after ``pause_after`` content chunks
            (stream); for ``fault="hang"`` the gate whose release ends the hang.
        pause_after: Content chunks sent before waiting on ``gate`` (stream only).
        fault: Misbehave, see `Fault`. JSON replies drop or truncate the body half-way.
        fault_after: Content chunks sent before the fault (stream only).
        tool_calls: Tool calls after the content (``finish_reason`` "tool_calls" by default);
            streamed as OpenAI does: the id and name first, then the arguments in fragments.
        cached_tokens: Reported as ``usage.prompt_tokens_details.cached_tokens`` (the part of
            the prompt read from the provider's cache); None sends no prompt details.
        reasoning_tokens: Reported as ``usage.completion_tokens_details.reasoning_tokens``.
    """

    content: str = ""
    _: KW_ONLY
    chunks: Sequence[str] | None = None
    finish_reason: str | None = None
    tool_calls: Sequence[ToolCallSpec] = ()
    usage: tuple[int, int] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    gate: Gate | None = None
    pause_after: int = 1
    fault: Fault | None = None
    fault_after: int = 1
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None

    @property
    def pieces(self) -> list[str]:
        """The content as streamed, one string per chunk."""
        if self.chunks is not None:
            return list(self.chunks)
        # Split before each whitespace run that follows a word: "Hi there" -> ["Hi", " there"].
        return [p for p in re.split(r"(?<!\s)(?=\s+\S)", self.content) if p]

    @property
    def text(self) -> str:
        """The full message text."""
        return self.content or "".join(self.pieces)

    @property
    def finish(self) -> str:
        """The finish reason sent: as given, else "tool_calls" or "stop"."""
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")

    def wire_tool_calls(self) -> list[dict[str, Any]]:
        """The tool calls as they appear in a JSON reply's ``message.tool_calls``."""
        return [
            {
                "id": call.id or f"call_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.text},
            }
            for i, call in enumerate(self.tool_calls)
        ]


@dataclass(frozen=True)
class RawReply:
    """A body sent exactly as given, whatever the request asked for (malformed replies).

    Attributes:
        body: The bytes of the body.
        content_type: The ``content-type`` header.
        status: The HTTP status.
    """

    body: bytes
    _: KW_ONLY
    content_type: str = "application/json"
    status: int = 200


@dataclass(frozen=True)
class ErrorReply:
    """An error status with an OpenAI-style ``{"error": {...}}`` JSON body.

    Attributes:
        status: HTTP status code, e.g. 429 or 500.
        message: ``error.message``.
        type: ``error.type``.
        code: ``error.code``.
        retry_after: Seconds sent as ``Retry-After``. The SDK only honors values > 0; for 0
            it falls back to its own backoff (about 0.5 s).
        delay: Seconds to wait before answering (after any hold).
        gate: Wait for this gate before answering.
    """

    status: int = 500
    _: KW_ONLY
    message: str = "The server had an error while processing your request."
    type: str = "server_error"
    code: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    gate: Gate | None = None


Spec = Reply | ErrorReply | RawReply


@dataclass(frozen=True)
class RecordedRequest:
    """One received request, in arrival order.

    Attributes:
        body: The parsed JSON body.
        headers: Request headers (lower-case names).
        arrived_at: `time.monotonic` at arrival.
    """

    body: dict[str, Any]
    headers: dict[str, str]
    arrived_at: float


class OpenAIServer:
    """Loopback ``POST /v1/chat/completions`` server with scripted replies and fault hooks.

    Replies are consumed in request-arrival order from a queue filled by `reply`, `error`,
    `rate_limit` and `queue`; with an empty queue a request gets ``"echo: <last user text>"``.

    Attributes:
        base_url: ``http://127.0.0.1:PORT/v1``, for ``AsyncOpenAI(base_url=...)`` (after `start`).
    """

    def __init__(self) -> None:
        self.base_url = ""
        self._cond = threading.Condition()  # guards all mutable state below
        self._records: list[RecordedRequest] = []
        self._queue: deque[Spec] = deque()
        self._holds: list[Gate] = []
        self._gates: list[Gate] = []
        self._disconnects = 0
        self._hangs = 0  # requests given a ``hang`` fault
        self._hung_up = 0  # of those, the ones whose client hung up
        self._active = 0
        self._answering = 0  # requests whose response has not started its last bytes
        self._max_answering = 0  # the most of them at once since the last reset
        self._epoch = 0  # bumped by reset() so stragglers of a previous test are not counted
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._log_filter = _HideDrops()
        self.batches = BatchJobs(self)
        """The Batch API part: ``/v1/files`` and ``/v1/batches`` (see `BatchJobs`)."""
        self._app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/_catch_up", self._catch_up, methods=["GET"]),
                *self.batches.routes(),
            ]
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Bind a free port and serve in a background thread; returns once accepting."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        # Binding the socket ourselves gives us the port before uvicorn starts.
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that say so, and
        # without it every request on a reused connection waits ~40 ms for delayed ACKs.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        config = uvicorn.Config(
            self._app,
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,  # leave the test process's logging configuration alone
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._uvicorn = uvicorn.Server(config)
        logging.getLogger("uvicorn.error").addFilter(self._log_filter)
        self._thread = threading.Thread(target=self._run, name=f"openai-server-{port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("loopback OpenAI server failed to start")
            time.sleep(_POLL)

    def stop(self, timeout: float = 10.0) -> None:
        """Release every gate, shut uvicorn down and join its thread."""
        if self._thread is None or self._uvicorn is None:
            return
        self._release_all()  # held or hung handlers must finish for a graceful shutdown
        self._uvicorn.should_exit = True
        self._thread.join(timeout)
        alive = self._thread.is_alive()
        if self._sock is not None:
            self._sock.close()
        logging.getLogger("uvicorn.error").removeFilter(self._log_filter)
        self._thread = self._uvicorn = self._sock = self._loop = None
        if alive:
            raise RuntimeError("loopback OpenAI server thread did not exit")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reset(self, timeout: float = 2.0) -> None:
        """Release all gates, let in-flight handlers finish, forget queue, records, counters.

        First the server catches up: a request sent before the reset (one a test's short timeout
        abandoned, whose bytes a busy server had not read yet) is recorded now, and forgotten
        with the rest, not taken for a request of the next test.
        """
        self._request_catch_up()
        self._release_all()
        with self._cond:
            self._cond.wait_for(lambda: self._active == 0, timeout)
            self._records.clear()
            self._queue.clear()
            self._holds.clear()
            self._disconnects = 0
            self._hangs = self._hung_up = 0
            self._max_answering = self._answering
            self._epoch += 1
        self.batches.reset()

    # -- scripting ---------------------------------------------------------------------------

    def queue(self, *specs: Spec) -> None:
        """Append reply specs; each request consumes the next one in arrival order."""
        with self._cond:
            self._queue.extend(specs)

    def reply(
        self,
        content: str = "",
        *,
        chunks: Sequence[str] | None = None,
        gate: Gate | None = None,
        pause_after: int = 1,
        delay: float = 0.0,
    ) -> Reply:
        """Queue a successful reply (see `Reply`; use `queue` for the other options)."""
        spec = Reply(content, chunks=chunks, gate=gate, pause_after=pause_after, delay=delay)
        self.queue(spec)
        return spec

    def error(
        self,
        status: int = 500,
        *,
        message: str = "The server had an error while processing your request.",
        type: str = "server_error",
        code: str | None = None,
        retry_after: float | None = None,
    ) -> ErrorReply:
        """Queue an error response (see `ErrorReply`)."""
        spec = ErrorReply(status, message=message, type=type, code=code, retry_after=retry_after)
        self.queue(spec)
        return spec

    def rate_limit(self, retry_after: float = 0.01) -> ErrorReply:
        """Queue a 429 ``rate_limit_exceeded`` error carrying ``Retry-After``."""
        return self.error(
            429,
            message="Rate limit reached. Please try again later.",
            type="requests",
            code="rate_limit_exceeded",
            retry_after=retry_after,
        )

    def gate(self, count: int = 1) -> Gate:
        """Create a gate for `Reply.gate` / `ErrorReply.gate`; released by `reset` at the latest."""
        gate = Gate(self, count)
        with self._cond:
            self._gates.append(gate)
        return gate

    def hold_requests(self, n: int = 1) -> Gate:
        """Hold the next ``n`` arriving requests (already recorded) until the gate is released."""
        gate = self.gate(n)
        with self._cond:
            self._holds.append(gate)
        return gate

    # -- observation -------------------------------------------------------------------------

    @property
    def records(self) -> list[RecordedRequest]:
        """All requests received since the last reset, in arrival order."""
        with self._cond:
            return list(self._records)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of `records`."""
        return [record.body for record in self.records]

    @property
    def disconnects(self) -> int:
        """Clients that closed the connection before their response was complete."""
        with self._cond:
            return self._disconnects

    async def settle_async(self) -> tuple[int, int]:
        """Wait until no request is in progress here, then return ``(hangs, hung_up)`` since the
        last reset, read together: the requests given a ``hang`` fault, and how many of them
        their client hung up on.

        A hanging request ends only when its client hangs up (or a reset), so ``hung_up ==
        hangs`` means no client left one waiting. Counted per request by the server, this holds
        however many requests a test's timeouts cut off before they were sent, or arrived late
        from an earlier test.
        """
        settled: list[tuple[int, int]] = []

        def idle() -> bool:
            with self._cond:
                if self._active:
                    return False
                settled.append((self._hangs, self._hung_up))
                return True

        await _poll_until(idle, lambda: f"no request in progress ({self._active} are)")
        return settled[-1]

    @property
    def max_active(self) -> int:
        """The most requests in progress at once since the last reset, across all clients.

        A request counts from its arrival until its response's last bytes are sent (not until
        its handler ends), so a client that starts its next request once it has the reply is
        never counted twice.
        """
        with self._cond:
            return self._max_answering

    def wait_for_requests(self, n: int, timeout: float = WAIT_LIMIT) -> None:
        """Block until at least ``n`` requests have arrived (TimeoutError otherwise)."""
        self._wait(lambda: len(self._records) >= n, timeout, f"{n} requests")

    async def wait_for_requests_async(self, n: int) -> None:
        """Awaitable `wait_for_requests` for asyncio or trio (see `WAIT_LIMIT`)."""
        await _poll_until(lambda: len(self.records) >= n, lambda: f"{n} requests")

    def wait_for_disconnects(self, n: int = 1, timeout: float = WAIT_LIMIT) -> None:
        """Block until at least ``n`` client disconnects were seen (TimeoutError otherwise)."""
        self._wait(lambda: self._disconnects >= n, timeout, f"{n} disconnects")

    async def wait_for_disconnects_async(self, n: int = 1) -> None:
        """Awaitable `wait_for_disconnects` for asyncio or trio (see `WAIT_LIMIT`)."""
        await _poll_until(lambda: self.disconnects >= n, lambda: f"{n} disconnects")

    # -- internals ---------------------------------------------------------------------------

    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        assert self._uvicorn is not None
        assert self._sock is not None
        self._loop = asyncio.get_running_loop()
        await self._uvicorn.serve(sockets=[self._sock])

    def _request_catch_up(self) -> None:
        if self._thread is None or not self.base_url:
            return
        host_port = self.base_url.removeprefix("http://").removesuffix("/v1")
        connection = http.client.HTTPConnection(host_port, timeout=WAIT_LIMIT)
        try:
            connection.request("GET", "/_catch_up")
            connection.getresponse().read()
        finally:
            connection.close()

    async def _catch_up(self, request: Request) -> Response:
        # This request's bytes arrived after those of every request sent before it: the loop
        # reads them in this iteration or an earlier one. A few more iterations let the handlers
        # of those requests run up to their recording before this answer goes out.
        for _ in range(20):
            await asyncio.sleep(0)
        return Response(status_code=204)

    def _call_soon(self, callback: Callable[[], object]) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed: nobody waits any more
            loop.call_soon_threadsafe(callback)

    def _release_all(self) -> None:
        with self._cond:
            gates, self._gates = self._gates, []
        for gate in gates:
            gate.release()

    def _note_disconnect(self, epoch: int, spec: Spec) -> None:
        with self._cond:
            if epoch == self._epoch:
                self._disconnects += 1
                if isinstance(spec, Reply) and spec.fault == "hang":
                    self._hung_up += 1
                self._cond.notify_all()

    def _answered(self) -> None:
        with self._cond:
            self._answering -= 1

    def _finish(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def _next_spec(self, body: dict[str, Any]) -> Spec:
        """The next queued reply, else the echo (call with ``_cond`` held)."""
        return self._queue.popleft() if self._queue else Reply(f"echo: {_last_user_text(body)}")

    def answer(self, body: dict[str, Any], completion_id: str) -> tuple[int, Any]:
        """The status and JSON body a non-streaming request of ``body`` would get now (the next
        queued reply, or the echo), for a Batch API line: gates, delays and faults do not apply.
        """
        with self._cond:
            spec = self._next_spec(body)
        if isinstance(spec, ErrorReply):
            return spec.status, _error_body(spec)
        if isinstance(spec, RawReply):
            try:
                return spec.status, json.loads(spec.body)
            except ValueError:
                return spec.status, spec.body.decode(errors="replace")
        return 200, completion_body(body, spec, completion_id)

    async def _chat(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            error = ErrorReply(
                400, message="Body must be a JSON object.", type="invalid_request_error"
            )
            return JSONResponse(_error_body(error), status_code=400)
        with self._cond:
            index = len(self._records)
            self._records.append(RecordedRequest(body, dict(request.headers), time.monotonic()))
            spec = self._next_spec(body)
            if isinstance(spec, Reply) and spec.fault == "hang":
                self._hangs += 1
            # Claim a hold slot while still under the lock, so n concurrent arrivals take n slots.
            hold = next((g for g in self._holds if g.arrived < g.count), None)
            if hold is not None:
                hold._arrive()
            self._active += 1
            self._answering += 1
            self._max_answering = max(self._max_answering, self._answering)
            epoch = self._epoch
            self._cond.notify_all()
        return _Exchange(self, body, spec, hold, f"chatcmpl-{epoch}-{index}", epoch)


class _DropConnection(Exception):
    """Raised after the response started: uvicorn then closes the socket (no ASGI abort exists)."""


class _HideDrops(logging.Filter):
    """Keeps deliberate drops out of uvicorn's "Exception in ASGI application" error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _DropConnection))


class _Exchange(Response):
    """Drives one response on the server loop while watching for the client going away."""

    def __init__(
        self,
        server: OpenAIServer,
        body: dict[str, Any],
        spec: Spec,
        hold: Gate | None,
        completion_id: str,
        epoch: int,
    ) -> None:
        super().__init__()
        self._server, self._body, self._spec, self._hold = server, body, spec, hold
        self._id, self._epoch = completion_id, epoch
        self._started = False
        self._complete = False  # set just before the last body message: later EOFs are normal
        self._answered = False  # the last bytes went out (or never will)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        drop = False
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch, receive, tg.cancel_scope)
                try:
                    await self._respond(send)
                except _DropConnection:
                    drop = True  # re-raised outside the task group so it is not wrapped
                tg.cancel_scope.cancel()
        finally:
            self._answer()
            self._server._finish()
        if drop:
            raise _DropConnection

    def _answer(self) -> None:
        """The response's last bytes go out now (or never): it stops counting as active."""
        if not self._answered:
            self._answered = True
            self._server._answered()

    async def _watch(self, receive: Receive, scope: anyio.CancelScope) -> None:
        # The body is already read, so the next message uvicorn delivers is http.disconnect.
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self._complete:
            self._server._note_disconnect(self._epoch, self._spec)
            scope.cancel()  # stop waiting on gates / sending into a dead socket

    async def _respond(self, send: Send) -> None:
        spec = self._spec
        if self._hold is not None:
            await self._hold._wait_released()  # arrival was counted when the request was recorded
        if isinstance(spec, RawReply):
            await self._send_raw(send, spec)
            return
        if spec.delay:
            await anyio.sleep(spec.delay)
        if isinstance(spec, ErrorReply):
            if spec.gate is not None:
                await spec.gate._pass()
            headers = {} if spec.retry_after is None else {"retry-after": f"{spec.retry_after:g}"}
            await self._send_json(
                send, spec.status, json.dumps(_error_body(spec)).encode(), headers
            )
        elif spec.fault == "hang":
            await (spec.gate or self._server.gate())._pass()
            await self._drop(send)
        elif self._body.get("stream"):
            await self._stream(send, spec)
        else:
            if spec.gate is not None:
                await spec.gate._pass()
            payload = json.dumps(completion_body(self._body, spec, self._id)).encode()
            if spec.fault == "drop":
                await self._send_json(send, 200, payload[: len(payload) // 2], promise=len(payload))
                await self._drop(send)
            if spec.fault == "malformed":
                payload = payload[: len(payload) // 2]
            await self._send_json(send, 200, payload)

    async def _stream(self, send: Send, spec: Reply) -> None:
        include_usage = bool((self._body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include_usage else {}
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        self._started = True
        await self._event(send, self._delta({"role": "assistant", "content": ""}, None) | extra)
        pieces = spec.pieces
        for i in range(len(pieces) + 1):  # i == len(pieces): gate/fault placed after all content
            if spec.gate is not None and i == spec.pause_after:
                await spec.gate._pass()
            if spec.fault == "drop" and i == spec.fault_after:
                await self._drop(send)
            if spec.fault == "malformed" and i == spec.fault_after:
                await self._write(send, b'data: {"id": oops\n\n')
            if i < len(pieces):
                if i and spec.chunk_delay:
                    await anyio.sleep(spec.chunk_delay)
                await self._event(send, self._delta({"content": pieces[i]}, None) | extra)
        for delta in _tool_call_deltas(spec):
            await self._event(send, self._delta({"tool_calls": [delta]}, None) | extra)
        await self._event(send, self._delta({}, spec.finish) | extra)
        if include_usage:
            await self._event(send, self._envelope("chat.completion.chunk", [], self._usage(spec)))
        self._complete = True
        self._answer()
        await self._write(send, b"data: [DONE]\n\n", more_body=False)

    async def _send_raw(self, send: Send, spec: RawReply) -> None:
        headers = [
            (b"content-type", spec.content_type.encode()),
            (b"content-length", str(len(spec.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": spec.status, "headers": headers})
        self._started = True
        self._complete = True
        await self._write(send, spec.body, more_body=False)

    async def _event(self, send: Send, data: dict[str, Any]) -> None:
        await self._write(send, b"data: " + json.dumps(data).encode() + b"\n\n")

    async def _write(self, send: Send, body: bytes, *, more_body: bool = True) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": more_body})

    async def _send_json(
        self,
        send: Send,
        status: int,
        payload: bytes,
        headers: dict[str, str] | None = None,
        *,
        promise: int | None = None,
    ) -> None:
        """Send a JSON response; with ``promise``, announce that many bytes and keep it open."""
        length = len(payload) if promise is None else promise
        raw = [(b"content-type", b"application/json"), (b"content-length", str(length).encode())]
        raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        self._started = True
        self._complete = promise is None
        if self._complete:
            self._answer()
        await self._write(send, payload, more_body=promise is not None)

    async def _drop(self, send: Send) -> None:
        if not self._started:
            # Headers promising a body that never comes: the client sees a broken response,
            # not a 500 (which uvicorn would send for an exception before the response started).
            await self._send_json(send, 200, b"", promise=64)
        raise _DropConnection

    def _envelope(
        self, kind: str, choices: list[dict[str, Any]], usage: dict[str, Any]
    ) -> dict[str, Any]:
        return _envelope(self._body, self._id, kind, choices, usage)

    def _delta(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        envelope = self._envelope("chat.completion.chunk", [choice], {})
        del envelope["usage"]
        return envelope

    def _usage(self, spec: Reply) -> dict[str, Any]:
        return _usage(self._body, spec)


def completion_body(body: dict[str, Any], spec: Reply, completion_id: str) -> dict[str, Any]:
    """The JSON chat completion answering ``body`` with ``spec`` (what a non-streaming request
    gets, and what a Batch API line's response carries)."""
    message: dict[str, Any] = {"role": "assistant", "content": spec.text, "refusal": None}
    if spec.tool_calls:
        message["content"] = spec.text or None
        message["tool_calls"] = spec.wire_tool_calls()
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": spec.finish}
    return _envelope(body, completion_id, "chat.completion", [choice], _usage(body, spec))


def _envelope(
    body: dict[str, Any],
    completion_id: str,
    kind: str,
    choices: list[dict[str, Any]],
    usage: dict[str, Any],
) -> dict[str, Any]:
    model = body.get("model", "unknown")
    head = {"id": completion_id, "object": kind, "created": _CREATED, "model": model}
    return head | {"system_fingerprint": None, "choices": choices, "usage": usage}


def _usage(body: dict[str, Any], spec: Reply) -> dict[str, Any]:
    if spec.usage is not None:
        prompt, completion = spec.usage
    else:  # a crude but deterministic "token" count: whitespace-separated words
        messages = body.get("messages") or []
        prompt = sum(len(_text_of(m).split()) for m in messages if isinstance(m, dict))
        completion = len(spec.text.split())
    usage: dict[str, Any] = dict(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )
    if spec.cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": spec.cached_tokens}
    if spec.reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": spec.reasoning_tokens}
    return usage


def _tool_call_deltas(spec: Reply) -> list[dict[str, Any]]:
    """A reply's tool calls as OpenAI streams them: per call, a delta with its index, id, type
    and name (empty arguments), then deltas carrying only the index and an argument fragment."""
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(spec.tool_calls):
        head = {"index": index, "id": call.id or f"call_{index}", "type": "function"}
        deltas.append(head | {"function": {"name": call.name, "arguments": ""}})
        text = call.text
        for start in range(0, len(text), call.fragment):
            piece = text[start : start + call.fragment]
            deltas.append({"index": index, "function": {"arguments": piece}})
    return deltas


async def _poll_until(predicate: Callable[[], bool], what: Callable[[], str]) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {WAIT_LIMIT}s: {what()}")
        await anyio.sleep(_POLL)


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # multi-part content: keep the text parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _last_user_text(body: dict[str, Any]) -> str:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    return next((_text_of(m) for m in reversed(messages) if m.get("role") == "user"), "")


def _error_body(spec: ErrorReply) -> dict[str, Any]:
    return {"error": {"message": spec.message, "type": spec.type, "param": None, "code": spec.code}}
