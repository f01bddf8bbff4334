"""Parallel researchers, then a merger: the Google ADK research pipeline, as a chain.

ADK builds it from agents: a `ParallelAgent` of three researchers, each saving its answer under an
`output_key` of the session state, then a merger agent whose instruction reads those keys, both
inside a `SequentialAgent`. Here the same shape is a chain:

    researchers = RunnableParallel(renewable_energy_result=..., ev_technology_result=...,
                                   carbon_capture_result=...)        # the ParallelAgent
    pipeline = researchers | RunnablePassthrough.assign(report=merger)  # the SequentialAgent

Each researcher writes its own key of the result dict; nothing is shared between branches, so
there is no state to race on. The merger's prompt reads the three keys and asks for a report with a
heading per topic.

No web search: the ADK researchers call Google Search, but this library has no search tool, so the
researchers answer from the model's own knowledge, and their prompts say so (no "latest news" is
claimed). Without `OPENAI_API_KEY` the model is `OfflineChatModel`, whose replies only echo the
prompt: the output then shows the pipeline's shape and timing, not research.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from _common import Stopwatch, add_model_arguments, choose_model

from llm import BaseChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import Runnable, RunnableParallel, RunnablePassthrough

DEFAULT_REQUEST = "Give me a short briefing on sustainable technology."

NO_SEARCH_NOTE = (
    "You have no web search or browsing tool: answer from what you already know, say that your "
    "knowledge has a cutoff date, and do not present anything as breaking news."
)

RESEARCHERS: dict[str, tuple[str, str, str]] = {
    "renewable_energy_result": (
        "Renewable Energy",
        "energy",
        "Describe notable advancements in renewable energy sources.",
    ),
    "ev_technology_result": (
        "Electric Vehicles",
        "transportation",
        "Describe notable developments in electric vehicle technology.",
    ),
    "carbon_capture_result": (
        "Carbon Capture",
        "climate solutions",
        "Describe the state of carbon capture methods.",
    ),
}
"""Output key of each researcher -> (topic heading, specialty, task)."""


def researcher(specialty: str, task: str, model: BaseChatModel) -> Runnable[str, str]:
    """One researcher: a persona (system), then its task and the user's request (user)."""
    instruction = (
        f"You are an AI Research Assistant specializing in {specialty}.\n"
        f"{NO_SEARCH_NOTE}\n"
        "Summarize your key findings concisely (1-2 sentences). Output *only* the summary."
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", instruction), ("user", task + " Context: {request}")]
    )
    return prompt | model | StrOutputParser()


def merger(model: BaseChatModel) -> Runnable[dict[str, Any], str]:
    """The merger: reads the three result keys, writes a report with a heading per topic."""
    summaries = "\n".join(
        f"* **{heading}:** {{{key}}}" for key, (heading, _, _) in RESEARCHERS.items()
    )
    headings = ", ".join(f'"## {heading}"' for heading, _, _ in RESEARCHERS.values())
    instruction = (
        "You are an AI Assistant responsible for combining research findings into a structured "
        "report.\n"
        "Synthesize the following research summaries, clearly attributing findings to their "
        f"source areas. Use one heading per topic ({headings}), then a short "
        '"## Overall Conclusion".\n'
        "The summaries come from the model's own knowledge, not from a web search: do not add "
        "citations or links.\n\n"
        f"**Input Summaries:**\n{summaries}\n\n"
        "Output *only* the structured report."
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", instruction), ("user", "Write the report for this request: {request}")]
    )
    return prompt | model | StrOutputParser()


def build_pipeline(model: BaseChatModel) -> Runnable[str, dict[str, Any]]:
    """The research pipeline: the request -> `{request, <three results>, report}`."""
    # The ParallelAgent: each researcher writes its own key; the request is passed through.
    parallel_research = RunnableParallel(
        request=RunnablePassthrough(),
        **{
            key: researcher(specialty, task, model)
            for key, (_, specialty, task) in RESEARCHERS.items()
        },
    )
    # The SequentialAgent: research first, then the merger adds `report` to the same dict.
    return parallel_research | RunnablePassthrough.assign(report=merger(model))


def print_results(result: dict[str, Any]) -> None:
    """Print each researcher's finding under its topic, then the merged report."""
    print("\n=== Research findings (run in parallel) ===")
    for key, (heading, _, _) in RESEARCHERS.items():
        print(f"\n## {heading} ({key})")
        print(str(result[key]).strip())
    print("\n=== Final Report (merger) ===")
    print(str(result["report"]).strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Three researchers (renewable energy, electric vehicles, carbon capture) in "
            "parallel, then a merger that writes a structured report (the ADK pipeline). "
            "No web search: the researchers answer from the model's own knowledge."
        )
    )
    parser.add_argument(
        "--request", default=DEFAULT_REQUEST, help="what the user asks for (default: %(default)r)"
    )
    parser.add_argument(
        "--sync", action="store_true", help="use pipeline.invoke(...) instead of ainvoke"
    )
    add_model_arguments(parser, default_latency=0.5)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    choice = choose_model(args.model, latency=args.latency)
    print(choice.description)
    print("Tools: none (no web search available; researchers answer from the model's knowledge)")
    print(f"Request: {args.request}")

    pipeline = build_pipeline(choice.model)
    with Stopwatch() as watch:
        if args.sync:
            result = pipeline.invoke(args.request)
        else:
            result = asyncio.run(pipeline.ainvoke(args.request))
    print_results(result)
    print(f"\nDone in {watch.seconds:.2f} s: 3 researchers at the same time, then the merger.")
    if choice.offline and args.latency:
        print(f"(Offline latency is {args.latency:g} s per call.)")


if __name__ == "__main__":
    main()
