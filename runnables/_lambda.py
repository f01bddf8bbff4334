"""Functions as steps: `RunnableLambda`, `RunnableGenerator` and the `chain` decorator.

Whether a function is async, a generator, or takes `config` is decided once, when the step is
built. Plain (blocking) functions run in worker threads, so blocking branches overlap; `async def`
functions are awaited on the loop.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from runnables import _schema
from runnables._base import Runnable
from runnables._bridge import blocking_iter, iterate_in_thread
from runnables._chunks import collect_chunks, sum_chunks
from runnables._concurrency import closing, run_in_thread
from runnables._config import DEFAULT_RECURSION_LIMIT, RunnableConfig
from runnables._events import call_child
from runnables._run import (
    _inline,
    _run,
    enter_leaf,
    enter_leaf_nowait,
    exit_leaf,
    leaf_slot,
    runs_inline,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

In = TypeVar("In")
Out = TypeVar("Out")
I2 = TypeVar("I2")
O2 = TypeVar("O2")


def _unwrap(func: Any) -> Any:
    while isinstance(func, functools.partial):
        func = func.func
    if not inspect.isfunction(func) and not inspect.ismethod(func) and callable(func):
        call = getattr(func, "__call__", None)  # noqa: B004 - looking for an async __call__
        if call is not None:
            return call
    return func


def is_async_callable(func: Any) -> bool:
    """True for `async def` functions, also behind `functools.partial` or `__call__`."""
    return inspect.iscoroutinefunction(_unwrap(func))


def is_generator_callable(func: Any) -> bool:
    """True for generator and async generator functions (also behind partial or `__call__`)."""
    inner = _unwrap(func)
    return inspect.isgeneratorfunction(inner) or inspect.isasyncgenfunction(inner)


def config_param(func: Any, *, param: str = "func") -> str | None:
    """The name of the parameter through which `func` takes its step's config, if any: one
    named `config`, or one annotated `RunnableConfig` (under any name).

    Raises:
        TypeError: `func` requires a `run_manager` argument: LangChain passes a callback
            manager there, and this project has none to give (the step's handlers are reached
            through `config`, or with `dispatch_custom_event`).
    """
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    manager = params.get("run_manager")
    if manager is not None and manager.default is inspect.Parameter.empty:
        raise TypeError(
            f'Invalid "{param}" argument: {func!r} requires a "run_manager" argument, which '
            "only LangChain passes; take `config` instead (nested calls given it report as "
            "children of this step), or give run_manager a default"
        )
    if "config" in params:
        return "config"
    for name, p in params.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if _is_config_annotation(p.annotation):
            return name
    return None


def _is_config_annotation(annotation: Any) -> bool:
    # A string annotation (from `from __future__ import annotations`) is compared by name: the
    # function's module need not be importable for its hints to be resolved.
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] in _CONFIG_NAMES
    if annotation is RunnableConfig:
        return True
    args = getattr(annotation, "__args__", ())  # Optional[RunnableConfig], RunnableConfig | None
    return any(a is RunnableConfig for a in args)


_CONFIG_NAMES = frozenset(
    {"RunnableConfig", "RunnableConfig | None", "Optional[RunnableConfig]", "None | RunnableConfig"}
)


def _display_name(func: Any) -> str:
    while isinstance(func, functools.partial):
        func = func.func
    name = getattr(func, "__name__", None) or type(func).__name__
    return "lambda" if name == "<lambda>" else str(name)


class RunnableLambda(Runnable[In, Out]):
    """Turn a function into a step.

    The function takes the input, and optionally `config` (a keyword it receives as a dict).
    If it returns a runnable, that runnable is run on the same input (at most
    `recursion_limit` levels deep). A generator function's chunks stream, and `invoke` returns
    them added up.

    Args:
        func: A function, `async def` function or (async) generator function.
        afunc: Optional async twin of `func`, used instead of running `func` in a thread.
        name: Optional name; defaults to the function's name.

    Raises:
        TypeError: `func` or `afunc` is not callable; or, when run, a plain `func` returned an
            awaitable (declare it `async def`).
    """

    @overload
    def __init__(
        self: RunnableLambda[I2, O2],
        func: Callable[[I2], AsyncIterator[O2]] | Callable[[I2], Iterator[O2]],
        afunc: Callable[..., Awaitable[Any]] | None = None,
        name: str | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self: RunnableLambda[I2, O2],
        func: Callable[[I2], Awaitable[O2]],
        afunc: Callable[..., Awaitable[Any]] | None = None,
        name: str | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self: RunnableLambda[I2, O2],
        func: Callable[[I2], O2],
        afunc: Callable[..., Awaitable[Any]] | None = None,
        name: str | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self: RunnableLambda[Any, O2],
        func: Callable[..., AsyncIterator[O2]] | Callable[..., Iterator[O2]],
        afunc: Callable[..., Awaitable[Any]] | None = None,
        name: str | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self: RunnableLambda[Any, O2],
        func: Callable[..., Awaitable[O2]],
        afunc: Callable[..., Awaitable[Any]] | None = None,
        name: str | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self: RunnableLambda[Any, O2],
        func: Callable[..., O2],
        afunc: Callable[..., Awaitable[Any]] | None = None,
        name: str | None = None,
    ) -> None: ...

    def __init__(
        self,
        func: Callable[..., Any],
        afunc: Callable[..., Awaitable[Any]] | None = None,
        name: str | None = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f'Invalid "func" argument: expected a callable, got {func!r}')
        if afunc is not None and not is_async_callable(afunc):
            raise TypeError(f'Invalid "afunc" argument: expected an async function, got {afunc!r}')
        self.func = func
        self.afunc = afunc if afunc is not None else (func if is_async_callable(func) else None)
        inner = _unwrap(func)
        self._gen = inspect.isgeneratorfunction(inner)
        self._agen = inspect.isasyncgenfunction(inner)
        self._config_arg = config_param(self.afunc or func, param="afunc" if afunc else "func")
        self._direct = self.afunc is not None and not self._agen and self._config_arg is None
        self._set_fast_paths(RunnableLambda, sync_inline=self.afunc is None and not self._gen)
        self._name = name or _display_name(func)

    _kind = "lambda"

    def __repr__(self) -> str:
        return f"RunnableLambda({self._name})"

    @property
    def InputType(self) -> Any:  # LCEL's name
        return self.custom_input_type or _schema.first_param_type(self.func)

    @property
    def OutputType(self) -> Any:  # LCEL's name
        if self.custom_output_type is not None:
            return self.custom_output_type
        return _schema.function_output_type(_schema.return_type(self.func))

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        keys = _schema.itemgetter_keys(self.func)
        if keys is None and self.InputType is Any:
            keys = _schema.dict_keys_read(self.func)
        if keys is not None and self.custom_input_type is None:
            fields = {k: (Any, ...) for k in keys}
            return _schema.fields_model(self.get_name("Input"), fields)
        module = _schema.module_of(self.func)
        return _schema.root_model(self.get_name("Input"), self.InputType, module=module)

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        module = _schema.module_of(self.func)
        return _schema.root_model(self.get_name("Output"), self.OutputType, module=module)

    async def _call_func(self, input: Any, config: RunnableConfig, kwargs: dict[str, Any]) -> Any:
        if self._config_arg is not None:
            kwargs = {**kwargs, self._config_arg: config}
        if self._agen:
            return await collect_chunks(self.func(input, **kwargs))
        if self.afunc is not None:
            return await self.afunc(input, **kwargs)
        if self._gen:
            return await run_in_thread(_sum_iter, self.func, input, kwargs)
        if _inline.get() and runs_inline():
            return _call_sync(self.func, input, kwargs)
        return await run_in_thread(_call_sync, self.func, input, kwargs)

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        # The common case, an `async def` taking only the input, is awaited right here: no
        # coroutine layer of ours between the step and the function. (`kwargs` is always a new
        # dict: when empty it is dropped, not kept alive while the function waits.)
        direct = self._direct and not kwargs
        if direct:
            del kwargs
            kwargs = _NO_KWARGS
        state = _run.get()
        if state is None or state.limiter is None:
            if direct:
                out = await self.afunc(input)  # type: ignore[misc]
            else:
                out = await self._call_func(input, config, kwargs)
        else:
            # A leaf: hold a slot while the function runs.
            held = enter_leaf_nowait(state) or await enter_leaf(state)
            try:
                if direct:
                    out = await self.afunc(input)  # type: ignore[misc]
                else:
                    out = await self._call_func(input, config, kwargs)
            finally:
                exit_leaf(state, held)
        if isinstance(out, Runnable):
            return await _run_returned(self, out, input, config)  # type: ignore[no-any-return]
        return out  # type: ignore[no-any-return]

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        if not (self._gen or self._agen):
            out = await self._acall(input, config, **kwargs)
            yield out
            return
        if self._config_arg is not None:
            kwargs = {**kwargs, self._config_arg: config}
        # The whole input is here, so the generator is a leaf doing work: it holds a slot.
        async with leaf_slot():
            if self._agen:
                chunks = self.func(input, **kwargs)
            else:
                chunks = iterate_in_thread(lambda: self.func(input, **kwargs))
            async with closing(chunks) as _chunks:
                async for chunk in _chunks:
                    yield chunk


async def _run_returned(
    owner: Runnable[Any, Any], runnable: Runnable[Any, Any], input: Any, config: RunnableConfig
) -> Any:
    limit = config.get("recursion_limit", DEFAULT_RECURSION_LIMIT)
    if limit <= 0:
        raise RecursionError(
            f"Recursion limit reached: {owner!r} kept returning runnables to run; "
            f"the default limit is {DEFAULT_RECURSION_LIMIT} levels, raise it with "
            "config={'recursion_limit': n} if the depth is intended"
        )
    config = {**config, "recursion_limit": limit - 1}
    if _inline.get() and runs_inline():
        # Inline (no loop here): the returned runnable runs as a sync call of its own.
        return runnable.invoke(input, config)
    return await call_child(runnable, input, config)


_NO_KWARGS: dict[str, Any] = {}


def _call_sync(func: Callable[..., Any], input: Any, kwargs: dict[str, Any]) -> Any:
    """Call a plain function (in its worker thread); refuse an awaitable result.

    The check is here, on the result, because a sync function returning a coroutine can only be
    told apart by calling it, and trio rejects such a result before it reaches the loop.
    """
    out = func(input, **kwargs) if kwargs else func(input)
    if isinstance(out, Awaitable):  # one ABC check: cheaper than inspect.isawaitable
        if isinstance(out, Coroutine):
            out.close()  # never started: closing it avoids the "never awaited" warning
        raise TypeError(
            f"RunnableLambda function {func!r} returned an awaitable ({out!r}) but is not "
            "declared `async def`, so nothing would await it; declare the function `async def` "
            "(a lambda cannot be: write an `async def` function that awaits the call)"
        )
    return out


def _sum_iter(func: Callable[..., Iterator[Any]], input: Any, kwargs: dict[str, Any]) -> Any:
    return sum_chunks(func(input, **kwargs))


_END = object()


class RunnableGenerator(Runnable[In, Out], Generic[In, Out]):
    """A step made of a generator that transforms a stream of input chunks into output chunks.

    Args:
        transform: A generator function taking an iterator of input chunks (or an async
            generator function taking an async iterator).
        atransform: Optional async generator twin, used on the async path.
        name: Optional name.

    `invoke` feeds the one input as a single chunk and returns the output chunks added up.
    """

    def __init__(
        self: RunnableGenerator[Any, Any],
        transform: Callable[..., Any],
        atransform: Callable[..., AsyncIterator[Any]] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        if not is_generator_callable(transform):
            raise TypeError(
                f'Invalid "transform" argument: expected a generator function, got {transform!r}'
            )
        if atransform is not None and not inspect.isasyncgenfunction(_unwrap(atransform)):
            raise TypeError(
                'Invalid "atransform" argument: expected an async generator function, '
                f"got {atransform!r}"
            )
        self.transform_fn = transform
        if atransform is None and inspect.isasyncgenfunction(_unwrap(transform)):
            atransform = transform
        self.atransform_fn = atransform
        self._config_arg = config_param(
            atransform or transform, param="atransform" if atransform else "transform"
        )
        self._name = name or _display_name(transform)

    _kind = "lambda"

    def __repr__(self) -> str:
        return f"RunnableGenerator({self._name})"

    @property
    def InputType(self) -> Any:  # LCEL's name
        func = self.transform_fn
        return self.custom_input_type or _schema.item_type(_schema.first_param_type(func))

    @property
    def OutputType(self) -> Any:  # LCEL's name
        func = self.transform_fn
        return self.custom_output_type or _schema.item_type(_schema.return_type(func))

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        module = _schema.module_of(self.transform_fn)
        return _schema.root_model(self.get_name("Input"), self.InputType, module=module)

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        module = _schema.module_of(self.transform_fn)
        return _schema.root_model(self.get_name("Output"), self.OutputType, module=module)

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        # Invoked with a whole input, the generator is a leaf doing work and holds a slot. In a
        # stream it is a transform stage (like a parser) and does not: it runs alongside the
        # steps feeding it, which may hold slots themselves.
        async with leaf_slot():
            return await collect_chunks(self._astream(input, config, **kwargs))  # type: ignore[no-any-return]

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        async def one() -> AsyncIterator[Any]:
            yield input

        async with closing(self._atransform(one(), config, **kwargs)) as _chunks:
            async for chunk in _chunks:
                yield chunk

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        if self._config_arg is not None:
            kwargs = {**kwargs, self._config_arg: config}
        if self.atransform_fn is not None:
            async with closing(self.atransform_fn(chunks, **kwargs)) as _chunks:
                async for chunk in _chunks:
                    yield chunk
            return
        # A sync generator pulls its input chunks from the loop through anyio's portal.
        sync_input = blocking_iter(chunks)
        async with closing(
            iterate_in_thread(lambda: self.transform_fn(sync_input, **kwargs))
        ) as _chunks:
            async for chunk in _chunks:
                yield chunk


@overload
def chain(func: Callable[[I2], Awaitable[O2]]) -> RunnableLambda[I2, O2]: ...
@overload
def chain(func: Callable[[I2], O2]) -> RunnableLambda[I2, O2]: ...
@overload
def chain(func: Callable[..., Awaitable[O2]]) -> RunnableLambda[Any, O2]: ...
@overload
def chain(func: Callable[..., O2]) -> RunnableLambda[Any, O2]: ...


def chain(func: Callable[..., Any]) -> RunnableLambda[Any, Any]:
    """Decorator: turn a function into a `RunnableLambda` named after it."""
    return RunnableLambda(func)
