"""An in-process stand-in for OpenAI's Batch API, so `parallel_batch.py --batch-api` runs offline.

It serves ``/v1/files`` (upload, content) and ``/v1/batches`` (create, retrieve, cancel) on
127.0.0.1 with starlette and uvicorn (the ``serve`` extra: ``pip install -e ".[serve]"``), in a
background thread. A job completes at its first retrieve; each line's reply restates the
request's instruction and input (as the offline model does), with a word-count usage.

This is an example's prop, not part of the library: `ChatOpenAI` talks to it through the
official SDK exactly as it would to OpenAI.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["BatchServer"]


class BatchServer:
    """The stand-in server; `base_url` is set once `start` (or `with`) has run.

    Attributes:
        jobs: Every job created, as the API shows it (``request_counts`` and all).
    """

    def __init__(self) -> None:
        self.base_url = ""
        self.jobs: dict[str, dict[str, Any]] = {}
        self._files: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._app = Starlette(
            routes=[
                Route("/v1/files", self._upload, methods=["POST"]),
                Route("/v1/files/{file_id}/content", self._content, methods=["GET"]),
                Route("/v1/batches", self._create, methods=["POST"]),
                Route("/v1/batches/{batch_id}", self._retrieve, methods=["GET"]),
                Route("/v1/batches/{batch_id}/cancel", self._cancel, methods=["POST"]),
            ]
        )

    def start(self) -> None:
        """Serve on a free port of 127.0.0.1 in a background thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        config = uvicorn.Config(self._app, log_level="warning", lifespan="off", ws="none")
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(target=lambda: server.run(sockets=[sock]), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the offline Batch API server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-offline-{next(self._ids)}"

    async def _upload(self, request: Request) -> Response:
        head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            head + await request.body()
        )
        data = b""
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
        with self._lock:
            file_id = self._new_id("file")
            self._files[file_id] = data
        return JSONResponse(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": int(time.time()),
                "filename": "batch.jsonl",
                "purpose": "batch",
                "status": "processed",
            }
        )

    async def _content(self, request: Request) -> Response:
        with self._lock:
            data = self._files.get(request.path_params["file_id"])
        if data is None:
            return JSONResponse({"error": {"message": "No such file."}}, status_code=404)
        return Response(data, media_type="application/octet-stream")

    async def _create(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            data = self._files.get(body.get("input_file_id"), b"")
            lines = [json.loads(line) for line in data.splitlines() if line.strip()]
            job = {
                "id": self._new_id("batch"),
                "object": "batch",
                "endpoint": body.get("endpoint", "/v1/chat/completions"),
                "input_file_id": body.get("input_file_id"),
                "completion_window": body.get("completion_window", "24h"),
                "status": "validating",
                "created_at": int(time.time()),
                "output_file_id": None,
                "error_file_id": None,
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "_lines": lines,
            }
            self.jobs[job["id"]] = job
            return JSONResponse(_wire(job))

    async def _retrieve(self, request: Request) -> Response:
        with self._lock:
            job = self.jobs.get(request.path_params["batch_id"])
            if job is None:
                return JSONResponse({"error": {"message": "No such batch."}}, status_code=404)
            if job["status"] == "validating":  # done at the first look
                output = b"".join(_answer(i, line) for i, line in enumerate(job["_lines"]))
                job["output_file_id"] = self._new_id("file")
                self._files[job["output_file_id"]] = output
                job["request_counts"]["completed"] = len(job["_lines"])
                job["status"] = "completed"
            elif job["status"] == "cancelling":
                job["status"] = "cancelled"
            return JSONResponse(_wire(job))

    async def _cancel(self, request: Request) -> Response:
        with self._lock:
            job = self.jobs.get(request.path_params["batch_id"])
            if job is None:
                return JSONResponse({"error": {"message": "No such batch."}}, status_code=404)
            if job["status"] in ("validating", "in_progress"):
                job["status"] = "cancelling"
            return JSONResponse(_wire(job))


def _wire(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def _answer(index: int, line: dict[str, Any]) -> bytes:
    """One output line: a chat completion restating the request's instruction and input."""
    body = line.get("body") or {}
    messages = body.get("messages") or []
    texts = {m.get("role"): str(m.get("content") or "") for m in messages}
    system, user = texts.get("system", ""), texts.get("user", "")
    content = f"[offline Batch API] {_short(system)} {_short(user)}".strip()
    prompt = sum(len(str(m.get("content") or "").split()) for m in messages)
    completion = len(content.split())
    completion_body = {
        "id": f"chatcmpl-offline-{index}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "offline"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    response = {"status_code": 200, "request_id": f"req-{index}", "body": completion_body}
    out = {"id": f"batch_req_{index}", "custom_id": line.get("custom_id"), "response": response}
    return json.dumps(out | {"error": None}).encode() + b"\n"


def _short(text: str, words: int = 8) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")
