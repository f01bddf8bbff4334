"""`examples/parallel_batch.py --batch-api`, run as a user would: offline against its in-process
stand-in server, and with a key against the loopback server's Batch API (the path it takes
against OpenAI's)."""

from __future__ import annotations

import re

from tests.examples.test_examples import BATCH_FILES, example_env, run_example, section
from tests.openai_server import OpenAIServer


def _jobs(out: str) -> list[int]:
    return [int(n) for n in re.findall(r"^job submitted: \S+ \((\d+) requests\)$", out, re.M)]


def test_batch_api_offline_makes_one_job_per_wave() -> None:
    out = run_example("parallel_batch.py", "--batch-api").stdout
    first = out.splitlines()[0]
    assert first.startswith("Model: ChatOpenAI through an offline Batch API stand-in")
    assert "no OPENAI_API_KEY" in first
    assert _jobs(out) == [9, 3]  # the nine branch calls, then the three syntheses
    assert len(re.findall(r"^job completed: ", out, re.M)) == 2
    syntheses = section(out, "Syntheses (in input order)").splitlines()
    assert [line.split(":")[0] for line in syntheses] == BATCH_FILES
    assert all("Synthesize" in line or "[offline Batch API]" in line for line in syntheses)
    assert re.search(r"^2 jobs \(9 \+ 3 requests\), in [0-9.]+ s$", out, re.M)


def test_batch_api_with_a_key_uses_the_servers_batch_api(openai_server: OpenAIServer) -> None:
    env = example_env({"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": openai_server.base_url})
    out = run_example("parallel_batch.py", "--batch-api", "--poll-interval", "0.05", env=env)
    assert out.stdout.splitlines()[0].startswith("Model: ChatOpenAI gpt-4o-mini through the")
    assert _jobs(out.stdout) == [9, 3]
    assert [len(job.lines) for job in openai_server.batches.jobs] == [9, 3]
    assert openai_server.requests == []  # no direct call
    syntheses = section(out.stdout, "Syntheses (in input order)").splitlines()
    assert [line.split(":")[0] for line in syntheses] == BATCH_FILES
    assert all("echo: Original topic: " in line for line in syntheses)
