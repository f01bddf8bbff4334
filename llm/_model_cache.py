"""Model calls through a cache: `cache=` on every chat model, and `set_llm_cache` (global).

A chat model's `cache` is LangChain's switch:

- None (the default): the global cache (`set_llm_cache`) if one is set, else none;
- True: the global cache, and a ValueError at call time if none is set;
- False: never cached;
- a `BaseCache` (`InMemoryCache`, `SQLiteCache`, `RedisCache`): that cache.

**The key** is `llm:<model fingerprint>:<request digest>`. The fingerprint (`runnables`'
`fingerprint`) covers the model's class and every public attribute that shapes a reply (its
model name, base_url, temperature, max_tokens, extra request fields; an offline model's scripted
responses), and leaves out the API key, timeouts, retries, rate limiters and the cache itself;
it is computed once and remembered on the model while its attributes stay equal. The request
digest covers what this call sends, in two parts:

- the model's request without its messages (`_cache_request([], stop, options)`): `stop` and
  every call option (`temperature`, `max_tokens`, `seed`, `tools`, `tool_choice`,
  `response_format`, ...); `ChatOpenAI` states it as the body it would send (a per-call timeout
  left out) and the server it sends it to;
- the messages (tool calls, tool results, content parts; message ids and earlier replies'
  metadata left out, as they are not sent), read from each message's fields directly.

Both are serialized with `marshal` format 0 (C speed; deterministic for str, int, float,
bool, None, bytes, lists, tuples and dicts: no interning flags or back-references, which the
later formats write by object identity) and hashed with SHA-256. A part holding anything else (a
set, a pydantic model, a str subclass) goes through `cache_key`'s canonical JSON instead. Dict
order counts here: two equal dicts built in different orders may key apart (a miss, never a
wrong hit).

**What is stored** is the reply as the model made it (an `AIMessage`, with its tool calls,
usage and metadata). Errors are never stored, nor is a stream that stops before its end. A hit
is a copy marked `response_metadata["cache_hit"] = True`: it keeps the usage of the call that
paid for it (so it can be read), and sends nothing, waits on no rate limiter and holds no
concurrency slot. A stream's hit replays the stored message as one chunk.

**Single-flight.** Identical calls in flight at once in one event loop make one request; the
others wait and take its reply (as hits). If it fails, the next waiter calls the model itself.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prompts._messages import AIMessage, AIMessageChunk, BaseMessage
from runnables._cache import BaseCache, cache_key
from runnables._chunks import ChunkSum
from runnables._concurrency import closing
from runnables._fingerprint import fingerprint
from runnables._step_cache import join_flight, land_flight

if TYPE_CHECKING:
    from llm._chat_model import BaseChatModel

__all__ = [
    "ModelCache",
    "agenerate_cached",
    "astream_cached",
    "check_cache",
    "get_llm_cache",
    "model_cache_key",
    "resolve_cache",
    "set_llm_cache",
]

ModelCache = BaseCache | bool | None
"""What a chat model's `cache=` takes."""

# Fields of a message that are not sent to the model: they never change its reply. An earlier
# reply's metadata (a `cache_hit` mark, a finish reason) must not split keys either, nor a tool
# result's artifact (kept for the program, never sent).
_NOT_SENT = {"id", "response_metadata", "usage", "artifact"}


class _Global:
    """The global cache (`set_llm_cache`): read by every model call, so one attribute."""

    __slots__ = ("cache",)

    def __init__(self) -> None:
        self.cache: BaseCache | None = None


GLOBAL = _Global()


def set_llm_cache(cache: BaseCache | None) -> None:
    """Set the cache every chat model uses unless it says otherwise (`cache=False`, or its own).

    Args:
        cache: A `BaseCache` (`InMemoryCache()`, `SQLiteCache("llm.db")`, `RedisCache(url)`),
            or None to turn the global cache off.

    Raises:
        TypeError: `cache` is not a `BaseCache` or None.
    """
    if cache is not None and not isinstance(cache, BaseCache):
        raise TypeError(f'Invalid "cache" argument: expected a BaseCache or None, got {cache!r}')
    GLOBAL.cache = cache


def get_llm_cache() -> BaseCache | None:
    """The global cache set by `set_llm_cache` (None if there is none)."""
    return GLOBAL.cache


def check_cache(value: object) -> ModelCache:
    """Validate a chat model's `cache` argument (None, a bool, or a `BaseCache`)."""
    if value is None or isinstance(value, bool | BaseCache):
        return value
    raise TypeError(
        f'Invalid "cache" argument: expected True, False, None or a BaseCache, got {value!r}'
    )


def resolve_cache(model: BaseChatModel) -> BaseCache | None:
    """The cache a call of `model` reads and writes now, or None for an uncached call.

    Raises:
        ValueError: `cache=True` and no global cache is set.
    """
    cache = model.cache
    if cache is None:
        return GLOBAL.cache
    if cache is False:
        return None
    if cache is True:
        if GLOBAL.cache is None:
            raise ValueError(
                f"{model.name} was built with cache=True, but no global cache is set: call "
                "llm.set_llm_cache(InMemoryCache()) (or SQLiteCache, RedisCache) first, or pass "
                "the cache itself (cache=SQLiteCache('llm.db'))"
            )
        return GLOBAL.cache
    return cache


def message_material(message: BaseMessage) -> Any:
    """A message as key material: what is sent of it (its type, content, tool calls, ...).

    Read from the fields as they are (messages forbid extra fields, so `__dict__` holds them
    all): a pydantic dump costs ten times more and says the same.
    """
    fields = message.__dict__
    return (type(message).__name__, [(k, fields[k]) for k in fields if k not in _NOT_SENT])


def _dump(material: Any) -> bytes:
    """`material` as bytes (see the module docstring: marshal format 0, else canonical JSON)."""
    try:
        data = marshal.dumps(material, 0)
    except ValueError:  # a type marshal does not take (or a subclass of one): canonical form
        return b"json:" + cache_key(material).encode()
    return b"%d:" % len(data) + data  # sized, so two parts never run into each other


def model_cache_key(
    model: BaseChatModel, messages: list[BaseMessage], stop: list[str] | None, options: Any
) -> str:
    """The key a call of `model` with these messages, `stop` and call options reads and writes.

    Raises:
        TypeError: Part of the request cannot be keyed (the message names it).
    """
    # The request minus its messages is rebuilt per call (a dict, ~1 us): ChatOpenAI resolves
    # its server from the environment then, which a remembered form would miss.
    head = _dump(model._cache_request([], stop, options))
    body = _dump([message_material(m) for m in messages])
    return f"llm:{model_fingerprint(model)}:{hashlib.sha256(head + body).hexdigest()}"


def model_fingerprint(model: BaseChatModel) -> str:
    """`fingerprint(model)`, remembered on the model while its public attributes stay equal.

    Walking a model takes about as long as the rest of a hit, so it is done again only when an
    attribute was set to another value (`model.temperature = 0.5`) or a dict attribute was
    changed in place (`model.model_kwargs["seed"] = 1`).
    """
    state = {k: v for k, v in vars(model).items() if k[0] != "_"}
    memo = model.__dict__.get("_cache_fingerprint")
    if memo is not None and memo[0] == state:
        return memo[1]  # type: ignore[no-any-return]
    digest = fingerprint(model)
    snapshot = {k: v.copy() if type(v) is dict else v for k, v in state.items()}
    model.__dict__["_cache_fingerprint"] = (snapshot, digest)
    return digest


def _as_hit(message: AIMessage) -> AIMessage:
    # A copy: an in-memory store hands out the very object stored, which must stay unmarked.
    metadata = {**message.response_metadata, "cache_hit": True}
    return message.model_copy(update={"response_metadata": metadata})


def _stored(value: Any) -> AIMessage | None:
    # Anything but a message under a model key (a foreign writer) is a miss, not a bad reply.
    return value if isinstance(value, AIMessage) else None


async def _store(cache: BaseCache, key: str, message: AIMessage, model: BaseChatModel) -> None:
    try:
        await cache.aset(key, message)
    except Exception as exc:
        exc.add_note(f"storing the reply of {model.name} in {cache!r}")
        raise


async def agenerate_cached(
    model: BaseChatModel,
    cache: BaseCache,
    messages: list[BaseMessage],
    stop: list[str] | None,
    options: dict[str, Any],
    generate: Callable[[list[BaseMessage], list[str] | None, dict[str, Any]], Awaitable[AIMessage]],
) -> AIMessage:
    """One reply through `cache`: a stored one (marked a hit), or `generate`'s, then stored."""
    key = model_cache_key(model, messages, stop, options)
    flight, value, flights = await join_flight(cache, key)
    if flight is None:
        return _as_hit(value)
    try:
        stored = _stored(await cache.aget(key))
        if stored is not None:
            flight.resolve(stored)
            return _as_hit(stored)
        message = await generate(messages, stop, options)
        # Waiters take the reply now; the flight stays listed until the write is done, so a
        # call arriving meanwhile waits for it instead of paying again.
        flight.resolve(message)
        await _store(cache, key, message, model)
        return message
    finally:
        land_flight(cache, key, flight, flights)


def replay_chunk(message: AIMessage) -> AIMessageChunk:
    """A stored reply as one stream chunk, marked a hit."""
    return AIMessageChunk(
        content=message.content,
        name=message.name,
        id=message.id,
        tool_calls=message.tool_calls,
        invalid_tool_calls=message.invalid_tool_calls,
        usage=message.usage,
        response_metadata={**message.response_metadata, "cache_hit": True},
    )


async def astream_cached(
    model: BaseChatModel,
    cache: BaseCache,
    messages: list[BaseMessage],
    stop: list[str] | None,
    options: dict[str, Any],
    stream: Callable[
        [list[BaseMessage], list[str] | None, dict[str, Any]], AsyncIterator[AIMessageChunk]
    ],
) -> AsyncIterator[AIMessageChunk]:
    """A stream through `cache`: a stored reply replayed, or `stream`'s chunks, their sum
    stored once the stream has ended (a stream left early, or failing, stores nothing)."""
    key = model_cache_key(model, messages, stop, options)
    flight, value, flights = await join_flight(cache, key)
    if flight is None:
        yield replay_chunk(value)
        return
    try:
        stored = _stored(await cache.aget(key))
        if stored is not None:
            flight.resolve(stored)
            yield replay_chunk(stored)
            return
        total = ChunkSum()  # the one home of chunk addition
        async with closing(stream(messages, stop, options)) as source:
            async for chunk in source:
                total.add(chunk)
                yield chunk
        if total.started:
            message = total.value.to_message()
            flight.resolve(message)
            await _store(cache, key, message, model)
    finally:
        land_flight(cache, key, flight, flights)
