"""Custom steps written LangChain's way: a `Runnable` subclass overriding the public methods.

LangChain lets a subclass override `invoke` (or `ainvoke`, `stream`, `astream`, `transform`,
`atransform`, `batch`, `abatch`) and nothing else. Here every step has one async core (`_acall`,
`_astream`, `_atransform`), which chains, parallels, batches and events call. So when a class
overrides public methods, `install` (called once, from `Runnable.__init_subclass__`) gives it a
core that runs those overrides:

- `_acall` runs `ainvoke` (awaited), else `invoke` (in a worker thread, holding a slot of the
  run's `max_concurrency` as any leaf does), else the streaming overrides with their chunks
  added up;
- `_astream` runs `astream`, else `stream` (iterated in a worker thread), else the transforms
  over the one input, else yields `_acall`'s output;
- `_atransform` runs `atransform`, else `transform` (its input pulled from the loop), else adds
  the input up and streams it.

The public methods the class does not override keep the default entry points, which call that
core: `ainvoke` of a class overriding only `invoke` runs its `invoke` in a thread, and `invoke`
of one overriding only `ainvoke` goes through the sync bridge to it. `batch`/`abatch` overrides
are the class's own entry points; the defaults run items through the core. `.map()` of such a
step hands its whole list to them (`run_batch`), as LangChain's `RunnableEach` does.

An override may call `super().invoke(...)` (or any other default): that default enters the core
again, which must then not run the override that is already running on this object. A context
variable holds the object and the overrides running on it (it crosses into worker threads and
the bridge, as contexts do), and the core skips them: it falls back to the next override, then
to the core the class inherited (a `RunnableLambda` subclass's own), and fails with a clear
`NotImplementedError` if there is none.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from runnables._bridge import blocking_iter, iterate_in_thread
from runnables._chunks import collect_chunks
from runnables._concurrency import closing, run_in_thread
from runnables._config import RunnableConfig
from runnables._run import leaf_slot

__all__ = ["PUBLIC_METHODS", "batches_itself", "install", "marked", "run_batch", "skipping"]

PUBLIC_METHODS = (
    "invoke",
    "ainvoke",
    "stream",
    "astream",
    "transform",
    "atransform",
    "batch",
    "abatch",
)
_CORES = ("_acall", "_astream", "_atransform")
_RUNNERS = ("ainvoke", "invoke", "astream", "stream", "atransform", "transform")
"""The overrides that can run one input, in the order `_acall` prefers them."""

_running: ContextVar[tuple[object, frozenset[str]] | None] = ContextVar(
    "runnables_override", default=None
)


def install(cls: type[Any], base: type[Any]) -> None:
    """Give `cls` a core running its public-method overrides, if it has any of its own.

    A class that defines a core method itself (`_acall`, ...) states its behaviour that way, and
    its public methods, if it overrides them, are its own business: it is left as it is.
    """
    own = [name for name in PUBLIC_METHODS if name in cls.__dict__]
    if not own or any(core in cls.__dict__ for core in _CORES):
        return
    overridden = frozenset(
        name for name in PUBLIC_METHODS if getattr(cls, name) is not getattr(base, name)
    )
    runners = tuple(name for name in _RUNNERS if name in overridden)
    if not runners:
        return  # only batch/abatch: the class's own entry points, over the inherited core
    inherited = {core: getattr(cls, core) for core in _CORES}
    cls._overrides = overridden
    cls._acall = _make_acall(runners, inherited["_acall"])
    cls._astream = _make_astream(runners, inherited["_astream"])
    atransform = _make_atransform(runners, inherited["_atransform"])
    # Whether the step transforms a stream chunk by chunk (see `Runnable._transforms`).
    atransform.transforms = "atransform" in overridden or "transform" in overridden  # type: ignore[attr-defined]
    cls._atransform = atransform


@contextlib.contextmanager
def skipping(self: object, name: str) -> Iterator[None]:
    """While a default entry point `name` runs on `self` (its class overrides `name`, so only
    `super().name(...)` gets here), its core must not run the override `name` again."""
    token = _running.set((self, _skipped(self) | {name}))
    try:
        yield
    finally:
        _running.reset(token)


def marked(self: object, name: str, chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """`chunks` of a default stream entry point `name` (see `skipping`), pulled with the mark."""
    return _marked((self, _skipped(self) | {name}), chunks)


def _skipped(self: object) -> frozenset[str]:
    running = _running.get()
    return running[1] if running is not None and running[0] is self else frozenset()


def _make_acall(runners: tuple[str, ...], inherited: Callable[..., Any]) -> Callable[..., Any]:
    async def _acall(self: Any, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        skip = _skipped(self)
        for name in runners:
            if name not in skip:
                token = _running.set((self, skip | {name}))
                try:
                    return await _run_one(self, name, input, config, kwargs)
                finally:
                    _running.reset(token)
        return await _fallback(self, inherited, skip, input, config, kwargs)

    return _acall


async def _fallback(
    self: Any,
    inherited: Callable[..., Any],
    skip: frozenset[str],
    input: Any,
    config: RunnableConfig,
    kwargs: dict[str, Any],
) -> Any:
    from runnables._base import Runnable

    if inherited is Runnable._acall:
        running = ", ".join(sorted(skip))
        raise NotImplementedError(
            f"{type(self).__name__}.{running} calls a default of Runnable (e.g. super().invoke), "
            f"which would run {type(self).__name__}.{running} again; Runnable has no behaviour "
            "of its own to fall back on: do the work in the override instead"
        )
    return await inherited(self, input, config, **kwargs)


async def _run_one(
    self: Any, name: str, input: Any, config: RunnableConfig, kwargs: dict[str, Any]
) -> Any:
    config = {**config}  # the user's code may change it; the chain's own is shared
    if name == "ainvoke":
        return await self.ainvoke(input, config, **kwargs)
    if name == "invoke":
        async with leaf_slot():
            return await run_in_thread(_call, self.invoke, input, config, kwargs)
    if name == "stream":
        async with leaf_slot():
            return await run_in_thread(_sum_stream, self.stream, input, config, kwargs)
    return await collect_chunks(_stream_one(self, name, input, config, kwargs))


def batches_itself(step: Any) -> bool:
    """Whether `step`'s class overrides `batch` or `abatch` (then `run_batch` runs lists)."""
    overrides = step._overrides
    return bool(overrides) and ("abatch" in overrides or "batch" in overrides)


async def run_batch(
    self: Any, inputs: list[Any], config: RunnableConfig, kwargs: dict[str, Any]
) -> list[Any]:
    """A list of inputs through the class's own `abatch` (awaited) or else its `batch` (in a
    worker thread, holding a slot of the run's `max_concurrency` as any sync override does)."""
    config = {**config}  # the user's code may change it; the chain's own is shared
    if "abatch" in self._overrides:
        return await self.abatch(inputs, config, **kwargs)  # type: ignore[no-any-return]
    async with leaf_slot():
        return await run_in_thread(_call, self.batch, inputs, config, kwargs)


def _call(method: Callable[..., Any], input: Any, config: RunnableConfig, kwargs: Any) -> Any:
    return method(input, config, **kwargs)


def _sum_stream(
    method: Callable[..., Iterator[Any]], input: Any, config: RunnableConfig, kwargs: Any
) -> Any:
    from runnables._chunks import sum_chunks

    return sum_chunks(method(input, config, **kwargs))


async def _stream_one(
    self: Any, name: str, input: Any, config: RunnableConfig, kwargs: dict[str, Any]
) -> AsyncIterator[Any]:
    """The chunks of the override `name` (astream, stream or a transform) for one input."""
    config = {**config}  # the user's code may change it; the chain's own is shared
    if name == "astream":
        chunks = self.astream(input, config, **kwargs)
    elif name == "stream":
        chunks = iterate_in_thread(lambda: self.stream(input, config, **kwargs))
    else:
        chunks = _transform(self, name, _one(input), config, kwargs)
    async with closing(chunks) as _chunks:
        async for chunk in _chunks:
            yield chunk


async def _one(input: Any) -> AsyncIterator[Any]:
    yield input


def _transform(
    self: Any, name: str, chunks: AsyncIterator[Any], config: RunnableConfig, kwargs: Any
) -> AsyncIterator[Any]:
    config = {**config}
    if name == "atransform":
        return self.atransform(chunks, config, **kwargs)  # type: ignore[no-any-return]
    # A sync transform pulls its input chunks from the loop, from its worker thread.
    return iterate_in_thread(lambda: self.transform(blocking_iter(chunks), config, **kwargs))


def _make_astream(runners: tuple[str, ...], inherited: Callable[..., Any]) -> Callable[..., Any]:
    streamers = tuple(n for n in runners if n not in ("ainvoke", "invoke"))
    callers = tuple(n for n in runners if n in ("ainvoke", "invoke"))

    async def _astream(
        self: Any, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        skip = _skipped(self)
        name = next((n for n in streamers if n not in skip), None)
        if name is not None:
            # The whole input is here: the override is a leaf doing work.
            stream = _stream_one(self, name, input, config, kwargs)
            async with leaf_slot(), closing(_marked((self, skip | {name}), stream)) as chunks:
                async for chunk in chunks:
                    yield chunk
            return
        if any(n not in skip for n in callers):
            yield await self._acall(input, config, **kwargs)
            return
        async with closing(inherited(self, input, config, **kwargs)) as chunks:
            async for chunk in chunks:
                yield chunk

    return _astream


def _make_atransform(runners: tuple[str, ...], inherited: Callable[..., Any]) -> Callable[..., Any]:
    transforms = tuple(n for n in runners if n in ("atransform", "transform"))
    others = tuple(n for n in runners if n not in transforms)

    async def _atransform(
        self: Any, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        skip = _skipped(self)
        name = next((n for n in transforms if n not in skip), None)
        if name is not None:
            stream = _transform(self, name, chunks, config, kwargs)
            async with closing(_marked((self, skip | {name}), stream)) as out:
                async for chunk in out:
                    yield chunk
            return
        if any(n not in skip for n in others):
            whole = await collect_chunks(chunks)
            stream = self._astream(whole, config, **kwargs)
        else:
            stream = inherited(self, chunks, config, **kwargs)
        async with closing(stream) as out:
            async for chunk in out:
                yield chunk

    return _atransform


async def _marked(
    marker: tuple[object, frozenset[str]], chunks: AsyncIterator[Any]
) -> AsyncIterator[Any]:
    """Pull `chunks` with `marker` in force for each pull (not across the yields: a generator's
    body runs in whichever context pulls it)."""
    try:
        while True:
            token = _running.set(marker)
            try:
                chunk = await anext(chunks, _END)
            finally:
                _running.reset(token)
            if chunk is _END:
                return
            yield chunk
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            token = _running.set(marker)
            try:
                await aclose()
            finally:
                _running.reset(token)


_END = object()
