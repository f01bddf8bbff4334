"""A batch-API model when the Batch API's own calls fail, when a job's input is too big for one
file, when a call leaves before its job is submitted, and when recording or cancelling a job
fails. On a virtual clock, with the in-memory transport of test_batch_api_clock.py."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import anyio
import openai
import pytest

from llm import BatchAPIChatModel, ChatOpenAI
from llm._batch_jobs import JobStatus, status_error
from runnables import InMemoryCache
from tests.clock import virtual_time_backends
from tests.llm.test_batch_api_clock import ClockedBatches, _model
from tests.openai_server import ErrorReply, OpenAIServer


@pytest.fixture(params=virtual_time_backends(autojump=True))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


class Failing(ClockedBatches):
    """Fails one kind of call (`submit`, `retrieve`, `read` or `cancel`) with `error`."""

    def __init__(self, where: str, error: Exception, polls_before_done: int = 0) -> None:
        super().__init__(polls_before_done)
        self.where = where
        self.error = error
        self.cancelled: list[str] = []

    async def submit(self, data: bytes, completion_window: str) -> JobStatus:
        status = await super().submit(data, completion_window)
        if self.where == "submit":
            raise self.error
        return status

    async def retrieve(self, job_id: str) -> JobStatus:
        if self.where == "retrieve":
            raise self.error
        return await super().retrieve(job_id)

    async def read(self, file_id: str) -> bytes:
        if self.where == "read":
            raise self.error
        return await super().read(file_id)

    async def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)
        if self.where == "cancel":
            raise self.error


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["submit", "retrieve", "read"])
@pytest.mark.parametrize("kind", ["sdk", "other"])
async def test_a_failing_batch_api_call_reaches_every_call_of_the_job_as_its_own_error(
    monkeypatch: pytest.MonkeyPatch, where: str, kind: str
) -> None:
    error: Exception = (
        status_error(401, {"error": {"message": "Bad key"}}, None, None)
        if kind == "sdk"
        else ConnectionError("the network went away")
    )
    model = _model(monkeypatch, Failing(where, error))
    out = await model.abatch(["a", "b", "c"], return_exceptions=True)
    expected = openai.AuthenticationError if kind == "sdk" else ConnectionError
    assert all(type(e) is expected for e in out)
    assert len({id(e) for e in out}) == 3  # one each: items' notes do not pile up on one
    assert all(str(e) == str(error) for e in out)


@pytest.mark.anyio
async def test_a_job_is_split_where_its_file_would_pass_the_size_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches = ClockedBatches()
    model = _model(monkeypatch, batches, flush_after=1.0)
    model.options = dataclasses.replace(model.options, max_bytes=500)  # about two lines
    out = await model.abatch([f"text {i}" for i in range(5)])
    assert [m.content for m in out] == [f"echo: text {i}" for i in range(5)]
    sizes = [len(lines) for _, lines in batches.jobs]
    assert sum(sizes) == 5
    assert max(sizes) <= 2  # none over the limit (each line is ~200 bytes)
    assert len(sizes) >= 3


@pytest.mark.anyio
async def test_a_call_cancelled_before_its_job_is_submitted_is_not_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches = ClockedBatches()
    model = _model(monkeypatch, batches, flush_after=1.0)
    out: list[Any] = []

    async def kept() -> None:
        out.append((await model.ainvoke("kept")).content)

    async with anyio.create_task_group() as tg:
        tg.start_soon(kept)
        with anyio.CancelScope() as leaving:
            tg.start_soon(_cancel_after, leaving, 0.5)
            await model.ainvoke("left")
    assert out == ["echo: kept"]
    assert [
        [line["body"]["messages"][-1]["content"] for line in job] for _, job in batches.jobs
    ] == [["kept"]]


async def _cancel_after(scope: anyio.CancelScope, seconds: float) -> None:
    await anyio.sleep(seconds)
    scope.cancel()


@pytest.mark.anyio
async def test_a_job_that_cannot_be_cancelled_is_logged_and_left(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    batches = Failing("cancel", ConnectionError("no route"), polls_before_done=100)
    model = _model(monkeypatch, batches, flush_after=0.5, cancel_on_exit=True)
    with anyio.move_on_after(5):
        await model.ainvoke("x")
    assert batches.cancelled == ["job-0"]
    assert "could not cancel Batch API job job-0" in caplog.text


class Unrecordable(InMemoryCache):
    """Stores replies, refuses job records."""

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        if key.startswith("batch_api:"):
            raise OSError("disk full")
        await super().aset(key, value, ttl)


@pytest.mark.anyio
async def test_a_job_that_cannot_be_recorded_still_answers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="llm")
    batches = ClockedBatches()
    monkeypatch.setattr(BatchAPIChatModel, "_transport", lambda self: batches)
    model = ChatOpenAI(api_key="sk-test", cache=Unrecordable()).with_batch_api(flush_after=0.5)
    assert (await model.ainvoke("x")).content == "echo: x"
    assert "could not record a Batch API job" in caplog.text
    assert (await model.ainvoke("x")).response_metadata["cache_hit"] is True


def test_a_failed_line_is_sent_again_by_a_rerun(
    openai_server: OpenAIServer,
) -> None:

    cache = InMemoryCache()
    model = ChatOpenAI(base_url=openai_server.base_url, api_key="sk-test", cache=cache)
    batched = model.with_batch_api(flush_after=0.05, poll_interval=0.01)
    openai_server.queue(ErrorReply(500, message="try later"))
    with pytest.raises(openai.InternalServerError, match="try later"):
        batched.invoke("x")
    assert batched.invoke("x").content == "echo: x"  # its record was cleared: a new job
    assert [len(job.lines) for job in openai_server.batches.jobs] == [1, 1]
