"""`RunnableRace`: run alternatives concurrently, return the first success, cancel the rest.

The hedged-request pattern: ask two models (or the same one twice) and take whichever answers
first. If every alternative fails, the first alternative's error is raised, with the others'
errors attached as notes.
"""

from __future__ import annotations

from typing import Any, TypeVar

import anyio

from runnables._base import Runnable, coerce_to_runnable
from runnables._config import RunnableConfig, child_config
from runnables._events import call_child
from runnables._graph import Graph, race_graph
from runnables._wrapper import RunnableWrapper

In = TypeVar("In")
Out = TypeVar("Out")


class RunnableRace(RunnableWrapper[In, Out]):
    """Return the first alternative to succeed; the others are cancelled.

    Args:
        *alternatives: Two or more runnables (or runnable-likes), all given the same input.
        name: Optional name (default: `RunnableRace`).

    Raises:
        ValueError: fewer than two alternatives.
    """

    def __init__(self: RunnableRace[Any, Any], *alternatives: Any, name: str | None = None) -> None:
        if len(alternatives) < 2:
            raise ValueError(
                f'Invalid "alternatives" argument: a race needs at least 2, got {alternatives!r}'
            )
        steps = [coerce_to_runnable(a, param="alternatives") for a in alternatives]
        super().__init__(steps[0])
        self.alternatives = steps
        self._name = name

    _transforms = False

    @property
    def name(self) -> str:
        return self._name or "RunnableRace"

    def __repr__(self) -> str:
        return f"RunnableRace({', '.join(repr(a) for a in self.alternatives)})"

    def _wrapped(self) -> tuple[Runnable[Any, Any], ...]:
        return tuple(self.alternatives)

    def _wrapped_step(self) -> Runnable[Any, Any]:
        return self.alternatives[0]  # schemas: the first alternative's, as fallbacks do

    def get_graph(self, config: RunnableConfig | None = None) -> Graph:
        return race_graph(self, config)

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        cfg = child_config(config)
        errors: list[BaseException | None] = [None] * len(self.alternatives)
        winner: list[Any] = []

        async def run(i: int, step: Runnable[Any, Any], scope: anyio.CancelScope) -> None:
            try:
                value = await call_child(step, input, cfg, **kwargs)
            except Exception as exc:
                errors[i] = exc
                return
            if not winner:
                winner.append(value)
                scope.cancel()

        async with anyio.create_task_group() as tg:
            for i, step in enumerate(self.alternatives):
                tg.start_soon(run, i, step, tg.cancel_scope)
        if winner:
            return winner[0]  # type: ignore[no-any-return]
        first = errors[0]
        assert first is not None
        for i, err in enumerate(errors[1:], start=2):
            first.add_note(
                f"alternative {i} of {self.name} also failed: {type(err).__name__}: {err}"
            )
        first.add_note(f"in alternative 1 of {self.name}")
        raise first

    async def _astream(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        yield await self._acall(input, config, **kwargs)

    async def _atransform(self, chunks: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        async for out in Runnable._atransform(self, chunks, config, **kwargs):
            yield out
