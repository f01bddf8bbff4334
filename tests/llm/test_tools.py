"""Tools: @tool from sync and async functions, schemas, dict args and tool calls, as_tool."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import anyio
import pytest
from pydantic import BaseModel, Field

from llm import (
    BaseTool,
    OfflineChatModel,
    StrOutputParser,
    StructuredTool,
    ToolArgumentsError,
    convert_to_openai_tool,
    tool,
)
from prompts import ChatPromptTemplate, ToolMessage, tool_call
from runnables import RunnableConfig, RunnableLambda


@tool
def get_weather(city: str, days: int = 1) -> str:
    """Get the weather forecast for a city.

    Args:
        city: The city's name,
            as people write it.
        days: How many days ahead.

    Returns:
        A one-line forecast.
    """
    return f"{city}: sunny for {days} day(s)"


@tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class SearchArgs(BaseModel):
    query: str = Field(description="What to look for")
    limit: int = 3


@tool("web-search", args_schema=SearchArgs)
def search(query: str, limit: int) -> list[str]:
    """Search the web."""
    return [f"{query} #{i}" for i in range(limit)]


def test_name_description_and_args_come_from_the_function() -> None:
    assert isinstance(get_weather, BaseTool)
    assert get_weather.name == "get_weather"
    assert get_weather.description == "Get the weather forecast for a city."
    assert get_weather.args == {
        "city": {
            "description": "The city's name, as people write it.",
            "title": "City",
            "type": "string",
        },
        "days": {
            "default": 1,
            "description": "How many days ahead.",
            "title": "Days",
            "type": "integer",
        },
    }


def test_an_explicit_schema_and_name() -> None:
    assert search.name == "web-search"
    assert search.args_schema is SearchArgs
    assert set(search.args) == {"query", "limit"}


@pytest.mark.anyio
async def test_invoked_with_args_it_returns_the_result() -> None:
    assert await get_weather.ainvoke({"city": "Oslo"}) == "Oslo: sunny for 1 day(s)"
    assert await add.ainvoke({"a": 2, "b": "3"}) == 5  # validated (and coerced) by the schema
    assert await search.ainvoke({"query": "q", "limit": 2}) == ["q #0", "q #1"]


def test_a_one_field_tool_takes_the_bare_value() -> None:
    @tool
    def shout(text: str) -> str:
        """Shout."""
        return text.upper()

    assert shout.invoke("hi") == "HI"


@pytest.mark.anyio
async def test_invoked_with_a_tool_call_it_returns_a_tool_message() -> None:
    call = tool_call(name="add", args={"a": 2, "b": 3}, id="call_7")
    message = await add.ainvoke(call)
    assert message == ToolMessage(content="5", tool_call_id="call_7", name="add")
    listing = await search.ainvoke(tool_call(name="web-search", args={"query": "x"}, id="c"))
    assert listing.content == '["x #0", "x #1", "x #2"]'  # JSON for non-text results


@pytest.mark.anyio
async def test_bad_args_name_the_tool_and_each_field() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        await get_weather.ainvoke({"town": "Oslo", "days": "soon"})
    error = info.value
    assert isinstance(error, ValueError)
    assert str(error) == (
        "Invalid arguments for tool 'get_weather': 'city': Field required; 'days': Input should "
        "be a valid integer, unable to parse string as an integer "
        "(got {'town': 'Oslo', 'days': 'soon'})"
    )
    assert error.tool == "get_weather"
    assert [e["loc"] for e in error.errors] == [("city",), ("days",)]
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.tool) == (str(error), error.tool)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_tools_run_in_a_worker_thread_async_ones_on_the_loop(backend: str) -> None:
    seen: list[bool] = []

    @tool
    def where() -> str:
        """Say where it runs."""
        seen.append(threading.current_thread() is threading.main_thread())
        return "ok"

    @tool
    async def where_async() -> str:
        """Say where it runs."""
        seen.append(threading.current_thread() is threading.main_thread())
        return "ok"

    async def both() -> None:
        await where.ainvoke({})
        await where_async.ainvoke({})

    anyio.run(both, backend=backend)
    assert seen == [False, True]


@pytest.mark.anyio
async def test_a_config_parameter_receives_the_run_config() -> None:
    @tool
    def tagged(x: int, config: RunnableConfig) -> list[str]:
        """Return the run's tags."""
        return list(config.get("tags", []))

    assert "config" not in tagged.args
    assert await tagged.ainvoke({"x": 1}, {"tags": ["t"]}) == ["t"]


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: tool(42), TypeError, '"name" argument: 42'),  # type: ignore[call-overload]
        (lambda: StructuredTool("nope"), TypeError, '"func" argument'),  # type: ignore[arg-type]
        (lambda: tool("bad name!")(lambda x: x), ValueError, "\"name\" argument: 'bad name!'"),
        (lambda: tool(lambda x: x), ValueError, "'<lambda>'"),  # <lambda> has no valid name
        (lambda: tool("f")(lambda x: x), ValueError, "description.*empty"),
        (
            lambda: tool("f", description="d", args_schema=dict)(lambda x: x),  # type: ignore[arg-type]
            TypeError,
            '"args_schema"',
        ),
        (lambda: tool("f", description="d")(lambda *a: a), TypeError, r"\*args"),
    ],
)
def test_bad_tool_definitions_fail_at_build_time(
    build: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        build()


def test_as_tool_wraps_any_runnable() -> None:
    double = RunnableLambda(lambda x: x * 2).as_tool(name="double", description="Double it.")
    assert isinstance(double, BaseTool)
    assert double.invoke({"input": 21}) == 42
    assert double.invoke(tool_call(name="double", args={"input": 2}, id="c")) == ToolMessage(
        content="4", tool_call_id="c", name="double"
    )


def test_as_tool_of_a_prompt_takes_its_variables() -> None:
    prompt = ChatPromptTemplate.from_template("Tell me about {topic} in {style}")
    as_tool = prompt.as_tool(name="brief", description="Make a prompt.")
    assert as_tool.args == {
        "topic": {"title": "Topic", "type": "string"},
        "style": {"title": "Style", "type": "string"},
    }
    value = as_tool.invoke({"topic": "tides", "style": "haiku"})
    assert value.to_string() == "Human: Tell me about tides in haiku"


def test_as_tool_of_a_chain_takes_its_input_schema() -> None:
    # LangChain builds the tool from the step's input schema: a chain starting with a prompt
    # takes that prompt's variables; a typed function takes one `input` of its type.
    chain = ChatPromptTemplate.from_template("Answer {q}") | OfflineChatModel() | StrOutputParser()
    ask = chain.as_tool(name="ask", description="Ask.")
    assert ask.args == {"q": {"title": "Q", "type": "string"}}
    assert ask.invoke({"q": "why"}) == chain.invoke({"q": "why"})

    def halve(x: int) -> float:
        return x / 2

    half = RunnableLambda(halve).as_tool()
    assert half.args == {"input": {"title": "Input", "type": "integer"}}
    with pytest.raises(ToolArgumentsError, match="input"):
        half.invoke({"input": "many"})


def test_as_tool_with_an_args_schema() -> None:
    class Pair(BaseModel):
        a: int
        b: int

    total = RunnableLambda(lambda d: d["a"] + d["b"]).as_tool(
        name="total", description="Add.", args_schema=Pair
    )
    assert total.invoke({"a": "1", "b": 2}) == 3
    with pytest.raises(ToolArgumentsError, match="'total': 'b': Field required"):
        total.invoke({"a": 1})


def test_as_tool_rejects_a_bad_name() -> None:
    with pytest.raises(ValueError, match="\"name\" argument: 'two words'"):
        RunnableLambda(lambda x: x).as_tool(name="two words")


def test_openai_specs_from_every_accepted_form() -> None:
    class Person(BaseModel):
        """A person."""

        name: str = Field(description="Full name")
        title: str | None = None  # a field named "title" survives title stripping

    def lookup(key: str) -> str:
        """Look a key up."""
        return key

    weather = convert_to_openai_tool(get_weather)
    assert weather == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather forecast for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {
                        "type": "string",
                        "description": "The city's name, as people write it.",
                    },
                    "days": {
                        "type": "integer",
                        "default": 1,
                        "description": "How many days ahead.",
                    },
                },
                "required": ["city"],
            },
        },
    }
    person = convert_to_openai_tool(Person)["function"]
    assert (person["name"], person["description"]) == ("Person", "A person.")
    assert set(person["parameters"]["properties"]) == {"name", "title"}
    assert person["parameters"]["required"] == ["name"]
    assert convert_to_openai_tool(lookup)["function"]["name"] == "lookup"
    as_dict = {"type": "function", "function": {"name": "x", "parameters": {"type": "object"}}}
    assert convert_to_openai_tool(as_dict) == as_dict
    schema = {"title": "pick", "description": "Pick one.", "type": "object", "properties": {}}
    assert convert_to_openai_tool(schema)["function"] == {
        "name": "pick",
        "description": "Pick one.",
        "parameters": {"type": "object", "properties": {}},
    }
    strict = convert_to_openai_tool(get_weather, strict=True)["function"]
    assert strict["strict"] is True
    assert strict["parameters"]["additionalProperties"] is False
    with pytest.raises(TypeError, match="Invalid tool 42"):
        convert_to_openai_tool(42)
    with pytest.raises(ValueError, match="a JSON schema with a 'title'"):
        convert_to_openai_tool({"type": "object"})
    with pytest.raises(TypeError, match="'parameters' must be a JSON-schema dict, got 5"):
        convert_to_openai_tool({"name": "x", "parameters": 5})


def test_the_core_imports_no_layer_above_it() -> None:
    """`import runnables` loads neither layer above it (tests/runnables/test_layers.py checks
    the source and `as_tool` too)."""
    import subprocess
    import sys

    code = "import sys, runnables; print(sorted({'llm', 'prompts'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tools_pickle() -> None:
    """Chains may be shipped to other processes: tools made by @tool, by hand or by as_tool."""
    copy = pickle.loads(pickle.dumps(get_weather))
    assert copy is get_weather  # found again where @tool put it
    by_hand = StructuredTool(_shout, name="shout")
    assert pickle.loads(pickle.dumps(by_hand)).invoke({"text": "hi"}) == "HI"
    explicit = pickle.loads(pickle.dumps(search))
    assert explicit.invoke({"query": "q", "limit": 1}) == ["q #0"]
    prompt_tool = ChatPromptTemplate.from_template("About {topic}").as_tool(
        name="about", description="A prompt."
    )
    copied = pickle.loads(pickle.dumps(prompt_tool))
    assert copied.args == prompt_tool.args
    assert copied.invoke({"topic": "tides"}).to_string() == "Human: About tides"


def _shout(text: str) -> str:
    """Shout."""
    return text.upper()


def test_partials_and_callable_objects_are_named_and_described_by_what_they_wrap() -> None:
    import functools

    def scale(x: float, factor: float) -> float:
        """Scale x by a factor."""
        return x * factor

    class Greeter:
        """Greet someone."""

        def __call__(self, who: str) -> str:
            return f"hi {who}"

    triple = tool(functools.partial(scale, factor=3.0))
    assert (triple.name, triple.description) == ("scale", "Scale x by a factor.")
    assert triple.invoke({"x": 2}) == 6.0
    greeter = tool(Greeter())
    assert (greeter.name, greeter.description) == ("Greeter", "Greet someone.")
    assert greeter.invoke({"who": "Ada"}) == "hi Ada"


def test_an_inferred_argument_schema_is_described_by_the_docstring() -> None:
    @tool
    def square(x: int, y: str = "a") -> int:
        """Square a number."""
        return x * x

    def undocumented(q: str) -> str:
        return q

    # As langchain-core 1.8.3 describes them.
    assert square.get_input_jsonschema() == {
        "description": "Square a number.",
        "properties": {
            "x": {"title": "X", "type": "integer"},
            "y": {"default": "a", "title": "Y", "type": "string"},
        },
        "required": ["x"],
        "title": "square",
        "type": "object",
    }
    plain = StructuredTool.from_function(undocumented, description="given")
    assert "description" not in plain.get_input_jsonschema()
