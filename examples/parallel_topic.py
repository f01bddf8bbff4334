"""Parallel branches, then a synthesis: the LCEL topic chain.

Three chains (each `ChatPromptTemplate | model | StrOutputParser()`) run at the same time on the
same topic: a summary, three questions and key terms. A `RunnableParallel` runs them and passes the
topic through (`RunnablePassthrough()`); a synthesis prompt then reads all four by key.

    python examples/parallel_topic.py                      # asyncio.run(chain.ainvoke(topic))
    python examples/parallel_topic.py --sync               # chain.invoke(topic), no event loop
    python examples/parallel_topic.py --stream             # prints the synthesis as it streams
    python examples/parallel_topic.py --topic "Coral reefs"
    python examples/parallel_topic.py --graph              # draws the chain instead of running it
    python examples/parallel_topic.py --graph mermaid      # the same, as a Mermaid flowchart

Without `OPENAI_API_KEY` it runs offline (`OfflineChatModel`: replies echo the prompt, after
`--latency` seconds), so the timing shows the three branches overlapping. With `OPENAI_API_KEY` it
calls `ChatOpenAI` (`--model`, else `OPENAI_MODEL`, else gpt-4o-mini) at `OPENAI_BASE_URL`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from typing import Any

from _common import Stopwatch, add_model_arguments, choose_model

from llm import BaseChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import Runnable, RunnableParallel, RunnablePassthrough

DEFAULT_TOPIC = "The history of space exploration"
BRANCH_TITLES = {"summary": "Summary", "questions": "Questions", "key_terms": "Key Terms"}
"""Output key of each parallel branch, and the title it is printed under."""


def build_chain(model: BaseChatModel) -> Runnable[str, dict[str, Any]]:
    """The topic chain: three branches and the topic in parallel, then the synthesis.

    Returns a runnable from the topic to `{"summary", "questions", "key_terms", "topic",
    "response"}`, where `response` is the synthesis.
    """
    summarize_chain = (
        ChatPromptTemplate.from_messages(
            [("system", "Summarize the following topic concisely:"), ("user", "{topic}")]
        )
        | model
        | StrOutputParser()
    )
    questions_chain = (
        ChatPromptTemplate.from_messages(
            [
                ("system", "Generate three interesting questions about the following topic:"),
                ("user", "{topic}"),
            ]
        )
        | model
        | StrOutputParser()
    )
    terms_chain = (
        ChatPromptTemplate.from_messages(
            [
                (
                    "system",
                    "Identify 5-10 key terms from the following topic, separated by commas:",
                ),
                ("user", "{topic}"),
            ]
        )
        | model
        | StrOutputParser()
    )

    # 1. The independent work, run concurrently; the topic is passed through unchanged.
    map_chain = RunnableParallel(
        summary=summarize_chain,
        questions=questions_chain,
        key_terms=terms_chain,
        topic=RunnablePassthrough(),
    )

    # 2. The synthesis reads the branch results by key.
    synthesis_prompt = ChatPromptTemplate.from_messages(
        [
            (
                "system",
                "Based on the following information:\n"
                "Summary: {summary}\n"
                "Related Questions: {questions}\n"
                "Key Terms: {key_terms}\n"
                "Synthesize a comprehensive answer.",
            ),
            ("user", "Original topic: {topic}"),
        ]
    )
    synthesis_chain = synthesis_prompt | model | StrOutputParser()

    # 3. `map_chain | synthesis_chain` would return the synthesis alone; `assign` runs the same
    #    synthesis and keeps the branch results next to it, so they can be printed too.
    return map_chain.assign(response=synthesis_chain)


def print_branches(result: Mapping[str, Any]) -> None:
    """Print each branch's result under its title."""
    for key, title in BRANCH_TITLES.items():
        print(f"\n--- {title} ({key}) ---")
        print(str(result.get(key, "")).strip())


def print_final_header() -> None:
    print("\n--- Final Response ---")


class StreamPrinter:
    """Prints a streamed run: collects the branches' chunks, then streams the synthesis live.

    The chain streams `{key: chunk}` dicts: first the branches' chunks (in arrival order), then,
    once every branch is done, the synthesis chunks under `response`.
    """

    def __init__(self) -> None:
        self.result: dict[str, Any] = {}
        self._streaming_final = False

    def feed(self, chunk: Mapping[str, Any]) -> None:
        for key, piece in chunk.items():
            if key == "response":
                if not self._streaming_final:
                    self._streaming_final = True
                    print_branches(self.result)
                    print_final_header()
                print(piece, end="", flush=True)
            self.result[key] = self.result[key] + piece if key in self.result else piece

    def close(self) -> None:
        if not self._streaming_final:  # nothing was streamed under `response`
            print_branches(self.result)
            print_final_header()
        print()


async def run_async(chain: Runnable[str, dict[str, Any]], topic: str, stream: bool) -> None:
    """The async form: `await chain.ainvoke(topic)`, or `async for chunk in chain.astream(...)`."""
    if stream:
        printer = StreamPrinter()
        async for chunk in chain.astream(topic):
            printer.feed(chunk)
        printer.close()
    else:
        result = await chain.ainvoke(topic)
        print_branches(result)
        print_final_header()
        print(result["response"])


def run_sync(chain: Runnable[str, dict[str, Any]], topic: str, stream: bool) -> None:
    """The sync form: `chain.invoke(topic)`, or `for chunk in chain.stream(topic)`."""
    if stream:
        printer = StreamPrinter()
        for chunk in chain.stream(topic):
            printer.feed(chunk)
        printer.close()
    else:
        result = chain.invoke(topic)
        print_branches(result)
        print_final_header()
        print(result["response"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Summary, questions and key terms of a topic in parallel, then a synthesis "
            "(the LCEL parallelization example)."
        )
    )
    parser.add_argument(
        "--topic", default=DEFAULT_TOPIC, help="the topic to research (default: %(default)r)"
    )
    parser.add_argument(
        "--sync",
        action="store_true",
        help="use the sync API (invoke/stream) instead of asyncio.run(...) with ainvoke/astream",
    )
    parser.add_argument(
        "--stream", action="store_true", help="stream the final synthesis as it is generated"
    )
    parser.add_argument(
        "--graph",
        nargs="?",
        const="ascii",
        choices=["ascii", "mermaid"],
        help="print the chain's picture (ASCII, or Mermaid text) instead of running it",
    )
    add_model_arguments(parser, default_latency=0.5)
    return parser.parse_args(argv)


def print_graph(chain: Runnable[str, dict[str, Any]], form: str) -> None:
    """Print the chain as a picture: ASCII art (needs grandalf), or a Mermaid flowchart."""
    graph = chain.get_graph()
    if form == "ascii":
        try:
            print(graph.draw_ascii())
            return
        except ImportError as exc:
            print(f"(No ASCII drawing: {exc}. Here it is as a Mermaid flowchart.)")
    print(graph.draw_mermaid(), end="")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    choice = choose_model(
        args.model, latency=args.latency, chunk_delay=0.02 if args.stream else 0.0
    )
    print(choice.description)
    if args.graph:
        print_graph(build_chain(choice.model), args.graph)
        return
    mode = "sync" if args.sync else "async"
    call = {
        ("async", False): "asyncio.run(...) with await chain.ainvoke(topic)",
        ("async", True): "asyncio.run(...) with async for chunk in chain.astream(topic)",
        ("sync", False): "chain.invoke(topic)",
        ("sync", True): "for chunk in chain.stream(topic)",
    }[mode, args.stream]
    print(f"Topic: {args.topic}")
    print(f"Running: {call}")

    chain = build_chain(choice.model)
    with Stopwatch() as watch:
        if args.sync:
            run_sync(chain, args.topic, args.stream)
        else:
            asyncio.run(run_async(chain, args.topic, args.stream))

    print(
        f"\nDone in {watch.seconds:.2f} s: 4 model calls, the 3 branches at the same time, "
        "then the synthesis."
    )
    if choice.offline and args.latency:
        print(f"(Offline latency is {args.latency:g} s per call.)")


if __name__ == "__main__":
    main()
