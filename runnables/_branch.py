"""`RunnableBranch`: run the first branch whose condition holds, or the default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar

from runnables import _graph, _schema
from runnables._base import Runnable, coerce_to_runnable
from runnables._concurrency import closing
from runnables._config import RunnableConfig, child_config
from runnables._events import call_child, stream_child

if TYPE_CHECKING:
    from pydantic import BaseModel

    from runnables._graph import Graph

In = TypeVar("In")
Out = TypeVar("Out")


class RunnableBranch(Runnable[In, Out]):
    """Pick a step by condition: `RunnableBranch((cond, step), ..., default)`.

    Pairs may be tuples or two-item lists.

    Conditions (runnable-likes returning a truthy value) are evaluated lazily, in order; the
    first that holds picks its step; if none does, `default` runs.

    Raises:
        ValueError: no default, or no `(condition, step)` pair.
        TypeError: a pair is malformed or a condition is not callable.
    """

    def __init__(self: RunnableBranch[Any, Any], *branches: Any, name: str | None = None) -> None:
        if len(branches) < 2:
            raise ValueError(
                'Invalid "branches" argument: RunnableBranch needs at least one (condition, step) '
                f"pair and a default step last, got {branches!r}"
            )
        *pairs, default = branches
        if isinstance(default, tuple | list):
            raise ValueError(
                f"RunnableBranch needs a default step as its last argument, got a pair {default!r}"
            )
        self.default: Runnable[In, Out] = coerce_to_runnable(default, param="default")
        self.branches: list[tuple[Runnable[In, Any], Runnable[In, Out]]] = []
        for pair in pairs:
            # `[condition, step]` lists are accepted too, as LCEL does.
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise TypeError(
                    f"RunnableBranch expects (condition, step) pairs before the default, "
                    f"got {pair!r}"
                )
            condition, step = pair
            if not (callable(condition) or isinstance(condition, Runnable)):
                raise TypeError(
                    f'Invalid "condition" in RunnableBranch: expected a callable or Runnable, '
                    f"got {condition!r}"
                )
            self.branches.append(
                (coerce_to_runnable(condition, param="condition"), coerce_to_runnable(step))
            )
        self._name = name

    def __repr__(self) -> str:
        pairs = ", ".join(f"({c!r}, {s!r})" for c, s in self.branches)
        return f"RunnableBranch({pairs}, default={self.default!r})"

    @property
    def InputType(self) -> Any:  # LCEL's name
        return self.custom_input_type or _schema.first_known(self._steps(), "InputType")

    @property
    def OutputType(self) -> Any:  # LCEL's name
        return self.custom_output_type or _schema.first_known(self._steps(), "OutputType")

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        if self.custom_input_type is None:
            for step in self._steps(conditions=True):
                if step.get_input_jsonschema(config).get("type") is not None:
                    return step.get_input_schema(config)
        return super().get_input_schema(config)

    def _steps(self, *, conditions: bool = False) -> list[Runnable[Any, Any]]:
        steps = [self.default, *(s for _, s in self.branches)]
        return steps + [c for c, _ in self.branches] if conditions else steps

    def get_graph(self, config: RunnableConfig | None = None) -> Graph:
        return _graph.branch_graph(self, config)

    def _label(self, step: Runnable[Any, Any]) -> str:
        for i, (_, candidate) in enumerate(self.branches):
            if candidate is step:
                return f"in branch {i + 1} of {self.name}"
        return f"in the default branch of {self.name}"

    async def _choose(self, input: Any, config: RunnableConfig) -> Runnable[In, Out]:
        for i, (condition, step) in enumerate(self.branches):
            try:
                hit = await call_child(condition, input, config)
            except Exception as exc:
                exc.add_note(f"in condition {i + 1} of {self.name}")
                raise
            if hit:
                return step
        return self.default

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        cfg = child_config(config)
        step = await self._choose(input, cfg)
        try:
            return await call_child(step, input, cfg)  # type: ignore[no-any-return]
        except Exception as exc:
            exc.add_note(self._label(step))
            raise

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        cfg = child_config(config)
        step = await self._choose(input, cfg)
        async with closing(stream_child(step, input, cfg)) as _chunks:
            async for chunk in _chunks:
                yield chunk
