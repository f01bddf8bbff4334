"""Steps that pass their input on: `RunnablePassthrough`, `RunnableAssign`, `RunnablePick`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from runnables import _graph, _schema
from runnables._base import Runnable
from runnables._chunks import AddableDict, ChunkSum
from runnables._concurrency import closing
from runnables._config import RunnableConfig
from runnables._events import call_child
from runnables._lambda import RunnableLambda
from runnables._parallel import RunnableParallel

if TYPE_CHECKING:
    from pydantic import BaseModel

    from runnables._graph import Graph

T = TypeVar("T")


class RunnablePassthrough(Runnable[T, T]):
    """Identity: returns its input. With `func`, also calls `func(input)` for its side effect.

    Args:
        func: Optional function (sync or async, may take `config`) called with the input; its
            result is discarded.
    """

    def __init__(
        self: RunnablePassthrough[Any],
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        if func is not None and not callable(func):
            raise TypeError(f'Invalid "func" argument: expected a callable, got {func!r}')
        self._side: RunnableLambda[Any, Any] | None = (
            RunnableLambda(func) if func is not None else None
        )
        self.func = func
        self._name = name
        self._set_fast_paths(
            RunnablePassthrough,
            sync_inline=self._side is None or self._side._sync_inline,
            instant=self._side is None,
        )

    def __repr__(self) -> str:
        return "RunnablePassthrough()"

    @classmethod
    def assign(cls, **kwargs: Any) -> RunnableAssign:  # type: ignore[override]
        """A step that returns `{**input, key: step(input), ...}` for a dict input."""
        return RunnableAssign(RunnableParallel(kwargs))

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> T:
        if self._side is not None:
            await call_child(self._side, input, config)
        return input  # type: ignore[no-any-return]

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[T]:
        if self._side is None:
            async for chunk in chunks:
                yield chunk
            return
        # The side effect needs the whole input: pass chunks on, then call it with their sum.
        total = ChunkSum()
        async for chunk in chunks:
            yield chunk
            total.add(chunk)
        if total.started:
            await call_child(self._side, total.value, config)


def _require_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{where} expects a dict input, got {type(value).__name__}: {value!r}")
    return value


class RunnableAssign(Runnable[dict[str, Any], dict[str, Any]]):
    """Add keys to a dict input: returns `{**input, **mapper(input)}` without mutating the input.

    An existing key keeps its position; new keys are appended in declared order.

    Args:
        mapper: A `RunnableParallel` (or a dict of runnable-likes) computing the new keys.
    """

    def __init__(self, mapper: RunnableParallel[Any] | Mapping[str, Any]) -> None:
        if isinstance(mapper, Mapping):
            mapper = RunnableParallel(mapper)
        if not isinstance(mapper, RunnableParallel):
            raise TypeError(
                f'Invalid "mapper" argument: expected a RunnableParallel or dict, got {mapper!r}'
            )
        self.mapper = mapper

    def __repr__(self) -> str:
        return f"RunnableAssign(mapper={self.mapper!r})"

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        name = name or self._name or f"RunnableAssign<{','.join(self.mapper.branches)}>"
        return super().get_name(suffix, name=name)

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        mapper_input = self.mapper.get_input_schema(config)
        if self.custom_input_type is None and _schema.is_dict_schema(mapper_input):
            return mapper_input
        return super().get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        if self.custom_output_type is None:
            schema = _schema.assign_output_schema(
                "RunnableAssignOutput",
                self.mapper.get_input_schema(config),
                self.mapper.get_output_schema(config),
            )
            if schema is not None:
                return schema
        return super().get_output_schema(config)

    def get_graph(self, config: RunnableConfig | None = None) -> Graph:
        return _graph.assign_graph(self, config)

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> dict[str, Any]:
        data = _require_dict(input, self._where())
        return {**data, **await self.mapper._acall(data, config)}

    def _where(self) -> str:
        return f"assign({', '.join(self.mapper.branches)})"

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        data = _require_dict(input, self._where())
        yield AddableDict(data)
        async with closing(self.mapper._astream(data, config)) as _chunks:
            async for chunk in _chunks:
                yield chunk

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        # Input keys pass through as they arrive; the new keys stream once the input is whole.
        total = ChunkSum()
        async for chunk in chunks:
            _require_dict(chunk, self._where())
            yield chunk
            total.add(chunk)
        if not total.started:
            return
        async with closing(self.mapper._astream(total.value, config)) as _chunks:
            async for chunk in _chunks:
                yield chunk


class RunnablePick(Runnable[dict[str, Any], Any]):
    """Keep some keys of a dict input.

    With one key (a str), returns that key's value, or None if it is missing. With a list of
    keys, returns a dict of the keys that are present (missing keys are left out), as LCEL does.
    """

    def __init__(self, keys: str | list[str]) -> None:
        if isinstance(keys, str):
            self.keys: str | list[str] = keys
        elif isinstance(keys, list | tuple) and keys and all(isinstance(k, str) for k in keys):
            self.keys = list(keys)
        else:
            raise TypeError(
                f'Invalid "keys" argument: expected a str or a non-empty list of str, got {keys!r}'
            )

    def __repr__(self) -> str:
        return f"RunnablePick({self.keys!r})"

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        keys = [self.keys] if isinstance(self.keys, str) else self.keys
        name = name or self._name or f"RunnablePick<{','.join(keys)}>"
        return super().get_name(suffix, name=name)

    def _pick(self, data: Any) -> Any:
        data = _require_dict(data, f"pick({self.keys!r})")
        if isinstance(self.keys, str):
            return data.get(self.keys)
        picked = {k: data[k] for k in self.keys if k in data}
        # Keyed stream chunks stay addable, so a picked stream still adds up.
        return AddableDict(picked) if isinstance(data, AddableDict) else picked

    _sync_inline = _instant = True  # picking never waits

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        return self._pick(input)

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async for chunk in chunks:
            picked = self._pick(chunk)
            if picked is not None and picked != {}:
                yield picked
