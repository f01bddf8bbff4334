"""Kill and resume on Ray: a `RayExecutor` batch on two workers sharing one cache (an SQLite
file, or Redis), its driver killed with SIGKILL part-way, pays on the rerun for exactly the
calls that had not completed before the kill.

The driver is a subprocess that joins the test session's Ray (so no cluster starts per run) and
runs the batch with `batch_as_completed`, printing each item as its result arrives (stored in
the cache on the worker before it is returned). The kill comes at a gate, not after a sleep: the
server answers the first `DONE` requests and holds every later one; the test reads the driver's
reports until `DONE` items have completed and the held calls are in flight on the workers, then
kills the driver. Ray ends the dead driver's job, workers included, and the held requests' clients
hang up (awaited at the server). The rerun must send exactly the other `TOTAL - DONE` prompts
(the held ones among them, as they were never answered), each once, and none of those already
completed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from tests.openai_server import OpenAIServer, Reply
from tests.redis_server import RedisServer

TOTAL = 100
DONE = 40
CONCURRENCY = 8  # split between the two workers

SCRIPT = textwrap.dedent(
    """
    import sys

    import ray

    from llm import ChatOpenAI, StrOutputParser
    from prompts import ChatPromptTemplate
    from runnables import RedisCache, SQLiteCache
    from runnables.ray import RayExecutor

    address, base_url, store, where, total, concurrency = sys.argv[1:7]
    ray.init(address=address, logging_level="ERROR")
    cache = SQLiteCache(where) if store == "sqlite" else RedisCache(where.split("#")[0],
        prefix=where.split("#")[1])
    model = ChatOpenAI(base_url=base_url, api_key="sk-test", max_retries=0, cache=cache)
    chain = ChatPromptTemplate.from_template("Summarize {text}") | model | StrOutputParser()
    docs = [{"text": f"doc {i}"} for i in range(int(total))]
    with RayExecutor(num_workers=2) as executor:
        config = {"max_concurrency": int(concurrency)}
        for index, _ in executor.batch_as_completed(chain, docs, config):
            print(index, flush=True)  # stored on the worker before it was returned: paid for
    """
)


@pytest.fixture
def address(ray_session: None) -> str:
    import ray

    gcs: str = ray.get_runtime_context().gcs_address
    return gcs


def _prompts(server: OpenAIServer) -> list[str]:
    return [body["messages"][-1]["content"] for body in server.requests]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_a_ray_batch_whose_driver_is_killed_pays_on_rerun_only_for_the_calls_not_completed(
    address: str,
    openai_server: OpenAIServer,
    redis_server: RedisServer,
    tmp_path: Path,
    store: str,
) -> None:
    script = tmp_path / "batch.py"
    script.write_text(SCRIPT)
    where = (
        str(tmp_path / "run.db")
        if store == "sqlite"
        else f"{redis_server.url}#resume-ray:{uuid.uuid4().hex}:"
    )
    args = [
        sys.executable,
        str(script),
        address,
        openai_server.base_url,
        store,
        where,
        str(TOTAL),
        str(CONCURRENCY),
    ]
    held = openai_server.gate(CONCURRENCY)
    openai_server.queue(*[Reply(f"paid {i}") for i in range(DONE)])
    openai_server.queue(*[Reply("never sent", gate=held) for _ in range(TOTAL - DONE)])

    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as proc:
        watchdog = threading.Timer(180, proc.kill)  # a hang fails the test instead of blocking
        watchdog.start()
        try:
            assert proc.stdout is not None
            completed: list[int] = []
            while len(completed) < DONE:
                line = proc.stdout.readline()
                assert line, f"the batch ended early after {len(completed)} calls"
                completed.append(int(line))
            held.wait_arrived()  # the next CONCURRENCY calls are in flight on the workers
            os.kill(proc.pid, signal.SIGKILL)
            completed += [int(line) for line in proc.stdout.read().split()]
            assert proc.wait() == -signal.SIGKILL
        finally:
            watchdog.cancel()
            proc.kill()
    assert len(completed) == len(set(completed)) == DONE
    # Ray ends the dead driver's workers: the held calls' clients hang up, unanswered.
    openai_server.wait_for_disconnects(CONCURRENCY)
    assert len(_prompts(openai_server)) == DONE + CONCURRENCY  # completed, and in flight

    openai_server.reset()  # the rerun gets echo replies
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=180, check=True)
    assert sorted(int(line) for line in rerun.stdout.split()) == list(range(TOTAL))
    sent = _prompts(openai_server)
    assert len(sent) == len(set(sent)) == TOTAL - DONE  # each once
    paid = {f"Summarize doc {i}" for i in completed}
    assert set(sent) == {f"Summarize doc {i}" for i in range(TOTAL)} - paid  # never one paid
