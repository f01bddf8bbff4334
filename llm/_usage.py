"""Token usage and cost: prices, `UsageTracker`, `get_usage_metadata_callback`.

Both consumers are run handlers: they read the `usage_metadata` of every chat model's reply
from its end event (a stream's end carries the summed chunks), so they see every model call of
a run, its batch items and its nested steps, on asyncio, trio and sync calls alike. A reply
served from the model cache (`response_metadata["cache_hit"]`) sent nothing: it counts as a
hit, with no tokens and no cost.

Prices are USD per million tokens (`Price`). `DEFAULT_PRICES` holds OpenAI's list prices for a
few well-known models, as published on https://openai.com/api/pricing on the date it names;
pass your own table for other models, other providers or newer prices.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prompts._messages import Usage
from runnables import BaseCallbackHandler, RunEvent
from runnables._handlers import scoped_handler

__all__ = [
    "DEFAULT_PRICES",
    "PRICES_DATE",
    "Price",
    "UsageMetadataCallbackHandler",
    "UsageTotals",
    "UsageTracker",
    "get_usage_metadata_callback",
    "is_batch_api",
]


def _check_price(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f'Invalid "{name}" argument: expected USD per million tokens, got {value!r}'
        )
    if not value >= 0 or value == float("inf"):  # NaN fails `>=` too
        raise ValueError(f'Invalid "{name}" argument: expected a price >= 0, got {value!r}')


@dataclass(frozen=True, slots=True)
class Price:
    """What a model's tokens cost, in USD per million tokens.

    A reply made through a provider's Batch API (`response_metadata["batch_api"]` is True) is
    priced at the batch rate: by default half of each price, as OpenAI's Batch API charges.

    Args:
        input: Per million input tokens.
        output: Per million output tokens.
        cached_input: Per million input tokens read from the provider's prompt cache
            (`input_token_details["cache_read"]`); None: the `input` price.
        batch_input: Per million input tokens of a Batch API reply; None: half of `input`.
        batch_output: Per million output tokens of a Batch API reply; None: half of `output`.
        batch_cached_input: Per million cached input tokens of a Batch API reply; None: half
            of the cached-input price.

    Raises:
        TypeError: A price is not a number (or a required one is None).
        ValueError: A price is negative, NaN or infinite.
    """

    input: float
    output: float
    cached_input: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    batch_cached_input: float | None = None

    def __post_init__(self) -> None:
        _check_price("input", self.input, optional=False)
        _check_price("output", self.output, optional=False)
        for name in ("cached_input", "batch_input", "batch_output", "batch_cached_input"):
            _check_price(name, getattr(self, name), optional=True)

    def cost(self, usage: Mapping[str, Any], *, batch: bool = False) -> float:
        """The cost in USD of a `usage_metadata` dict (at the batch rate with `batch=True`)."""
        details = usage.get("input_token_details") or {}
        cached = min(int(details.get("cache_read", 0) or 0), int(usage.get("input_tokens", 0)))
        fresh = int(usage.get("input_tokens", 0)) - cached
        input_price, output_price = self.input, self.output
        cached_price = self.input if self.cached_input is None else self.cached_input
        if batch:
            input_price = _or_half(self.batch_input, input_price)
            output_price = _or_half(self.batch_output, output_price)
            cached_price = _or_half(self.batch_cached_input, cached_price)
        return (
            fresh * input_price
            + cached * cached_price
            + int(usage.get("output_tokens", 0)) * output_price
        ) / 1_000_000

    def cost_of(self, message: Any) -> float:
        """The cost in USD of a reply's `usage_metadata`, at the batch rate if it was made
        through a Batch API (`response_metadata["batch_api"]`); 0 without usage."""
        usage = getattr(message, "usage_metadata", None)
        if not usage:
            return 0.0
        return self.cost(usage, batch=is_batch_api(message))


def _or_half(price: float | None, normal: float) -> float:
    return normal / 2 if price is None else price


def is_batch_api(message: Any) -> bool:
    """Whether a reply was made through a provider's Batch API (priced at the batch rate)."""
    metadata = getattr(message, "response_metadata", None)
    return bool(metadata and metadata.get("batch_api") is True)


PRICES_DATE = "2025-08-07"
"""The day `DEFAULT_PRICES` was read from OpenAI's pricing page (standard tier)."""

DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "o3": Price(2.00, 8.00, 0.50),
    "o4-mini": Price(1.10, 4.40, 0.275),
}
"""OpenAI's list prices (USD per million tokens) on `PRICES_DATE`; a dated snapshot (prices
change: pass your own `prices=` when they matter). A reply's dated model name
(`gpt-4o-mini-2024-07-18`) takes its base model's price."""

_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def price_of(model: str | None, prices: Mapping[str, Price] | None) -> Price | None:
    """The price of `model` in `prices` (default `DEFAULT_PRICES`): its own entry, else that of
    its name without a `-YYYY-MM-DD` snapshot suffix; None when unknown."""
    if model is None:
        return None
    table = DEFAULT_PRICES if prices is None else prices
    price = table.get(model)
    if price is None and _DATED.search(model):
        price = table.get(_DATED.sub("", model))
    return price


def check_prices(value: object, param: str = "prices") -> Mapping[str, Price] | None:
    """Validate a prices table: `{model name: Price}` (a `(input, output[, cached_input])`
    tuple is accepted as a `Price`).

    Raises:
        TypeError: Not a mapping of str to `Price` (or a tuple a `Price` is made of), or a
            price that is not a number; the message names `param`, the model and the value.
        ValueError: A price below 0 (the message names `param`, the model and the value).
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f'Invalid "{param}" argument: expected a dict of Price, got {value!r}')
    table: dict[str, Price] = {}
    for name, price in value.items():
        if not isinstance(name, str):
            raise TypeError(f'Invalid "{param}" argument: a model name must be a str, got {name!r}')
        if isinstance(price, tuple) and 2 <= len(price) <= 6:
            try:
                price = Price(*price)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f'Invalid "{param}" argument: {name!r}: {exc}') from None
        if not isinstance(price, Price):
            raise TypeError(
                f'Invalid "{param}" argument: expected {{model name: Price(input, output, '
                f"cached_input)}}, got {name!r}: {price!r}"
            )
        table[name] = price
    return table


def model_name_of(event: RunEvent, message: Any) -> str:
    """The model a reply came from: its `response_metadata` (`model_name`, LangChain's key, or
    `model`), else the step's `model`, else the step's name."""
    metadata = getattr(message, "response_metadata", None) or {}
    name = metadata.get("model_name") or metadata.get("model") or getattr(event.step, "model", None)
    return name if isinstance(name, str) else event.name


def reply_of(event: RunEvent) -> Any:
    """The reply of a chat model's end event (None for other events)."""
    if event.kind != "chat_model":
        return None
    return event.data.get("output")


def is_cache_hit(message: Any) -> bool:
    """Whether a reply came from the model cache (it sent nothing and costs nothing)."""
    metadata = getattr(message, "response_metadata", None)
    return bool(metadata and metadata.get("cache_hit"))


def add_usage(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any]:
    """Two `usage_metadata` dicts added (details key by key), as LangChain's `add_usage`: the
    sum is `Usage.__add__`'s, the one home of usage arithmetic."""
    total = Usage.model_validate(a or {}) + Usage.model_validate(b or {})
    return total.as_dict()


class UsageMetadataCallbackHandler(BaseCallbackHandler):
    """A handler summing the `usage_metadata` of chat model replies per model name.

    Attributes:
        usage_metadata: `{model name: usage_metadata dict}` (LangChain's shape), summed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.usage_metadata: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return repr(self.usage_metadata)

    def on_end(self, event: RunEvent) -> None:
        message = reply_of(event)
        usage = getattr(message, "usage_metadata", None)
        if not usage or is_cache_hit(message):
            return
        name = model_name_of(event, message)
        with self._lock:
            self.usage_metadata[name] = add_usage(self.usage_metadata.get(name), usage)


@contextlib.contextmanager
def get_usage_metadata_callback(
    name: str = "usage_metadata_callback",
) -> Iterator[UsageMetadataCallbackHandler]:
    """Sum the usage of every chat model call started in this block, per model name.

    A plain `with` serves sync and async code alike: the handler receives the events of the
    runs started in this context (this task and what it starts), not other tasks'.

    Args:
        name: Kept for LangChain's signature (its context variable's name); unused.

    Yields:
        A `UsageMetadataCallbackHandler`; read its `usage_metadata` (`{model: usage}`).
    """
    del name
    handler = UsageMetadataCallbackHandler()
    with scoped_handler(handler):
        yield handler


@dataclass
class UsageTotals:
    """Usage and cost of some model calls.

    Attributes:
        requests: Calls sent (cache hits not included).
        cache_hits: Calls answered by the model cache (no tokens, no cost).
        input_tokens: Input tokens, `cached_input_tokens` included.
        cached_input_tokens: Input tokens read from the provider's prompt cache.
        output_tokens: Output tokens, `reasoning_tokens` included.
        reasoning_tokens: Output tokens spent reasoning, where reported.
        total_tokens: Input plus output tokens.
        cost: USD, for the calls whose model has a price (see `UsageTracker.unpriced`).
    """

    requests: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0

    def add(self, usage: Mapping[str, Any], cost: float) -> None:
        self.requests += 1
        self.input_tokens += int(usage.get("input_tokens", 0))
        self.output_tokens += int(usage.get("output_tokens", 0))
        self.total_tokens += int(usage.get("total_tokens", 0))
        self.cached_input_tokens += int(
            (usage.get("input_token_details") or {}).get("cache_read", 0) or 0
        )
        self.reasoning_tokens += int(
            (usage.get("output_token_details") or {}).get("reasoning", 0) or 0
        )
        self.cost += cost


@dataclass
class _Counts:
    total: UsageTotals = field(default_factory=UsageTotals)
    by_model: dict[str, UsageTotals] = field(default_factory=dict)
    by_item: dict[int, UsageTotals] = field(default_factory=dict)


class UsageTracker(BaseCallbackHandler):
    """A handler adding up token usage and cost: in total, per model, per batch item.

    `config={"callbacks": [tracker]}` on a batch (or any call). Per item, by input index, for
    the top-level batch last started (a new one starts the items afresh; totals and models
    keep adding up).

    Args:
        prices: `{model name: Price}` in USD per million tokens (default `DEFAULT_PRICES`).
            A model without a price costs 0 and is listed in `unpriced`. A reply made through
            a Batch API (`response_metadata["batch_api"]`) is priced at the batch rate.

    Attributes:
        total: A `UsageTotals` of every call seen.
        by_model: `{model name: UsageTotals}`.
        by_item: `{input index: UsageTotals}` of the last top-level batch (items that called
            no model are absent).
        unpriced: Names of the models seen without a price.
    """

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self.prices = check_prices(prices)  # TypeError / ValueError naming "prices"
        self._lock = threading.Lock()
        self._counts = _Counts()
        self._items: dict[str, int] = {}  # a batch item's run id -> its index
        self.unpriced: set[str] = set()

    @property
    def total(self) -> UsageTotals:
        return self._counts.total

    @property
    def by_model(self) -> dict[str, UsageTotals]:
        return self._counts.by_model

    @property
    def by_item(self) -> dict[int, UsageTotals]:
        return self._counts.by_item

    @property
    def cost(self) -> float:
        """USD spent so far (priced models only)."""
        return self._counts.total.cost

    @property
    def total_tokens(self) -> int:
        """Tokens used so far."""
        return self._counts.total.total_tokens

    def __repr__(self) -> str:
        t = self.total
        return (
            f"UsageTracker(requests={t.requests}, cache_hits={t.cache_hits}, "
            f"total_tokens={t.total_tokens}, cost={t.cost:.6f})"
        )

    def on_batch_start(self, event: RunEvent) -> None:
        if not event.parent_ids:
            with self._lock:
                self._counts.by_item = {}
                self._items.clear()

    def on_start(self, event: RunEvent) -> None:
        index = event.data.get("batch_index")
        if index is not None and not event.parent_ids:
            with self._lock:
                self._items[event.run_id] = index

    def on_end(self, event: RunEvent) -> None:
        message = reply_of(event)
        if message is not None:
            self._record(event, message)
        if not event.parent_ids:
            self._items.pop(event.run_id, None)

    def on_error(self, event: RunEvent) -> None:
        if not event.parent_ids:
            self._items.pop(event.run_id, None)

    def _record(self, event: RunEvent, message: Any) -> None:
        name = model_name_of(event, message)
        root = event.parent_ids[0] if event.parent_ids else event.run_id
        hit = is_cache_hit(message)
        usage = None if hit else getattr(message, "usage_metadata", None)
        cost = 0.0
        if usage:
            price = price_of(name, self.prices)
            if price is None:
                self.unpriced.add(name)
            else:
                cost = price.cost(usage, batch=is_batch_api(message))
        with self._lock:
            counts = self._counts
            index = self._items.get(root)
            targets = [counts.total, counts.by_model.setdefault(name, UsageTotals())]
            if index is not None:
                targets.append(counts.by_item.setdefault(index, UsageTotals()))
            for totals in targets:
                if hit:
                    totals.cache_hits += 1
                else:
                    totals.add(usage or {}, cost)
