"""When a batch-API model submits and polls, on a virtual clock (asyncio and trio): a job once no
call has come for `flush_after` seconds, at once when a job is full, polls spaced by a growing
backoff. The Batch API here is an in-memory transport that notes the clock at each call (the
loopback server's tests are in test_batch_api.py: real I/O cannot run on a jumping clock)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from llm import BatchAPIChatModel, ChatOpenAI
from llm._batch_jobs import JobStatus
from tests.clock import virtual_time_backends


@pytest.fixture(params=virtual_time_backends(autojump=True))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


class ClockedBatches:
    """A Batch API in memory: each job stays in progress for `polls_before_done` retrieves."""

    def __init__(self, polls_before_done: int = 0) -> None:
        self.polls_before_done = polls_before_done
        self.jobs: list[tuple[float, list[dict[str, Any]]]] = []  # (submitted at, lines)
        self.polls: list[tuple[float, str]] = []

    async def submit(self, data: bytes, completion_window: str) -> JobStatus:
        lines = [json.loads(line) for line in data.splitlines()]
        self.jobs.append((anyio.current_time(), lines))
        return JobStatus(f"job-{len(self.jobs) - 1}", "validating")

    async def retrieve(self, job_id: str) -> JobStatus:
        self.polls.append((anyio.current_time(), job_id))
        if sum(1 for _, polled in self.polls if polled == job_id) <= self.polls_before_done:
            return JobStatus(job_id, "in_progress")
        return JobStatus(job_id, "completed", output_file_id=job_id)

    async def read(self, file_id: str) -> bytes:
        _, lines = self.jobs[int(file_id.removeprefix("job-"))]
        out = []
        for line in lines:
            text = line["body"]["messages"][-1]["content"]
            message = {"role": "assistant", "content": f"echo: {text}"}
            body = {
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
            response = {"status_code": 200, "request_id": "r", "body": body}
            out.append(json.dumps({"custom_id": line["custom_id"], "response": response}))
        return "\n".join(out).encode()

    async def cancel(self, job_id: str) -> None:
        raise AssertionError("not cancelled in these tests")


def _model(
    monkeypatch: pytest.MonkeyPatch, batches: ClockedBatches, **options: Any
) -> BatchAPIChatModel:
    monkeypatch.setattr(BatchAPIChatModel, "_transport", lambda self: batches)
    return ChatOpenAI(api_key="sk-test").with_batch_api(**options)


def _contents(lines: list[dict[str, Any]]) -> list[str]:
    return sorted(line["body"]["messages"][-1]["content"] for line in lines)


@pytest.mark.anyio
async def test_calls_are_submitted_once_none_has_come_for_flush_after_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches = ClockedBatches()
    model = _model(monkeypatch, batches, flush_after=1.0, poll_interval=5.0)
    start = anyio.current_time()
    replies: dict[str, str] = {}

    async def call(text: str, after: float) -> None:
        await anyio.sleep(after)
        replies[text] = str((await model.ainvoke(text)).content)

    async with anyio.create_task_group() as tg:
        for text, after in (("a", 0.0), ("b", 0.6), ("c", 1.2)):  # each within 1 s of the last
            tg.start_soon(call, text, after)
        tg.start_soon(call, "d", 9.0)  # after the first job's answers: a job of its own

    assert [round(at - start, 6) for at, _ in batches.jobs] == [2.2, 10.0]
    assert [_contents(lines) for _, lines in batches.jobs] == [["a", "b", "c"], ["d"]]
    assert [round(at - start, 6) for at, _ in batches.polls] == [7.2, 15.0]  # poll_interval on
    assert replies == {t: f"echo: {t}" for t in "abcd"}


@pytest.mark.anyio
async def test_a_full_job_is_submitted_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    batches = ClockedBatches()
    model = _model(monkeypatch, batches, flush_after=1.0, max_requests_per_job=2)
    start = anyio.current_time()
    out = await model.abatch(["a", "b", "c", "d", "e"])
    assert [m.content for m in out] == [f"echo: {t}" for t in "abcde"]
    assert [(round(at - start, 6), len(lines)) for at, lines in batches.jobs] == [
        (0.0, 2),
        (0.0, 2),
        (1.0, 1),  # the rest waits for the quiet time
    ]


@pytest.mark.anyio
async def test_a_job_is_polled_with_a_growing_wait_up_to_ten_intervals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches = ClockedBatches(polls_before_done=8)
    model = _model(monkeypatch, batches, flush_after=0.5, poll_interval=2.0)
    start = anyio.current_time()
    assert (await model.ainvoke("x")).content == "echo: x"
    submitted = batches.jobs[0][0]
    assert submitted - start == pytest.approx(0.5)
    times = [at - submitted for at, _ in batches.polls]
    waits = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert waits == pytest.approx([2.0, 3.0, 4.5, 6.75, 10.125, 15.1875, 20.0, 20.0, 20.0])
