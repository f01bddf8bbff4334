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

`--batch-api` runs the seed chain instead (three branch calls per text, then a synthesis) with
its model sent through the provider's Batch API, `model.with_batch_api()`, and nothing else
changed: the nine branch calls go in one job, the three syntheses in a second. With
`OPENAI_API_KEY` that is OpenAI's Batch API (half the price; a job may take up to 24 hours).
Without it, an offline stand-in server runs in this process (`_batch_server.py`: it needs the
`serve` extra, `pip install -e ".[serve]"`; the script says so if it is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from _common import (
    DEFAULT_MODEL,
    Stopwatch,
    add_model_arguments,
    choose_model,
    non_negative_float,
)

from llm import BaseChatModel, ChatOpenAI, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import BaseCallbackHandler, RunEvent, Runnable

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


class JobPrinter(BaseCallbackHandler):
    """Prints the Batch API jobs as they are submitted and completed (the `batch_api.*`
    events), and keeps count of them."""

    def __init__(self) -> None:
        self.jobs: dict[str, int] = {}  # job id -> requests in it

    def on_custom_event(self, event: RunEvent) -> None:
        data = event.data["data"]
        if event.name == "batch_api.job_submitted":
            self.jobs[data["job_id"]] = data["requests"]
            print(f"job submitted: {data['job_id']} ({data['requests']} requests)")
        elif event.name == "batch_api.job_completed":
            counts = data["request_counts"]
            print(
                f"job {data['status']}: {data['job_id']} "
                f"({counts.get('completed', 0)}/{counts.get('total', 0)} answered)"
            )


async def run_batch_api(model: BaseChatModel) -> None:
    """The seed chain over the built-in texts, every model call through the Batch API."""
    from parallel_topic import build_chain as seed_chain

    printer = JobPrinter()
    print("\n=== The seed chain over 3 texts: await chain.abatch(texts) ===")
    with Stopwatch() as watch:
        results = await seed_chain(model).abatch(list(TEXTS.values()), {"callbacks": [printer]})
    print("\n=== Syntheses (in input order) ===")
    for name, result in zip(TEXTS, results, strict=True):
        print(f"{name}: {str(result['response']).strip()}")
    sizes = " + ".join(str(n) for n in printer.jobs.values())
    print("\n=== Jobs ===")
    print(f"{len(printer.jobs)} jobs ({sizes} requests), in {watch.seconds:.2f} s")


def batch_api_main(model_name: str | None, poll_interval: float) -> None:
    """`--batch-api`: OpenAI's Batch API with a key, else the offline stand-in server."""
    if os.environ.get("OPENAI_API_KEY"):
        name = model_name or os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL
        print(
            f"Model: ChatOpenAI {name} through the Batch API (half the price; each wave's "
            "job may take up to 24 hours: leave it running, or stop it and rerun later)"
        )
        model = ChatOpenAI(model=name).with_batch_api(poll_interval=poll_interval)
        asyncio.run(run_batch_api(model))
        return
    try:
        from _batch_server import BatchServer
    except ImportError:
        print(
            "Model: none. Offline, --batch-api runs an in-process stand-in for the Batch API, "
            'which needs the serve extra: pip install -e ".[serve]" (or set OPENAI_API_KEY '
            "to use OpenAI's)"
        )
        return
    with BatchServer() as server:
        print(
            "Model: ChatOpenAI through an offline Batch API stand-in (no OPENAI_API_KEY set) "
            f"at {server.base_url}: replies restate the instruction and the input"
        )
        offline = ChatOpenAI(model="offline", base_url=server.base_url, api_key="offline")
        asyncio.run(run_batch_api(offline.with_batch_api(flush_after=0.5, poll_interval=0.05)))


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds, more than zero."""
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Summarize 3 built-in texts one at a time, then all at once, and compare the "
            "timings (PocketFlow's parallel batch node)."
        )
    )
    add_model_arguments(parser, default_latency=1.0)
    parser.add_argument(
        "--batch-api",
        action="store_true",
        help=(
            "run the seed chain over the texts with the model behind the Batch API "
            "(offline: an in-process stand-in server, which needs the serve extra)"
        ),
    )
    parser.add_argument(
        "--poll-interval",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="with --batch-api and OPENAI_API_KEY: first wait between job status checks "
        "(default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.batch_api:
        batch_api_main(args.model, args.poll_interval)
        return
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
