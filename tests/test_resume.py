"""Kill and resume: a 400-call batch with an `SQLiteCache`, killed with SIGKILL part-way, pays on
the rerun for exactly the calls that had not completed before the kill.

The batch runs in a subprocess against the loopback OpenAI server. The kill comes at a gate,
not after a sleep: the server answers the first `DONE` requests and holds every later one, the
test reads the subprocess's report of each completed call (printed after its result is stored)
until `DONE` have completed and the held calls are in flight, then kills it. The rerun must send
exactly the other `400 - DONE` prompts (the held ones among them, as they were never answered),
each once, and none of those already completed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm import ChatOpenAI, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import BaseCache, RedisCache, Runnable, SQLiteCache
from runnables.ray import RayExecutor
from tests.openai_server import OpenAIServer, Reply
from tests.redis_server import RedisServer

TOTAL = 400
DONE = 150
CONCURRENCY = 8

SCRIPT = textwrap.dedent(
    """
    import asyncio
    import sys

    from llm import ChatOpenAI
    from prompts import ChatPromptTemplate
    from runnables import SQLiteCache

    base_url, path, mode, total, concurrency = sys.argv[1:6]


    async def main() -> None:
        cache = SQLiteCache(path)
        if mode == "model":
            step = ChatOpenAI(base_url=base_url, api_key="sk-test", max_retries=0, cache=cache)
            inputs = [f"doc {i}" for i in range(int(total))]
        else:  # the item-level journal: the whole chain memoized by its input
            model = ChatOpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
            prompt = ChatPromptTemplate.from_messages([("human", "{doc}")])
            step = (prompt | model).with_cache(cache)
            inputs = [{"doc": f"doc {i}"} for i in range(int(total))]
        config = {"max_concurrency": int(concurrency)}
        async for index, _ in step.abatch_as_completed(inputs, config):
            print(index, flush=True)  # after the result is stored: the call is paid for


    asyncio.run(main())
    """
)


def _prompts(server: OpenAIServer) -> list[str]:
    return [body["messages"][-1]["content"] for body in server.requests]


def _args(script: Path, server: OpenAIServer, db: Path, mode: str) -> list[str]:
    return [
        sys.executable,
        str(script),
        server.base_url,
        str(db),
        mode,
        str(TOTAL),
        str(CONCURRENCY),
    ]


def _run_to_the_end(script: Path, server: OpenAIServer, db: Path, mode: str) -> list[int]:
    """Run the batch to its end; the indexes of the calls it completed."""
    done = subprocess.run(
        _args(script, server, db, mode), capture_output=True, text=True, timeout=120, check=True
    )
    return [int(line) for line in done.stdout.split()]


@pytest.mark.parametrize("mode", ["model", "chain"])
def test_a_batch_killed_part_way_pays_on_rerun_only_for_the_calls_not_completed(
    openai_server: OpenAIServer, tmp_path: Path, mode: str
) -> None:
    script = tmp_path / "batch.py"
    script.write_text(SCRIPT)
    db = tmp_path / "run.db"
    held = openai_server.gate(CONCURRENCY)
    openai_server.queue(*[Reply(f"paid {i}") for i in range(DONE)])
    openai_server.queue(*[Reply("never sent", gate=held) for _ in range(TOTAL - DONE)])

    with subprocess.Popen(
        _args(script, openai_server, db, mode), stdout=subprocess.PIPE, text=True
    ) as proc:
        watchdog = threading.Timer(120, proc.kill)  # a hang fails the test instead of blocking
        watchdog.start()
        try:
            assert proc.stdout is not None
            completed: list[int] = []
            while len(completed) < DONE:
                line = proc.stdout.readline()
                assert line, f"the batch ended early after {len(completed)} calls"
                completed.append(int(line))
            held.wait_arrived()  # the next CONCURRENCY calls are in flight, held by the server
            os.kill(proc.pid, signal.SIGKILL)
            completed += [int(line) for line in proc.stdout.read().split()]
            assert proc.wait() == -signal.SIGKILL
        finally:
            watchdog.cancel()
            proc.kill()
    assert len(completed) == len(set(completed)) == DONE
    first_run = _prompts(openai_server)
    assert len(first_run) == DONE + CONCURRENCY  # the completed ones and those in flight

    openai_server.reset()  # the held requests' clients are gone; the rerun gets echo replies
    assert sorted(_run_to_the_end(script, openai_server, db, mode)) == list(range(TOTAL))
    sent = _prompts(openai_server)
    not_completed = {f"doc {i}" for i in range(TOTAL)} - {f"doc {i}" for i in completed}
    assert len(sent) == len(set(sent)) == TOTAL - DONE  # each once
    assert set(sent) == not_completed  # never one already paid for

    # A third run pays for nothing.
    openai_server.reset()
    assert len(_run_to_the_end(script, openai_server, db, mode)) == TOTAL
    assert openai_server.requests == []


# -- across Ray workers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def executor(ray_session: None) -> Iterator[RayExecutor]:
    with RayExecutor(num_workers=2) as executor:  # joins the session's Ray: close leaves it
        yield executor


def _summarize(server: OpenAIServer, cache: BaseCache) -> Runnable[dict[str, str], str]:
    model = ChatOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, cache=cache)
    return ChatPromptTemplate.from_template("Summarize {text}") | model | StrOutputParser()


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_two_ray_workers_share_one_cache_and_a_rerun_pays_nothing(
    executor: RayExecutor,
    openai_server: OpenAIServer,
    redis_server: RedisServer,
    tmp_path: Path,
    store: str,
) -> None:
    cache: BaseCache = (
        SQLiteCache(tmp_path / "run.db")
        if store == "sqlite"
        else RedisCache(redis_server.url, prefix=f"resume:{uuid.uuid4().hex}:")
    )
    chain = _summarize(openai_server, cache)
    docs = [{"text": f"doc {i}"} for i in range(40)]
    expected = [f"echo: Summarize doc {i}" for i in range(40)]
    assert executor.batch(chain, docs[:30]) == expected[:30]
    assert len(openai_server.requests) == 30
    # Again on the workers, with 10 new items: only those are sent, whichever worker runs what.
    assert executor.batch(chain, docs) == expected
    assert len(openai_server.requests) == 40
    assert sorted(_prompts(openai_server)) == sorted(f"Summarize doc {i}" for i in range(40))
    # Here, in the driver: every reply either worker stored is a hit.
    local = chain.batch(docs)
    assert local == expected
    assert len(openai_server.requests) == 40


def test_a_ray_batch_stopped_part_way_resumes_paying_only_for_the_calls_not_completed(
    executor: RayExecutor, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    total, done = 100, 40
    chain = _summarize(openai_server, SQLiteCache(tmp_path / "run.db"))
    docs = [{"text": f"doc {i}"} for i in range(total)]
    held = openai_server.gate(CONCURRENCY)
    openai_server.queue(*[Reply(f"paid {i}") for i in range(done)])
    openai_server.queue(*[Reply("never sent", gate=held) for _ in range(total - done)])
    completed: list[int] = []
    pairs = executor.batch_as_completed(chain, docs, {"max_concurrency": CONCURRENCY})
    for index, _ in pairs:
        completed.append(index)
        if len(completed) == done:
            held.wait_arrived()  # the next calls are in flight on the workers, held
            break
    pairs.close()  # stops the remote work: the held requests' clients hang up
    openai_server.wait_for_disconnects(CONCURRENCY)
    assert len(_prompts(openai_server)) == done + CONCURRENCY

    openai_server.reset()
    out = executor.batch(chain, docs, {"max_concurrency": CONCURRENCY})
    assert [text for i, text in enumerate(out) if i not in completed] == [
        f"echo: Summarize doc {i}" for i in range(total) if i not in completed
    ]
    assert all(out[i].startswith("paid ") for i in completed)  # the stored replies
    sent = _prompts(openai_server)
    assert len(sent) == len(set(sent)) == total - done
    assert set(sent) == {f"Summarize doc {i}" for i in range(total) if i not in completed}
