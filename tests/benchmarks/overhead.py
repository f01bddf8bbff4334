"""Framework overhead on the seed chain, against the same work in plain asyncio.

Run: `python tests/benchmarks/overhead.py`. Not collected by pytest (no `test_` prefix).

1. The seed chain's shape from async lambdas: three 3-step branches and a passthrough in
   parallel, then 3 more steps, all doing trivial work. The baseline awaits the same functions
   by hand, with the branches in an `asyncio.TaskGroup`.
2. The real seed chain: `ChatPromptTemplate | OfflineChatModel | StrOutputParser` three times in
   parallel with the topic passed through, then a synthesis prompt, model and parser (the model
   at zero latency). The baseline formats the same messages with `str.format`, builds the same
   message objects and calls the same model method directly, in an `asyncio.TaskGroup`.

Prints microseconds per call and ratios against the baseline measured in the same run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from llm import OfflineChatModel, StrOutputParser
from prompts import AIMessage, BaseMessage, ChatPromptTemplate, HumanMessage, SystemMessage
from runnables import RunnableLambda, RunnableParallel, RunnablePassthrough


async def step_a(x: Any) -> Any:
    return x


async def step_b(x: Any) -> Any:
    return x


async def step_c(x: Any) -> Any:
    return x


async def merge(d: dict[str, Any]) -> dict[str, Any]:
    return d


def build_chain() -> Any:
    def branch() -> Any:
        return RunnableLambda(step_a) | step_b | step_c

    return (
        RunnableParallel(s=branch(), q=branch(), k=branch(), topic=RunnablePassthrough())
        | merge
        | step_b
        | step_c
    )


async def plain(x: Any) -> Any:
    async def branch(v: Any) -> Any:
        return await step_c(await step_b(await step_a(v)))

    async with asyncio.TaskGroup() as tg:
        s = tg.create_task(branch(x))
        q = tg.create_task(branch(x))
        k = tg.create_task(branch(x))
    out = {"s": s.result(), "q": q.result(), "k": k.result(), "topic": x}
    return await step_c(await step_b(await merge(out)))


TASKS = {
    "summary": "Summarize the following topic concisely:",
    "questions": "Generate three interesting questions about the following topic:",
    "key_terms": "Identify 5-10 key terms from the following topic, separated by commas:",
}
SYNTHESIS = (
    "Based on the following information:\nSummary: {summary}\nRelated Questions: {questions}\n"
    "Key Terms: {key_terms}\nSynthesize a comprehensive answer about {topic}."
)


def build_seed_chain(model: OfflineChatModel) -> Any:
    def branch(task: str) -> Any:
        prompt = ChatPromptTemplate.from_messages([("system", task), ("user", "{topic}")])
        return prompt | model | StrOutputParser()

    branches: dict[str, Any] = {key: branch(task) for key, task in TASKS.items()}
    synthesis = ChatPromptTemplate.from_messages(
        [("system", SYNTHESIS), ("user", "Original topic: {topic}")]
    )
    return (
        RunnableParallel(**branches, topic=RunnablePassthrough())
        | synthesis
        | model
        | StrOutputParser()
    )


def plain_seed(model: OfflineChatModel) -> Callable[[str], Awaitable[str]]:
    async def call(messages: list[BaseMessage]) -> str:
        reply: AIMessage = await model._agenerate(messages)
        return reply.content

    async def plain(topic: str) -> str:
        async with asyncio.TaskGroup() as tg:
            tasks = {
                key: tg.create_task(
                    call([SystemMessage(content=task), HumanMessage(content=topic)])
                )
                for key, task in TASKS.items()
            }
        values = {key: t.result() for key, t in tasks.items()}
        messages: list[BaseMessage] = [
            SystemMessage(content=SYNTHESIS.format(**values, topic=topic)),
            HumanMessage(content=f"Original topic: {topic}"),
        ]
        return await call(messages)

    return plain


async def time_async(fn: Callable[[Any], Awaitable[Any]], n: int) -> float:
    for _ in range(min(n, 200)):
        await fn("topic")
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            await fn("topic")
        best = min(best, (time.perf_counter() - start) / n)
    return best


def time_sync(fn: Callable[[Any], Any], n: int) -> float:
    for _ in range(min(n, 100)):
        fn("topic")
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn("topic")
        best = min(best, (time.perf_counter() - start) / n)
    return best


def main(n: int = 2000) -> None:
    chain = build_chain()

    async def measure() -> tuple[float, float]:
        assert await chain.ainvoke("topic") == await plain("topic")
        return await time_async(plain, n), await time_async(chain.ainvoke, n)

    base, ours = asyncio.run(measure())
    sync = time_sync(chain.invoke, n // 4)
    print(f"plain asyncio      {base * 1e6:8.1f} us/call")
    print(
        f"chain.ainvoke      {ours * 1e6:8.1f} us/call   {ours / base:5.2f}x plain (target <= 2.5x)"
    )
    print(
        f"chain.invoke       {sync * 1e6:8.1f} us/call   {sync / base:5.2f}x plain (target <= 8x)"
    )

    model = OfflineChatModel()
    seed = build_seed_chain(model)
    plain_fn = plain_seed(model)

    async def measure_seed() -> tuple[float, float]:
        assert await seed.ainvoke("topic") == await plain_fn("topic")
        return await time_async(plain_fn, n // 2), await time_async(seed.ainvoke, n // 2)

    seed_base, seed_ours = asyncio.run(measure_seed())
    print()
    print(f"seed chain, plain  {seed_base * 1e6:8.1f} us/call")
    print(
        f"seed chain.ainvoke {seed_ours * 1e6:8.1f} us/call   "
        f"{seed_ours / seed_base:5.2f}x plain (target <= 2.5x)"
    )


if __name__ == "__main__":
    main()
