"""Helpers shared by the examples: which chat model to use, and how to say so.

With `OPENAI_API_KEY` set, the examples call `ChatOpenAI` (the model from `--model`, else
`OPENAI_MODEL`, else `gpt-4o-mini`; the server from `OPENAI_BASE_URL`, else OpenAI's API).
Without it they use `OfflineChatModel`, a deterministic stand-in that needs no network: its
replies restate the prompt (the instruction and the input, shortened), so each step visibly does
its own task, and its latency is real, so the concurrency is still visible.

The examples import this module as a sibling (`from _common import ...`), which works when they
are run as scripts (`python examples/parallel_topic.py`): the script's folder is on `sys.path`.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

from llm import BaseChatModel, ChatOpenAI, OfflineChatModel

__all__ = [
    "DEFAULT_MODEL",
    "ModelChoice",
    "Stopwatch",
    "add_model_arguments",
    "choose_model",
    "non_negative_float",
    "positive_int",
]

DEFAULT_MODEL = "gpt-4o-mini"
_SDK_DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class ModelChoice:
    """The chat model an example runs, and the line that describes it.

    Attributes:
        model: The model itself.
        description: One line for the top of the output, starting with "Model:".
        offline: Whether it is the offline stand-in.
    """

    model: BaseChatModel
    description: str
    offline: bool


def non_negative_float(text: str) -> float:
    """An argparse type: a number of seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number, one or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser, *, default_latency: float) -> None:
    """Add `--model` (for ChatOpenAI) and `--latency` (for the offline model) to `parser`."""
    parser.add_argument(
        "--model",
        default=None,
        help=(
            "model name for ChatOpenAI, used when OPENAI_API_KEY is set "
            f"(default: $OPENAI_MODEL, else {DEFAULT_MODEL})"
        ),
    )
    parser.add_argument(
        "--latency",
        type=non_negative_float,
        default=default_latency,
        metavar="SECONDS",
        help=(
            "simulated latency of each offline model call, used when OPENAI_API_KEY is not set "
            "(default: %(default)s)"
        ),
    )


def choose_model(
    model_name: str | None = None, *, latency: float = 0.0, chunk_delay: float = 0.0
) -> ModelChoice:
    """`ChatOpenAI` when `OPENAI_API_KEY` is set, otherwise `OfflineChatModel`.

    Args:
        model_name: ChatOpenAI's model; default `OPENAI_MODEL`, else `DEFAULT_MODEL`.
        latency: The offline model's wait before each reply, in seconds.
        chunk_delay: The offline model's wait between streamed chunks, in seconds.
    """
    if os.environ.get("OPENAI_API_KEY"):
        name = model_name or os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL
        # ChatOpenAI reads OPENAI_API_KEY and OPENAI_BASE_URL itself; read here only to show.
        base_url = os.environ.get("OPENAI_BASE_URL") or _SDK_DEFAULT_BASE_URL
        return ModelChoice(
            model=ChatOpenAI(model=name),
            description=f"Model: ChatOpenAI {name} at {base_url}",
            offline=False,
        )
    return ModelChoice(
        model=OfflineChatModel(latency=latency, chunk_delay=chunk_delay),
        description=(
            "Model: offline (OfflineChatModel, no OPENAI_API_KEY set): replies restate the "
            f"instruction and the input, {latency:g} s latency per call"
        ),
        offline=True,
    )


class Stopwatch:
    """Measures wall-clock time: `with Stopwatch() as watch: ...`, then `watch.seconds`."""

    def __init__(self) -> None:
        self._start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self._start
