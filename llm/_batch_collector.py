"""The collector: a batch-API model's calls in one event loop, gathered into Batch API jobs.

A call hands its request body to the collector and waits for its reply. The collector has no
tasks of its own: the waiting calls do its work, one of them at a time per role.

- **Submitting.** One waiting call whose request is not yet in a job is the submitter: it waits
  until no call has arrived for `flush_after` seconds (the backend's clock), or until the
  requests waiting fill a job (`max_requests_per_job`, or 200 MB of JSONL), then uploads them
  and creates the job. The submission is shielded from cancellation: once the upload starts,
  the job is made and recorded, so it is never paid for without a trace.
- **Polling.** Per job, one of its waiting calls polls `batches.retrieve` (after
  `poll_interval`, then 1.5 times longer each time, at most 10 times `poll_interval`) until the
  job ends, reads its output and error files and hands every call its line.

A call that is cancelled leaves; if it held a role, another waiting call takes it over where it
stood. So everything ends with the run, and no task is left behind. When the last call waiting
on an unfinished job leaves by cancellation, the job goes on running on the server (it is paid
for, and recorded for a rerun), unless `cancel_on_exit` asks to cancel it.

Events (`batch_api.job_submitted`, `.job_resumed`, `.job_polled`, `.job_completed`) go to the
run of the call doing the work, as custom events, with the job id and request counts.

An error of the job's own calls (an upload refused, a poll that failed after the SDK's retries)
reaches every call of that job: the driver's call raises it, the others a fresh copy of it.
"""

from __future__ import annotations

import copy
import logging
import math
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from llm._batch_jobs import (
    MAX_FILE_BYTES,
    BatchTransport,
    JobStatus,
    line_outcome,
    read_lines,
    request_line,
)
from llm._errors import BatchJobError
from prompts._messages import AIMessage
from runnables import BaseCache, adispatch_custom_event

__all__ = ["BatchOptions", "Collector", "Record"]

logger = logging.getLogger("llm")

BACKOFF = 1.5
"""Each wait between polls of a job is this much longer than the last..."""
MAX_BACKOFF = 10.0
"""...up to this many times `poll_interval`."""


@dataclass(frozen=True)
class BatchOptions:
    """A batch-API model's settings (see `ChatOpenAI.with_batch_api`)."""

    completion_window: str = "24h"
    poll_interval: float = 10.0
    flush_after: float = 1.0
    max_requests_per_job: int = 50_000
    cancel_on_exit: bool = False
    max_bytes: int = MAX_FILE_BYTES


@dataclass(frozen=True)
class Record:
    """Where a call records its job (for a rerun to find it): a cache and a key in it."""

    cache: BaseCache
    key: str


class _Call:
    __slots__ = ("custom_id", "job", "left", "line", "outcome", "record")

    def __init__(self, custom_id: str, line: bytes, record: Record | None) -> None:
        self.custom_id = custom_id
        self.line = line
        self.record = record
        self.job: _Job | None = None
        self.outcome: Any = None  # an AIMessage or an exception, once answered
        self.left = False


class _Job:
    __slots__ = ("calls", "delay", "id", "next_poll", "outcomes", "polling", "status")

    def __init__(self, job_id: str, *, next_poll: float, delay: float) -> None:
        self.id = job_id
        self.calls: dict[str, _Call] = {}  # the calls waiting on it, by custom_id
        self.next_poll = next_poll
        self.delay = delay
        self.polling = False
        self.outcomes: dict[str, Any] | None = None  # every line's outcome, once it has ended
        self.status: JobStatus | None = None  # the last status read


class Collector:
    """One batch-API model's pending calls and jobs in one event loop.

    Args:
        options: The model's settings.
        transport: The Batch API calls (`OpenAIBatches` over the SDK).
        base_url: The server, for the errors of failed lines.
    """

    def __init__(
        self, options: BatchOptions, transport: BatchTransport, base_url: str | None = None
    ) -> None:
        self.options = options
        self.transport = transport
        self.base_url = base_url
        self._pending: deque[_Call] = deque()
        self._pending_bytes = 0
        self._last_arrival = -math.inf
        self._submitting = False
        self._wake = anyio.Event()  # set when the requests waiting fill a job
        self._changed = anyio.Event()  # set (and replaced) whenever a call may act
        self._jobs: dict[str, _Job] = {}

    async def call(
        self, body: dict[str, Any], *, record: Record | None = None, resume: Any = None
    ) -> AIMessage:
        """The reply to `body`, from a Batch API job.

        Args:
            body: The request body, exactly as the direct call sends it.
            record: Where to record the job once it is submitted.
            resume: A record found for this request (`{"job_id", "custom_id"}`): the call
                waits on that job instead of submitting again.

        Raises:
            openai.APIStatusError: The request's line failed (the subclass for its status).
            BatchJobError: The job ended `failed`, `expired` or `cancelled` first.
        """
        found = _job_record(resume)
        resumed = False
        if found is not None:
            call = _Call(found[1], b"", record)
            resumed = self._attach(call, found[0])
        else:
            custom_id = f"request-{uuid.uuid4().hex}"
            call = _Call(custom_id, request_line(custom_id, body), record)
            self._arrive(call)
        try:
            if resumed and call.job is not None:  # a job an earlier run (or process) left
                await _event("batch_api.job_resumed", JobStatus(call.job.id, "unknown"))
            await self._wait(call)
        except BaseException:
            await self._leave(call)
            raise
        outcome = call.outcome
        if isinstance(outcome, AIMessage):
            return outcome
        if record is not None and call.job is not None and call.job.outcomes is not None:
            await _write(record, {})  # the job answered with an error: a rerun sends it again
        raise outcome

    # -- the roles ---------------------------------------------------------------------------

    async def _wait(self, call: _Call) -> None:
        while call.outcome is None:
            changed = self._changed
            job = call.job
            if job is None:
                if self._submitting:
                    await changed.wait()
                else:
                    await self._submit()
            elif job.polling:
                await changed.wait()
            else:
                await self._poll(job)

    async def _submit(self) -> None:
        self._submitting = True
        try:
            options = self.options
            while not self._full():
                quiet = self._last_arrival + options.flush_after - anyio.current_time()
                if quiet <= 0:
                    break
                with anyio.move_on_after(quiet):
                    await self._wake.wait()
            calls = self._take()
            if calls:
                await _protected(self._create, calls)
        finally:
            self._submitting = False
            self._fire()

    async def _create(self, calls: list[_Call]) -> None:
        try:
            status = await self.transport.submit(
                b"".join(c.line for c in calls), self.options.completion_window
            )
        except Exception as exc:
            self._fail(calls, exc)
            return
        job = _Job(
            status.id,
            next_poll=anyio.current_time() + self.options.poll_interval,
            delay=self.options.poll_interval,
        )
        self._jobs[job.id] = job
        for call in calls:
            call.job = job
            if not call.left:
                job.calls[call.custom_id] = call
        for call in calls:  # recorded before it is announced: a rerun finds what was shown
            if call.record is not None:
                await _write(call.record, {"job_id": job.id, "custom_id": call.custom_id})
        await _event("batch_api.job_submitted", status, requests=len(calls))
        if not job.calls:  # every call left while it was being submitted
            await self._abandon(job)

    async def _poll(self, job: _Job) -> None:
        job.polling = True
        try:
            while True:
                wait = job.next_poll - anyio.current_time()
                if wait > 0:
                    await anyio.sleep(wait)
                try:
                    status = await self.transport.retrieve(job.id)
                except Exception as exc:
                    self._fail(list(job.calls.values()), exc)
                    return
                await _event("batch_api.job_polled", status)
                if status.finished:
                    break
                job.delay = min(job.delay * BACKOFF, self.options.poll_interval * MAX_BACKOFF)
                job.next_poll = anyio.current_time() + job.delay
            try:
                job.outcomes = await self._read(status)
                job.status = status
            except Exception as exc:
                self._fail(list(job.calls.values()), exc)
                return
            for call in job.calls.values():
                call.outcome = self._outcome(job, status, call.custom_id)
            job.calls.clear()
            await _event("batch_api.job_completed", status)
        finally:
            job.polling = False
            self._fire()

    async def _read(self, status: JobStatus) -> dict[str, Any]:
        outcomes: dict[str, Any] = {}
        for file_id in (status.error_file_id, status.output_file_id):
            if file_id:
                for custom_id, line in read_lines(await self.transport.read(file_id)).items():
                    outcomes[custom_id] = line_outcome(line, status, self.base_url)
        return outcomes

    def _outcome(self, job: _Job, status: JobStatus, custom_id: str) -> Any:
        assert job.outcomes is not None
        outcome = job.outcomes.get(custom_id)
        if outcome is None:
            detail = status.errors if status.status != "completed" else "no line for this call"
            outcome = BatchJobError(job.id, status.status, detail)
        elif isinstance(outcome, BaseException):
            # A copy: the same error object raised in many items would gather all their notes.
            outcome = _fresh(outcome)
        return outcome

    # -- bookkeeping ---------------------------------------------------------------------------

    def _arrive(self, call: _Call) -> None:
        self._pending.append(call)
        self._pending_bytes += len(call.line)
        self._last_arrival = anyio.current_time()
        if self._full():
            self._wake.set()

    def _attach(self, call: _Call, job_id: str) -> bool:
        """Wait on the job `job_id` (True: a job not known here until now)."""
        job = self._jobs.get(job_id)
        new = job is None
        if job is None:
            # A job submitted by an earlier run (or process): polled at once, it may be done.
            job = self._jobs[job_id] = _Job(
                job_id, next_poll=-math.inf, delay=self.options.poll_interval
            )
        call.job = job
        if job.outcomes is not None and job.status is not None:
            call.outcome = self._outcome(job, job.status, call.custom_id)
        else:
            job.calls[call.custom_id] = call
        return new

    def _full(self) -> bool:
        return (
            len(self._pending) >= self.options.max_requests_per_job
            or self._pending_bytes >= self.options.max_bytes
        )

    def _take(self) -> list[_Call]:
        """The calls of the next job, oldest first, within its limits (at least one)."""
        calls: list[_Call] = []
        size = 0
        limit, max_bytes = self.options.max_requests_per_job, self.options.max_bytes
        while self._pending and len(calls) < limit:
            line = self._pending[0].line
            if calls and size + len(line) > max_bytes:
                break
            calls.append(self._pending.popleft())
            size += len(line)
        self._pending_bytes -= size
        if not self._full():
            self._wake = anyio.Event()
        return calls

    def _fail(self, calls: list[_Call], exc: Exception) -> None:
        for i, call in enumerate(calls):
            call.outcome = exc if i == 0 else _fresh(exc)
        for call in calls:
            if call.job is not None:
                call.job.calls.pop(call.custom_id, None)

    def _fire(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _leave(self, call: _Call) -> None:
        """A cancelled call goes; the work it was doing passes to another waiting call."""
        call.left = True
        job = call.job
        if job is None:
            if call in self._pending:
                self._pending.remove(call)
                self._pending_bytes -= len(call.line)
        else:
            job.calls.pop(call.custom_id, None)
            if not job.calls and job.outcomes is None:
                await self._abandon(job)
        self._fire()

    async def _abandon(self, job: _Job) -> None:
        """No call waits on `job` any more: it runs on (it is recorded), or is cancelled."""
        if not self.options.cancel_on_exit:
            return
        self._jobs.pop(job.id, None)
        await _protected(self._cancel, job.id)

    async def _cancel(self, job_id: str) -> None:
        with anyio.move_on_after(30):
            try:
                await self.transport.cancel(job_id)
            except Exception as exc:
                logger.warning("could not cancel Batch API job %s: %r", job_id, exc)


async def _protected(fn: Callable[..., Awaitable[None]], *args: Any) -> None:
    """`fn(*args)` to its end, whatever cancels the caller meanwhile.

    In a child task, shielded: a shield in the caller's own task would not hold on asyncio
    against a plain `Task.cancel()` (the run's fast-path task groups cancel so), while a task
    group waits for its child, and the child is not cancelled past its shield.
    """

    async def shielded() -> None:
        with anyio.CancelScope(shield=True):
            await fn(*args)

    async with anyio.create_task_group() as tg:
        tg.start_soon(shielded)


def _job_record(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict):
        job_id, custom_id = value.get("job_id"), value.get("custom_id")
        if isinstance(job_id, str) and isinstance(custom_id, str):
            return job_id, custom_id
    return None


async def _write(record: Record, value: dict[str, str]) -> None:
    try:
        await record.cache.aset(record.key, value)
    except Exception as exc:  # the job goes on; only a rerun's way to it is lost
        logger.warning("could not record a Batch API job in %r: %r", record.cache, exc)


async def _event(name: str, status: JobStatus, **extra: Any) -> None:
    data = {"job_id": status.id, "status": status.status, "request_counts": dict(status.counts)}
    await adispatch_custom_event(name, data | extra)


def _fresh(exc: BaseException) -> BaseException:
    """A copy of `exc` with no notes or traceback of its own (the SDK's status errors take
    their response again; other errors are copied as they pickle)."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return type(exc)(exc.message, response=exc.response, body=exc.body)
    try:
        clone = copy.copy(exc)
    except Exception:
        return exc
    clone.__notes__ = []
    del clone.__notes__
    return clone
