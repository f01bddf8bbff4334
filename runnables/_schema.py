"""Input and output schemas of runnables: pydantic models derived from what each step declares.

Every step has an `InputType` and an `OutputType` (type annotations) and, from them, input and
output schemas (pydantic models, whose JSON schemas describe the step to a server, a tool or a
form). Where each comes from:

- a function (`RunnableLambda`): the first parameter's annotation in, the return annotation out
  (a generator's item type); an `itemgetter("a", "b")`, or an unannotated function reading
  `x["a"]` / `x.get("b")`, takes a dict with those keys;
- a `RunnableGenerator`: the item types of its input and output iterators;
- a `RunnableParallel`: the branches' dict inputs merged; one output field per key;
- a `RunnableSequence`: the first step's input and the last step's output, seen through a
  leading pick or assign and a trailing assign or pick (`x.assign(k=...)` outputs x's fields
  and `k`);
- a branch: the first of its steps whose input is known; a wrapper (bind, retry, timeout,
  fallbacks, race): the wrapped step's; `map()`: a list of the wrapped step's;
- prompts, chat models and parsers state theirs (`prompts`, `llm`);
- anything else: the class's `Runnable[In, Out]` arguments, `Any` where unknown.

Titles follow langchain-core's: a name starting with a capital takes `Input` / `Output`
(`RunnableParallel<a,b>Output`), any other takes `_input` / `_output` (`gen_indexes_input`).
A type that is already a pydantic model is its own schema. Models are cached, so asking twice
is cheap and gives the same class.
"""

from __future__ import annotations

import ast
import collections.abc
import functools
import inspect
import operator
import textwrap
import typing
from collections.abc import Callable, Mapping
from types import GenericAlias
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

    from runnables._base import Runnable
    from runnables._config import RunnableConfig

_ITERATORS = {
    collections.abc.Iterator,
    collections.abc.AsyncIterator,
    collections.abc.Iterable,
    collections.abc.AsyncIterable,
    collections.abc.Generator,
    collections.abc.AsyncGenerator,
}

FieldDefs = dict[str, tuple[Any, Any]]


def _pydantic() -> Any:
    # Imported on first use: `import runnables` stays free of pydantic's import time.
    import pydantic

    return pydantic


# -- naming ------------------------------------------------------------------------------------


def with_suffix(name: str, suffix: str | None) -> str:
    """`name` with a schema suffix, spelled as langchain-core does.

    `RunnableParallel` + `input` -> `RunnableParallelInput`; `gen_indexes` + `input` ->
    `gen_indexes_input`.
    """
    if not suffix:
        return name
    if name[:1].isupper():
        return name + suffix.title()
    return f"{name}_{suffix.lower()}"


# -- building models ---------------------------------------------------------------------------


def is_model_class(value: object) -> bool:
    """True for a pydantic model class (not a parametrized generic alias)."""
    return (
        inspect.isclass(value)
        and not isinstance(value, GenericAlias)
        and issubclass(value, _pydantic().BaseModel)
    )


def root_model(name: str, type_: Any, *, module: str | None = None) -> type[BaseModel]:
    """A schema for values of `type_`, titled `name`; a pydantic model class is returned as is."""
    if is_model_class(type_):
        return type_  # type: ignore[no-any-return]
    try:
        return _root_model_cached(name, type_, module)
    except TypeError:  # an unhashable annotation (e.g. Annotated with a dict)
        return _root_model(name, type_, module)


@functools.lru_cache(maxsize=512)
def _root_model_cached(name: str, type_: Any, module: str | None) -> type[BaseModel]:
    return _root_model(name, type_, module)


def _root_model(name: str, type_: Any, module: str | None) -> type[BaseModel]:
    namespace = {
        "__annotations__": {"root": type_},
        "model_config": _pydantic().ConfigDict(arbitrary_types_allowed=True),
        "__module__": module or __name__,
    }
    return type(name, (_pydantic().RootModel,), namespace)


def fields_model(name: str, fields: Mapping[str, tuple[Any, Any]]) -> type[BaseModel]:
    """A schema of a dict with these fields, each `(annotation, default)` (`...`: required)."""
    try:
        return _fields_model_cached(name, tuple(fields.items()))
    except TypeError:
        return _fields_model(name, tuple(fields.items()))


@functools.lru_cache(maxsize=512)
def _fields_model_cached(name: str, fields: tuple[tuple[str, Any], ...]) -> type[BaseModel]:
    return _fields_model(name, fields)


def _fields_model(name: str, fields: tuple[tuple[str, Any], ...]) -> type[BaseModel]:
    pydantic = _pydantic()
    config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    definitions: dict[str, Any] = dict(fields)
    model: type[BaseModel] = pydantic.create_model(name, __config__=config, **definitions)
    return model


def is_dict_schema(schema: type[BaseModel]) -> bool:
    """True for a schema of a dict with named fields (not a root model of some other type)."""
    return not issubclass(schema, _pydantic().RootModel)


def field_defs(schema: type[BaseModel]) -> FieldDefs:
    """The fields of a dict schema, as `(annotation, default)` definitions."""
    return {name: _definition(info) for name, info in schema.model_fields.items()}


def _definition(info: FieldInfo) -> tuple[Any, Any]:
    return (info.annotation, ... if info.is_required() else info.default)


# -- types -------------------------------------------------------------------------------------


def generic_types(runnable: Runnable[Any, Any]) -> tuple[Any, Any]:
    """`(In, Out)` from the runnable's generic parameters, `Any` where they are unknown.

    `RunnableLambda[int, str](f)` gives `(int, str)`; a subclass of `Runnable[str, int]` (even
    through generic intermediates such as `BaseOutputParser[list[str]]`) gives `(str, int)`.
    """
    orig = getattr(runnable, "__orig_class__", None)
    if orig is not None:
        found = _resolve(typing.get_origin(orig), dict(_params(orig)))
        if found is not None:
            return found
    found = _resolve(type(runnable), {})
    return found if found is not None else (Any, Any)


def _params(alias: Any) -> list[tuple[Any, Any]]:
    origin = typing.get_origin(alias)
    params = getattr(origin, "__parameters__", ())
    return list(zip(params, typing.get_args(alias), strict=False))


def _resolve(cls: Any, subst: dict[Any, Any]) -> tuple[Any, Any] | None:
    from runnables._base import Runnable

    for base in getattr(cls, "__orig_bases__", ()):
        origin = typing.get_origin(base) or base
        args = tuple(_substitute(a, subst) for a in typing.get_args(base))
        if origin is Runnable and len(args) == 2:
            return args[0], args[1]
        if isinstance(origin, type) and issubclass(origin, Runnable):
            params = getattr(origin, "__parameters__", ())
            found = _resolve(origin, dict(zip(params, args, strict=False)))
            if found is not None:
                return found
    return None


def _substitute(arg: Any, subst: Mapping[Any, Any]) -> Any:
    if isinstance(arg, TypeVar):
        return subst.get(arg, Any)
    return arg


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    for eval_str in (True, False):
        try:
            return inspect.signature(func, eval_str=eval_str)
        except (NameError, TypeError, ValueError, SyntaxError):
            continue
    return None


def first_param_type(func: Callable[..., Any]) -> Any:
    """The annotation of a function's first parameter, `Any` if it has none."""
    sig = _signature(func)
    if sig is None:
        return Any
    first = next(iter(sig.parameters.values()), None)
    if first is None or first.annotation is inspect.Parameter.empty:
        return Any
    return first.annotation


def return_type(func: Callable[..., Any]) -> Any:
    """A function's return annotation, `Any` if it has none."""
    sig = _signature(func)
    if sig is None or sig.return_annotation is inspect.Signature.empty:
        return Any
    return sig.return_annotation


def item_type(annotation: Any) -> Any:
    """The item type of an iterator annotation (`Iterator[int]` -> `int`), else `Any`."""
    if typing.get_origin(annotation) in _ITERATORS:
        args = typing.get_args(annotation)
        return args[0] if args else Any
    return Any


def function_output_type(annotation: Any) -> Any:
    """What a function's return annotation makes the step give: an iterator's item type (a
    generator's chunks add up to one output); `Any` for a runnable (it is run, not returned)."""
    from runnables._base import Runnable

    if typing.get_origin(annotation) in _ITERATORS:
        return item_type(annotation)
    origin = typing.get_origin(annotation) or annotation
    if isinstance(origin, type) and issubclass(origin, Runnable):
        return Any
    return annotation


def module_of(func: object) -> str | None:
    """The module a function was defined in, so pydantic resolves its annotations there."""
    while isinstance(func, functools.partial):
        func = func.func
    module = getattr(func, "__module__", None)
    return module if isinstance(module, str) else None


def itemgetter_keys(func: object) -> list[str] | None:
    """The string keys of an `operator.itemgetter("a", "b")`, else None."""
    if not isinstance(func, operator.itemgetter):
        return None
    # itemgetter does not expose its items; its reduce tuple does.
    items = func.__reduce__()[1]
    if items and all(isinstance(i, str) and i for i in items):
        return list(items)
    return None


def dict_keys_read(func: Callable[..., Any]) -> list[str] | None:
    """The string keys an unannotated function reads from its first argument, from its source
    (`lambda x: x["question"]`, `x.get("context")`), sorted; None if it reads none.

    As LCEL does: a function reading keys of its input takes a dict with those keys.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args.posonlyargs + node.args.args
            if args:
                keys.update(_keys_read(node, args[0].arg))
    return sorted(keys) or None


def _keys_read(function: ast.AST, name: str) -> set[str]:
    keys: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Subscript) and _is_name(node.value, name):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                keys.add(node.slice.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and _is_name(node.func.value, name)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            keys.add(node.args[0].value)
    return keys


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


# -- schemas of composites ---------------------------------------------------------------------


def parallel_input_schema(
    name: str, steps: Mapping[str, Runnable[Any, Any]], config: RunnableConfig | None
) -> type[BaseModel] | None:
    """The merged dict input of parallel branches, or None if some branch wants a non-dict."""
    fields: FieldDefs = {}
    for step in steps.values():
        schema = step.get_input_schema(config)
        if is_dict_schema(schema):
            fields.update(field_defs(schema))
        elif schema.model_fields["root"].annotation is not Any:
            return None
    return fields_model(name, fields) if fields else None


def sequence_input_schema(
    steps: tuple[Runnable[Any, Any], ...], config: RunnableConfig | None
) -> type[BaseModel]:
    """The input of a sequence: the first step's, seen through a leading assign or pick."""
    from runnables._passthrough import RunnableAssign, RunnablePick

    first = steps[0]
    if len(steps) > 1 and isinstance(first, RunnablePick):
        return sequence_input_schema(steps[1:], config)
    if len(steps) > 1 and isinstance(first, RunnableAssign):
        after = sequence_input_schema(steps[1:], config)
        if is_dict_schema(after):
            keys = first.mapper.branches
            fields = {k: v for k, v in field_defs(after).items() if k not in keys}
            return fields_model("RunnableSequenceInput", fields)
    return first.get_input_schema(config)


def sequence_output_schema(
    steps: tuple[Runnable[Any, Any], ...], config: RunnableConfig | None
) -> type[BaseModel]:
    """The output of a sequence: the last step's, seen through a trailing assign or pick."""
    from runnables._passthrough import RunnableAssign, RunnablePick

    last = steps[-1]
    if len(steps) > 1 and isinstance(last, RunnableAssign):
        before = sequence_output_schema(steps[:-1], config)
        if is_dict_schema(before):
            added = field_defs(last.mapper.get_output_schema(config))
            return fields_model("RunnableSequenceOutput", {**field_defs(before), **added})
    if len(steps) > 1 and isinstance(last, RunnablePick):
        before = sequence_output_schema(steps[:-1], config)
        if is_dict_schema(before):
            fields = field_defs(before)
            if isinstance(last.keys, list):
                picked = {k: v for k, v in fields.items() if k in last.keys}
                return fields_model("RunnableSequenceOutput", picked)
            if last.keys in fields:
                return root_model("RunnableSequenceOutput", fields[last.keys][0])
    return last.get_output_schema(config)


def assign_output_schema(
    name: str, mapper_input: type[BaseModel], mapper_output: type[BaseModel]
) -> type[BaseModel] | None:
    """The output of an assign: its dict input's fields plus the new keys (None if unknown)."""
    if is_dict_schema(mapper_input) and is_dict_schema(mapper_output):
        return fields_model(name, {**field_defs(mapper_input), **field_defs(mapper_output)})
    if is_dict_schema(mapper_output):
        return mapper_output
    return None


def each_schema(runnable: Any, item_schema: type[BaseModel], suffix: str) -> type[BaseModel]:
    """The list input or output of a step mapped over a list (`map()`)."""
    name = runnable.get_name(suffix, name=runnable._name or f"RunnableEach<{runnable.bound.name}>")
    custom = runnable.custom_input_type if suffix == "Input" else runnable.custom_output_type
    type_ = custom if custom is not None else list[item_schema]  # type: ignore[valid-type]
    return root_model(name, type_, module=type(runnable).__module__)


def first_known(steps: list[Runnable[Any, Any]], attr: str) -> Any:
    """The first of the steps' `InputType` / `OutputType` that is not `Any`."""
    for step in steps:
        value = getattr(step, attr)
        if value is not Any:
            return value
    return Any
