"""Framework overhead on the seed chain, against the same work in plain asyncio.

Run: `python tests/benchmarks/overhead.py`. Not collected by pytest (no `test_` prefix).

1. The seed chain's shape from async lambdas: three 3-step branches and a passthrough in
   parallel, then 3 more steps, all doing trivial work. The baseline awaits the same functions
   by hand, with the branches in an `asyncio.TaskGroup`.
2. The real seed chain: `ChatPromptTemplate | OfflineChatModel | StrOutputParser` three times in
   parallel with the topic passed through, then a synthesis prompt, model and parser (the model
   at zero latency). The baseline is what someone would write by hand in plain asyncio: it
   formats the same prompts with `str.format` and sends plain message dicts
   (`{"role": ..., "content": ...}`) to a zero-latency model function giving the same reply,
   the three branches in an `asyncio.TaskGroup`. None of the project's code (no message
   objects, no model class) runs on the baseline's side.

A third row measures a floor: the same plain asyncio, but building the project's pydantic
messages as a user would (validated constructors: `SystemMessage`, `HumanMessage`, an
`AIMessage` reply whose `.content` is the output), which the public API requires.

Rounds alternate between the baseline and the chain (A, B, A, B, ...); each figure is the best
round. Prints microseconds per call and ratios against the baseline measured in the same run.
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


def _shorten(text: str, limit: int) -> str:
    words = text.replace("[offline model] ", "").split()
    return " ".join(words) if len(words) <= limit else " ".join(words[:limit]) + " ..."


async def plain_model(messages: list[dict[str, str]]) -> str:
    """A zero-latency chat model by hand: the offline model's default reply (the instruction's
    lines and the input, shortened) computed from plain message dicts."""
    lines = [
        _shorten(line, 12)
        for m in messages
        if m["role"] == "system"
        for line in m["content"].splitlines()
        if line.strip()
    ]
    users = [m["content"] for m in messages if m["role"] == "user"]
    text = users[-1] if users else ""
    echo = _shorten(text, 24) if text.strip() else "(no input)"
    return f"[offline model] {' / '.join(lines)} | {echo}"


def plain_seed(model: object = None) -> Callable[[str], Awaitable[str]]:
    """The seed chain in plain asyncio: str.format, message dicts, `plain_model` (`model` is
    unused; kept so callers can pass the chain's model)."""

    async def plain(topic: str) -> str:
        async with asyncio.TaskGroup() as tg:
            tasks = {
                key: tg.create_task(
                    plain_model(
                        [{"role": "system", "content": task}, {"role": "user", "content": topic}]
                    )
                )
                for key, task in TASKS.items()
            }
        values = {key: t.result() for key, t in tasks.items()}
        return await plain_model(
            [
                {"role": "system", "content": SYNTHESIS.format(**values, topic=topic)},
                {"role": "user", "content": f"Original topic: {topic}"},
            ]
        )

    return plain


_ROLES = {"system": "system", "human": "user"}


def plain_seed_messages() -> Callable[[str], Awaitable[str]]:
    """`plain_seed` building the project's message objects (the floor pydantic messages set)."""

    async def model(messages: list[BaseMessage]) -> AIMessage:
        text = await plain_model([{"role": _ROLES[m.type], "content": m.text} for m in messages])
        return AIMessage(content=text)

    async def plain(topic: str) -> str:
        async with asyncio.TaskGroup() as tg:
            tasks = {
                key: tg.create_task(
                    model([SystemMessage(content=task), HumanMessage(content=topic)])
                )
                for key, task in TASKS.items()
            }
        values = {key: t.result().text for key, t in tasks.items()}
        reply = await model(
            [
                SystemMessage(content=SYNTHESIS.format(**values, topic=topic)),
                HumanMessage(content=f"Original topic: {topic}"),
            ]
        )
        return reply.text

    return plain


async def alternate(
    fns: dict[str, Callable[[Any], Awaitable[Any]]], n: int, rounds: int = 7
) -> dict[str, float]:
    """Seconds per call of each function: rounds alternate between them, best round wins."""
    for fn in fns.values():
        for _ in range(min(n, 200)):
            await fn("topic")
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(n):
                await fn("topic")
            best[name] = min(best[name], (time.perf_counter() - start) / n)
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

    async def measure() -> dict[str, float]:
        assert await chain.ainvoke("topic") == await plain("topic")
        return await alternate({"plain": plain, "ours": chain.ainvoke}, n)

    times = asyncio.run(measure())
    base, ours = times["plain"], times["ours"]
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
    plain_fn = plain_seed()

    floor_fn = plain_seed_messages()

    async def measure_seed() -> dict[str, float]:
        assert await seed.ainvoke("topic") == await plain_fn("topic") == await floor_fn("topic")
        fns = {"plain": plain_fn, "messages": floor_fn, "ours": seed.ainvoke}
        return await alternate(fns, n // 2)

    times = asyncio.run(measure_seed())
    seed_base, floor, seed_ours = times["plain"], times["messages"], times["ours"]
    print()
    print(f"seed chain, plain asyncio (str.format, message dicts) {seed_base * 1e6:8.1f} us/call")
    print(
        f"  the same with the project's pydantic messages       {floor * 1e6:8.1f} us/call   "
        f"{floor / seed_base:5.2f}x plain"
    )
    print(
        f"seed chain.ainvoke                                    {seed_ours * 1e6:8.1f} us/call   "
        f"{seed_ours / seed_base:5.2f}x plain (target <= 2.0x)"
    )


if __name__ == "__main__":
    main()
