"""The seed chain end to end against the loopback server: every request the server saw, and the
three branch requests overlapping (all three held at the server at once)."""

from typing import Any

import anyio
import pytest

from llm import ChatOpenAI, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import RunnableParallel, RunnablePassthrough
from tests.openai_server import OpenAIServer

TASKS = {
    "summary": "Summarize the following topic concisely:",
    "questions": "Generate three interesting questions about the following topic:",
    "key_terms": "Identify 5-10 key terms from the following topic, separated by commas:",
}


def seed_chain(model: ChatOpenAI) -> Any:
    def branch(task: str) -> Any:
        prompt = ChatPromptTemplate.from_messages([("system", task), ("user", "{topic}")])
        return prompt | model | StrOutputParser()

    synthesis = ChatPromptTemplate.from_messages(
        [
            (
                "system",
                "Based on the following information:\nSummary: {summary}\n"
                "Related Questions: {questions}\nKey Terms: {key_terms}\n"
                "Synthesize a comprehensive answer.",
            ),
            ("user", "Original topic: {topic}"),
        ]
    )
    branches = {key: branch(task) for key, task in TASKS.items()}
    return (
        RunnableParallel(**branches, topic=RunnablePassthrough())
        | synthesis
        | model
        | StrOutputParser()
    )


@pytest.mark.anyio
async def test_seed_chain_against_the_server(openai_server: OpenAIServer) -> None:
    model = ChatOpenAI(
        model="gpt-test", temperature=0.7, base_url=openai_server.base_url, api_key="test"
    )
    chain = seed_chain(model)
    held = openai_server.hold_requests(3)
    result: list[str] = []

    async def run() -> None:
        result.append(await chain.ainvoke("The history of space exploration"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        # All three branch requests are at the server at once before any gets an answer.
        await held.wait_arrived_async()
        assert held.arrived == 3
        assert not result
        held.release()

    requests = openai_server.requests
    assert len(requests) == 4
    assert all(r["model"] == "gpt-test" and r["temperature"] == 0.7 for r in requests)
    branch_systems = sorted(r["messages"][0]["content"] for r in requests[:3])
    assert branch_systems == sorted(TASKS.values())
    for r in requests[:3]:
        assert [m["role"] for m in r["messages"]] == ["system", "user"]
        assert r["messages"][1]["content"] == "The history of space exploration"
    synthesis = requests[3]["messages"]
    echo = "echo: The history of space exploration"
    assert (
        f"Summary: {echo}\nRelated Questions: {echo}\nKey Terms: {echo}" in synthesis[0]["content"]
    )
    assert synthesis[1] == {
        "role": "user",
        "content": "Original topic: The history of space exploration",
    }
    assert result == ["echo: Original topic: The history of space exploration"]
