"""`RunnableParallel`: named branches run concurrently on the same input; results merged by key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from runnables import _graph, _schema
from runnables._base import Runnable, coerce_to_runnable
from runnables._chunks import AddableDict
from runnables._concurrency import closing, finish_now, gather, merge
from runnables._config import RunnableConfig, child_config
from runnables._events import call_child, events_on, stream_child
from runnables._policy import FailurePolicy, check_policy, run_quorum, run_settled

if TYPE_CHECKING:
    from pydantic import BaseModel

    from runnables._graph import Graph

In = TypeVar("In")


class RunnableParallel(Runnable[In, dict[str, Any]], Generic[In]):
    """Run named branches concurrently on the same input; return `{key: output}`.

    `RunnableParallel({"a": x, "b": y})` and `RunnableParallel(a=x, b=y)` are the same. Output keys
    follow the declared order. A failing branch cancels its siblings at once and the caller gets
    that branch's own exception, with a note naming the branch key.

    Args:
        steps: A mapping of key to runnable-like (runnable, function, dict).
        **kwargs: More branches, by keyword.

    Raises:
        TypeError: a branch is not runnable-like, or a key is not a string.
    """

    branches: dict[str, Runnable[In, Any]]

    def __init__(
        self: RunnableParallel[Any], steps: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> None:
        if steps is not None and not isinstance(steps, Mapping):
            raise TypeError(f'Invalid "steps" argument: expected a dict, got {steps!r}')
        merged = {**(steps or {}), **kwargs}
        branches: dict[str, Runnable[In, Any]] = {}
        for key, step in merged.items():
            if not isinstance(key, str):
                raise TypeError(f"Invalid branch key {key!r}: keys must be strings")
            branches[key] = coerce_to_runnable(step, param=f"steps[{key!r}]")
        self.branches = branches
        self._keys = tuple(branches)
        # Each branch's events carry its key, as LangChain's do (its children's do not).
        self._key_tags = tuple(f"map:key:{key}" for key in branches)
        self._steps = tuple(branches.values())
        self._instants = any(step._instant for step in self._steps)
        self.policy: FailurePolicy = "fail_fast"
        self.min_successes: int | None = None

    def with_failure_policy(
        self, policy: FailurePolicy, *, min_successes: int | None = None
    ) -> RunnableParallel[In]:
        """A copy of this parallel with another failure policy.

        Args:
            policy: `"fail_fast"` (the default: the first failure cancels the others and is
                raised), `"settle"` (every branch runs; a failed branch's value is a
                `BranchError`), or `"quorum"` (stop once `min_successes` branches succeeded;
                the others are cancelled and left as `BranchError`; raise `QuorumError` once
                that is impossible).
            min_successes: The quorum size, for `"quorum"` only.
        """
        check_policy(policy, min_successes, len(self.branches))
        clone: RunnableParallel[In] = RunnableParallel(self.branches)
        clone.policy = policy
        clone.min_successes = min_successes
        clone._name = self._name
        return clone

    def __repr__(self) -> str:
        inner = ",\n  ".join(f"{k}: {v!r}".replace("\n", "\n  ") for k, v in self.branches.items())
        text = f"{{\n  {inner}\n}}" if inner else "{}"
        if self.policy != "fail_fast":
            quorum = f", min_successes={self.min_successes}" if self.policy == "quorum" else ""
            text = f"RunnableParallel({text}, policy={self.policy!r}{quorum})"
        return text

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        name = name or self._name or f"RunnableParallel<{','.join(self.branches)}>"
        return super().get_name(suffix, name=name)

    @property
    def InputType(self) -> Any:  # LCEL's name
        if self.custom_input_type is not None or not self.branches:
            return self.custom_input_type or Any
        return next(iter(self.branches.values())).InputType

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        if self.custom_input_type is None:
            merged = _schema.parallel_input_schema(self.get_name("Input"), self.branches, config)
            if merged is not None:
                return merged
        return super().get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        if self.custom_output_type is not None:
            return super().get_output_schema(config)
        fields = {k: (step.OutputType, ...) for k, step in self.branches.items()}
        return _schema.fields_model(self.get_name("Output"), fields)

    def get_graph(self, config: RunnableConfig | None = None) -> Graph:
        return _graph.parallel_graph(self, config)

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> dict[str, Any]:
        cfg = child_config(config)
        keys = self._keys
        if self.policy != "fail_fast":
            calls = [
                _bind_call(s, input, cfg, tag)
                for s, tag in zip(self._steps, self._key_tags, strict=True)
            ]
            if self.policy == "settle":
                values = await run_settled(keys, calls)
            else:
                assert self.min_successes is not None
                values = await run_quorum(keys, calls, self.min_successes)
            return dict(zip(keys, values, strict=True))
        if events_on():
            tags = self._key_tags
            results = await gather(
                [call_child(s, input, cfg, step_tag=tags[i]) for i, s in enumerate(self._steps)],
                note=self._branch_note,
            )
        elif self._instants:
            results = await self._with_instants(input, cfg)
        else:
            calls = [s._acall(input, cfg) for s in self._steps]
            results = await gather(calls, note=self._branch_note)
        return dict(zip(keys, results, strict=True))

    async def _with_instants(self, input: Any, config: RunnableConfig) -> list[Any]:
        # Branches that never wait (a passthrough, a prompt) are computed on the spot, first:
        # a task each would cost more than their work. A failure among them is raised before
        # the other branches start.
        results: list[Any] = [None] * len(self._steps)
        waiting = []
        for i, step in enumerate(self._steps):
            if step._instant:
                try:
                    results[i] = finish_now(step._acall(input, config))
                except Exception as exc:
                    exc.add_note(self._branch_note(i))
                    raise
            else:
                waiting.append(i)
        outs = await gather(
            [self._steps[i]._acall(input, config) for i in waiting],
            note=lambda j: self._branch_note(waiting[j]),
        )
        for i, out in zip(waiting, outs, strict=True):
            results[i] = out
        return results

    def _branch_note(self, index: int) -> str:
        return f"in branch {self._keys[index]!r} of RunnableParallel"

    def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        cfg = child_config(config)
        if not self.branches:
            return _one(AddableDict())

        # One {key: chunk} dict per branch chunk, in arrival order.
        def pump(key: str, step: Runnable[Any, Any], tag: str) -> Any:
            async def run(emit: Callable[[Any], None]) -> None:
                try:
                    async with closing(stream_child(step, input, cfg, step_tag=tag)) as chunks:
                        async for chunk in chunks:
                            item = AddableDict()  # (cheaper than AddableDict({key: chunk}))
                            item[key] = chunk
                            emit(item)
                except Exception as exc:
                    exc.add_note(f"in branch {key!r} of RunnableParallel")
                    raise

            return run

        # The merged stream itself (closing it cancels every branch): no layer of ours per chunk.
        tags = self._key_tags
        return merge([pump(k, s, tags[i]) for i, (k, s) in enumerate(self.branches.items())])


async def _one(item: Any) -> AsyncIterator[Any]:
    yield item


def _bind_call(step: Runnable[Any, Any], input: Any, config: RunnableConfig, tag: str) -> Any:
    return lambda: call_child(step, input, config, step_tag=tag)
