"""`add_routes`: a runnable's LangServe endpoints on a Starlette (or FastAPI) app.

Endpoints under `path`: `POST /invoke`, `/batch`, `/stream`, `/stream_events`; `GET
/input_schema`, `/output_schema`, `/config_schema`; the OpenAPI document (merged into a FastAPI
app's, else at `/openapi.json`); the playground at `/playground/` where it is installed.

Each request: the body is read (up to `max_body_bytes`, else 413) and checked (malformed JSON,
an input failing the chain's input schema, a config key clients may not set: 422 naming it);
the config goes through `per_req_config_modifier`; the run goes in the caller's trace context
(`traceparent`) and is cancelled if the client hangs up, mid-invoke or mid-stream.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runnables._base import Runnable
from runnables._config import RunnableConfig
from runnables._serve_config import DEFAULT_CONFIG_KEYS, ConfigPolicy
from runnables._serve_http import (
    ClientDisconnected,
    ConfigModifier,
    HTTPError,
    config_modifier,
    error_body,
    error_response,
    read_json,
    run_until_disconnect,
    sse_response,
    trace_context,
)
from runnables._serve_openapi import chain_openapi, merge_into_fastapi
from runnables._serve_protocol import (
    END_EVENT,
    data_event,
    dump,
    error_event,
    load,
    metadata_event,
)

__all__ = ["add_routes", "serve"]

logger = logging.getLogger("runnables.serve")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_CLIENT_GONE = 499  # nginx's "client closed request": nobody reads it, logs may
_FILTERS = (
    "include_names",
    "include_types",
    "include_tags",
    "exclude_names",
    "exclude_types",
    "exclude_tags",
)


class _Request:
    """One request's checked parts."""

    __slots__ = ("config", "input", "run_id")

    def __init__(self, input: Any, config: RunnableConfig, run_id: str) -> None:
        self.input = input
        self.config = config
        self.run_id = run_id


class _ServedChain:
    """The endpoints of one runnable (see the module docstring)."""

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        policy: ConfigPolicy,
        modifier: ConfigModifier | None,
        max_body_bytes: int,
        debug: bool,
    ) -> None:
        self.runnable = runnable
        self.policy = policy
        self.modifier = modifier
        self.max_body_bytes = max_body_bytes
        self.debug = debug
        self.input_schema = runnable.get_input_schema()

    # -- reading a request ---------------------------------------------------------------------

    async def _body(self, request: Request, allowed: Sequence[str]) -> dict[str, Any]:
        body = await read_json(request, max_body_bytes=self.max_body_bytes)
        if not isinstance(body, dict):
            raise HTTPError(422, f"the body must be a JSON object, got {body!r:.100}", loc=["body"])
        for key in body:
            if key not in allowed:
                raise HTTPError(422, f"unknown field {key!r} in the body", loc=["body", key])
        if body.get("kwargs"):
            raise HTTPError(
                422, "kwargs (call options) are not accepted from clients", loc=["body", "kwargs"]
            )
        return body

    def _input(self, raw: Any, loc: list[str | int]) -> Any:
        value = load(raw)
        try:
            self.input_schema.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = [*loc, *first["loc"]]
            named = ".".join(map(str, where[1:]))
            raise HTTPError(422, f"{named}: {first['msg']}", loc=where) from None
        return value

    async def _config(self, raw: Any, request: Request, loc: list[str | int]) -> RunnableConfig:
        config = self.policy.check(raw, loc=loc)
        if self.modifier is not None:
            config = await self.modifier(config, request)
        return {**config, "run_id": str(uuid.uuid4())}

    async def _one(
        self, request: Request, allowed: Sequence[str]
    ) -> tuple[_Request, dict[str, Any]]:
        body = await self._body(request, allowed)
        if "input" not in body:
            raise HTTPError(422, "input: field required", loc=["body", "input"])
        value = self._input(body["input"], ["body", "input"])
        config = await self._config(body.get("config"), request, ["body", "config"])
        return _Request(value, config, config["run_id"]), body

    def _failed(self, exc: Exception) -> Response:
        if not isinstance(exc, HTTPError):
            logger.error("served chain failed: %r", exc, exc_info=exc)
        return error_response(exc, debug=self.debug)

    # -- endpoints ---------------------------------------------------------------------------

    async def invoke(self, request: Request) -> Response:
        try:
            call, _ = await self._one(request, ("input", "config", "kwargs"))
            with trace_context(request):
                output = await run_until_disconnect(
                    request, lambda: self.runnable.ainvoke(call.input, call.config)
                )
        except ClientDisconnected:
            return Response(status_code=_CLIENT_GONE)
        except Exception as exc:
            return self._failed(exc)
        metadata = {"run_id": call.run_id, "feedback_tokens": []}
        return JSONResponse({"output": dump(output), "metadata": metadata})

    async def batch(self, request: Request) -> Response:
        try:
            body = await self._body(request, ("inputs", "config", "kwargs"))
            inputs = body.get("inputs")
            if not isinstance(inputs, list):
                raise HTTPError(422, "inputs: expected a list", loc=["body", "inputs"])
            raw_configs = body.get("config")
            if isinstance(raw_configs, list):
                if len(raw_configs) != len(inputs):
                    raise HTTPError(
                        422,
                        f"config: {len(raw_configs)} configs for {len(inputs)} inputs",
                        loc=["body", "config"],
                    )
                places: list[tuple[Any, list[str | int]]] = [
                    (raw, ["body", "config", i]) for i, raw in enumerate(raw_configs)
                ]
            else:
                places = [(raw_configs, ["body", "config"])] * len(inputs)
            values = [self._input(raw, ["body", "inputs", i]) for i, raw in enumerate(inputs)]
            configs = [await self._config(raw, request, loc) for raw, loc in places]
            with trace_context(request):
                outputs = await run_until_disconnect(
                    request, lambda: self.runnable.abatch(values, configs)
                )
        except ClientDisconnected:
            return Response(status_code=_CLIENT_GONE)
        except Exception as exc:
            return self._failed(exc)
        run_ids = [config["run_id"] for config in configs]
        metadata = {
            "run_ids": run_ids,
            "responses": [{"run_id": run_id, "feedback_tokens": []} for run_id in run_ids],
        }
        return JSONResponse({"output": [dump(out) for out in outputs], "metadata": metadata})

    async def stream(self, request: Request) -> Response:
        try:
            call, _ = await self._one(request, ("input", "config", "kwargs"))
        except Exception as exc:
            return self._failed(exc)
        return sse_response(
            self._events(request, call, lambda: self.runnable.astream(call.input, call.config))
        )

    async def stream_events(self, request: Request) -> Response:
        try:
            call, body = await self._one(request, ("input", "config", "kwargs", *_FILTERS))
            filters = {name: body.get(name) for name in _FILTERS}
            for name, value in filters.items():
                if value is not None and (
                    not isinstance(value, list) or not all(isinstance(v, str) for v in value)
                ):
                    raise HTTPError(422, f"{name}: expected a list of str", loc=["body", name])
        except Exception as exc:
            return self._failed(exc)
        return sse_response(
            self._events(
                request,
                call,
                lambda: self.runnable.astream_events(
                    call.input, call.config, version="v2", **filters
                ),
                metadata=False,
            )
        )

    async def _events(
        self,
        request: Request,
        call: _Request,
        start: Callable[[], AsyncIterator[Any]],
        *,
        metadata: bool = True,
    ) -> AsyncIterator[dict[str, str]]:
        if metadata:  # not for stream_events: LangServe's client there knows no such event
            yield metadata_event(call.run_id)
        try:
            with trace_context(request):
                items = start()
                try:
                    async for item in items:
                        yield data_event(item)
                finally:
                    # Also when the client hung up: the run (a detached one for events) ends here.
                    # Shielded: a cancelled scope would cut the close short, run still going.
                    aclose = getattr(items, "aclose", None)
                    if aclose is not None:
                        with anyio.CancelScope(shield=True):
                            await aclose()
        except Exception as exc:
            status, body = error_body(self._logged(exc), debug=self.debug)
            yield error_event(status, body["detail"], body["type"])
            return
        yield END_EVENT

    def _logged(self, exc: Exception) -> Exception:
        logger.error("served chain failed: %r", exc, exc_info=exc)
        return exc

    async def input_schema_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.runnable.get_input_jsonschema())

    async def output_schema_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.runnable.get_output_jsonschema())

    async def config_schema_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.policy.schema.model_json_schema())

    def openapi(self, path: str) -> dict[str, Any]:
        output_schema = self.runnable.get_output_schema()
        return chain_openapi(
            path,
            self.input_schema,
            output_schema,
            self.policy.schema,
            title=f"{self.runnable.get_name()} at {path or '/'}",
        )


def _playground() -> Callable[[Request], Any] | None:
    """The playground page's endpoint, where its module is installed."""
    try:
        module = importlib.import_module("runnables._serve_playground")
    except ImportError:  # pragma: no cover - depends on what is installed
        return None
    endpoint: Callable[[Request], Any] = module.playground
    return endpoint


def add_routes(
    app: Any,
    runnable: Runnable[Any, Any],
    path: str = "/chain",
    *,
    config_keys: Sequence[str] = DEFAULT_CONFIG_KEYS,
    per_req_config_modifier: Callable[[RunnableConfig, Request], Any] | None = None,
    max_concurrency: int | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    debug: bool = False,
) -> None:
    """Serve `runnable` under `path` on `app`, speaking LangServe's protocol.

    Args:
        app: A Starlette app, or a FastAPI app (then the chain's paths join its `/docs`).
        runnable: What to serve.
        path: Where: `"/chain"` gives `/chain/invoke`, `/chain/stream`, ...; `""` serves at
            the root.
        config_keys: The config keys clients may set (LangServe's default:
            `configurable`, `tags`, `metadata`, `run_name`; `recursion_limit` may be added).
        per_req_config_modifier: `fn(config, request) -> config`, sync or async: where
            authentication and per-user settings go (it may raise `HTTPError`-like errors:
            an exception raised there answers 500 unless it is an `HTTPError`).
        max_concurrency: The most `max_concurrency` a client may ask for; None: clients may
            not set it.
        max_body_bytes: The largest request body accepted (413 beyond).
        debug: Put the traceback in 500 answers (never in production: it leaks code).

    Raises:
        TypeError: `app` is not a Starlette app, `runnable` not a Runnable, or an option of
            the wrong type.
        ValueError: A bad `path`, config key or limit.
    """
    from starlette.applications import Starlette

    if not isinstance(app, Starlette):
        raise TypeError(f'Invalid "app" argument: {app!r}; expected a Starlette or FastAPI app')
    if not isinstance(runnable, Runnable):
        raise TypeError(f'Invalid "runnable" argument: {runnable!r}; expected a Runnable')
    if not isinstance(path, str):
        raise TypeError(f'Invalid "path" argument: {path!r}; expected a str')
    if path and (not path.startswith("/") or path.endswith("/")):
        raise ValueError(
            f'Invalid "path" argument: {path!r}; expected "" or a path starting with "/" and '
            'not ending with "/"'
        )
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
        raise TypeError(f'Invalid "max_body_bytes" argument: {max_body_bytes!r}; expected an int')
    if max_body_bytes < 1:
        raise ValueError(f'Invalid "max_body_bytes" argument: {max_body_bytes!r}; expected >= 1')
    served = _ServedChain(
        runnable,
        ConfigPolicy(config_keys, max_concurrency),
        config_modifier(per_req_config_modifier),
        max_body_bytes,
        bool(debug),
    )
    routes: list[tuple[str, Callable[[Request], Any], str]] = [
        ("invoke", served.invoke, "POST"),
        ("batch", served.batch, "POST"),
        ("stream", served.stream, "POST"),
        ("stream_events", served.stream_events, "POST"),
        ("input_schema", served.input_schema_endpoint, "GET"),
        ("output_schema", served.output_schema_endpoint, "GET"),
        ("config_schema", served.config_schema_endpoint, "GET"),
    ]
    playground = _playground()
    if playground is not None:  # pragma: no branch - depends on what is installed
        # Without the slash the page redirects to it: its relative URLs need the folder.
        routes += [("playground/", playground, "GET"), ("playground", playground, "GET")]
    if hasattr(app, "openapi_schema") and callable(getattr(app, "openapi", None)):
        merge_into_fastapi(app, lambda: served.openapi(path), f"{path}/invoke")
    else:
        doc: list[dict[str, Any]] = []

        async def openapi(request: Request) -> Response:
            if not doc:
                doc.append(served.openapi(path))
            return JSONResponse(doc[0])

        routes.append(("openapi.json", openapi, "GET"))
    for name, endpoint, method in routes:
        # The router's own method: FastAPI's notes that its routes changed (it caches them).
        app.router.add_route(f"{path}/{name}", endpoint, methods=[method], include_in_schema=False)


def serve(
    runnable: Runnable[Any, Any],
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    path: str = "/chain",
    **add_routes_options: Any,
) -> None:
    """Serve `runnable` at `http://{host}:{port}{path}` with uvicorn, until stopped (Ctrl-C).

    Args:
        runnable: What to serve.
        host: The address to listen on (127.0.0.1: this machine only).
        port: The port.
        path: Where the chain's endpoints go (see `add_routes`).
        **add_routes_options: `config_keys`, `per_req_config_modifier`, `max_concurrency`,
            `max_body_bytes`, `debug` (see `add_routes`).
    """
    import uvicorn
    from starlette.applications import Starlette

    app = Starlette()
    add_routes(app, runnable, path, **add_routes_options)
    uvicorn.run(app, host=host, port=port)
