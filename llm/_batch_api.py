"""`BatchAPIChatModel`: a chat model whose calls go through the provider's Batch API.

`ChatOpenAI(...).with_batch_api()` returns one. It is a chat model like the one it wraps (same
options, `bind_tools`, `with_structured_output`, events named `on_chat_model_*`), but each call
is deferred: its request body (exactly the direct call's, built by the wrapped model) joins a
Batch API job through the event loop's `Collector` (`llm._batch_collector`), and the call
returns when the job has answered it. A chain calling it in a batch needs no change: every call
made at about the same time (within `flush_after` seconds of the last) goes in one job, so the
seed chain's branch calls make one job and its synthesis calls a second.

- **The model cache.** Replies are stored under the wrapped model's keys, so a reply paid for
  directly or through the Batch API is a hit for either. With a cache, each call also records
  its job and line (`batch_api:<key>`) once submitted: a rerun (after Ctrl-C or a crash) finds
  the job and waits on it instead of submitting again.
- **Concurrency.** A call waiting on a job holds no `max_concurrency` slot and waits on no rate
  limiter: it is not a request in flight (the Batch API has its own limits). A `batch` still
  keeps only about `max_concurrency` items going at once, so with a limit set a job holds only
  that many items' calls: leave it unset for batch-API runs.
- **Streaming.** A stream yields the whole reply as one chunk, once the job has answered.
- **Usage.** Replies are marked `response_metadata["batch_api"] = True` (and carry the job's
  `batch_id`), so usage trackers and budgets can price them at the batch rate.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from llm import _model_cache
from llm._batch_collector import BatchOptions, Collector, Record
from llm._batch_jobs import MAX_FILE_BYTES, BatchTransport, OpenAIBatches
from llm._chat_model import BaseChatModel
from prompts._messages import AIMessage, AIMessageChunk, BaseMessage
from runnables import loop_resource

if TYPE_CHECKING:
    from llm._openai import ChatOpenAI

__all__ = ["BatchAPIChatModel", "check_batch_options"]

COMPLETION_WINDOWS = ("24h",)
"""The completion windows the Batch API offers."""


def check_batch_options(
    *,
    completion_window: object,
    poll_interval: object,
    flush_after: object,
    max_requests_per_job: object,
    cancel_on_exit: object,
) -> BatchOptions:
    """Validate `with_batch_api`'s arguments.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument has a bad value.
    """
    if not isinstance(completion_window, str):
        raise TypeError(
            f'Invalid "completion_window" argument: {completion_window!r}; expected a str'
        )
    if completion_window not in COMPLETION_WINDOWS:
        raise ValueError(
            f'Invalid "completion_window" argument: {completion_window!r}; the Batch API '
            f"offers {', '.join(map(repr, COMPLETION_WINDOWS))}"
        )
    seconds: dict[str, float] = {}
    for name, value in (("poll_interval", poll_interval), ("flush_after", flush_after)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f'Invalid "{name}" argument: {value!r}; expected seconds (a number)')
        low_ok = value >= 0 if name == "flush_after" else value > 0
        if not (low_ok and math.isfinite(value)):
            least = "0 or more" if name == "flush_after" else "more than 0"
            raise ValueError(f'Invalid "{name}" argument: {value!r}; expected seconds, {least}')
        seconds[name] = float(value)
    if isinstance(max_requests_per_job, bool) or not isinstance(max_requests_per_job, int):
        raise TypeError(
            f'Invalid "max_requests_per_job" argument: {max_requests_per_job!r}; expected an int'
        )
    if not 1 <= max_requests_per_job <= 50_000:
        raise ValueError(
            f'Invalid "max_requests_per_job" argument: {max_requests_per_job!r}; expected 1 to '
            "50000 (the Batch API's limit)"
        )
    if not isinstance(cancel_on_exit, bool):
        raise TypeError(f'Invalid "cancel_on_exit" argument: {cancel_on_exit!r}; expected a bool')
    return BatchOptions(
        completion_window=completion_window,
        poll_interval=seconds["poll_interval"],
        flush_after=seconds["flush_after"],
        max_requests_per_job=max_requests_per_job,
        cancel_on_exit=cancel_on_exit,
        max_bytes=MAX_FILE_BYTES,
    )


class BatchAPIChatModel(BaseChatModel):
    """A chat model whose calls are answered through the provider's Batch API.

    Made by `ChatOpenAI.with_batch_api(...)` (see there for the arguments).

    Attributes:
        bound: The model whose requests are sent (and whose cache and budget are used).
        options: The batch settings.
    """

    _genai_provider = "openai"

    def __init__(self, bound: ChatOpenAI, options: BatchOptions) -> None:
        self.bound = bound
        self.options = options
        self.cache = bound.cache
        self.budget = bound.budget
        # One collector per event loop and model; the token survives pickling, so a copy
        # shipped to a worker collects on its own loop.
        self._token = uuid.uuid4().hex

    @property
    def model(self) -> str:
        """The model name sent with each request (usage and prices are per model)."""
        return self.bound.model

    @property
    def max_tokens(self) -> int | None:
        """The wrapped model's `max_tokens` (budgets read it to estimate a call)."""
        return self.bound.max_tokens

    def __repr__(self) -> str:
        o = self.options
        return (
            f"{self.bound!r}.with_batch_api(completion_window={o.completion_window!r}, "
            f"poll_interval={o.poll_interval!r}, flush_after={o.flush_after!r}, "
            f"max_requests_per_job={o.max_requests_per_job!r}, "
            f"cancel_on_exit={o.cancel_on_exit!r})"
        )

    def with_batch_api(self, **options: Any) -> BatchAPIChatModel:
        """The wrapped model with other batch settings (they replace these)."""
        return self.bound.with_batch_api(**options)

    @property
    def _managed_options(self) -> frozenset[str]:  # type: ignore[override]
        return self.bound._managed_options

    def _option_names(self) -> frozenset[str] | None:
        return self.bound._option_names()

    def _genai_request(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return self.bound._genai_request(options)

    def _cache_model(self) -> BaseChatModel:
        return self.bound

    def _transport(self) -> BatchTransport:
        return OpenAIBatches(self.bound)

    def _collector(self) -> Collector:
        return Collector(self.options, self._transport(), self.bound.base_url)

    async def _agenerate(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
    ) -> AIMessage:
        bound = self.bound
        body = bound._batch_body(messages, stop, options)
        record = resume = None
        if bound.cache is not None or _model_cache.GLOBAL.cache is not None:
            cache = _model_cache.resolve_cache(bound)
            if cache is not None:
                key = _model_cache.model_cache_key(bound, messages, stop, options)
                record = Record(cache, f"batch_api:{key}")
                resume = await cache.aget(record.key)
        async with loop_resource(("llm.batch_api", self._token), self._collector, _close) as c:
            return await c.call(body, record=record, resume=resume)

    async def _agenerate_held(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AIMessage:
        # No concurrency slot and no rate limiter: a call waiting on a job is not in flight.
        return await self._agenerate(messages, stop=stop, **kwargs)

    def _astream_uncached(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AsyncIterator[AIMessageChunk]:
        # The base class's one-chunk stream of `_agenerate`: a job answers whole replies.
        return self._astream_chunks(messages, stop=stop, **kwargs)


async def _close(collector: Collector) -> None:
    """Nothing to close: a collector's work is done by the calls waiting on it."""
