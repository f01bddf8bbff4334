"""Serving: any runnable over HTTP in LangServe's protocol, and `RemoteRunnable` to call it back.

Install with `pip install "runnables[serve]"` (Starlette, uvicorn, sse-starlette, httpx).
Starlette is the ASGI core FastAPI is built on, so `add_routes` works on a Starlette app and on
a FastAPI app alike (whose `/docs` then shows the chain's paths); FastAPI is not needed.

    from runnables.serve import add_routes, serve, RemoteRunnable

    serve(chain, port=8000)  # POST /chain/invoke, /chain/batch, /chain/stream, ...

    remote = RemoteRunnable("http://127.0.0.1:8000/chain")
    remote.invoke({"topic": "comets"})  # also batch, stream, astream, astream_events, `|`

LangServe's own client (`langserve.RemoteRunnable`) works against these endpoints unchanged.
"""

from __future__ import annotations

try:
    import httpx as _httpx  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'runnables.serve needs the serve extra: pip install "runnables[serve]"'
    ) from exc

from runnables._serve_http import HTTPError
from runnables._serve_protocol import register_wire_decoder, register_wire_encoder
from runnables._serve_remote import RemoteRunnable, ServerError
from runnables._serve_routes import add_routes, serve

__all__ = [
    "HTTPError",
    "RemoteRunnable",
    "ServerError",
    "add_routes",
    "register_wire_decoder",
    "register_wire_encoder",
    "serve",
]
