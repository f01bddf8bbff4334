"""The Batch API of the loopback OpenAI server: ``/v1/files`` and ``/v1/batches``, for tests.

Mounted by `tests.openai_server.OpenAIServer` as ``server.batches``. A job's lines are answered
by the server's reply queue, in file order, as non-streaming requests would be (a queued
`ErrorReply` makes that line fail with its status), when the job completes. Lines are recorded
here (`lines`), never in the server's ``requests``, so a test tells direct calls from batched.

When a job completes is the test's choice:

- by default, at the first ``batches.retrieve`` after its creation;
- after `hold`, only when the test calls `complete` (it stays ``in_progress`` meanwhile);
  ``complete()`` for all ends the hold;
- `expire` ends held jobs ``expired``, answering only their first lines; `fail` ends them
  ``failed``, answering none; ``batches.cancel`` ends a job ``cancelled`` at its next retrieve.

Example:
    >>> server.batches.hold()  # doctest: +SKIP
    >>> ...  # calls through model.with_batch_api(); server.batches.wait_for_jobs(1)
    >>> server.batches.complete()
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from tests.openai_server import OpenAIServer

__all__ = ["BatchJob", "BatchJobs"]

_CREATED = 1_700_000_000
_WAIT_LIMIT = 60.0  # as the server's WAIT_LIMIT: a wait that passes never comes near it


@dataclass
class BatchJob:
    """One job, as the server holds it.

    Attributes:
        id: The job's id.
        input_file_id: Its input file.
        lines: The input lines (``custom_id``, ``method``, ``url``, ``body``), in file order.
        completion_window: As created.
        status: The status the next retrieve reports.
        retrieved: Retrieves so far.
        cancel_requested: Whether ``batches.cancel`` was called.
    """

    id: str
    input_file_id: str
    lines: list[dict[str, Any]]
    completion_window: str
    status: str = "validating"
    retrieved: int = 0
    cancel_requested: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    completed: int = 0
    failed: int = 0

    def wire(self) -> dict[str, Any]:
        """The job as the API sends it (an SDK ``Batch``)."""
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": _CREATED,
            "request_counts": {
                "total": len(self.lines),
                "completed": self.completed,
                "failed": self.failed,
            },
            "metadata": None,
        }


class BatchJobs:
    """Files and jobs of one `OpenAIServer`, with the hooks tests script them by."""

    def __init__(self, server: OpenAIServer) -> None:
        self._server = server
        self._cond = threading.Condition()
        self._ids = itertools.count()
        self._files: dict[str, bytes] = {}
        self._jobs: dict[str, BatchJob] = {}
        self._hold = False

    def routes(self) -> list[Route]:
        """The routes the server mounts."""
        return [
            Route("/v1/files", self._upload, methods=["POST"]),
            Route("/v1/files/{file_id}/content", self._content, methods=["GET"]),
            Route("/v1/batches", self._create, methods=["POST"]),
            Route("/v1/batches/{batch_id}", self._retrieve, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self._cancel, methods=["POST"]),
        ]

    # -- scripting ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every file and job; jobs complete at their first retrieve again."""
        with self._cond:
            self._files.clear()
            self._jobs.clear()
            self._hold = False

    def hold(self) -> None:
        """Jobs created from now on stay ``in_progress`` until `complete`, `expire` or `fail`."""
        with self._cond:
            self._hold = True

    def complete(self, job_id: str | None = None) -> None:
        """Answer every line of the job and complete it; with no ``job_id``, every unfinished
        job, and the hold ends: later jobs complete at their first retrieve again."""
        if job_id is None:
            with self._cond:
                self._hold = False
        for job in self._unfinished(job_id):
            self._finish(job, "completed", len(job.lines))

    def expire(self, job_id: str | None = None, *, answered: int = 0) -> None:
        """End the job(s) ``expired``, having answered only the first ``answered`` lines."""
        for job in self._unfinished(job_id):
            self._finish(job, "expired", answered)

    def fail(self, job_id: str | None = None, *, message: str = "Invalid input file.") -> None:
        """End the job(s) ``failed`` (as a job refused at validation), answering no line."""
        for job in self._unfinished(job_id):
            with self._cond:
                job.errors = [{"code": "invalid_file", "message": message, "line": None}]
            self._finish(job, "failed", 0, with_errors=False)

    # -- observation -------------------------------------------------------------------------

    @property
    def jobs(self) -> list[BatchJob]:
        """Every job since the last reset, in creation order."""
        with self._cond:
            return list(self._jobs.values())

    @property
    def lines(self) -> list[dict[str, Any]]:
        """The input lines of every job, in order."""
        return [line for job in self.jobs for line in job.lines]

    def wait_for_jobs(self, n: int, timeout: float = _WAIT_LIMIT) -> None:
        """Block until at least ``n`` jobs exist (TimeoutError otherwise)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._jobs) >= n, timeout):
                raise TimeoutError(f"timed out after {timeout}s waiting for {n} batch jobs")

    async def wait_for_jobs_async(self, n: int) -> None:
        """`wait_for_jobs` from asyncio or trio code, on the real clock (in a worker thread)."""
        await anyio.to_thread.run_sync(self.wait_for_jobs, n)

    def wait_until(self, predicate: Callable[[list[BatchJob]], bool]) -> None:
        """Block until ``predicate(jobs)`` holds (TimeoutError after the wait limit)."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(list(self._jobs.values())), _WAIT_LIMIT):
                raise TimeoutError("timed out waiting on the batch jobs")

    # -- internals ---------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def _unfinished(self, job_id: str | None) -> list[BatchJob]:
        with self._cond:
            jobs = [self._jobs[job_id]] if job_id is not None else list(self._jobs.values())
        return [j for j in jobs if j.output_file_id is None and j.status != "failed"]

    def _finish(
        self, job: BatchJob, status: str, answered: int, *, with_errors: bool = True
    ) -> None:
        outputs: list[bytes] = []
        errors: list[bytes] = []
        for i, line in enumerate(job.lines):
            custom_id = line.get("custom_id")
            if i < answered:
                code, body = self._server.answer(line.get("body") or {}, f"chatcmpl-{job.id}-{i}")
                response = {"status_code": code, "request_id": f"req-{job.id}-{i}", "body": body}
                out = {"id": f"batch_req_{i}", "custom_id": custom_id, "response": response}
                (outputs if code == 200 else errors).append(
                    json.dumps(out | {"error": None}).encode()
                )
            elif with_errors:
                error = {"code": f"batch_{status}", "message": f"The batch was {status}."}
                out = {"id": f"batch_req_{i}", "custom_id": custom_id, "response": None}
                errors.append(json.dumps(out | {"error": error}).encode())
        with self._cond:
            if outputs:
                job.output_file_id = self._store(b"\n".join(outputs) + b"\n")
            if errors:
                job.error_file_id = self._store(b"\n".join(errors) + b"\n")
            job.completed = len(outputs)
            job.failed = len(job.lines) - len(outputs) if status == "completed" else len(errors)
            job.status = status
            self._cond.notify_all()

    def _store(self, data: bytes) -> str:
        file_id = self._new_id("file")
        self._files[file_id] = data
        return file_id

    async def _upload(self, request: Request) -> Response:
        raw = await request.body()
        head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        fields: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = payload
        if fields.get("purpose") != b"batch" or "file" not in fields:
            error = {"message": "Expected purpose=batch and a file.", "type": "invalid_request"}
            return JSONResponse({"error": error}, status_code=400)
        with self._cond:
            file_id = self._store(fields["file"])
        return JSONResponse(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(fields["file"]),
                "created_at": _CREATED,
                "filename": "batch.jsonl",
                "purpose": "batch",
                "status": "processed",
            }
        )

    async def _content(self, request: Request) -> Response:
        with self._cond:
            data = self._files.get(request.path_params["file_id"])
        if data is None:
            return JSONResponse({"error": {"message": "No such file."}}, status_code=404)
        return Response(data, media_type="application/octet-stream")

    async def _create(self, request: Request) -> Response:
        body = await request.json()
        with self._cond:
            data = self._files.get(body.get("input_file_id"))
            if data is None:
                return JSONResponse({"error": {"message": "No such file."}}, status_code=404)
            lines = [json.loads(line) for line in data.splitlines() if line.strip()]
            job = BatchJob(
                self._new_id("batch"),
                body["input_file_id"],
                lines,
                body.get("completion_window", "24h"),
            )
            if self._hold:
                job.status = "in_progress"
            self._jobs[job.id] = job
            self._cond.notify_all()
            return JSONResponse(job.wire())

    def _job(self, request: Request) -> BatchJob | None:
        with self._cond:
            return self._jobs.get(request.path_params["batch_id"])

    async def _retrieve(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return JSONResponse({"error": {"message": "No such batch."}}, status_code=404)
        with self._cond:
            job.retrieved += 1
            due = job.status == "validating"  # not held: it completes now
            if job.status == "cancelling":
                job.status = "cancelled"
        if due:
            self._finish(job, "completed", len(job.lines))
        with self._cond:
            return JSONResponse(job.wire())

    async def _cancel(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return JSONResponse({"error": {"message": "No such batch."}}, status_code=404)
        with self._cond:
            job.cancel_requested = True
            if job.status in ("validating", "in_progress"):
                job.status = "cancelling"
            self._cond.notify_all()
            return JSONResponse(job.wire())
