"""The example scripts, run as a user would: `python examples/<name>.py [flags]` from the root.

Offline runs get an environment without `OPENAI_API_KEY`/`OPENAI_BASE_URL` and small latencies;
`parallel_topic.py` and `parallel_research.py` also run against the loopback OpenAI server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.openai_server import OpenAIServer, Reply

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [
    "parallel_topic.py",
    "parallel_research.py",
    "parallel_batch.py",
    "parallel_batch_flow.py",
]
TIMEOUT = 30.0
BRANCHES = {"summary": "Summary", "questions": "Questions", "key_terms": "Key Terms"}
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
    script: str, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an example from the project root; assert it exited 0."""
    proc = subprocess.run(
        command(script, *args),
        cwd=ROOT,
        env=example_env(env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
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
    for key, title in BRANCHES.items():
        assert f"--- {title} ({key}) ---" in lines
        assert section(output, f"({key}) ---") == f"[offline model] reply to: {topic}"
    final = [i for i, line in enumerate(lines) if "Final Response" in line]
    assert len(final) == 1
    assert lines[final[0] + 1] == f"[offline model] reply to: Original topic: {topic}"
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
        assert section(out, f"({key})").startswith("[offline model] reply to: Describe")
    assert section(out, "Final Report").startswith("[offline model] reply to: Write the report")
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
    assert all("[offline model] reply to: " in line for line in summaries)
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
