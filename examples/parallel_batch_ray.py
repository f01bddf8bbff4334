"""Summarize many texts in one process, then on Ray workers: the parallel batch, beyond one machine.

The chain is the one of `parallel_batch.py`, `prompt | model | StrOutputParser()`, run twice over
the same inputs with one `max_concurrency` for the whole batch:

    await chain.abatch(inputs, {"max_concurrency": 8})                    # this process
    await RayExecutor(2).abatch(chain, inputs, {"max_concurrency": 8})    # 2 worker processes

The results are the same, in input order. On Ray the chain is shipped once to each worker, the
inputs go in chunks, and the 8 slots are split among the workers (4 each), so the model never
sees more than 8 calls at once, from however many machines.

Ray is local by default (started here, stopped at the end; but Ray joins a cluster started on
this machine with `ray start`, if one runs); `--address` joins a running cluster (`auto` for
the one on this machine). The workers are spread over the cluster's nodes. Two nodes on one
machine, to try it (the second node's dashboard agent needs a port of its own; recent Ray,
2.60 here, turns on token authentication for `ray start`, which a local try can turn off
for its shell):

    export RAY_AUTH_MODE=disabled
    ray start --head --node-ip-address=127.0.0.1 --port=6379 --num-cpus=2
    ray start --address=127.0.0.1:6379 --node-ip-address=127.0.0.1 --num-cpus=2 \
        --dashboard-agent-listen-port=52366
    python examples/parallel_batch_ray.py --address 127.0.0.1:6379
    ray stop    # stops both nodes (and every other Ray started on this machine)

Without `OPENAI_API_KEY` the model is `OfflineChatModel` (replies echo the prompt, after
`--latency` seconds); with it, `ChatOpenAI` (`--model`, else `OPENAI_MODEL`, else gpt-4o-mini).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from _common import Stopwatch, add_model_arguments, choose_model, positive_int
from parallel_batch import TEXTS, build_chain

from runnables import RunnableConfig
from runnables.ray import RayExecutor


def inputs(copies: int) -> list[dict[str, str]]:
    """The built-in texts, `copies` times over (named `apollo.txt#2` and so on)."""
    return [
        {"name": f"{name}#{copy}" if copy else name, "text": text}
        for copy in range(copies)
        for name, text in TEXTS.items()
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Summarize the built-in texts in this process, then on Ray workers, with one "
            "max_concurrency for the whole batch; compare the results and timings."
        )
    )
    add_model_arguments(parser, default_latency=0.5)
    parser.add_argument(
        "--address",
        default=None,
        help="a running Ray cluster to join, e.g. auto or ray://host:10001 (default: start one)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="Ray workers (default: %(default)s)"
    )
    parser.add_argument(
        "--copies",
        type=positive_int,
        default=4,
        help="how many times to repeat the 3 texts (default: %(default)s)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=positive_int,
        default=8,
        help="model calls at once, for the whole batch (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    choice = choose_model(args.model, latency=args.latency)
    print(choice.description)
    items = inputs(args.copies)
    config: RunnableConfig = {"max_concurrency": args.max_concurrency}
    chain = build_chain(choice.model)

    # Quiet Ray's own logging, so the output is the example's.
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    # Workers read their own environment, not this one: hand them the OpenAI settings.
    settings = {k: v for k, v in os.environ.items() if k.startswith("OPENAI_")}
    workers = {"runtime_env": {"env_vars": settings}}
    with RayExecutor(
        args.workers, address=args.address, worker_options=workers, init_options=quiet
    ) as executor:
        where = f"cluster at {args.address}" if args.address else "local (started here)"
        print(f"Ray: {where}, {executor.num_workers} workers")
        print(f"Texts: {len(items)} ({len(TEXTS)} texts x {args.copies})")

        print(f"\n=== One process: chain.abatch(texts, {config}) ===")
        with Stopwatch() as local_watch:
            local = asyncio.run(chain.abatch(items, config))
        print(f"{len(items)} texts in {local_watch.seconds:.2f} s")

        print(f"\n=== Ray: executor.abatch(chain, texts, {config}) ===")
        with Stopwatch() as ray_watch:
            remote = asyncio.run(executor.abatch(chain, items, config))
        print(f"{len(items)} texts in {ray_watch.seconds:.2f} s (with starting the workers)")

    print("\n=== Summaries (in input order) ===")
    for item, summary in zip(items, remote, strict=True):
        print(f"{item['name']}: {summary.strip()}")

    print("\n=== Results ===")
    if remote == local:
        print("Same summaries in the same order from one process and from Ray.")
    else:
        print("The summaries differ: a live model does not answer the same twice.")
    print(f"One process: {local_watch.seconds:.2f} s")
    print(f"Ray:         {ray_watch.seconds:.2f} s")
    if choice.offline:
        waves = -(-len(items) // args.max_concurrency)
        print(
            f"(Offline latency {args.latency:g} s per call, {args.max_concurrency} at once: "
            f"about {waves * args.latency:g} s of model time either way; Ray adds its start-up.)"
        )


if __name__ == "__main__":
    main()
