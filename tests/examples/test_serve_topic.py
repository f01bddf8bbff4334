"""`python examples/serve_topic.py`, run as a user would, called by every client the README shows:
a plain HTTP request (as curl sends it), `runnables.serve.RemoteRunnable`, LangServe's own client
and the official openai SDK."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langserve import RemoteRunnable as LangServeRemoteRunnable
from openai.types.chat import ChatCompletionMessageParam

from llm import StrOutputParser
from runnables.serve import RemoteRunnable
from tests.examples.test_examples import INSTRUCTIONS, example_env

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "Coral reefs"
SYNTHESIS = "[offline model] Based on the following information: / Summary: "
"""How the offline model's synthesis starts (it restates its instruction, then the input)."""
_ANSWERS: dict[str, str] = {}


def synthesis_of(url: str, topic: str) -> str:
    """The served chain's synthesis for `topic`, as a plain `/invoke` answers it (every client
    must read the same); checked against what the offline model is known to write."""
    if topic not in _ANSWERS:
        response = httpx.post(f"{url}/topic/invoke", json={"input": topic}, timeout=60)
        answer = response.json()["output"]["response"]
        assert answer.startswith(SYNTHESIS + INSTRUCTIONS["summary"])
        assert answer.endswith(f"Synthesize a comprehensive answer. | Original topic: {topic}")
        _ANSWERS[topic] = answer
    return _ANSWERS[topic]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[str]]]:
    """The example serving on a free port; yields its URL and the lines it printed first."""
    process = subprocess.Popen(
        [sys.executable, "examples/serve_topic.py", "--port", "0", "--latency", "0"],
        cwd=ROOT,
        env=example_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    url = None
    drain: threading.Thread | None = None
    try:
        # uvicorn says where it listens (the port it was given, 0, is resolved): read until then.
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            found = re.search(r"Uvicorn running on (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "\n".join(lines)
        # Keep reading its log (request lines) so the pipe never fills and stalls the server.
        drain = threading.Thread(target=process.stdout.read, daemon=True)
        drain.start()
        yield url, lines
    finally:
        process.terminate()
        process.wait(timeout=60)
        if drain is not None:
            drain.join(60)
        process.stdout.close()


def test_it_says_which_model_it_serves_first(server: tuple[str, list[str]]) -> None:
    _, lines = server
    assert lines[0].startswith("Model: offline (OfflineChatModel, no OPENAI_API_KEY set)")
    assert "LangServe protocol at /topic" in lines[1]
    assert "OpenAI-compatible at /v1" in lines[2]


def test_a_plain_http_request_invokes_it(server: tuple[str, list[str]]) -> None:
    url, _ = server
    response = httpx.post(f"{url}/topic/invoke", json={"input": TOPIC}, timeout=60)
    assert response.status_code == 200
    output = response.json()["output"]
    assert list(output) == ["summary", "questions", "key_terms", "topic", "response"]
    assert output["summary"] == f"[offline model] {INSTRUCTIONS['summary']} | {TOPIC}"
    assert output["topic"] == TOPIC
    assert output["response"] == synthesis_of(url, TOPIC)
    refused = httpx.post(f"{url}/topic/invoke", json={"input": {"topic": TOPIC}}, timeout=60)
    assert refused.status_code == 422  # the input is the topic itself, a string


def test_remote_runnable_invokes_and_streams_it(server: tuple[str, list[str]]) -> None:
    url, _ = server
    remote = RemoteRunnable(f"{url}/topic")
    assert remote.invoke(TOPIC)["response"] == synthesis_of(url, TOPIC)
    pieces = [c["response"] for c in remote.stream(TOPIC) if "response" in c]
    assert "".join(pieces) == synthesis_of(url, TOPIC)
    assert len(pieces) > 3  # the synthesis streamed through the server


def test_remote_runnable_composes(server: tuple[str, list[str]]) -> None:
    url, _ = server
    chain = RemoteRunnable(f"{url}/topic").pick("response") | StrOutputParser()
    assert chain.batch(["Bees", "Tides"]) == [synthesis_of(url, "Bees"), synthesis_of(url, "Tides")]


def test_langserves_own_client_invokes_and_streams_it(server: tuple[str, list[str]]) -> None:
    url, _ = server
    remote: Any = LangServeRemoteRunnable(f"{url}/topic")
    assert remote.invoke(TOPIC)["response"] == synthesis_of(url, TOPIC)
    pieces = [c["response"] for c in remote.stream(TOPIC) if "response" in c]
    assert "".join(pieces) == synthesis_of(url, TOPIC)


def test_the_openai_sdk_asks_it_a_topic(server: tuple[str, list[str]]) -> None:
    url, _ = server
    with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as client:
        assert [m.id for m in client.models.list()] == ["topic"]
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": "You are a researcher."},
            {"role": "user", "content": TOPIC},
        ]
        completion = client.chat.completions.create(model="topic", messages=messages)
        assert completion.choices[0].message.content == synthesis_of(url, TOPIC)
        stream = client.chat.completions.create(
            model="topic",
            messages=messages,
            stream=True,
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == synthesis_of(url, TOPIC)


def test_the_playground_is_served(server: tuple[str, list[str]]) -> None:
    url, _ = server
    page = httpx.get(f"{url}/topic/playground/", timeout=60)
    assert page.status_code == 200
    assert "<title>Playground</title>" in page.text
    schema = httpx.get(f"{url}/topic/input_schema", timeout=60).json()
    assert schema["type"] == "string"


def test_the_readme_curl_line_works(server: tuple[str, list[str]]) -> None:
    # The README's curl command, run with the server's port.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [command] = re.findall(r"^curl -s localhost:8000/topic/invoke .*$", readme, flags=re.M)
    port = server[0].rsplit(":", 1)[1]
    out = subprocess.run(
        command.replace("localhost:8000", f"127.0.0.1:{port}"),
        shell=True,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout)["output"]["response"].startswith(SYNTHESIS)


def test_the_readme_client_snippets_run(
    server: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    # The README's client code (```py blocks of "Serving over HTTP": they need a server, so
    # tests/test_readme.py, which runs the ```python blocks, leaves them to this test).
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Serving over HTTP", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```py\n(.*?)^```$", section, flags=re.S | re.M)
    assert blocks
    url, _ = server
    for code in blocks:
        exec(compile(code.replace("http://127.0.0.1:8000", url), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.count(synthesis_of(url, TOPIC)) == 5  # invoke, stream, LangServe, SDK, model
