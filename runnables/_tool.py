"""`BaseTool`: a step with a name, a description and an argument schema, that a caller (usually
a chat model) runs by name.

A tool is a runnable like any other: it validates its arguments, runs its own code (`_arun` on
the loop, or a sync `_run` in a worker thread, holding a slot of the run's `max_concurrency`),
and reports as a step of kind "tool". It knows nothing of models: invoked with a tool call
(`{"name", "args", "id", "type": "tool_call"}`) it answers through the function the `llm`
package registers (`register_call_answer`), which makes the `ToolMessage`. That keeps the
layers pointing down: `llm` knows the core, the core only knows that someone answers calls.

A `ToolException` raised by the tool's code is the failure the model may see (see
`handle_tool_error`); arguments that do not validate raise `ToolArgumentsError` (see
`runnables._tool_errors`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Protocol, dataclass_transform

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SkipValidation, ValidationError
from pydantic._internal._model_construction import ModelMetaclass

from runnables._base import Runnable
from runnables._concurrency import run_in_thread
from runnables._config import RunnableConfig, ensure_config, merge_configs
from runnables._run import leaf_slot
from runnables._schema import root_model
from runnables._tool_errors import ToolArgumentsError, ToolException
from runnables._tool_schema import (
    RUN_PARAMS,
    InjectedToolCallId,
    call_schema,
    check_args_schema,
    check_tool_name,
    injected_fields,
    run_params,
    schema_from_signature,
)

__all__ = ["BaseTool", "register_call_answer"]


class CallAnswer(Protocol):
    def __call__(
        self, content: Any, *, artifact: Any, tool_call_id: str, name: str, status: str
    ) -> Any: ...


_answer: CallAnswer | None = None


def register_call_answer(answer: CallAnswer) -> None:
    """Set how tools answer a tool call (`llm` registers the maker of its `ToolMessage`)."""
    global _answer
    _answer = answer


def _is_tool_call(value: object) -> bool:
    return isinstance(value, dict) and value.get("type") == "tool_call" and "args" in value


class _HiddenOnClass:
    """Hides `Runnable.name` (a property) from the class, so pydantic sees no clash when a
    subclass declares `name: str = "..."`; instances read their field."""

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        raise AttributeError("name")


class _NamedRunnable(Runnable[Any, Any]):
    name = _HiddenOnClass()


@dataclass_transform(kw_only_default=True, field_specifiers=(Field, PrivateAttr))
class _ToolMeta(ModelMetaclass):
    """Lets a subclass set a field by a plain class attribute (`name = "search"`), as well as
    by an annotated one: the attribute gets the field's annotation, where pydantic would refuse
    an override without one."""

    def __new__(
        mcs, cls_name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> type:
        annotations = namespace.setdefault("__annotations__", {})
        for base in bases:
            for field, info in getattr(base, "__pydantic_fields__", {}).items():
                if field in namespace and field not in annotations:
                    annotations[field] = info.annotation
        return super().__new__(mcs, cls_name, bases, namespace, **kwargs)


class BaseTool(BaseModel, _NamedRunnable, metaclass=_ToolMeta):
    """A step a model can call: a name, a description and a schema of its arguments.

    Subclass it as in LangChain: declare `name`, `description` and optionally `args_schema`
    (a pydantic model; by default one is made from `_run`'s signature) as fields, and
    implement `_run(self, **args)` (run in a worker thread) or `async def _arun(self, **args)`
    (run on the loop). A parameter named `config` (or annotated `RunnableConfig`) receives the
    run's config; `run_manager` receives None. Other fields a subclass declares are set with
    keywords: `MyTool(api_key=...)`.

    Invoked with a dict of arguments it returns the result; with one value, if it takes one
    argument; with a tool call, the answer (`llm` makes it a `ToolMessage`).

    Attributes:
        name: What the model calls the tool (letters, digits, `_` and `-`, at most 64).
        description: What the tool does, for the model.
        args_schema: A pydantic model (or a JSON-schema dict, not validated) of the arguments.
        return_direct: Whether an agent should return the result as its answer.
        response_format: "content", or "content_and_artifact": the tool returns
            `(content, artifact)`; the model sees the content, the message keeps the artifact.
        handle_tool_error: On a `ToolException`, answer instead of raising: True (the error's
            text), a string, or a function of the error returning the text.
        handle_validation_error: The same, for arguments that do not validate (True answers
            "Tool input validation error"; a function receives pydantic's ValidationError).
        verbose: Accepted for LangChain code; handlers see the run instead.
        tags: Tags the tool's own events carry, added to the run's.
        metadata: Metadata the tool's own events carry, merged over the run's.
    """

    # A misspelt field fails when the tool is made, instead of being dropped.
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    name: str
    description: str = ""
    args_schema: Annotated[Any, SkipValidation()] = None
    return_direct: bool = False
    response_format: Literal["content", "content_and_artifact"] = "content"
    handle_tool_error: bool | str | Callable[[ToolException], str] | None = False
    handle_validation_error: bool | str | Callable[[ValidationError], str] | None = False
    verbose: bool = False
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None

    custom_input_type: ClassVar[Any] = None  # type: ignore[misc]
    custom_output_type: ClassVar[Any] = None  # type: ignore[misc]
    _kind: ClassVar[str] = "tool"  # type: ignore[misc]
    _plan: ClassVar[tuple[bool, str | None, bool]] = (False, None, False)
    """Decided once per class: whether `_arun` is the tool's own, the name of the parameter
    that takes the config, and whether it takes `run_manager`."""
    _empty: ClassVar[bool] = True
    """Whether the class runs nothing of its own (neither `_run`, `_arun` nor `_execute`)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        own_async = cls._arun is not BaseTool._arun
        config, manager = run_params(cls._arun if own_async else cls._run)
        cls._plan = (own_async, config, manager)
        cls._empty = not own_async and all(
            getattr(cls, method) is getattr(BaseTool, method) for method in ("_run", "_execute")
        )

    def __init__(self, **data: Any) -> None:
        if "callbacks" in data:
            raise TypeError(
                f'Invalid "callbacks" argument: {data["callbacks"]!r}; a tool takes handlers '
                "from the run: tool.with_config(callbacks=[...]) or invoke(..., {'callbacks': ...})"
            )
        if self._empty:  # LangChain's _run is abstract: such a class cannot be made either
            raise TypeError(f"{type(self).__name__} implements neither _run nor _arun")
        super().__init__(**data)
        check_tool_name(self.name)
        if self.args_schema is not None:
            check_args_schema(self.args_schema)

    __hash__ = object.__hash__  # a step is itself, as every other runnable
    __eq__ = object.__eq__

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def _event_config(self, config: RunnableConfig) -> RunnableConfig:
        if not self.tags and not self.metadata:
            return config
        own: dict[str, Any] = {"tags": self.tags or [], "metadata": self.metadata or {}}
        return merge_configs(config, own)  # type: ignore[arg-type]

    # -- what the tool does: a subclass implements one ----------------------------------------

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} implements neither _run nor _arun")

    async def _arun(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} implements neither _run nor _arun")

    async def _execute(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], config: RunnableConfig
    ) -> Any:
        """Run the tool's own code on its validated arguments, holding a leaf slot."""
        own_async, config_param, manager = self._plan
        code = self._arun if own_async else self._run
        return await run_tool_code(code, own_async, args, kwargs, config, config_param, manager)

    # -- schemas --------------------------------------------------------------------------------

    def _input_model(self) -> type[BaseModel] | dict[str, Any] | None:
        """The schema arguments are validated against: `args_schema`, or one made from
        `_run`'s (or `_arun`'s) signature; None where arguments pass as given."""
        if self.args_schema is not None:
            return self.args_schema  # type: ignore[no-any-return]
        return _schema_of_run(type(self))

    @property
    def tool_call_schema(self) -> type[BaseModel] | dict[str, Any]:
        """The schema the model sees: the arguments without injected ones, titled with the
        tool's name and described by its description."""
        model = self._input_model()
        if model is None:
            return call_schema(_single_input(self.name), self.name, self.description)
        if isinstance(model, dict):
            return model
        return call_schema(model, self.name, self.description)

    @property
    def args(self) -> dict[str, Any]:
        """The JSON-schema properties of the model's arguments (`{"city": {"type": ...}}`)."""
        if self._input_model() is None:
            return {"tool_input": {"type": "string"}}
        schema = self.tool_call_schema
        if isinstance(schema, dict):
            return dict(schema.get("properties", {}))
        return dict(schema.model_json_schema().get("properties", {}))

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """The arguments' pydantic model, injected arguments included."""
        model = self._input_model()
        if isinstance(model, type):
            return model
        return root_model(self.get_name("Input"), str | dict[str, Any], module=__name__)

    # -- a run --------------------------------------------------------------------------------

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        call = input if _is_tool_call(input) else None
        try:
            args, values = self._to_args(call["args"] if call else input, call)
        except ValidationError as exc:
            handler = self.handle_validation_error
            if handler is None or handler is False:
                raise ToolArgumentsError(self.name, exc, call["args"] if call else input) from exc
            text = _handled(handler, exc, "Tool input validation error", own_text=False)
            return self._answer(text, None, call, "error")
        try:
            result = await self._execute(args, values, config)
        except ToolException as exc:
            tool_handler = self.handle_tool_error
            if tool_handler is None or tool_handler is False:
                raise
            text = _handled(tool_handler, exc, "Tool execution error", own_text=True)
            return self._answer(text, None, call, "error")
        artifact = None
        if self.response_format == "content_and_artifact":
            if not (isinstance(result, tuple) and len(result) == 2):
                raise ValueError(
                    f"Tool {self.name!r} has response_format='content_and_artifact', so it must "
                    f"return a (content, artifact) pair; it returned {result!r}"
                )
            result, artifact = result
        return self._answer(result, artifact, call, "success")

    def _answer(self, content: Any, artifact: Any, call: Any, status: str) -> Any:
        if call is None:
            return content
        if _answer is None:
            raise RuntimeError(
                f"Tool {self.name!r} was given a tool call, whose answer is a ToolMessage: "
                "import llm, which provides it"
            )
        return _answer(
            content,
            artifact=artifact,
            tool_call_id=call.get("id") or "",
            name=self.name,
            status=status,
        )

    def _to_args(
        self, tool_input: Any, call: dict[str, Any] | None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments for the tool's code, validated by its schema.

        Raises:
            ValidationError: The arguments do not fit the schema.
            ValueError: The tool takes the call's id but was not given a tool call.
        """
        model = self._input_model()
        if model is None or isinstance(model, dict):
            if isinstance(tool_input, dict):
                return (), dict(tool_input)
            return (tool_input,), {}
        fields = model.model_fields
        ids = injected_fields(model, InjectedToolCallId)
        if not isinstance(tool_input, dict):
            # A bare value is the first argument's, as in LangChain (the others need defaults).
            visible = [n for n in fields if n not in injected_fields(model)]
            if visible:
                tool_input = {visible[0]: tool_input}
        if ids:
            if call is None or not call.get("id"):
                raise ValueError(
                    f"Tool {self.name!r} takes the tool call's id ({ids[0]!r}): invoke it with a "
                    "tool call ({'name', 'args', 'id', 'type': 'tool_call'})"
                )
            tool_input = {**tool_input, **dict.fromkeys(ids, call["id"])}
        validated = model.model_validate(tool_input)
        return (), {n: getattr(validated, n) for n in fields}

    # -- LangChain's run() / arun() -----------------------------------------------------------

    def run(
        self,
        tool_input: str | dict[str, Any],
        verbose: bool | None = None,
        start_color: str | None = "green",
        color: str | None = "green",
        callbacks: Any = None,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        run_name: str | None = None,
        run_id: Any = None,
        config: RunnableConfig | None = None,
        tool_call_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the tool on `tool_input` (LangChain's form; `invoke` is the runnable one).

        With `tool_call_id`, the answer is the tool call's (a `ToolMessage`). `verbose` and the
        colors are accepted and ignored; handlers see the run instead.
        """
        cfg = _run_config(config, callbacks, tags, metadata, run_name, run_id)
        return self.invoke(_as_call(self.name, tool_input, tool_call_id), cfg)

    async def arun(
        self,
        tool_input: str | dict[str, Any],
        verbose: bool | None = None,
        start_color: str | None = "green",
        color: str | None = "green",
        callbacks: Any = None,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        run_name: str | None = None,
        run_id: Any = None,
        config: RunnableConfig | None = None,
        tool_call_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Async form of `run`."""
        cfg = _run_config(config, callbacks, tags, metadata, run_name, run_id)
        return await self.ainvoke(_as_call(self.name, tool_input, tool_call_id), cfg)


async def run_tool_code(
    code: Callable[..., Any],
    is_async: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    config: RunnableConfig,
    config_param: str | None,
    takes_manager: bool,
) -> Any:
    """Run a tool's own code on its validated arguments, holding a leaf slot: awaited where it
    is async, else in a worker thread. The one home of that for every kind of tool.

    Args:
        code: The function (`_run`/`_arun`, or a `Tool`'s `func`/`coroutine`).
        is_async: Whether `code` is a coroutine function (decided when the tool was made).
        args: Its positional arguments.
        kwargs: Its keyword arguments (completed here with the config and run manager).
        config: The step's config, given to `code` as `config_param` if it takes one.
        config_param: The parameter of `code` taking the config, or None.
        takes_manager: Whether `code` takes LangChain's `run_manager` (given None).
    """
    if config_param is not None:
        kwargs[config_param] = config
    if takes_manager:
        kwargs["run_manager"] = None
    async with leaf_slot():
        if is_async:
            return await code(*args, **kwargs)
        return await run_in_thread(functools.partial(code, *args, **kwargs))


def _handled(handler: Any, exc: Exception, default: str, *, own_text: bool) -> str:
    """The answer for a handled error: True gives the error's text (`own_text`) or `default`;
    a string is the answer; a function of the error returns it."""
    if handler is True:
        return (str(exc) if own_text else "") or default
    if isinstance(handler, str):
        return handler
    if callable(handler):
        return str(handler(exc))
    raise TypeError(f"Invalid error handler {handler!r}: expected a bool, a string or a function")


def _as_call(name: str, tool_input: Any, tool_call_id: str | None) -> Any:
    if tool_call_id is None:
        return tool_input
    return {"name": name, "args": tool_input, "id": tool_call_id, "type": "tool_call"}


def _run_config(
    config: RunnableConfig | None,
    callbacks: Any,
    tags: list[str] | None,
    metadata: dict[str, Any] | None,
    run_name: str | None,
    run_id: Any,
) -> RunnableConfig:
    given: dict[str, Any] = {}
    for key, value in (
        ("callbacks", callbacks),
        ("tags", tags),
        ("metadata", metadata),
        ("run_name", run_name),
        ("run_id", run_id),
    ):
        if value is not None:
            given[key] = value
    # Added to the config's, as any two configs merge (tags and callbacks joined, metadata
    # merged): `run(..., config={"tags": ["a"]}, tags=["b"])` is tagged both.
    return merge_configs(ensure_config(config), ensure_config(given))  # type: ignore[arg-type]


@functools.cache
def _single_input(name: str) -> type[BaseModel]:
    from pydantic import create_model

    model: type[BaseModel] = create_model(name, tool_input=(str, ...))
    return model


@functools.cache
def _schema_of_run(cls: type[BaseTool]) -> type[BaseModel] | None:
    """The arguments of a tool class's own `_run` (or `_arun`), made once per class; None for
    a method that takes `*args` / `**kwargs` (its arguments pass as given)."""
    own_async = cls._plan[0]
    if not own_async and cls._run is BaseTool._run:
        return None
    try:
        return schema_from_signature(
            cls._arun if own_async else cls._run, cls.__name__, {}, skip=RUN_PARAMS
        )
    except TypeError:
        return None
