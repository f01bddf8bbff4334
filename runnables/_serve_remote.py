"""`RemoteRunnable`: a chain served with `add_routes` (or by LangServe), called as a runnable.

It is a real `Runnable`: its core is async (`/invoke` for a call, `/stream` read as SSE with
httpx-sse for a stream), the sync methods cross the library's bridge, and it composes with `|`
(`remote | StrOutputParser()` gets messages, not dicts: values are read back through the wire
decoders `prompts` registers). `batch` runs one `/invoke` per input, under the run's
`max_concurrency`, so `return_exceptions` and `batch_as_completed` work as for any step.
`astream_events` yields the server's own events (`/stream_events`): every step of the remote
chain, with the server's run ids.

The httpx client belongs to the event loop it was made in (a connection pool), so it is a
loop-scoped resource (`runnables.loop_resource`), shared by remote runnables with the same
settings; nothing is stored on the instance, which stays picklable. Works on asyncio and trio.

Config sent to the server: `tags`, `metadata`, `configurable` and `run_name`, the keys a
server accepts by default (never `callbacks` or a budget). With OpenTelemetry installed the
current trace context goes along as `traceparent`, so the server's spans join the caller's
trace.

Errors: the server's answer becomes a `ServerError` (an `httpx.HTTPStatusError`) carrying the
server's status, its message and, where the server sent it, the exception's type name.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any, Literal

import httpx
from httpx_sse import aconnect_sse

from runnables._base import Runnable
from runnables._bridge import loop_resource
from runnables._config import RunnableConfig, ensure_config
from runnables._serve_protocol import dump, load

__all__ = ["RemoteRunnable", "ServerError"]

_FORWARDED = ("tags", "metadata", "configurable", "run_name")


class ServerError(httpx.HTTPStatusError):
    """The server answered with an error (HTTP status >= 400, or an `error` event mid-stream).

    Attributes:
        status_code: The server's status (422 bad input, 413 body too large, 500 failure...).
        server_type: The type name of the server's exception (`"ValueError"`), when it says.
        detail: The server's message.
    """

    def __init__(
        self,
        detail: str,
        *,
        request: httpx.Request,
        response: httpx.Response,
        server_type: str | None = None,
    ) -> None:
        named = f"{server_type}: {detail}" if server_type and server_type != "HTTPError" else detail
        super().__init__(
            f"{response.status_code} from {request.url}: {named}",
            request=request,
            response=response,
        )
        self.status_code = response.status_code
        self.server_type = server_type
        self.detail = detail

    def __reduce__(self) -> Any:
        # Keyword-only arguments: the default pickling (`cls(*args)`) could not rebuild it.
        return (_rebuild_error, (self.detail, self.request, self.response, self.server_type))


def _rebuild_error(
    detail: str, request: httpx.Request, response: httpx.Response, server_type: str | None
) -> ServerError:
    return ServerError(detail, request=request, response=response, server_type=server_type)


def _error_from(response: httpx.Response) -> ServerError:
    """The `ServerError` for an error answer (its body read already)."""
    detail, server_type = response.text, None
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict) and "detail" in body:
            detail = (
                body["detail"] if isinstance(body["detail"], str) else json.dumps(body["detail"])
            )
            server_type = body.get("type") if isinstance(body.get("type"), str) else None
    return ServerError(detail, request=response.request, response=response, server_type=server_type)


def _error_event(data: str, request: httpx.Request) -> ServerError:
    """The `ServerError` for an `error` event (`{"status_code", "message", "type"?}`)."""
    try:
        body = json.loads(data)
        status, message = int(body["status_code"]), str(body["message"])
        server_type = body.get("type")
    except (ValueError, KeyError, TypeError):
        status, message, server_type = 500, f"malformed error event: {data!r}", None
    response = httpx.Response(status, request=request, text=message)
    return ServerError(message, request=request, response=response, server_type=server_type)


def _inject_trace_context(headers: dict[str, str]) -> None:
    try:
        from opentelemetry import propagate
    except ImportError:  # pragma: no cover - depends on the environment
        return
    propagate.inject(headers)


async def _close_client(client: httpx.AsyncClient) -> None:
    await client.aclose()


class RemoteRunnable(Runnable[Any, Any]):
    """A runnable served over HTTP (`runnables.serve.add_routes`, or LangServe).

    Args:
        url: The chain's base URL, e.g. `"http://127.0.0.1:8000/chain"`.
        timeout: Seconds for connecting and between bytes of an answer (None: no limit).
        headers: Headers sent with every request (authentication, ...).
        name: The step's name (default `RemoteRunnable`).

    Raises:
        TypeError: An argument of the wrong type.
        ValueError: A URL that is not http(s), or a timeout not above 0.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float | None = 300.0,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f'Invalid "url" argument: {url!r}; expected a str')
        if not url.startswith(("http://", "https://")):
            raise ValueError(f'Invalid "url" argument: {url!r}; expected an http(s) URL')
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float))
        ):
            raise TypeError(f'Invalid "timeout" argument: {timeout!r}; expected a number or None')
        if timeout is not None and not timeout > 0:
            raise ValueError(f'Invalid "timeout" argument: {timeout!r}; expected > 0')
        headers = dict(headers or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise TypeError(f'Invalid "headers" argument: {headers!r}; expected str to str')
        if name is not None and not isinstance(name, str):
            raise TypeError(f'Invalid "name" argument: {name!r}; expected a str')
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = headers
        self._name = name

    def __repr__(self) -> str:
        return f"RemoteRunnable({self.url!r})"

    # -- plumbing ------------------------------------------------------------------------------

    def _client(self) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        settings = (self.timeout, tuple(sorted(self.headers.items())))
        headers, timeout = dict(self.headers), self.timeout
        return loop_resource(
            ("runnables.serve.RemoteRunnable", settings),
            lambda: httpx.AsyncClient(headers=headers, timeout=timeout),
            _close_client,
            create_in_thread=True,  # an httpx client loads its CA bundle: not on the loop
        )

    def _body(self, input: Any, config: RunnableConfig, kwargs: dict[str, Any]) -> Any:
        if kwargs:
            raise TypeError(
                f"RemoteRunnable takes no call options (got {sorted(kwargs)!r}): "
                "a server does not accept them from clients"
            )
        sent = {key: config[key] for key in _FORWARDED if config.get(key)}  # type: ignore[literal-required]
        return {"input": dump(input), "config": dump(sent), "kwargs": {}}

    @staticmethod
    def _request_headers() -> dict[str, str]:
        headers: dict[str, str] = {}
        _inject_trace_context(headers)
        return headers

    async def _events(self, endpoint: str, body: Any) -> AsyncGenerator[Any, None]:
        """The `data` payloads of an SSE endpoint, decoded; an `error` event raises."""
        async with (
            self._client() as client,
            aconnect_sse(
                client,
                "POST",
                f"{self.url}/{endpoint}",
                json=body,
                headers=self._request_headers(),
            ) as source,
        ):
            response = source.response
            if response.status_code >= 400:
                await response.aread()
                raise _error_from(response)
            ended, failure = False, None
            # Read to the end of the body even after `end` or `error` (the server closes it
            # right after): httpx's own generators are then exhausted, never left to the GC.
            async for event in source.aiter_sse():
                if ended or failure is not None:
                    continue
                if event.event == "data":
                    yield load(json.loads(event.data))
                elif event.event == "error":
                    failure = _error_event(event.data, response.request)
                elif event.event == "end":
                    ended = True
        if failure is not None:
            raise failure
        if not ended:
            # A stream cut before its end (the server died, a proxy gave up) is not an answer.
            raise httpx.RemoteProtocolError(
                f"the stream from {self.url}/{endpoint} ended without its end event"
            )

    # -- the core ------------------------------------------------------------------------------

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        body = self._body(input, config, kwargs)
        async with self._client() as client:
            response = await client.post(
                f"{self.url}/invoke", json=body, headers=self._request_headers()
            )
        if response.status_code >= 400:
            raise _error_from(response)
        return load(response.json()["output"])

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async with contextlib.aclosing(
            self._events("stream", self._body(input, config, kwargs))
        ) as chunks:
            async for chunk in chunks:
                yield chunk

    def astream_events(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        version: Literal["v2"] = "v2",
        include_names: Sequence[str] | None = None,
        include_types: Sequence[str] | None = None,
        include_tags: Sequence[str] | None = None,
        exclude_names: Sequence[str] | None = None,
        exclude_types: Sequence[str] | None = None,
        exclude_tags: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The server's v2 events for a run of the remote chain (`/stream_events`), decoded
        (messages come back as messages), filtered on the server.

        Raises:
            ValueError: `version` is not `"v2"`.
            ServerError: The server refused the request or the run failed.
        """
        if version != "v2":
            raise ValueError(f'Invalid "version" argument: {version!r}; only "v2" is supported')
        body = self._body(input, ensure_config(config), kwargs)
        filters = {
            "include_names": include_names,
            "include_types": include_types,
            "include_tags": include_tags,
            "exclude_names": exclude_names,
            "exclude_types": exclude_types,
            "exclude_tags": exclude_tags,
        }
        body.update({k: list(v) for k, v in filters.items() if v is not None})
        return self._events("stream_events", body)
