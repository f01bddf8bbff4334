"""The `Runnable` protocol: one async core per step, and the public API every step shares.

A subclass states its behaviour once, in async:

- `_acall(input, config, **kwargs)`: required; the step's work for one input. `config` is already
  validated; composites pass `child_config(config)` to their children.
- `_astream(input, config, **kwargs)`: optional; yields output chunks (default: the one output).
- `_atransform(chunks, config, **kwargs)`: optional; chunks in, chunks out (default: add the input
  chunks up with `+`, then `_astream`).

Everything public (`invoke`, `ainvoke`, `batch`, `abatch`, the `*_as_completed` forms, `stream`,
`astream`, composition) is written here once, on top of those. The sync methods cross into the async
core through `runnables._bridge`.
"""

from __future__ import annotations

import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from runnables._bridge import iter_sync, run_sync
from runnables._concurrency import (
    _limiter,
    as_completed,
    closing,
    gather,
    run_with_timeout,
    stream_with_timeout,
    with_limit,
)
from runnables._config import (
    EMPTY_CONFIG,
    RunnableConfig,
    config_list,
    ensure_config,
    merge_configs,
    without_timeout,
)

if TYPE_CHECKING:
    from llm._tools import BaseTool
    from runnables._binding import RunnableBinding, RunnableEach
    from runnables._fallbacks import RunnableWithFallbacks
    from runnables._parallel import RunnableParallel
    from runnables._retry import RunnableRetry
    from runnables._sequence import RunnableSequence
    from runnables._timeout import RunnableTimeout

In = TypeVar("In", contravariant=True)
Out = TypeVar("Out", covariant=True)
Other = TypeVar("Other")
T = TypeVar("T")


class Runnable(Generic[In, Out]):
    """A unit of work that can be invoked, batched, streamed and composed with `|`."""

    _name: str | None = None

    # -- the async core, stated once per subclass ---------------------------------------------

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        raise NotImplementedError(f"{type(self).__name__} does not implement _acall")

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        yield await self._acall(input, config, **kwargs)

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        final = await collect_chunks(chunks)
        async with closing(self._astream(final, config, **kwargs)) as _chunks:
            async for out in _chunks:
                yield out

    # -- identity ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The step's name: the one given, or the class name."""
        return self._name or type(self).__name__

    def get_name(self) -> str:
        """The step's name (LCEL spelling of `name`)."""
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- running -------------------------------------------------------------------------------

    async def ainvoke(self, input: In, config: RunnableConfig | None = None, **kwargs: Any) -> Out:
        """Run the step on one input.

        Args:
            input: The step's input.
            config: Options for this run (tags, metadata, max_concurrency, ...).
            **kwargs: Call options passed to the step (as `bind` would).

        Returns:
            The step's output.
        """
        if config is None:
            return await self._acall(input, EMPTY_CONFIG, **kwargs)
        cfg = ensure_config(config)
        mc = cfg.get("max_concurrency")
        timeout = cfg.get("timeout")
        if timeout is not None:
            cfg = without_timeout(cfg)
            return await run_with_timeout(
                timeout,
                self.name,
                lambda: with_limit(mc, lambda: self._acall(input, cfg, **kwargs)),
            )
        if mc is None or _limiter.get() is not None:
            return await self._acall(input, cfg, **kwargs)
        return await with_limit(mc, lambda: self._acall(input, cfg, **kwargs))

    def invoke(self, input: In, config: RunnableConfig | None = None, **kwargs: Any) -> Out:
        """Run the step on one input, blocking until done (works inside a running loop too)."""
        return run_sync(lambda: self.ainvoke(input, config, **kwargs))

    @overload
    async def abatch(
        self,
        inputs: Sequence[In],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: Literal[False] = False,
        **kwargs: Any,
    ) -> list[Out]: ...
    @overload
    async def abatch(
        self,
        inputs: Sequence[In],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool,
        **kwargs: Any,
    ) -> list[Out | Exception]: ...

    async def abatch(
        self,
        inputs: Sequence[In],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Out] | list[Out | Exception]:
        """Run the step on many inputs concurrently; outputs come back in input order.

        Args:
            inputs: A list (or tuple) of inputs.
            config: One config for all inputs, or a list with one config per input.
                `max_concurrency` bounds the leaf steps running at once across the whole batch.
            return_exceptions: Put each failure in its place in the result instead of raising
                (and cancelling the rest) on the first one.
            **kwargs: Call options passed to every run.

        Raises:
            TypeError: `inputs` is not a list or tuple.
            ValueError: `config` is a list of the wrong length.
        """
        _check_inputs(inputs)
        if not inputs:
            return []
        configs = config_list(config, len(inputs))

        async def run_all() -> list[Any]:
            coros = [
                self._acall_item(i, x, c, return_exceptions, kwargs)
                for i, (x, c) in enumerate(zip(inputs, configs, strict=True))
            ]
            return await gather(coros)

        timeout = configs[0].get("timeout")
        if timeout is not None:
            return await run_with_timeout(
                timeout,
                f"batch of {self.name}",
                lambda: with_limit(configs[0].get("max_concurrency"), run_all),
            )
        return await with_limit(configs[0].get("max_concurrency"), run_all)

    @overload
    def batch(
        self,
        inputs: Sequence[In],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: Literal[False] = False,
        **kwargs: Any,
    ) -> list[Out]: ...
    @overload
    def batch(
        self,
        inputs: Sequence[In],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool,
        **kwargs: Any,
    ) -> list[Out | Exception]: ...

    def batch(
        self,
        inputs: Sequence[In],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Out] | list[Out | Exception]:
        """Sync form of `abatch`: inputs run concurrently, outputs in input order."""
        _check_inputs(inputs)
        return run_sync(
            lambda: self.abatch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        )

    async def abatch_as_completed(
        self,
        inputs: Sequence[In],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> AsyncGenerator[tuple[int, Out | Exception], None]:
        """Run many inputs concurrently, yielding `(index, output)` as each finishes.

        Breaking out of the loop cancels whatever is still running (on trio, close the
        generator explicitly, e.g. with `contextlib.aclosing`, as trio requires).
        """
        _check_inputs(inputs)
        if not inputs:
            return
        configs = config_list(config, len(inputs))
        token = None
        mc = configs[0].get("max_concurrency")
        if mc is not None and _limiter.get() is None:
            import anyio

            token = _limiter.set(anyio.CapacityLimiter(mc))
        try:
            coros = [
                self._acall_item(i, x, c, return_exceptions, kwargs)
                for i, (x, c) in enumerate(zip(inputs, configs, strict=True))
            ]
            timeout = configs[0].get("timeout")
            pairs: AsyncIterator[tuple[int, Any]]
            if timeout is None:
                pairs = as_completed(coros)
            else:
                pairs = stream_with_timeout(
                    timeout, f"batch of {self.name}", lambda: as_completed(coros)
                )
            async with closing(pairs) as results:
                async for pair in results:
                    yield pair
        finally:
            if token is not None:
                _reset_quietly(token)

    def batch_as_completed(
        self,
        inputs: Sequence[In],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> Generator[tuple[int, Out | Exception], None, None]:
        """Sync form of `abatch_as_completed`; breaking out cancels pending work."""
        _check_inputs(inputs)
        return iter_sync(
            lambda: self.abatch_as_completed(
                inputs, config, return_exceptions=return_exceptions, **kwargs
            )
        )

    async def _acall_item(
        self,
        index: int,
        input: Any,
        config: RunnableConfig,
        return_exceptions: bool,
        kwargs: Mapping[str, Any],
    ) -> Any:
        try:
            return await self._acall(input, config, **kwargs)
        except Exception as exc:
            if return_exceptions:
                return exc
            exc.add_note(f"in batch item {index} of {self.name}")
            raise

    async def astream(
        self, input: In, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncGenerator[Out, None]:
        """Run the step on one input, yielding output chunks as they are produced.

        A step that cannot stream yields its one output.
        """
        cfg = ensure_config(config)
        token = None
        mc = cfg.get("max_concurrency")
        if mc is not None and _limiter.get() is None:
            import anyio

            token = _limiter.set(anyio.CapacityLimiter(mc))
        timeout = cfg.get("timeout")
        stream: AsyncIterator[Out]
        if timeout is None:
            stream = self._astream(input, cfg, **kwargs)
        else:
            cfg = without_timeout(cfg)
            stream = stream_with_timeout(
                timeout, self.name, lambda: self._astream(input, cfg, **kwargs)
            )
        try:
            async with closing(stream) as chunks:
                async for chunk in chunks:
                    yield chunk
        finally:
            if token is not None:
                _reset_quietly(token)

    async def astream_events(
        self, input: In, config: RunnableConfig | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Run the step, yielding start / stream / end / error events of every step, in order.

        Each event is a dict: `event` (`"start"`, `"stream"`, `"end"` or `"error"`), `name`,
        `run_id`, `parent_id` (None for the root), `tags`, `metadata` and `data` (`input`,
        `chunk`, `output` or `error`). See `runnables._events` for the full format.
        """
        from runnables._events import stream_events

        cfg = ensure_config(config)
        async with contextlib.aclosing(stream_events(self, input, cfg)) as events:  # type: ignore[type-var]
            async for event in events:
                yield event

    def stream(
        self, input: In, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Generator[Out, None, None]:
        """Sync form of `astream`: chunks are handed over one by one as they are produced."""
        return iter_sync(lambda: self.astream(input, config, **kwargs))

    async def atransform(
        self, chunks: AsyncIterator[In], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncGenerator[Out, None]:
        """Stream the step over a stream of input chunks."""
        async with closing(self._atransform(chunks, ensure_config(config), **kwargs)) as _chunks:
            async for chunk in _chunks:
                yield chunk

    def transform(
        self, chunks: Iterator[In], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Generator[Out, None, None]:
        """Sync form of `atransform`."""

        async def source() -> AsyncIterator[Any]:
            for chunk in chunks:
                yield chunk

        return iter_sync(lambda: self.atransform(source(), config, **kwargs))

    # -- composition ---------------------------------------------------------------------------

    @overload
    def __or__(self, other: Runnable[Any, Other]) -> RunnableSequence[In, Other]: ...
    @overload
    def __or__(
        self, other: Callable[[AsyncIterator[Any]], AsyncIterator[Other]]
    ) -> RunnableSequence[In, Other]: ...
    @overload
    def __or__(
        self, other: Callable[[Iterator[Any]], Iterator[Other]]
    ) -> RunnableSequence[In, Other]: ...
    @overload
    def __or__(self, other: Callable[[Any], Awaitable[Other]]) -> RunnableSequence[In, Other]: ...
    @overload
    def __or__(self, other: Callable[[Any], Other]) -> RunnableSequence[In, Other]: ...
    @overload
    def __or__(self, other: Mapping[str, Any]) -> RunnableSequence[In, dict[str, Any]]: ...

    def __or__(self, other: Any) -> RunnableSequence[In, Any]:
        from runnables._sequence import RunnableSequence

        return RunnableSequence(self, coerce_to_runnable(other, param="other"))

    @overload
    def __ror__(self, other: Runnable[Other, Any]) -> RunnableSequence[Other, Out]: ...
    @overload
    def __ror__(self, other: Callable[[Any], Any]) -> RunnableSequence[Any, Out]: ...
    @overload
    def __ror__(self, other: Mapping[str, Any]) -> RunnableSequence[Any, Out]: ...

    def __ror__(self, other: Any) -> RunnableSequence[Any, Out]:
        from runnables._sequence import RunnableSequence

        return RunnableSequence(coerce_to_runnable(other, param="other"), self)

    def pipe(self, *others: Any, name: str | None = None) -> RunnableSequence[In, Any]:
        """Compose this step with `others` in sequence (`self | others[0] | ...`)."""
        from runnables._sequence import RunnableSequence

        return RunnableSequence(
            self, *(coerce_to_runnable(o, param="others") for o in others), name=name
        )

    def assign(self, **kwargs: Any) -> RunnableSequence[In, dict[str, Any]]:
        """Run this step, then add keys computed from its (dict) output: `{**out, k: f(out)}`."""
        from runnables._passthrough import RunnableAssign

        return self | RunnableAssign(_parallel(kwargs))

    def pick(self, keys: str | list[str]) -> RunnableSequence[In, Any]:
        """Run this step, then keep only `keys` of its (dict) output (see `RunnablePick`)."""
        from runnables._passthrough import RunnablePick

        return self | RunnablePick(keys)

    def bind(self, **kwargs: Any) -> RunnableBinding[In, Out]:
        """A copy of this step that always receives these call options (e.g. `stop=[...]`)."""
        from runnables._binding import RunnableBinding

        self.check_call_options(kwargs)
        return RunnableBinding(self, kwargs=kwargs)

    def check_call_options(self, options: Mapping[str, Any]) -> None:
        """Reject call options this step cannot take; `bind` calls it, so bad options fail
        when the chain is built. The default accepts anything."""

    def with_config(
        self, config: RunnableConfig | None = None, **kwargs: Any
    ) -> RunnableBinding[In, Out]:
        """A copy of this step that runs with this config merged under the caller's."""
        from runnables._binding import RunnableBinding

        merged = merge_configs(ensure_config(config), ensure_config(kwargs))  # type: ignore[arg-type]
        return RunnableBinding(self, config=merged)

    def with_retry(
        self,
        *,
        retry_if_exception_type: type[BaseException]
        | tuple[type[BaseException], ...]
        | Callable[[BaseException], bool] = (Exception,),
        wait_exponential_jitter: bool = True,
        stop_after_attempt: int = 3,
        exponential_jitter_params: Mapping[str, float] | None = None,
    ) -> RunnableRetry[In, Out]:
        """A copy of this step that is retried on failure (see `RunnableRetry`)."""
        from runnables._retry import RunnableRetry

        return RunnableRetry(
            self,
            retry_if_exception_type=retry_if_exception_type,
            wait_exponential_jitter=wait_exponential_jitter,
            stop_after_attempt=stop_after_attempt,
            exponential_jitter_params=exponential_jitter_params,
        )

    def with_fallbacks(
        self,
        fallbacks: Sequence[Any],
        *,
        exceptions_to_handle: tuple[type[BaseException], ...] = (Exception,),
        exception_key: str | None = None,
    ) -> RunnableWithFallbacks[In, Out]:
        """A copy of this step that tries `fallbacks` in turn when it fails."""
        from runnables._fallbacks import RunnableWithFallbacks

        return RunnableWithFallbacks(
            self,
            fallbacks,
            exceptions_to_handle=exceptions_to_handle,
            exception_key=exception_key,
        )

    def with_timeout(self, seconds: float) -> RunnableTimeout[In, Out]:
        """A copy of this step that is cancelled with `TimeoutError` after `seconds`."""
        from runnables._timeout import RunnableTimeout

        return RunnableTimeout(self, seconds)

    def map(self) -> RunnableEach[In, Out]:
        """A step that applies this one to each item of a list, concurrently."""
        from runnables._binding import RunnableEach

        return RunnableEach(self)

    def as_tool(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        args_schema: type[Any] | None = None,
    ) -> BaseTool:
        """This step as a tool a model can call (an `llm.BaseTool`; see `llm.tool`).

        With `args_schema` (a pydantic model), the step receives the validated arguments as a
        dict; without it, a prompt gets one string argument per variable, any other step one
        argument, `input`. The name defaults to the step's, which must be a valid tool name.
        """
        # Tools answer tool calls with ToolMessages, which belong to the layers above; this is
        # the core's only reference to them, imported when a tool is asked for.
        from llm._tools import tool_from_runnable

        return tool_from_runnable(self, name=name, description=description, args_schema=args_schema)


def _check_inputs(inputs: object) -> None:
    if not isinstance(inputs, list | tuple):
        raise TypeError(f'Invalid "inputs" argument: expected a list, got {inputs!r}')


def _reset_quietly(token: Any) -> None:
    # The generator may be finalized in another context (e.g. by the loop's GC hook).
    with contextlib.suppress(ValueError):
        _limiter.reset(token)


async def collect_chunks(chunks: AsyncIterator[Any]) -> Any:
    """Add a stream of chunks up with `add_chunks` (the first chunk starts the sum)."""
    final: Any = None
    started = False
    async for chunk in chunks:
        if not started:
            final, started = chunk, True
        else:
            final = add_chunks(final, chunk)
    return final


def add_chunks(left: Any, right: Any) -> Any:
    """Add two stream chunks with `+`.

    Chunks that do not support `+` (two whole objects, such as a JSON parser's successive
    partial dicts) replace each other, the last one being the value, as LCEL does. Keyed chunks
    of parallel steps are `AddableDict`s, which add key by key.
    """
    try:
        return left + right
    except TypeError:
        return right


class AddableDict(dict[str, Any]):
    """A dict chunk that adds key by key: `{"a": "x"} + {"a": "y", "b": 1} == {"a": "xy", "b": 1}`.

    Parallel, assign and pick stream these, so adding a stream's chunks gives the whole output.
    """

    def __add__(self, other: Any) -> AddableDict:
        if not isinstance(other, dict):
            return NotImplemented
        merged = AddableDict(self)
        for key, value in other.items():
            merged[key] = add_chunks(merged[key], value) if key in merged else value
        return merged

    def __radd__(self, other: Any) -> AddableDict:
        if not isinstance(other, dict):
            return NotImplemented
        return AddableDict(other) + self


def _parallel(steps: Mapping[str, Any]) -> RunnableParallel[Any]:
    from runnables._parallel import RunnableParallel

    return RunnableParallel(steps)


def coerce_to_runnable(thing: Any, *, param: str = "step") -> Runnable[Any, Any]:
    """Turn a runnable-like object into a runnable.

    A runnable is returned as is; a function or `async def` becomes a `RunnableLambda`; a
    generator function becomes a `RunnableGenerator`; a dict becomes a `RunnableParallel`.

    Raises:
        TypeError: `thing` is none of those; the message names what it got.
    """
    if isinstance(thing, Runnable):
        return thing
    if isinstance(thing, Mapping):
        return _parallel(thing)
    if callable(thing):
        from runnables._lambda import RunnableGenerator, RunnableLambda, is_generator_callable

        if is_generator_callable(thing):
            return RunnableGenerator(thing)
        return RunnableLambda(thing)
    raise TypeError(
        f'Invalid "{param}" argument: expected a Runnable, callable or dict, '
        f"got {type(thing).__name__} {thing!r}"
    )
