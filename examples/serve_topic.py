"""Serve the LCEL topic chain over HTTP, for LangServe's clients and for OpenAI's.

The chain is the one `parallel_topic.py` builds (summary, questions and key terms in parallel,
then a synthesis). It is served twice on one app:

- at `/topic`, in LangServe's protocol (`add_routes`): `POST /topic/invoke`, `/topic/batch`,
  `/topic/stream`, `/topic/stream_events`, the schemas, and a playground at `/topic/playground/`.
  The input is the topic (a string); the output has every branch's result and the `response`.
- at `/v1`, as the OpenAI-compatible model `topic` (`add_openai_routes`): the topic is the last
  user message, and the answer is the synthesis.

    python examples/serve_topic.py                # http://127.0.0.1:8000
    python examples/serve_topic.py --port 8080

    curl -s localhost:8000/topic/invoke -H 'content-type: application/json' \\
        -d '{"input": "Coral reefs"}'

Without `OPENAI_API_KEY` it serves the offline model (`OfflineChatModel`, replies echo the
prompt after `--latency` seconds); with it, `ChatOpenAI` (`--model`, else `OPENAI_MODEL`, else
gpt-4o-mini).
"""

from __future__ import annotations

import argparse

import uvicorn
from _common import add_model_arguments, choose_model
from parallel_topic import build_chain
from starlette.applications import Starlette

from llm import BaseChatModel, add_openai_routes
from prompts import BaseMessage
from runnables import RunnableLambda
from runnables.serve import add_routes


def last_user_text(messages: list[BaseMessage]) -> str:
    """The topic an OpenAI client asks about: its last user message's text."""
    for message in reversed(messages):
        if message.type == "human":
            return message.text
    raise ValueError("no user message: send the topic as a user message")


def build_app(model: BaseChatModel) -> Starlette:
    """One app serving the topic chain at `/topic` (LangServe) and as model `topic` (`/v1`)."""
    chain = build_chain(model)
    app = Starlette()
    # The chain reads a plain string (each prompt has one variable); saying so makes the input
    # schema, the playground's form and the server's input check a string too.
    add_routes(app, chain.with_types(input_type=str), "/topic")
    add_openai_routes(app, RunnableLambda(last_user_text) | chain.pick("response"), "topic")
    return app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Serve the topic chain: LangServe's protocol at /topic, OpenAI's at /v1."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to listen on; 0 picks a free one (%(default)s)"
    )
    add_model_arguments(parser, default_latency=0.5)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    choice = choose_model(args.model, latency=args.latency)
    print(choice.description)
    print("LangServe protocol at /topic: invoke, batch, stream, stream_events, playground/")
    print("OpenAI-compatible at /v1: chat/completions and models, model 'topic'", flush=True)
    uvicorn.run(build_app(choice.model), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
