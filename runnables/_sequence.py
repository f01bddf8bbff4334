"""`RunnableSequence`: steps run one after another, each output feeding the next step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar

from runnables import _graph, _schema
from runnables._base import Runnable, coerce_to_runnable
from runnables._config import RunnableConfig, child_config
from runnables._events import call_child, events_on, stream_child, transform_child

if TYPE_CHECKING:
    from pydantic import BaseModel

    from runnables._graph import Graph

In = TypeVar("In")
Out = TypeVar("Out")


class RunnableSequence(Runnable[In, Out]):
    """Steps run in order; `a | b | c` builds one. Nested sequences are flattened.

    Args:
        *steps: Runnables or runnable-likes (functions, dicts); at least two.
        name: Optional name for the sequence.

    Raises:
        ValueError: fewer than two steps.
        TypeError: a step is not runnable-like.
    """

    steps: tuple[Runnable[Any, Any], ...]

    def __init__(self: RunnableSequence[Any, Any], *steps: Any, name: str | None = None) -> None:
        flat: list[Runnable[Any, Any]] = []
        for step in steps:
            runnable = coerce_to_runnable(step, param="steps")
            if isinstance(runnable, RunnableSequence) and runnable._name is None:
                flat.extend(runnable.steps)
            else:
                flat.append(runnable)
        if len(flat) < 2:
            raise ValueError(
                f'Invalid "steps" argument: a sequence needs at least 2, got {steps!r}'
            )
        self.steps = tuple(flat)
        # Each step's events carry its place, as LangChain's do (its children's do not).
        self._step_tags = tuple(f"seq:step:{i}" for i in range(1, len(flat) + 1))
        self._name = name
        self._set_fast_paths(
            RunnableSequence,
            sync_inline=all(step._sync_inline for step in flat),
            instant=all(step._instant for step in flat),
        )

    @property
    def first(self) -> Runnable[In, Any]:
        """The first step."""
        return self.steps[0]

    @property
    def last(self) -> Runnable[Any, Out]:
        """The last step."""
        return self.steps[-1]

    @property
    def middle(self) -> list[Runnable[Any, Any]]:
        """The steps between the first and the last."""
        return list(self.steps[1:-1])

    def __repr__(self) -> str:
        return "\n| ".join(repr(step) for step in self.steps)

    @property
    def InputType(self) -> Any:  # LCEL's name
        return self.custom_input_type or self.first.InputType

    @property
    def OutputType(self) -> Any:  # LCEL's name
        return self.custom_output_type or self.last.OutputType

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        if self.custom_input_type is not None:
            return super().get_input_schema(config)
        return _schema.sequence_input_schema(self.steps, config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        if self.custom_output_type is not None:
            return super().get_output_schema(config)
        return _schema.sequence_output_schema(self.steps, config)

    def get_graph(self, config: RunnableConfig | None = None) -> Graph:
        return _graph.sequence_graph(self, config)

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        # Lean on purpose: in a big batch, every item waiting inside a step keeps this frame
        # alive. Indexing needs no iterator object, and `kwargs` (always a new dict, unused
        # here) is dropped rather than kept.
        del kwargs
        cfg = child_config(config)
        value = input
        traced = events_on()
        steps = self.steps
        i = 0
        while i < len(steps):
            step = steps[i]
            try:
                if traced:
                    value = await call_child(step, value, cfg, step_tag=self._step_tags[i])
                else:
                    value = await step._acall(value, cfg)
            except Exception as exc:
                exc.add_note(self._where(i, step))
                raise
            i += 1
        return value  # type: ignore[no-any-return]

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        cfg = child_config(config)
        tags = self._step_tags
        stages: list[AsyncIterator[Any]] = [
            stream_child(self.steps[0], input, cfg, step_tag=tags[0])
        ]
        for i in range(1, len(self.steps)):
            stages.append(transform_child(self.steps[i], stages[-1], cfg, step_tag=tags[i]))
        try:
            async for chunk in stages[-1]:
                yield chunk
        except Exception as exc:
            exc.add_note(f"while streaming {self.name}")
            raise
        finally:
            await close_stages(stages)

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        cfg = child_config(config)
        stages: list[AsyncIterator[Any]] = [chunks]
        for step, tag in zip(self.steps, self._step_tags, strict=True):
            stages.append(transform_child(step, stages[-1], cfg, step_tag=tag))
        try:
            async for chunk in stages[-1]:
                yield chunk
        finally:
            await close_stages(stages[1:])

    def _where(self, index: int, step: Runnable[Any, Any]) -> str:
        return f"in step {index + 1} of {len(self.steps)} ({step.name}) of {self.name}"


async def close_stages(stages: list[AsyncIterator[Any]]) -> None:
    """Close a pipeline's generators from the last stage to the first.

    Closing only the last stage would leave the earlier ones suspended until garbage
    collection; closing each one at once cancels upstream work when the consumer stops early.
    """
    for stage in reversed(stages):
        aclose = getattr(stage, "aclose", None)
        if aclose is not None:
            await aclose()
