"""Wrappers that change how a step is called: `RunnableBinding` (bind, with_config) and
`RunnableEach` (map over a list)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from runnables._base import Runnable, _check_inputs
from runnables._concurrency import closing, gather
from runnables._config import RunnableConfig, merge_configs
from runnables._events import call_child, stream_child, transform_child
from runnables._graph import binding_label
from runnables._overrides import batches_itself, run_batch
from runnables._run import call_in_run, stream_in_run
from runnables._schema import each_schema
from runnables._wrapper import RunnableWrapper

if TYPE_CHECKING:
    from pydantic import BaseModel

In = TypeVar("In")
Out = TypeVar("Out")

# Config keys that make a bound config open a run of its own (a limit, a deadline).
_RUN_KEYS = ("max_concurrency", "timeout", "callbacks")


class RunnableBinding(RunnableWrapper[In, Out]):
    """A step with call options (`bind`) and/or config (`with_config`) fixed.

    Bound kwargs are passed to the step on every call (a caller's kwargs win). The bound config is
    merged under the caller's: tags are unioned, metadata shallow-merged. A bound
    `max_concurrency` or `timeout` opens a run there, as an entry point does.

    A binding is transparent in a run's events: the bound step's events stand for it, carrying
    the bound config's tags and metadata.
    """

    def __init__(
        self,
        bound: Runnable[In, Out],
        *,
        kwargs: Mapping[str, Any] | None = None,
        config: RunnableConfig | None = None,
    ) -> None:
        if not isinstance(bound, Runnable):
            raise TypeError(f'Invalid "bound" argument: expected a Runnable, got {bound!r}')
        # Bindings of bindings collapse into one, so `x.bind(a=1).bind(b=2)` is one wrapper.
        if isinstance(bound, RunnableBinding):
            self.custom_input_type = bound.custom_input_type
            self.custom_output_type = bound.custom_output_type
            kwargs = {**bound.kwargs, **(kwargs or {})}
            config = merge_configs(bound.config, config or {})
            bound = bound.bound
        super().__init__(bound)
        self.kwargs: dict[str, Any] = dict(kwargs or {})
        self.config: RunnableConfig = config or {}
        self._name = self.config.get("run_name")
        self._opens_run = any(key in self.config for key in _RUN_KEYS)
        # Transparent in events: the binding reports as the step it binds. Handlers it adds
        # must see that step too, so then the step reports from inside the binding's run.
        self._events_inside = "callbacks" in self.config
        self._kind = self.bound._kind
        self._transforms = self.bound._transforms

    def _graph_label(self) -> str | None:
        return binding_label(self.kwargs, self.config)

    def _repr_args(self) -> list[str]:
        parts = []
        if self.kwargs:
            parts.append(f"kwargs={self.kwargs!r}")
        if self.config:
            parts.append(f"config={self.config!r}")
        return parts

    def _event_config(self, config: RunnableConfig) -> RunnableConfig:
        return merge_configs(self.config, config) if self.config else config

    def _event_input(self, input: Any) -> Any:
        return self.bound._event_input(input)

    def _genai_request(self, options: Mapping[str, Any]) -> dict[str, Any]:
        describe = getattr(self.bound, "_genai_request", None)
        return describe({**self.kwargs, **options}) if describe is not None else {}

    def _merge(
        self, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> tuple[RunnableConfig, dict[str, Any]]:
        cfg = merge_configs(self.config, config) if self.config else config
        kw = {**self.kwargs, **kwargs} if kwargs else self.kwargs
        return cfg, kw

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        cfg, kw = self._merge(config, kwargs)
        if not self._opens_run:
            return await self.bound._acall(input, cfg, **kw)
        if self._events_inside:
            return await call_in_run(
                cfg, self.name, lambda c: call_child(self.bound, input, c, **kw)
            )
        return await call_in_run(cfg, self.name, lambda c: self.bound._acall(input, c, **kw))

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        cfg, kw = self._merge(config, kwargs)
        stream: AsyncIterator[Out]
        if not self._opens_run:
            stream = self.bound._astream(input, cfg, **kw)
        elif self._events_inside:
            stream = stream_in_run(
                cfg, self.name, lambda c: stream_child(self.bound, input, c, **kw)
            )
        else:
            stream = stream_in_run(cfg, self.name, lambda c: self.bound._astream(input, c, **kw))
        async with closing(stream) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        cfg, kw = self._merge(config, kwargs)
        stream: AsyncIterator[Out]
        if not self._opens_run:
            stream = self.bound._atransform(chunks, cfg, **kw)
        elif self._events_inside:
            stream = stream_in_run(
                cfg, self.name, lambda c: transform_child(self.bound, chunks, c, **kw)
            )
        else:
            stream = stream_in_run(
                cfg, self.name, lambda c: self.bound._atransform(chunks, c, **kw)
            )
        async with closing(stream) as out:
            async for chunk in out:
                yield chunk


class RunnableEach(RunnableWrapper[list[In], list[Out]]):
    """Apply a step to each item of a list input, concurrently; outputs keep the list's order."""

    def __init__(self, bound: Runnable[In, Out]) -> None:
        if not isinstance(bound, Runnable):
            raise TypeError(f'Invalid "bound" argument: expected a Runnable, got {bound!r}')
        super().__init__(bound)  # type: ignore[arg-type]

    _transforms = False

    @property
    def name(self) -> str:
        return self._name or f"RunnableEach<{self.bound.name}>"

    @property
    def InputType(self) -> Any:  # LCEL's name
        return self.custom_input_type or list[self.bound.InputType]  # type: ignore[name-defined]

    @property
    def OutputType(self) -> Any:  # LCEL's name
        return self.custom_output_type or list[self.bound.OutputType]  # type: ignore[name-defined]

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return each_schema(self, self.bound.get_input_schema(config), "Input")

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return each_schema(self, self.bound.get_output_schema(config), "Output")

    def _graph_label(self) -> str:
        return "each item"

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> list[Out]:
        _check_inputs(input)
        if batches_itself(self.bound):  # a class of its own batching: the whole list, at once
            return await run_batch(self.bound, list(input), config, kwargs)
        return await gather([self._item(i, x, config, kwargs) for i, x in enumerate(input)])

    async def _item(
        self, index: int, item: Any, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> Any:
        try:
            return await self._call_bound(item, config, kwargs)
        except Exception as exc:
            exc.add_note(f"in item {index} of {self.name}")
            raise

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[list[Out]]:
        yield await self._acall(input, config, **kwargs)

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[list[Out]]:
        async with closing(Runnable._atransform(self, chunks, config, **kwargs)) as out:
            async for chunk in out:
                yield chunk
