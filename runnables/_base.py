"""The `Runnable` protocol: one async core per step, and the public API every step shares.

A subclass states its behaviour once, in async:

- `_acall(input, config, **kwargs)`: required; the step's work for one input. `config` is already
  validated; composites pass `child_config(config)` to their children.
- `_astream(input, config, **kwargs)`: optional; yields output chunks (default: the one output).
- `_atransform(chunks, config, **kwargs)`: optional; chunks in, chunks out (default: add the input
  chunks up with `+`, then `_astream`).

Everything public (`invoke`, `ainvoke`, `stream`, `astream`, composition; the batch forms in
`runnables._batch`) is written once, on top of those. A subclass may instead override the public
methods, as LangChain's allow (`invoke` only, say): `runnables._overrides` then gives it a core
that runs them. The sync methods cross into the async
core through `runnables._bridge`.
"""

from __future__ import annotations

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
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from runnables._batch import BatchMethods, check_inputs
from runnables._bridge import iter_sync, run_inline, run_sync
from runnables._chunks import AddableDict, add_chunks, collect_chunks
from runnables._coerce import coerce_to_runnable, parallel_of
from runnables._concurrency import closing
from runnables._config import (
    EMPTY_CONFIG,
    RunnableConfig,
    ensure_config,
    merge_configs,
)
from runnables._events import (
    call_child,
    stream_child,
    transform_child,
)
from runnables._events_v2 import EventFilter, EventStream
from runnables._overrides import install as install_overrides
from runnables._overrides import marked, skipping
from runnables._run import (
    call_in_run,
    detached_context,
    inline_context,
    needs_run,
    stream_in_run,
)

__all__ = ["AddableDict", "Runnable", "add_chunks", "coerce_to_runnable", "collect_chunks"]

if TYPE_CHECKING:
    from pydantic import BaseModel

    from runnables._binding import RunnableBinding, RunnableEach
    from runnables._cache import BaseCache
    from runnables._fallbacks import RunnableWithFallbacks
    from runnables._graph import Graph
    from runnables._retry import RunnableRetry
    from runnables._sequence import RunnableSequence
    from runnables._step_cache import RunnableWithCache
    from runnables._timeout import RunnableTimeout
    from runnables._tool import BaseTool

_check_inputs = check_inputs  # where other modules import it from

In = TypeVar("In", contravariant=True)
Out = TypeVar("Out", covariant=True)
Other = TypeVar("Other")
T = TypeVar("T")


class Runnable(BatchMethods[In, Out]):
    """A unit of work that can be invoked, batched, streamed and composed with `|`."""

    _name: str | None = None
    _kind: str = "chain"
    """What the step is, for its events: chain, prompt, chat_model, parser, tool or lambda."""
    _events_inside: bool = False
    """Whether the step reports its own events from inside its run (a binding that adds
    handlers, so they see the step it binds): the event path then does not report it."""
    _transforms: bool = False
    """Whether the step transforms a stream chunk by chunk (it overrides `_atransform`), rather
    than gathering its whole input first."""
    _sync_inline: bool = False
    """Whether a sync `invoke` may run the step's `_acall` inline, without an event loop: it
    never waits on anything but such steps of its own and sync functions (which then run in the
    calling thread). A subclass that overrides `_acall` loses it unless it sets it again."""
    _overrides: frozenset[str] = frozenset()
    """The public methods (`invoke`, `astream`, ...) the class overrides, LangChain's way, when
    its core runs them (see `runnables._overrides`); empty for steps written on the core."""
    _instant: bool = False
    """Whether the step's `_acall` returns without ever waiting or running user code that
    might (prompts, parsers, passthrough, pick): a parallel runs such a branch on the spot,
    without a task. A subclass that overrides `_acall` loses it unless it sets it again."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A class overriding public methods (LangChain's way) gets a core that runs them:
        # decided here, once per class, not per call.
        install_overrides(cls, Runnable)
        if "_transforms" not in cls.__dict__:
            atransform = cls._atransform
            cls._transforms = getattr(
                atransform, "transforms", atransform is not Runnable._atransform
            )
        if "_acall" in cls.__dict__:
            for flag in ("_sync_inline", "_instant"):
                if flag not in cls.__dict__:
                    setattr(cls, flag, False)

    def _set_fast_paths(
        self, owner: type[Runnable[Any, Any]], *, sync_inline: bool, instant: bool = False
    ) -> None:
        """Set this instance's `_sync_inline` and `_instant`, which describe `owner._acall`; an
        instance of a subclass that overrides `_acall` keeps its class's values (False)."""
        if type(self)._acall is owner._acall:
            self._sync_inline = sync_inline
            self._instant = instant

    # -- the async core, stated once per subclass ---------------------------------------------

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        raise NotImplementedError(
            f"{type(self).__name__} does not implement _acall: a step overrides invoke, ainvoke, "
            "stream, astream, transform or atransform (or _acall)"
        )

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

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        """The step's name (LCEL spelling of `name`), or `name`, with an optional suffix
        spelled as LCEL does (`"Input"` gives `RunnableParallelInput` or `gen_input`)."""
        from runnables._schema import with_suffix

        return with_suffix(name or self.name, suffix)

    # -- schemas and graph (derived in runnables._schema and runnables._graph) -----------------

    custom_input_type: Any = None
    custom_output_type: Any = None

    def _wrapped_step(self) -> Runnable[Any, Any] | None:
        """The step this one wraps, if it is a wrapper (bind, retry, timeout, ...)."""
        bound = getattr(self, "bound", None)
        return bound if isinstance(bound, Runnable) else None

    def _graph_label(self) -> str | None:
        """What a wrapper adds to the step it wraps, as a graph shows it (`"retry ×3"`)."""
        return None

    @property
    def InputType(self) -> Any:  # LCEL's name
        """The type annotation of the step's input (`Any` where it cannot be told)."""
        from runnables._schema import generic_types

        if self.custom_input_type is not None:
            return self.custom_input_type
        wrapped = self._wrapped_step()
        return wrapped.InputType if wrapped is not None else generic_types(self)[0]

    @property
    def OutputType(self) -> Any:  # LCEL's name
        """The type annotation of the step's output (`Any` where it cannot be told)."""
        from runnables._schema import generic_types

        if self.custom_output_type is not None:
            return self.custom_output_type
        wrapped = self._wrapped_step()
        return wrapped.OutputType if wrapped is not None else generic_types(self)[1]

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """A pydantic model of the step's input (see `runnables._schema` for where it comes
        from); a wrapper gives the wrapped step's."""
        from runnables._schema import root_model

        wrapped = self._wrapped_step()
        if wrapped is not None and self.custom_input_type is None:
            return wrapped.get_input_schema(config)
        return root_model(self.get_name("Input"), self.InputType, module=type(self).__module__)

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """A pydantic model of the step's output; a wrapper gives the wrapped step's."""
        from runnables._schema import root_model

        wrapped = self._wrapped_step()
        if wrapped is not None and self.custom_output_type is None:
            return wrapped.get_output_schema(config)
        return root_model(self.get_name("Output"), self.OutputType, module=type(self).__module__)

    @property
    def input_schema(self) -> type[BaseModel]:
        """`get_input_schema()`."""
        return self.get_input_schema()

    @property
    def output_schema(self) -> type[BaseModel]:
        """`get_output_schema()`."""
        return self.get_output_schema()

    def get_input_jsonschema(self, config: RunnableConfig | None = None) -> dict[str, Any]:
        """The JSON schema of the step's input."""
        return self.get_input_schema(config).model_json_schema()

    def get_output_jsonschema(self, config: RunnableConfig | None = None) -> dict[str, Any]:
        """The JSON schema of the step's output."""
        return self.get_output_schema(config).model_json_schema()

    def with_types(
        self, *, input_type: Any = None, output_type: Any = None
    ) -> RunnableBinding[In, Out]:
        """A copy of this step whose schemas come from these types instead."""
        from runnables._binding import RunnableBinding

        binding = RunnableBinding(self)
        if input_type is not None:
            binding.custom_input_type = input_type
        if output_type is not None:
            binding.custom_output_type = output_type
        return binding

    def get_graph(self, config: RunnableConfig | None = None) -> Graph:
        """The step as a graph: its input, its parts and how they connect, its output."""
        from runnables._graph import step_graph

        return step_graph(self, config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _event_config(self, config: RunnableConfig) -> RunnableConfig:
        """The config this step's events carry (a binding adds its bound config)."""
        return config

    def _event_input(self, input: Any) -> Any:
        """How this step's input appears in its start event (a chat model shows messages)."""
        return input

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
        if self._overrides and "ainvoke" in self._overrides:
            with skipping(self, "ainvoke"):  # reached through super().ainvoke(...)
                return await Runnable._ainvoke(self, input, config, **kwargs)
        if not needs_run(config):
            return await self._acall(input, EMPTY_CONFIG, **kwargs)
        return await call_in_run(
            ensure_config(config),
            self.name,
            lambda cfg: call_child(self, input, cfg, root=True, **kwargs),
        )

    async def _ainvoke(self, input: In, config: RunnableConfig | None, **kwargs: Any) -> Out:
        if not needs_run(config):
            return await self._acall(input, EMPTY_CONFIG, **kwargs)
        return await call_in_run(
            ensure_config(config),
            self.name,
            lambda cfg: call_child(self, input, cfg, root=True, **kwargs),
        )

    def invoke(self, input: In, config: RunnableConfig | None = None, **kwargs: Any) -> Out:
        """Run the step on one input, blocking until done (works inside a running loop too).

        A step that only runs sync functions one after another (sync lambdas, prompts,
        parsers, passthrough, in a sequence) runs them right here, in the calling thread: with
        nothing running concurrently, a worker thread per function would buy no overlap.
        """
        if self._overrides and "invoke" in self._overrides:
            with skipping(self, "invoke"):  # reached through super().invoke(...)
                detached = detached_context()
            return run_sync(lambda: Runnable._ainvoke(self, input, config, **kwargs), detached)
        if self._sync_inline:
            context = inline_context(config)
            if context is not None:
                return run_inline(self.ainvoke(input, config, **kwargs), context)
        return run_sync(lambda: self.ainvoke(input, config, **kwargs), detached_context())

    def astream(
        self, input: In, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncGenerator[Out, None]:
        """Run the step on one input, yielding output chunks as they are produced.

        A step that cannot stream yields its one output.
        """
        if self._overrides and "astream" in self._overrides:  # through super().astream(...)
            return marked(self, "astream", self._astream_in_run(input, config, **kwargs))  # type: ignore[return-value]
        if not needs_run(config):
            stream = self._astream(input, EMPTY_CONFIG, **kwargs)
            if isinstance(stream, AsyncGenerator):
                return stream  # the step's own generator: no layer of ours per chunk
        return self._astream_in_run(input, config, **kwargs)

    async def _astream_in_run(
        self, input: In, config: RunnableConfig | None, **kwargs: Any
    ) -> AsyncGenerator[Out, None]:
        stream: AsyncIterator[Out]
        if not needs_run(config):
            stream = self._astream(input, EMPTY_CONFIG, **kwargs)
        else:
            stream = stream_in_run(
                ensure_config(config),
                self.name,
                lambda cfg: stream_child(self, input, cfg, root=True, **kwargs),
            )
        async with closing(stream) as chunks:
            async for chunk in chunks:
                yield chunk

    def astream_events(
        self,
        input: In,
        config: RunnableConfig | None = None,
        *,
        version: Literal["v2"] = "v2",
        include_names: Sequence[str] | None = None,
        include_types: Sequence[str] | None = None,
        include_tags: Sequence[str] | None = None,
        exclude_names: Sequence[str] | None = None,
        exclude_types: Sequence[str] | None = None,
        exclude_tags: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Run the step, yielding the events of every step in order, in LangChain's v2 schema.

        Each event is a dict: `event` (`on_chain_start`, `on_chat_model_stream`,
        `on_parser_end`, ...: `on_{type}_{start|stream|end}` with type chain, prompt,
        chat_model, parser or tool), `name`, `run_id`, `parent_ids` (root first, `[]` for the
        root), `tags`, `metadata` and `data` (`input`, `chunk` or `output`). A parent's start
        comes before its children's. Errors are not events (except a tool's, `on_tool_error`,
        with `error` and `input`): the exception is raised after the events so far. A step's
        `dispatch_custom_event` gives `on_custom_event`; a sequence's steps carry the tag
        `seq:step:N`.

        The run starts when the iteration does. Stopping early is clean: close the iterator
        (`contextlib.aclosing`) to cancel the run and wait for it to end; one dropped without
        closing is cancelled when it is garbage collected.

        Args:
            input: The step's input.
            config: Options for this run.
            version: The schema; only `"v2"`.
            include_names: Keep only events of steps with these names (or matching another
                include filter).
            include_types: ... of these types.
            include_tags: ... with any of these tags.
            exclude_names: Drop events of steps with these names.
            exclude_types: ... of these types.
            exclude_tags: ... with any of these tags.
            **kwargs: Call options passed to the step.

        Raises:
            ValueError: `version` is not `"v2"`.
        """
        if version != "v2":
            raise ValueError(f'Invalid "version" argument: {version!r}; only "v2" is supported')
        event_filter = EventFilter(
            include_names, include_types, include_tags, exclude_names, exclude_types, exclude_tags
        )
        return EventStream(self, input, ensure_config(config), kwargs, event_filter)

    def stream(
        self, input: In, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Generator[Out, None, None]:
        """Sync form of `astream`: chunks are handed over one by one as they are produced."""
        if self._overrides and "stream" in self._overrides:  # through super().stream(...)
            with skipping(self, "stream"):
                context = detached_context()
            return iter_sync(lambda: Runnable.astream(self, input, config, **kwargs), context)
        return iter_sync(lambda: self.astream(input, config, **kwargs), detached_context())

    async def atransform(
        self, input: AsyncIterator[In], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncGenerator[Out, None]:
        """Stream the step over a stream of input chunks (`input`, LangChain's name)."""
        stream = stream_in_run(
            ensure_config(config),
            self.name,
            lambda cfg: transform_child(self, input, cfg, **kwargs),
        )
        if self._overrides and "atransform" in self._overrides:  # through super().atransform
            stream = marked(self, "atransform", stream)
        async with closing(stream) as out:
            async for chunk in out:
                yield chunk

    def transform(
        self, input: Iterator[In], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Generator[Out, None, None]:
        """Sync form of `atransform`."""

        async def source() -> AsyncIterator[Any]:
            for chunk in input:
                yield chunk

        if self._overrides and "transform" in self._overrides:  # through super().transform
            with skipping(self, "transform"):
                context = detached_context()
            return iter_sync(lambda: Runnable.atransform(self, source(), config, **kwargs), context)
        return iter_sync(lambda: self.atransform(source(), config, **kwargs), detached_context())

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

        return self | RunnableAssign(parallel_of(kwargs))

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

    def with_cache(
        self,
        cache: BaseCache,
        *,
        key: Callable[[Any], Any] | None = None,
        ttl: float | None = None,
        namespace: str | None = None,
    ) -> RunnableWithCache[In, Out]:
        """A copy of this step memoized by its input in `cache` (see `RunnableWithCache`)."""
        from runnables._step_cache import with_cache

        return with_cache(self, cache, key=key, ttl=ttl, namespace=namespace)

    def map(self) -> RunnableEach[In, Out]:
        """A step that applies this one to each item of a list, concurrently."""
        from runnables._binding import RunnableEach

        return RunnableEach(self)

    def as_tool(
        self,
        args_schema: type[BaseModel] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        arg_types: dict[str, type] | None = None,
    ) -> BaseTool:
        """This step as a tool a model can call (a `BaseTool`, re-exported as `llm.BaseTool`).

        With `args_schema` (a pydantic model) or `arg_types` (`{"a": int}`), the step receives
        the validated arguments as a dict; without them, a prompt gets one string argument per
        variable, any other step one argument, `input`. The name defaults to the step's, which
        must be a valid tool name.
        """
        from runnables._tool_runnable import tool_from_runnable

        return tool_from_runnable(
            self, args_schema, name=name, description=description, arg_types=arg_types
        )
