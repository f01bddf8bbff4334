"""A model that calls tools until it answers, written as runnables.

The agent is a chain: ask the model (with the tools bound) and append its reply to the
conversation; if the reply calls tools, run them all at once (`ToolExecutor`), append their
results and go round again; otherwise stop. Each round is a step returning the next runnable to
run, so the run's `recursion_limit` bounds the number of rounds.

    python examples/tool_calling.py                       # asyncio.run(agent.ainvoke(...))
    python examples/tool_calling.py --sync                # agent.invoke(...), no event loop
    python examples/tool_calling.py --max-rounds 1        # stop after one round of tool calls
    python examples/tool_calling.py --question "Weather in Lima and Oslo?"

Without `OPENAI_API_KEY` it runs offline: `OfflineChatModel` is scripted to plan the calls a real
model would make for the default question, reading the tools' results from the conversation. With
`OPENAI_API_KEY` it calls `ChatOpenAI` (`--model`, else `OPENAI_MODEL`, else gpt-4o-mini).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from _common import add_model_arguments, choose_model, positive_int

from llm import BaseChatModel, OfflineChatModel, ToolExecutor, tool
from prompts import AIMessage, BaseMessage, ChatPromptTemplate, ToolMessage, tool_call
from runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)

DEFAULT_QUESTION = "What is the weather in Paris and in Tokyo, and how much warmer is the warmer?"
WEATHER = {
    "paris": {"celsius": 18, "sky": "cloudy"},
    "tokyo": {"celsius": 24, "sky": "sunny"},
    "lima": {"celsius": 20, "sky": "overcast"},
    "oslo": {"celsius": 9, "sky": "rainy"},
}
"""The offline weather service: a fixed table, so every run gives the same answers."""


@tool
def get_weather(city: str) -> dict[str, Any]:
    """Get today's weather in a city: temperature in degrees Celsius and the sky.

    Args:
        city: The city's name, e.g. "Paris".
    """
    found = WEATHER.get(city.strip().lower())
    if found is None:
        raise ValueError(f"no weather for {city!r}; known cities: {sorted(WEATHER)}")
    return {"city": city, **found}


@tool
async def subtract(a: float, b: float) -> float:
    """Subtract b from a.

    Args:
        a: The number to subtract from.
        b: The number to subtract.
    """
    return a - b


TOOLS = [get_weather, subtract]


def build_agent(model: BaseChatModel) -> Runnable[list[BaseMessage], list[BaseMessage]]:
    """Messages in, the whole conversation out (ending with the model's answer)."""
    call_model = model.bind_tools(TOOLS)
    run_tools = ToolExecutor(TOOLS, handle_errors=True)  # a failing tool is shown to the model

    def append(step: Runnable[Any, Any]) -> Runnable[list[BaseMessage], list[BaseMessage]]:
        """The conversation, plus what `step` makes of it (a message or a list of them)."""

        def concat(parts: dict[str, Any]) -> list[BaseMessage]:
            new = parts["new"]
            return [*parts["history"], *(new if isinstance(new, list) else [new])]

        return RunnableParallel(history=RunnablePassthrough(), new=step) | concat

    def next_round(messages: list[BaseMessage]) -> Any:
        """Stop at an answer; after tool calls, run the tools and ask the model again."""
        reply = messages[-1]
        if isinstance(reply, AIMessage) and reply.tool_calls:
            return append(run_tools) | agent  # a runnable to run: one level of recursion
        return messages

    agent: Runnable[list[BaseMessage], list[BaseMessage]] = append(call_model) | RunnableLambda(
        next_round, name="next_round"
    )
    return agent


def build_chain(model: BaseChatModel) -> Runnable[dict[str, str], list[BaseMessage]]:
    """The prompt, then the agent."""
    prompt = ChatPromptTemplate.from_messages(
        [
            (
                "system",
                "You answer questions about the weather. Use the tools for every fact and "
                "every calculation, then answer in one sentence.",
            ),
            ("human", "{question}"),
        ]
    )
    return (
        prompt
        | RunnableLambda(lambda value: value.to_messages(), name="messages")
        | (build_agent(model))
    )


def offline_plan(messages: list[BaseMessage]) -> str | AIMessage:
    """What the offline model says next: the calls a real model would make, then the answer.

    It reads the tools' results from the conversation, so the answer shows what they returned.
    """
    results = [m for m in messages if isinstance(m, ToolMessage)]
    weather = [json.loads(m.text) for m in results if m.name == "get_weather"]
    if not weather:  # round 1: both cities at once
        return AIMessage(
            content="",
            tool_calls=[
                tool_call(name="get_weather", args={"city": "Paris"}, id="call_paris"),
                tool_call(name="get_weather", args={"city": "Tokyo"}, id="call_tokyo"),
            ],
        )
    warm, cool = sorted(weather, key=lambda w: w["celsius"], reverse=True)
    difference = [m.text for m in results if m.name == "subtract"]
    if not difference:  # round 2: the arithmetic, by tool as well
        args = {"a": warm["celsius"], "b": cool["celsius"]}
        return AIMessage(
            content="", tool_calls=[tool_call(name="subtract", args=args, id="call_diff")]
        )
    return (
        f"[offline model] {warm['city']} is {warm['celsius']} °C and {warm['sky']}, "
        f"{cool['city']} {cool['celsius']} °C and {cool['sky']}: {warm['city']} is "
        f"{float(difference[0]):g} °C warmer."
    )


def print_conversation(messages: list[BaseMessage]) -> None:
    for message in messages[2:]:  # after the system message and the question
        if isinstance(message, ToolMessage):
            print(f"  <- {message.name} [{message.tool_call_id}]: {message.content}")
        elif isinstance(message, AIMessage) and message.tool_calls:
            for call in message.tool_calls:
                print(f"model calls {call['name']}({json.dumps(call['args'])}) [{call['id']}]")
        else:
            print(f"\nAnswer: {message.content}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="A model that calls tools (weather, subtraction) until it answers."
    )
    parser.add_argument("--question", default=DEFAULT_QUESTION, help="what to ask")
    parser.add_argument(
        "--max-rounds",
        type=positive_int,
        default=5,
        metavar="N",
        help="most rounds of tool calls (the run's recursion_limit; default: %(default)s)",
    )
    parser.add_argument("--sync", action="store_true", help="use invoke instead of ainvoke")
    add_model_arguments(parser, default_latency=0.1)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    choice = choose_model(args.model, latency=args.latency)
    model: BaseChatModel = choice.model
    if choice.offline:
        model = OfflineChatModel(responses=offline_plan, latency=args.latency)
        print(
            "Model: offline (OfflineChatModel, no OPENAI_API_KEY set): scripted to call the "
            f"tools for the default question, {args.latency:g} s latency per call"
        )
    else:
        print(choice.description)
    print(f"Tools: {', '.join(t.name for t in TOOLS)}")
    print(f"Question: {args.question}\n")

    chain = build_chain(model)
    config: RunnableConfig = {"recursion_limit": args.max_rounds}
    try:
        if args.sync:
            messages = chain.invoke({"question": args.question}, config)
        else:
            messages = asyncio.run(chain.ainvoke({"question": args.question}, config))
    except RecursionError:
        print(f"Stopped: the model was still calling tools after {args.max_rounds} round(s).")
        return 1
    print_conversation(messages)
    rounds = sum(1 for m in messages if isinstance(m, AIMessage) and m.tool_calls)
    print(f"\n{rounds} round(s) of tool calls, {len(messages) - 2} messages after the question.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
