"""Wrappers that change how a step is called: `RunnableBinding` (bind, with_config) and
`RunnableEach` (map over a list)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from runnables._base import Runnable, _check_inputs
from runnables._concurrency import (
    closing,
    gather,
    run_with_timeout,
    stream_with_timeout,
    with_limit,
)
from runnables._config import RunnableConfig, merge_configs, without_timeout
from runnables._events import call_child
from runnables._graph import binding_label
from runnables._schema import each_schema

if TYPE_CHECKING:
    from pydantic import BaseModel

In = TypeVar("In")
Out = TypeVar("Out")


class RunnableBinding(Runnable[In, Out]):
    """A step with call options (`bind`) and/or config (`with_config`) fixed.

    Bound kwargs are passed to the step on every call (a caller's kwargs win). The bound config is
    merged under the caller's: tags are unioned, metadata shallow-merged.
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
        self.bound: Runnable[In, Out] = bound
        self.kwargs: dict[str, Any] = dict(kwargs or {})
        self.config: RunnableConfig = config or {}
        self._name = self.config.get("run_name")

    @property
    def name(self) -> str:
        return self._name or self.bound.name

    def check_call_options(self, options: Mapping[str, Any]) -> None:
        self.bound.check_call_options(options)

    def _graph_label(self) -> str | None:
        return binding_label(self.kwargs, self.config)

    def __repr__(self) -> str:
        parts = [repr(self.bound)]
        if self.kwargs:
            parts.append(f"kwargs={self.kwargs!r}")
        if self.config:
            parts.append(f"config={self.config!r}")
        return f"RunnableBinding({', '.join(parts)})"

    def _merge(
        self, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> tuple[RunnableConfig, dict[str, Any]]:
        cfg = merge_configs(self.config, config) if self.config else config
        kw = {**self.kwargs, **kwargs} if kwargs else self.kwargs
        return cfg, kw

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        cfg, kw = self._merge(config, kwargs)
        if not self.config:
            return await self.bound._acall(input, cfg, **kw)
        mc = self.config.get("max_concurrency")
        timeout = self.config.get("timeout")
        if timeout is not None:
            cfg = without_timeout(cfg)
            return await run_with_timeout(
                timeout,
                self.name,
                lambda: with_limit(mc, lambda: self.bound._acall(input, cfg, **kw)),
            )
        return await with_limit(mc, lambda: self.bound._acall(input, cfg, **kw))

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        cfg, kw = self._merge(config, kwargs)
        timeout = self.config.get("timeout")
        stream: AsyncIterator[Out]
        if timeout is None:
            stream = self.bound._astream(input, cfg, **kw)
        else:
            cfg = without_timeout(cfg)
            stream = stream_with_timeout(
                timeout, self.name, lambda: self.bound._astream(input, cfg, **kw)
            )
        async with closing(stream) as _chunks:
            async for chunk in _chunks:
                yield chunk

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        cfg, kw = self._merge(config, kwargs)
        async with closing(self.bound._atransform(chunks, cfg, **kw)) as _chunks:
            async for chunk in _chunks:
                yield chunk


class RunnableEach(Runnable[list[In], list[Out]]):
    """Apply a step to each item of a list input, concurrently; outputs keep the list's order."""

    def __init__(self, bound: Runnable[In, Out]) -> None:
        if not isinstance(bound, Runnable):
            raise TypeError(f'Invalid "bound" argument: expected a Runnable, got {bound!r}')
        self.bound = bound

    def __repr__(self) -> str:
        return f"RunnableEach({self.bound!r})"

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
        return await gather([self._item(i, x, config, kwargs) for i, x in enumerate(input)])

    async def _item(
        self, index: int, item: Any, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> Out:
        try:
            return await call_child(self.bound, item, config, **kwargs)  # type: ignore[no-any-return]
        except Exception as exc:
            exc.add_note(f"in item {index} of {self.name}")
            raise
