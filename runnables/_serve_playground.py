"""The playground: one self-contained HTML page served at ``{path}/playground/``.

The page (``_playground.html``, package data) carries its CSS and JavaScript inline and loads
nothing from elsewhere, so it works offline. It finds the chain's endpoints by relative URLs
(``../input_schema``, ``../stream``), so it works under whatever path the chain is mounted at,
builds a form from the input schema, posts ``{"input": ..., "config": {...}}`` to ``../stream``
and shows LangServe's SSE events as they arrive.
"""

from __future__ import annotations

import functools
import importlib.resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

__all__ = ["playground"]

# The page may talk to its own server only: a stray script or a future edit that reaches for a
# CDN fails loudly in the browser instead of working only when online.
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
)


@functools.cache
def _page() -> bytes:
    """Read the page once per process (it is package data, so it never changes under us)."""
    return (importlib.resources.files("runnables") / "_playground.html").read_bytes()


async def playground(request: Request) -> Response:
    """Answer ``GET {path}/playground/`` with the playground page.

    A request without the trailing slash is redirected to it, since the page's relative URLs
    (``../stream``) resolve against the folder the page is in.

    Args:
        request: The incoming request.

    Returns:
        The HTML page, or a redirect to the same path with a trailing slash.
    """
    if not request.url.path.endswith("/"):
        return RedirectResponse(request.url.replace(path=request.url.path + "/"), status_code=307)
    return HTMLResponse(
        _page(),
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
    )
