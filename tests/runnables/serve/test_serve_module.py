"""`runnables.serve` exports exactly its names, and stays optional: importing the packages
imports none of the serving stack."""

from __future__ import annotations

import subprocess
import sys

from pydantic import BaseModel

import runnables.serve
from runnables._serve_protocol import dump


def test_serve_module_exports() -> None:
    assert sorted(runnables.serve.__all__) == [
        "HTTPError",
        "RemoteRunnable",
        "ServerError",
        "add_routes",
        "register_wire_decoder",
        "register_wire_encoder",
        "serve",
    ]
    for name in runnables.serve.__all__:
        assert getattr(runnables.serve, name) is not None


def test_the_packages_import_no_serving_stack() -> None:
    modules = ("starlette", "sse_starlette", "uvicorn", "httpx_sse", "runnables.serve")
    code = (
        f"import sys, runnables, llm, prompts; print([m for m in {modules!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_pydantic_model_without_an_encoder_dumps_in_json_mode() -> None:
    class Answer(BaseModel):
        score: float
        tags: set[str]

    assert dump(Answer(score=1.5, tags={"a"})) == {"score": 1.5, "tags": ["a"]}
