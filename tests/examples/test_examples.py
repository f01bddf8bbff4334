"""The example scripts, run as a user would: `python examples/<name>.py [flags]` from the root.

Offline runs get an environment without `OPENAI_API_KEY`/`OPENAI_BASE_URL` and small latencies;
`parallel_topic.py`, `parallel_research.py`, `tool_calling.py` and `parallel_batch_ray.py` also
run against the loopback OpenAI server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.openai_server import WAIT_LIMIT, OpenAIServer, Reply, ToolCallSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [
    "parallel_topic.py",
    "parallel_research.py",
    "parallel_batch.py",
    "parallel_batch_flow.py",
    "tool_calling.py",
    "parallel_batch_ray.py",
    "multimodal.py",
]
TIMEOUT = WAIT_LIMIT
BRANCHES = {"summary": "Summary", "questions": "Questions", "key_terms": "Key Terms"}
INSTRUCTIONS = {
    "summary": "Summarize the following topic concisely:",
    "questions": "Generate three interesting questions about the following topic:",
    "key_terms": "Identify 5-10 key terms from the following topic, separated by commas:",
}
"""Each branch's system message: the offline model's reply restates it, then the topic."""
REQUEST = "Give me a short briefing on sustainable technology."
BATCH_FILES = ["apollo.txt", "coral.txt", "bees.txt"]
RESEARCH_KEYS = {
    "renewable_energy_result": "Renewable Energy",
    "ev_technology_result": "Electric Vehicles",
    "carbon_capture_result": "Carbon Capture",
}


def example_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any OpenAI settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(extra or {})
    return env


def command(script: str, *args: str) -> list[str]:
    """The command line, with the script path relative to the project root (run from there)."""
    return [sys.executable, f"examples/{script}", *args]


def run_example(
    script: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run an example from the project root; assert it exited 0."""
    proc = subprocess.run(
        command(script, *args),
        cwd=ROOT,
        env=example_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert proc.stderr == ""
    return proc


def section(output: str, title: str) -> str:
    """The text after the line containing `title`, up to the next header or `Done in` line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if title in line) + 1
    body = []
    for line in lines[start:]:
        if line.startswith(("---", "===", "## ", "Done in ")):
            break
        body.append(line)
    return "\n".join(body).strip()


def seconds(output: str, label: str) -> float:
    match = re.search(rf"^{re.escape(label)}\s+([0-9.]+) s$", output, flags=re.M)
    assert match, f"no {label!r} timing in:\n{output}"
    return float(match.group(1))


def system_text(body: Mapping[str, Any]) -> str:
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")


def user_text(body: Mapping[str, Any]) -> str:
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")


# -- every script --------------------------------------------------------------------------------


@pytest.mark.parametrize("script", EXAMPLES)
def test_help(script: str) -> None:
    proc = run_example(script, "--help")
    assert proc.stdout.startswith("usage:")


def test_bad_flag_value_is_a_usage_error() -> None:
    proc = subprocess.run(
        command("parallel_batch.py", "--latency", "-1"),
        cwd=ROOT,
        env=example_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 2
    assert "--latency" in proc.stderr
    assert ">= 0" in proc.stderr


# -- parallel_topic.py ---------------------------------------------------------------------------


def check_topic_output(output: str, topic: str) -> None:
    lines = output.splitlines()
    assert lines[0].startswith("Model: offline (OfflineChatModel, no OPENAI_API_KEY set)")
    assert f"Topic: {topic}" in lines
    replies = set()
    for key, title in BRANCHES.items():
        assert f"--- {title} ({key}) ---" in lines
        # Each branch visibly does its own task: its instruction, then the topic.
        reply = section(output, f"({key}) ---")
        assert reply == f"[offline model] {INSTRUCTIONS[key]} | {topic}"
        replies.add(reply)
    assert len(replies) == 3
    final = [i for i, line in enumerate(lines) if "Final Response" in line]
    assert len(final) == 1
    # The synthesis visibly combines the three: each branch's result appears in its reply.
    synthesis = lines[final[0] + 1]
    assert synthesis.startswith("[offline model] Based on the following information: / Summary: ")
    assert synthesis.endswith(f"Synthesize a comprehensive answer. | Original topic: {topic}")
    for label, key in [("Summary", "summary"), ("Related Questions", "questions")]:
        assert f"/ {label}: {INSTRUCTIONS[key]} | " in synthesis
    assert f"/ Key Terms: {INSTRUCTIONS['key_terms'][:-1].rsplit(' ', 1)[0]}" in synthesis
    assert re.search(r"^Done in [0-9.]+ s: 4 model calls", output, flags=re.M)


def test_topic_default_command() -> None:
    """The README's command, exactly: `python examples/parallel_topic.py` from the root."""
    proc = run_example("parallel_topic.py")
    check_topic_output(proc.stdout, "The history of space exploration")
    assert "Running: asyncio.run(...) with await chain.ainvoke(topic)" in proc.stdout
    # Timings are printed, not asserted: that the branches overlap is shown with held requests
    # in test_topic_against_openai_server.
    assert "(Offline latency is 0.5 s per call.)" in proc.stdout


@pytest.mark.parametrize(
    ("flags", "running"),
    [
        (["--sync"], "chain.invoke(topic)"),
        (["--stream"], "asyncio.run(...) with async for chunk in chain.astream(topic)"),
        (["--sync", "--stream"], "for chunk in chain.stream(topic)"),
    ],
)
def test_topic_modes(flags: list[str], running: str) -> None:
    proc = run_example("parallel_topic.py", *flags, "--latency", "0.02", "--topic", "Coral reefs")
    check_topic_output(proc.stdout, "Coral reefs")
    assert f"Running: {running}" in proc.stdout


def test_topic_graph_draws_the_chain_without_running_it() -> None:
    proc = run_example("parallel_topic.py", "--graph")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Model: offline")
    boxes = [name for line in lines for name in re.findall(r"\| (\S[^|]*\S) \|", line)]
    assert boxes[0] == "Parallel<summary,questions,key_terms,topic>Input"
    assert boxes[-1] == "SequenceOutput"
    for step in ("ChatPromptTemplate", "OfflineChatModel", "StrOutputParser"):
        assert boxes.count(step) == 4  # three branches and the synthesis
    assert boxes.count("Passthrough") == 2  # the topic, and assign's input keys
    assert "Done in" not in proc.stdout


def test_topic_graph_as_mermaid_fans_out_by_key_then_synthesizes() -> None:
    proc = run_example("parallel_topic.py", "--graph", "mermaid")
    text = proc.stdout.split("\n", 1)[1]
    assert text.startswith("flowchart TD\n")
    edges = re.findall(r"^\s+(\w+) -->(?:\|\"(\w+)\"\|)? (\w+)$", text, flags=re.M)
    start = "Parallel_summary_questions_key_terms_topic_Input"
    junction = "Parallel_summary_questions_key_terms_topic_Output"
    assert sorted((label, target) for source, label, target in edges if source == start) == [
        ("key_terms", "ChatPromptTemplate_3"),
        ("questions", "ChatPromptTemplate_2"),
        ("summary", "ChatPromptTemplate"),
        ("topic", "Passthrough"),
    ]
    chain = [("ChatPromptTemplate_4", "", "OfflineChatModel_4")]
    chain += [("OfflineChatModel_4", "", "StrOutputParser_4")]
    chain += [("StrOutputParser_4", "", "SequenceOutput")]
    assert set(chain) <= set(edges)
    assert (junction, "response", "ChatPromptTemplate_4") in edges
    assert f"{start}([" in text
    assert "SequenceOutput([" in text


@pytest.mark.parametrize(("form", "fence"), [("ascii", "```\n"), ("mermaid", "```mermaid\n")])
def test_readme_shows_the_topic_graph_the_example_prints(form: str, fence: str) -> None:
    picture = run_example("parallel_topic.py", "--graph", form).stdout.split("\n", 1)[1]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{fence}{picture.rstrip()}\n```" in readme


def test_topic_against_openai_server(openai_server: OpenAIServer) -> None:
    branch_replies = ["reply one", "reply two", "reply three"]
    for text in [*branch_replies, "the synthesis"]:
        openai_server.reply(text)
    hold = openai_server.hold_requests(3)  # the three branches must be in flight together
    env = example_env({"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": openai_server.base_url})
    with subprocess.Popen(
        command("parallel_topic.py", "--model", "test-model"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            hold.wait_arrived(timeout=TIMEOUT)
            hold.release()
            stdout, stderr = proc.communicate(timeout=TIMEOUT)
        finally:
            hold.release()
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, f"{stdout}\n{stderr}"
    lines = stdout.splitlines()
    assert lines[0] == f"Model: ChatOpenAI test-model at {openai_server.base_url}"

    requests = openai_server.requests
    assert len(requests) == 4  # summary, questions, key terms, then the synthesis
    assert {r["model"] for r in requests} == {"test-model"}
    branch_requests, synthesis = requests[:3], requests[3]
    # Replies go out in arrival order: map each branch to the reply its request received.
    got: dict[str, str] = {}
    for body, text in zip(branch_requests, branch_replies, strict=True):
        assert user_text(body) == "The history of space exploration"
        system = system_text(body)
        key = (
            "summary"
            if "Summarize" in system
            else "questions"
            if "questions" in system
            else "key_terms"
        )
        got[key] = text
    assert set(got) == set(BRANCHES)

    assert user_text(synthesis) == "Original topic: The history of space exploration"
    synthesis_system = system_text(synthesis)
    assert f"Summary: {got['summary']}" in synthesis_system
    assert f"Related Questions: {got['questions']}" in synthesis_system
    assert f"Key Terms: {got['key_terms']}" in synthesis_system

    for key, title in BRANCHES.items():
        assert section(stdout, f"--- {title} ({key}) ---") == got[key]
    assert section(stdout, "Final Response") == "the synthesis"


def test_topic_streams_from_openai_server(openai_server: OpenAIServer) -> None:
    env = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": openai_server.base_url}
    proc = run_example("parallel_topic.py", "--stream", "--topic", "Tides", env=env)
    assert proc.stdout.startswith("Model: ChatOpenAI gpt-4o-mini at ")
    requests = openai_server.requests
    assert len(requests) == 4
    assert all(r.get("stream") is True for r in requests)
    # The server's default reply echoes the last user message.
    assert section(proc.stdout, "(summary) ---") == "echo: Tides"
    assert section(proc.stdout, "Final Response") == "echo: Original topic: Tides"


# -- parallel_research.py ------------------------------------------------------------------------


def test_research_offline() -> None:
    proc = run_example("parallel_research.py", "--latency", "0.02")
    out = proc.stdout
    lines = out.splitlines()
    assert lines[0].startswith("Model: offline (OfflineChatModel, no OPENAI_API_KEY set)")
    assert "no web search" in out
    for key, heading in RESEARCH_KEYS.items():
        assert f"## {heading} ({key})" in lines
        finding = section(out, f"({key})")
        assert finding.startswith("[offline model] You are an AI Research Assistant specializing")
        assert " | Describe " in finding
    report = section(out, "Final Report")
    assert report.startswith("[offline model] You are an AI Assistant responsible for combining")
    for heading in RESEARCH_KEYS.values():  # the merger's reply shows each researcher's result
        assert f"* **{heading}:** You are an AI Research Assistant specializing" in report
    assert report.endswith("| Write the report for this request: " + REQUEST)
    assert "3 researchers at the same time, then the merger" in out


def test_research_sync_against_openai_server(openai_server: OpenAIServer) -> None:
    env = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": openai_server.base_url}
    proc = run_example("parallel_research.py", "--sync", env=env)
    assert proc.stdout.startswith("Model: ChatOpenAI gpt-4o-mini at ")
    requests = openai_server.requests
    assert len(requests) == 4
    researchers, merger = requests[:3], requests[3]
    for body in researchers:
        assert "no web search" in system_text(body)
    merger_system = system_text(merger)
    for key, heading in RESEARCH_KEYS.items():
        # Each result (an echo of that researcher's user message) reaches the merger's prompt.
        result = section(proc.stdout, f"({key})")
        assert result.startswith("echo: Describe")
        assert f"* **{heading}:** {result}" in merger_system
        assert f'"## {heading}"' in merger_system


# -- parallel_batch.py ---------------------------------------------------------------------------


def test_batch_offline() -> None:
    latency = 0.15
    proc = run_example("parallel_batch.py", "--latency", str(latency))
    out = proc.stdout
    assert out.splitlines()[0].startswith("Model: offline (OfflineChatModel, no OPENAI_API_KEY")
    summaries = section(out, "Summaries (in input order)").splitlines()
    assert [line.split(":")[0] for line in summaries] == BATCH_FILES
    for line in summaries:  # each file's own instruction, then its text
        name = line.split(":")[0]
        assert f"[offline model] Summarize the text from the file {name} in one short" in line
    # Timings and the speed-up are printed, not asserted (wall-clock belongs in benchmarks):
    # that the calls run one at a time, then all at once, is shown with gates in
    # test_batch_against_openai_server_runs_one_at_a_time_then_all_at_once.
    seconds(out, "One at a time:")
    seconds(out, "All at once:")
    assert re.search(r"^Speed-up:\s+[0-9.]+x$", out, flags=re.M)


def test_batch_against_openai_server_runs_one_at_a_time_then_all_at_once(
    openai_server: OpenAIServer,
) -> None:
    # Each call of the one-at-a-time run waits at its own gate; the three calls of the
    # all-at-once run wait at one gate that opens only once all three are at the server.
    one_at_a_time = [openai_server.gate() for _ in BATCH_FILES]
    for name, gate in zip(BATCH_FILES, one_at_a_time, strict=True):
        openai_server.queue(Reply(f"one summary of {name}", gate=gate))
    all_at_once = openai_server.gate(len(BATCH_FILES))
    for _ in BATCH_FILES:
        openai_server.queue(Reply("a summary", gate=all_at_once))
    env = example_env({"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": openai_server.base_url})
    with subprocess.Popen(
        command("parallel_batch.py"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            for i, gate in enumerate(one_at_a_time):
                gate.wait_arrived(timeout=TIMEOUT)
                # While call i is held, the next one has not been sent.
                assert len(openai_server.requests) == i + 1
                gate.release()
            all_at_once.wait_arrived(timeout=TIMEOUT)  # the three calls are in flight together
            all_at_once.release()
            stdout, stderr = proc.communicate(timeout=TIMEOUT)
        finally:
            all_at_once.release()
            for gate in one_at_a_time:
                gate.release()
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, f"{stdout}\n{stderr}"
    assert stderr == ""
    requests = openai_server.requests
    assert len(requests) == 2 * len(BATCH_FILES)
    # One at a time sends the texts in input order; all at once sends each text once.
    assert [system_text(body).split()[-5] for body in requests[:3]] == BATCH_FILES
    assert sorted(system_text(body).split()[-5] for body in requests[3:]) == sorted(BATCH_FILES)
    summaries = section(stdout, "Summaries (in input order)").splitlines()
    assert summaries == [f"{name}: a summary" for name in BATCH_FILES]


# -- parallel_batch_flow.py ----------------------------------------------------------------------


def test_batch_flow(tmp_path: Path) -> None:
    delay = 0.01
    proc = run_example(
        "parallel_batch_flow.py", "--io-delay", str(delay), "--output-dir", str(tmp_path)
    )
    out = proc.stdout
    assert out.splitlines()[0].startswith("Runs: 3 images x 3 filters = 9 load -> filter -> save")
    assert "no LLM" in out.splitlines()[0]
    for image in ["cat", "dog", "bird"]:
        for name in ["grayscale", "blur", "sepia"]:
            saved = f"{image}_{name}.ppm"
            assert re.search(rf"^{image}\.jpg x {name}\s+-> {saved}\s+203 bytes", out, flags=re.M)
            data = (tmp_path / saved).read_bytes()
            assert data.startswith(b"P6\n8 8\n255\n")
            assert len(data) == 203
    # Timings are printed, not asserted; max_concurrency across nested steps is tested with
    # events in tests/runnables/test_concurrency.py.
    seconds(out, "One at a time:")
    seconds(out, "All at once (max_concurrency 4):")
    assert re.search(r"^Speed-up:\s+[0-9.]+x$", out, flags=re.M)


def test_batch_flow_grayscale_is_gray(tmp_path: Path) -> None:
    run_example("parallel_batch_flow.py", "--io-delay", "0", "--output-dir", str(tmp_path))
    pixels = (tmp_path / "cat_grayscale.ppm").read_bytes()[len(b"P6\n8 8\n255\n") :]
    assert all(pixels[i] == pixels[i + 1] == pixels[i + 2] for i in range(0, len(pixels), 3))
    assert pixels != (tmp_path / "cat_sepia.ppm").read_bytes()[len(b"P6\n8 8\n255\n") :]


# -- tool_calling.py -----------------------------------------------------------------------------

QUESTION = "What is the weather in Paris and in Tokyo, and how much warmer is the warmer?"


@pytest.mark.parametrize("flags", [[], ["--sync"]], ids=["async", "sync"])
def test_tool_calling_offline(flags: list[str]) -> None:
    proc = run_example("tool_calling.py", "--latency", "0", *flags)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Model: offline (OfflineChatModel, no OPENAI_API_KEY set)")
    assert lines[1] == "Tools: get_weather, subtract"
    start = lines.index("") + 1
    assert lines[start : start + 6] == [
        'model calls get_weather({"city": "Paris"}) [call_paris]',
        'model calls get_weather({"city": "Tokyo"}) [call_tokyo]',
        '  <- get_weather [call_paris]: {"city": "Paris", "celsius": 18, "sky": "cloudy"}',
        '  <- get_weather [call_tokyo]: {"city": "Tokyo", "celsius": 24, "sky": "sunny"}',
        'model calls subtract({"a": 24, "b": 18}) [call_diff]',
        "  <- subtract [call_diff]: 6.0",
    ]
    # The answer is built from what the tools returned.
    assert (
        "Answer: [offline model] Tokyo is 24 °C and sunny, Paris 18 °C and cloudy: "
        "Tokyo is 6 °C warmer."
    ) in lines
    assert "2 round(s) of tool calls, 6 messages after the question." in lines


def test_tool_calling_rounds_are_bounded_by_the_recursion_limit() -> None:
    proc = subprocess.run(
        command("tool_calling.py", "--latency", "0", "--max-rounds", "1"),
        cwd=ROOT,
        env=example_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Stopped: the model was still calling tools after 1 round(s)." in proc.stdout
    assert "Answer:" not in proc.stdout


def test_tool_calling_against_openai_server(openai_server: OpenAIServer) -> None:
    openai_server.queue(
        Reply(
            tool_calls=[
                ToolCallSpec("get_weather", {"city": "Lima"}, id="w1"),
                ToolCallSpec("get_weather", {"city": "Atlantis"}, id="w2"),  # the tool fails
            ]
        ),
        Reply(tool_calls=[ToolCallSpec("subtract", {"a": 20, "b": 9}, id="s1")]),
        Reply("Lima is 11 degrees warmer than Oslo."),
    )
    env = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": openai_server.base_url}
    proc = run_example("tool_calling.py", "--question", "Lima vs Atlantis?", env=env)
    assert proc.stdout.startswith("Model: ChatOpenAI gpt-4o-mini at ")
    assert "Answer: Lima is 11 degrees warmer than Oslo." in proc.stdout

    first, second, third = openai_server.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather", "subtract"]
    assert first["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["messages"][1]["content"] == "Lima vs Atlantis?"
    # The model's calls go back with the tools' answers, in call order, the failure included.
    assistant, lima, atlantis = second["messages"][2:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["w1", "w2"]
    assert (lima["role"], lima["tool_call_id"]) == ("tool", "w1")
    assert json.loads(lima["content"]) == {"city": "Lima", "celsius": 20, "sky": "overcast"}
    assert atlantis["tool_call_id"] == "w2"
    assert atlantis["content"].startswith("Error: ValueError: no weather for 'Atlantis'")
    assert third["messages"][-1] == {"role": "tool", "content": "11.0", "tool_call_id": "s1"}
    assert len(third["messages"]) == 7


# -- parallel_batch_ray.py ------------------------------------------------------------------------

RAY_START_TIMEOUT = 120.0  # a local Ray takes seconds to start, more on a busy machine


def check_ray_summaries(output: str, copies: int, prefix: str) -> None:
    lines = section(output, "Summaries (in input order)").splitlines()
    names = [line.split(":")[0] for line in lines]
    assert names[:3] == ["apollo.txt", "coral.txt", "bees.txt"]
    assert names[3:6] == ["apollo.txt#1", "coral.txt#1", "bees.txt#1"]
    assert len(names) == 3 * copies
    assert all(line.split(": ", 1)[1].startswith(prefix) for line in lines)
    assert "Same summaries in the same order from one process and from Ray." in output


def test_batch_ray_starts_a_local_ray_by_default() -> None:
    proc = run_example(
        "parallel_batch_ray.py", "--latency", "0.02", "--copies", "2", timeout=RAY_START_TIMEOUT
    )
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Model: offline (OfflineChatModel, no OPENAI_API_KEY set)")
    assert lines[1] == "Ray: local (started here), 2 workers"
    assert lines[2] == "Texts: 6 (3 texts x 2)"
    check_ray_summaries(proc.stdout, 2, "[offline model] ")


def test_batch_ray_joins_a_cluster_and_keeps_one_limit(
    ray_session: None, openai_server: OpenAIServer
) -> None:
    import ray

    address = ray.get_runtime_context().gcs_address
    env = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": openai_server.base_url}
    proc = run_example(
        "parallel_batch_ray.py",
        "--address",
        address,
        "--max-concurrency",
        "3",
        env=env,
        timeout=RAY_START_TIMEOUT,
    )
    assert proc.stdout.splitlines()[1] == f"Ray: cluster at {address}, 2 workers"
    check_ray_summaries(proc.stdout, 4, "echo: ")
    requests = openai_server.requests
    assert len(requests) == 2 * 12  # every text once in this process, once on Ray
    assert openai_server.max_active <= 3
