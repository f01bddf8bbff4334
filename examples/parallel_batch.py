"""Summarize several texts one at a time, then all at once: PocketFlow's parallel batch node.

PocketFlow compares an `AsyncBatchNode` (items awaited one after another) with an
`AsyncParallelBatchNode` (items gathered). Here both are the same chain,
`prompt | model | StrOutputParser()`, run with `abatch`:

    await chain.abatch(inputs, config={"max_concurrency": 1})  # one model call at a time
    await chain.abatch(inputs)                                  # all at once

With the offline model's default 1 s latency and 3 texts: about 3 s, then about 1 s.
`max_concurrency` counts the steps doing work (here, model calls) across the whole batch.
Results come back in input order either way.

Without `OPENAI_API_KEY` the model is `OfflineChatModel` (replies echo the prompt, after
`--latency` seconds); with it, `ChatOpenAI` (`--model`, else `OPENAI_MODEL`, else gpt-4o-mini).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from _common import Stopwatch, add_model_arguments, choose_model

from llm import BaseChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import Runnable

TEXTS: dict[str, str] = {
    "apollo.txt": (
        "Apollo 11 landed on the Moon on 20 July 1969. Neil Armstrong and Buzz Aldrin spent about "
        "two and a half hours outside the lunar module while Michael Collins orbited above."
    ),
    "coral.txt": (
        "Coral reefs cover less than one percent of the ocean floor yet shelter about a quarter "
        "of all marine species. Warmer seas cause bleaching, which can kill entire reefs."
    ),
    "bees.txt": (
        "Honey bees communicate the direction and distance of food with a waggle dance. A colony "
        "can forage several kilometres from the hive and visit millions of flowers a day."
    ),
}
"""The built-in texts: file name -> content."""


def build_chain(model: BaseChatModel) -> Runnable[dict[str, str], str]:
    """Summarize one text: `{"name", "text"}` -> summary."""
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Summarize the text from the file {name} in one short sentence."),
            ("user", "{text}"),
        ]
    )
    return prompt | model | StrOutputParser()


def progress_bars() -> list[Any]:
    """A progress bar when run in a terminal (and tqdm is installed: the `progress` extra)."""
    if not sys.stderr.isatty():
        return []
    try:
        from runnables.progress import ProgressBar
    except ImportError:
        return []
    return [ProgressBar("summaries", leave=False)]


async def compare(chain: Runnable[dict[str, str], str]) -> tuple[list[str], float, float]:
    """Run the batch one at a time, then all at once; return the summaries and both timings."""
    inputs = [{"name": name, "text": text} for name, text in TEXTS.items()]
    callbacks = progress_bars()

    print("\n=== One at a time: abatch(..., config={'max_concurrency': 1}) ===")
    with Stopwatch() as sequential:
        one_by_one = await chain.abatch(
            inputs, config={"max_concurrency": 1, "callbacks": callbacks}
        )
    print(f"{len(inputs)} texts in {sequential.seconds:.2f} s")

    print("\n=== All at once: abatch(...) ===")
    with Stopwatch() as parallel:
        all_at_once = await chain.abatch(inputs, config={"callbacks": callbacks})
    print(f"{len(inputs)} texts in {parallel.seconds:.2f} s")

    if all_at_once != one_by_one:
        print("(The two runs' summaries differ: a live model does not answer the same twice.)")
    return all_at_once, sequential.seconds, parallel.seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Summarize 3 built-in texts one at a time, then all at once, and compare the "
            "timings (PocketFlow's parallel batch node)."
        )
    )
    add_model_arguments(parser, default_latency=1.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    choice = choose_model(args.model, latency=args.latency)
    print(choice.description)
    print(f"Texts: {', '.join(TEXTS)}")

    chain = build_chain(choice.model)
    summaries, sequential, parallel = asyncio.run(compare(chain))

    print("\n=== Summaries (in input order) ===")
    for name, summary in zip(TEXTS, summaries, strict=True):
        print(f"{name}: {summary.strip()}")

    print("\n=== Timings ===")
    print(f"One at a time: {sequential:.2f} s")
    print(f"All at once:   {parallel:.2f} s")
    speedup = sequential / parallel if parallel > 0 else float("inf")
    print(f"Speed-up:      {speedup:.1f}x")
    if choice.offline:
        n = len(TEXTS)
        print(
            f"(Offline latency {args.latency:g} s per call: expected about "
            f"{n * args.latency:g} s vs {args.latency:g} s for {n} texts.)"
        )


if __name__ == "__main__":
    main()
