"""Kill and resume through the Batch API: a process killed with SIGKILL once its job is submitted
(and recorded in its `SQLiteCache`) leaves the job running; a rerun with the same cache waits on
that job instead of submitting it again, and sends no direct call.

The kill comes at a gate: the script prints each `batch_api.job_submitted` event it sees (the job
is recorded before the event is sent), the test reads that line, then kills it. The server holds
the job meanwhile and completes it before the rerun.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.openai_server import OpenAIServer

SCRIPT = textwrap.dedent(
    """
    import sys

    from llm import ChatOpenAI
    from runnables import BaseCallbackHandler, SQLiteCache
    from tests.llm.test_seed_chain import seed_chain

    base_url, path, mode = sys.argv[1:4]
    TOPICS = ["Space exploration", "Coral reefs", "Honey bees"]


    class Submitted(BaseCallbackHandler):
        def on_custom_event(self, event):
            if event.name == "batch_api.job_submitted":
                print("submitted", event.data["data"]["job_id"], flush=True)


    model = ChatOpenAI(base_url=base_url, api_key="sk-test", max_retries=0, cache=SQLiteCache(path))
    batched = model.with_batch_api(flush_after=1.0, poll_interval=0.01)
    step = seed_chain(batched) if mode == "seed" else batched
    out = step.batch(TOPICS, {"callbacks": [Submitted()]})
    for item in out:
        print("result", item if mode == "seed" else item.content, flush=True)
    """
)


def _args(script: Path, server: OpenAIServer, db: Path, mode: str) -> list[str]:
    return [sys.executable, str(script), server.base_url, str(db), mode]


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])  # the script imports tests.llm...
    return {**os.environ, "PYTHONPATH": root}


@pytest.mark.parametrize("mode", ["model", "seed"])
def test_a_killed_run_resumes_on_its_job_without_submitting_it_again(
    openai_server: OpenAIServer, tmp_path: Path, mode: str
) -> None:
    script = tmp_path / "batch.py"
    script.write_text(SCRIPT)
    db = tmp_path / "run.db"
    openai_server.batches.hold()
    args = _args(script, openai_server, db, mode)
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=_env()) as proc:
        watchdog = threading.Timer(120, proc.kill)  # a hang fails the test instead of blocking
        watchdog.start()
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("submitted "), line
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait() == -signal.SIGKILL
        finally:
            watchdog.cancel()
            proc.kill()
    [job] = openai_server.batches.jobs
    assert line.split()[1] == job.id
    assert len(job.lines) == (9 if mode == "seed" else 3)  # the seed chain's first wave
    assert job.status == "in_progress"  # left running (held by the server)
    assert not job.cancel_requested

    openai_server.batches.complete()  # the job finishes while nobody waits on it
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True, env=_env())
    results = [line for line in done.stdout.splitlines() if line.startswith("result ")]
    assert len(results) == 3
    jobs = openai_server.batches.jobs
    assert jobs[0].id == job.id
    assert jobs[0].retrieved >= 1  # the rerun polled the recorded job
    # No new job for what was submitted: only the seed chain's second wave (its syntheses).
    assert [len(j.lines) for j in jobs[1:]] == ([3] if mode == "seed" else [])
    assert openai_server.requests == []  # and no direct call
    if mode == "model":
        assert sorted(results) == [f"result echo: {t}" for t in sorted(_topics())]

    # A third run is free: every reply is in the cache.
    retrieved = [j.retrieved for j in jobs]
    again = subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=True, env=_env()
    )
    assert [line for line in again.stdout.splitlines() if line.startswith("result ")] == results
    assert [j.retrieved for j in openai_server.batches.jobs] == retrieved
    assert openai_server.requests == []


def _topics() -> list[str]:
    return ["Space exploration", "Coral reefs", "Honey bees"]
