"""@tool's options, StructuredTool.from_function, Tool, error handling and injected arguments."""

from __future__ import annotations

import pickle
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError

from llm import (
    BaseTool,
    InjectedToolArg,
    InjectedToolCallId,
    StructuredTool,
    Tool,
    ToolArgumentsError,
    ToolException,
    convert_to_openai_tool,
    tool,
)
from prompts import ToolMessage, tool_call
from runnables import RunnableLambda


def call(name: str, args: Any, id: str = "c1") -> Any:
    return tool_call(name=name, args=args, id=id)


def test_parse_docstring_describes_each_argument() -> None:
    @tool(parse_docstring=True)
    def forecast(city: str, days: int = 1) -> str:
        """Forecast the weather.

        Args:
            city: The city, as people
                write it.
            days: Days ahead.
        """
        return city

    assert forecast.description == "Forecast the weather."
    assert forecast.args["city"]["description"] == "The city, as people write it."
    assert forecast.args["days"]["description"] == "Days ahead."


def test_parse_docstring_rejects_a_docstring_that_does_not_match() -> None:
    def documents_another(x: int) -> int:
        """Do it.

        Args:
            y: Not a parameter.
        """
        return x

    def no_args_section(x: int) -> int:
        """Do it."""
        return x

    with pytest.raises(ValueError, match=r"describes \['y'\], which are not parameters"):
        tool(parse_docstring=True)(documents_another)
    with pytest.raises(ValueError, match="no 'Args:' section"):
        tool(parse_docstring=True)(no_args_section)
    lenient = StructuredTool.from_function(documents_another, parse_docstring=True)
    assert lenient.invoke({"x": 1}) == 1  # from_function's default: no error, as in LangChain


@pytest.mark.anyio
async def test_content_and_artifact_keeps_the_artifact_on_the_message() -> None:
    @tool(response_format="content_and_artifact")
    def sample(n: int) -> tuple[str, list[int]]:
        """Sample n numbers."""
        return f"{n} numbers", list(range(n))

    assert await sample.ainvoke({"n": 3}) == "3 numbers"
    message = await sample.ainvoke(call("sample", {"n": 2}))
    assert message == ToolMessage(
        content="2 numbers", tool_call_id="c1", name="sample", artifact=[0, 1]
    )

    @tool(response_format="content_and_artifact")
    def wrong(n: int) -> str:
        """Forget the artifact."""
        return "just text"

    with pytest.raises(ValueError, match=r"must return a \(content, artifact\) pair"):
        await wrong.ainvoke({"n": 1})


@pytest.mark.anyio
async def test_a_tool_answering_with_content_blocks_keeps_them_as_parts() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}

    @tool
    def snapshot(camera: str) -> list[dict[str, Any]]:
        """Take a picture."""
        return [{"type": "text", "text": f"from {camera}"}, image]

    @tool
    def numbers(n: int) -> list[Any]:
        """List numbers."""
        return [{"n": i} for i in range(n)]  # plain data, not content blocks: JSON text

    message = await snapshot.ainvoke(call("snapshot", {"camera": "door"}))
    assert message.content == [{"type": "text", "text": "from door"}, image]
    assert (await numbers.ainvoke(call("numbers", {"n": 2}))).content == '[{"n": 0}, {"n": 1}]'


def test_return_direct_and_description_options() -> None:
    @tool("final", return_direct=True, description="Give the answer.")
    def answer(text: str) -> str:
        """Ignored docstring."""
        return text

    assert (answer.name, answer.description, answer.return_direct) == (
        "final",
        "Give the answer.",
        True,
    )


def test_infer_schema_false_passes_the_input_as_given() -> None:
    @tool(infer_schema=False)
    def echo(*args: Any, **kwargs: Any) -> Any:
        """Echo what it gets."""
        return [args, kwargs]

    assert echo.args == {"tool_input": {"type": "string"}}
    assert echo.invoke("hello") == [("hello",), {}]
    assert echo.invoke({"x": 2}) == [(), {"x": 2}]


@pytest.mark.anyio
async def test_handle_tool_error_turns_a_tool_exception_into_the_answer() -> None:
    def fail(x: int) -> int:
        raise ToolException(f"no luck with {x}")

    as_text = StructuredTool.from_function(fail, description="Fail.", handle_tool_error=True)
    assert await as_text.ainvoke({"x": 1}) == "no luck with 1"
    message = await as_text.ainvoke(call("fail", {"x": 2}))
    assert message == ToolMessage(
        content="no luck with 2", tool_call_id="c1", name="fail", status="error"
    )
    fixed = tool("fail", description="Fail.", handle_tool_error="Try again.")(fail)
    assert await fixed.ainvoke({"x": 1}) == "Try again."
    custom = tool("fail", description="Fail.", handle_tool_error=lambda e: f"[{e}]")(fail)
    assert await custom.ainvoke({"x": 3}) == "[no luck with 3]"
    unhandled = tool("fail", description="Fail.")(fail)
    with pytest.raises(ToolException, match="no luck with 4"):
        await unhandled.ainvoke({"x": 4})


@pytest.mark.anyio
async def test_other_errors_are_raised_even_with_handle_tool_error() -> None:
    @tool(handle_tool_error=True)
    def broken(x: int) -> int:
        """Break."""
        raise KeyError("not a tool exception")

    with pytest.raises(KeyError):
        await broken.ainvoke({"x": 1})


@pytest.mark.anyio
async def test_handle_validation_error_answers_bad_arguments() -> None:
    seen: list[type[Exception]] = []

    def record(error: ValidationError) -> str:
        seen.append(type(error))
        return "x must be a number"

    def square(x: int) -> int:
        return x * x

    default = tool("square", description="Square.", handle_validation_error=True)(square)
    message = await default.ainvoke(call("square", {"x": "many"}))
    assert (message.content, message.status) == ("Tool input validation error", "error")
    fixed = tool("square", description="Square.", handle_validation_error="Numbers only.")(square)
    assert await fixed.ainvoke({"x": "many"}) == "Numbers only."
    custom = tool("square", description="Square.", handle_validation_error=record)(square)
    assert await custom.ainvoke({"x": "many"}) == "x must be a number"
    assert seen == [ValidationError]
    with pytest.raises(ToolArgumentsError, match="'square': 'x'"):
        await tool("square", description="Square.")(square).ainvoke({"x": "many"})


@pytest.mark.anyio
async def test_from_function_with_func_and_coroutine() -> None:
    def add(a: int, b: int = 1) -> int:
        """Add."""
        return a + b

    async def add_async(a: int, b: int = 1) -> int:
        """Add, asynchronously."""
        return a + b + 100

    both = StructuredTool.from_function(func=add, coroutine=add_async)
    assert (both.name, both.description) == ("add", "Add.")
    assert await both.ainvoke({"a": 1}) == 102  # one async core: the coroutine serves both
    only_async = StructuredTool.from_function(coroutine=add_async, name="plus")
    assert only_async.invoke({"a": 1, "b": 2}) == 103  # sync calls work too
    assert only_async.func is None
    assert only_async.coroutine is add_async
    with pytest.raises(ValueError, match='"func" argument: None'):
        StructuredTool.from_function()
    with pytest.raises(TypeError, match='"coroutine" argument'):
        StructuredTool.from_function(coroutine=add)  # type: ignore[arg-type]


def test_structured_tool_built_from_its_fields() -> None:
    class Args(BaseModel):
        a: int

    made = StructuredTool(
        name="double", description="Double it.", args_schema=Args, func=lambda a: 2 * a
    )
    assert made.invoke({"a": 4}) == 8
    assert made.args == {"a": {"title": "A", "type": "integer"}}


@pytest.mark.anyio
async def test_tool_takes_one_string() -> None:
    upper = Tool("upper", lambda text: text.upper(), "Uppercase a text.")
    assert upper.invoke("ab") == "AB"
    assert await upper.ainvoke({"__arg1": "cd"}) == "CD"  # what the model sends back
    assert upper.args == {"tool_input": {"type": "string"}}
    with pytest.raises(ToolException, match="Too many arguments to single-input tool 'upper'"):
        upper.invoke({"a": "x", "b": "y"})

    async def lower(text: str) -> str:
        return text.lower()

    asynchronous = Tool(name="lower", func=None, coroutine=lower, description="Lowercase.")
    assert asynchronous.invoke("AB") == "ab"
    message = await asynchronous.ainvoke(call("lower", {"__arg1": "XY"}))
    assert message == ToolMessage(content="xy", tool_call_id="c1", name="lower")
    from_function = Tool.from_function(func=str.strip, name="strip", description="Strip.")
    assert from_function.invoke("  x ") == "x"
    assert convert_to_openai_tool(upper)["function"] == {
        "name": "upper",
        "description": "Uppercase a text.",
        "parameters": {
            "type": "object",
            "properties": {"__arg1": {"title": "__arg1", "type": "string"}},
            "required": ["__arg1"],
        },
    }
    with pytest.raises(ValueError, match='"func" argument: None'):
        Tool("none", None, "Nothing.")


@pytest.mark.anyio
async def test_injected_arguments_are_hidden_from_the_model() -> None:
    @tool
    def lookup(
        key: str,
        user: Annotated[str, InjectedToolArg],
        call_id: Annotated[str, InjectedToolCallId],
    ) -> str:
        """Look a key up for a user."""
        return f"{key}/{user}/{call_id}"

    assert lookup.args == {"key": {"title": "Key", "type": "string"}}
    call_schema = lookup.tool_call_schema
    assert isinstance(call_schema, type)
    assert list(call_schema.model_fields) == ["key"]
    assert set(lookup.get_input_schema().model_fields) == {"key", "user", "call_id"}
    parameters = convert_to_openai_tool(lookup)["function"]["parameters"]
    assert parameters == {
        "type": "object",
        "properties": {"key": {"type": "string"}},
        "required": ["key"],
    }
    message = await lookup.ainvoke(call("lookup", {"key": "k", "user": "ada"}, id="call_5"))
    assert message.content == "k/ada/call_5"
    with pytest.raises(ValueError, match="invoke it with a tool call"):
        await lookup.ainvoke({"key": "k", "user": "ada"})


def test_injected_tool_call_id_in_an_args_schema() -> None:
    class Args(BaseModel):
        a: int
        call_id: Annotated[str, InjectedToolCallId]

    class Echo(BaseTool):
        name: str = "echo"
        description: str = "Echo the call."
        args_schema: type[BaseModel] = Args

        def _run(self, a: int, call_id: str) -> str:
            return f"{a}@{call_id}"

    assert Echo().args == {"a": {"title": "A", "type": "integer"}}
    assert Echo().invoke(call("echo", {"a": 1}, id="z")).content == "1@z"


def test_tool_of_a_runnable() -> None:
    double = tool("double", RunnableLambda(lambda x: x * 2))
    assert double.invoke({"input": 4}) == 8
    named = tool("triple", description="Triple it.")(RunnableLambda(lambda x: x * 3))
    assert (named.name, named.description, named.invoke({"input": 2})) == (
        "triple",
        "Triple it.",
        6,
    )
    with pytest.raises(TypeError, match="give its name first"):
        tool(RunnableLambda(lambda x: x))  # type: ignore[call-overload]


def test_as_tool_with_arg_types() -> None:
    total = RunnableLambda(lambda d: d["a"] + d["b"]).as_tool(
        name="total", description="Add.", arg_types={"a": int, "b": int}
    )
    assert total.args == {
        "a": {"title": "A", "type": "integer"},
        "b": {"title": "B", "type": "integer"},
    }
    assert total.invoke({"a": "1", "b": 2}) == 3


def test_tools_with_options_pickle() -> None:
    made = StructuredTool.from_function(
        _fail, name="failing", handle_tool_error="sorry", return_direct=True
    )
    copy = pickle.loads(pickle.dumps(made))
    assert (copy.name, copy.return_direct, copy.invoke({"x": 1})) == ("failing", True, "sorry")
    upper = pickle.loads(pickle.dumps(Tool("upper", str.upper, "Uppercase.")))
    assert upper.invoke("a") == "A"


def _fail(x: int) -> int:
    """Fail."""
    raise ToolException("no")


def test_as_tool_with_arg_types_that_are_not_types_is_named() -> None:
    with pytest.raises(TypeError, match=r'Invalid "arg_types" argument: \{.a.: 3\}'):
        RunnableLambda(lambda d: d).as_tool(name="t", description="T.", arg_types={"a": 3})  # type: ignore[dict-item]
