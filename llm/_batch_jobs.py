"""Batch API jobs over the official `openai` SDK, and their output lines read back.

- `OpenAIBatches`: the SDK calls a collector makes (`files.create(purpose="batch")` then
  `batches.create`, `batches.retrieve`, `files.content`, `batches.cancel`), each through the
  running loop's client (`llm._openai_clients`);
- `request_line`: one JSONL line of a job's input file;
- `read_lines` / `line_outcome`: a job's output and error files, each line as the `AIMessage`
  the direct call would have returned (parsed by the direct path's `to_message`), or as the
  SDK's status error for the line's status (`openai.RateLimitError` for a 429, ...).

A job's status is read into a `JobStatus`, so the collector (and its tests) need no SDK types.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from llm._errors import BatchJobError
from llm._openai_clients import openai_client
from llm._openai_format import to_message

if TYPE_CHECKING:
    from openai.types import Batch

    from llm._openai import ChatOpenAI

__all__ = [
    "MAX_FILE_BYTES",
    "BatchTransport",
    "JobStatus",
    "OpenAIBatches",
    "line_outcome",
    "read_lines",
    "request_line",
]

ENDPOINT: Final = "/v1/chat/completions"
MAX_FILE_BYTES = 200 * 1024 * 1024
"""The largest input file the Batch API takes (200 MB)."""

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
"""Statuses after which a job changes no more."""


@dataclass(frozen=True)
class JobStatus:
    """What a collector reads of a job.

    Attributes:
        id: The job's id.
        status: `validating`, `in_progress`, `finalizing`, `completed`, `failed`, `expired`,
            `cancelling` or `cancelled`.
        output_file_id: The file of answered lines, once there is one.
        error_file_id: The file of failed lines, once there is one.
        counts: `request_counts`: `total`, `completed` and `failed`.
        errors: The job's own errors (why it failed), as text.
    """

    id: str
    status: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the job has ended (its status changes no more)."""
        return self.status in TERMINAL


class BatchTransport(Protocol):
    """The Batch API calls a collector makes."""

    async def submit(self, data: bytes, completion_window: str) -> JobStatus:
        """Upload `data` (JSONL) and create a job over it."""
        ...

    async def retrieve(self, job_id: str) -> JobStatus:
        """The job's status now."""
        ...

    async def read(self, file_id: str) -> bytes:
        """The content of an output or error file."""
        ...

    async def cancel(self, job_id: str) -> None:
        """Ask the server to cancel the job."""
        ...


def _status(batch: Batch) -> JobStatus:
    counts = batch.request_counts
    errors = None
    if batch.errors is not None and batch.errors.data:
        errors = "; ".join(f"{e.code}: {e.message}" for e in batch.errors.data)
    return JobStatus(
        id=batch.id,
        status=batch.status,
        output_file_id=batch.output_file_id,
        error_file_id=batch.error_file_id,
        counts={} if counts is None else counts.model_dump(),
        errors=errors,
    )


class OpenAIBatches:
    """`BatchTransport` over the SDK, with `model`'s connection settings (key, server, retries).

    The settings are read at each call, so a missing API key fails the call that needs it.
    """

    def __init__(self, model: ChatOpenAI) -> None:
        self._model = model

    async def submit(self, data: bytes, completion_window: str) -> JobStatus:
        async with openai_client(self._model._settings()) as client:
            uploaded = await client.files.create(
                file=("batch.jsonl", data, "application/jsonl"), purpose="batch"
            )
            batch = await client.batches.create(
                input_file_id=uploaded.id,
                endpoint=ENDPOINT,
                completion_window=completion_window,  # type: ignore[arg-type]
            )
        return _status(batch)

    async def retrieve(self, job_id: str) -> JobStatus:
        async with openai_client(self._model._settings()) as client:
            return _status(await client.batches.retrieve(job_id))

    async def read(self, file_id: str) -> bytes:
        async with openai_client(self._model._settings()) as client:
            content = await client.files.content(file_id)
        return content.content

    async def cancel(self, job_id: str) -> None:
        async with openai_client(self._model._settings()) as client:
            await client.batches.cancel(job_id)


def request_line(custom_id: str, body: dict[str, Any]) -> bytes:
    """One line of a job's input file: the request `body` under `custom_id`.

    Raises:
        TypeError: Part of the body is not JSON (the message names it).
    """
    line = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def read_lines(data: bytes) -> dict[str, dict[str, Any]]:
    """An output or error file's lines by `custom_id` (blank and unreadable lines skipped)."""
    lines: dict[str, dict[str, Any]] = {}
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("custom_id"), str):
            lines[line["custom_id"]] = line
    return lines


def line_outcome(line: dict[str, Any], job: JobStatus, base_url: str | None) -> Any:
    """A line of a finished job's output: the reply as an `AIMessage` (marked
    `response_metadata["batch_api"]`, with the job's id), or the exception its call raises."""
    response = line.get("response")
    error = line.get("error")
    if isinstance(response, dict):
        status = response.get("status_code")
        body = response.get("body")
        if status == 200 and isinstance(body, dict) and body.get("choices"):
            from openai.types.chat import ChatCompletion

            message = to_message(ChatCompletion.model_construct(**body))
            metadata = {**message.response_metadata, "batch_api": True, "batch_id": job.id}
            return message.model_copy(update={"response_metadata": metadata})
        if isinstance(status, int):
            return status_error(status, body, response.get("request_id"), base_url)
    if job.status != "completed":
        detail = error.get("message") if isinstance(error, dict) else None
        return BatchJobError(job.id, job.status, detail)
    return status_error(500, {"error": error}, None, base_url)


def status_error(status: int, body: Any, request_id: str | None, base_url: str | None) -> Exception:
    """The SDK's error class for `status` (as its own client picks one), for a failed line."""
    import httpx2
    import openai

    classes: dict[int, type[openai.APIStatusError]] = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        409: openai.ConflictError,
        422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }
    cls = classes.get(
        status, openai.InternalServerError if status >= 500 else openai.APIStatusError
    )
    url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
    headers = {"x-request-id": request_id} if request_id else {}
    response = httpx2.Response(
        status,
        json=body,
        headers=headers,
        request=httpx2.Request("POST", f"{url}/chat/completions"),
    )
    data = body.get("error", body) if isinstance(body, dict) else body
    return cls(f"Error code: {status} - {body}", response=response, body=data)
