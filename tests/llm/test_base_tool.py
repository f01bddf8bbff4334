"""BaseTool subclasses written as in LangChain: fields, `_run` / `_arun`, the invoke forms."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import anyio
import pytest
from pydantic import BaseModel, Field, ValidationError

from llm import BaseTool, ToolArgumentsError, ToolExecutor, convert_to_openai_tool
from prompts import AIMessage, ToolMessage, tool_call
from runnables import RunnableConfig, RunnableLambda


class MultiplyInput(BaseModel):
    a: int = Field(description="The first factor")
    b: int = Field(description="The second factor")


class Multiply(BaseTool):
    name: str = "multiply"
    description: str = "Multiply two integers."
    args_schema: type[BaseModel] = MultiplyInput
    return_direct: bool = True
    factor: int = 1  # a field of this tool's own

    def _run(self, a: int, b: int, run_manager: Any = None) -> int:
        assert run_manager is None  # LangChain's callback manager: handlers see the run instead
        return a * b * self.factor


class Search(BaseTool):
    """No args_schema: the arguments come from `_arun`'s signature."""

    name: str = "search"
    description: str = "Search for a query."

    async def _arun(self, query: str, limit: int = 2) -> list[str]:
        return [f"{query} {i}" for i in range(limit)]


class Tagged(BaseTool):
    name: str = "tagged"
    description: str = "Return the run's tags."

    def _run(self, x: int, config: RunnableConfig) -> list[str]:
        return list(config.get("tags", []))


def test_fields_come_from_the_class_and_keywords() -> None:
    tool = Multiply()
    assert (tool.name, tool.description, tool.return_direct) == (
        "multiply",
        "Multiply two integers.",
        True,
    )
    assert tool.response_format == "content"
    assert tool.args_schema is MultiplyInput
    renamed = Multiply(name="times", description="Times.", factor=10)
    assert (renamed.name, renamed.description, renamed.factor) == ("times", "Times.", 10)
    assert renamed.invoke({"a": 2, "b": 3}) == 60
    with pytest.raises(ValidationError, match="factor"):
        Multiply(factor="many")  # type: ignore[arg-type]


def test_fields_may_be_plain_class_attributes() -> None:
    class Echo(BaseTool):
        name = "echo"  # no annotation: LangChain (pydantic) refuses this, a tool here takes it
        description = "Echo the text."
        return_direct = True

        def _run(self, text: str) -> str:
            return text

    echo = Echo()  # type: ignore[call-arg]  # mypy reads only annotated fields as defaults
    assert (echo.name, echo.description, echo.return_direct) == ("echo", "Echo the text.", True)
    assert echo.invoke("hi") == "hi"
    assert Echo(name="other").name == "other"


def test_a_misspelt_field_or_callbacks_fail_when_the_tool_is_made() -> None:
    with pytest.raises(ValidationError, match="factr"):
        Multiply(factr=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r'"callbacks" argument.*with_config'):
        Multiply(callbacks=[])  # type: ignore[call-arg]


def test_a_bad_name_fails_when_the_tool_is_made() -> None:
    with pytest.raises(ValueError, match="\"name\" argument: 'two words'"):
        Multiply(name="two words")
    with pytest.raises(TypeError, match='"args_schema" argument: 5'):
        Search(args_schema=5)


@pytest.mark.anyio
async def test_invoked_with_args_a_string_or_a_tool_call() -> None:
    tool = Multiply()
    assert await tool.ainvoke({"a": 6, "b": "7"}) == 42  # validated and coerced
    assert await Search().ainvoke("tides") == ["tides 0", "tides 1"]  # the first argument
    message = await tool.ainvoke(tool_call(name="multiply", args={"a": 2, "b": 5}, id="c1"))
    assert message == ToolMessage(content="10", tool_call_id="c1", name="multiply")
    with pytest.raises(ToolArgumentsError, match="'multiply': 'b': Field required"):
        await tool.ainvoke({"a": 1})


def test_sync_invoke_works_for_async_only_tools() -> None:
    assert Search().invoke({"query": "q", "limit": 1}) == ["q 0"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_goes_to_a_worker_thread_arun_stays_on_the_loop(backend: str) -> None:
    seen: dict[str, bool] = {}

    class Where(BaseTool):
        name: str = "where"
        description: str = "Say where it runs."

        def _run(self) -> str:
            seen["sync"] = threading.current_thread() is threading.main_thread()
            return "ok"

    class WhereAsync(BaseTool):
        name: str = "where_async"
        description: str = "Say where it runs."

        async def _arun(self) -> str:
            seen["async"] = threading.current_thread() is threading.main_thread()
            return "ok"

    async def both() -> None:
        await Where().ainvoke({})
        await WhereAsync().ainvoke({})

    anyio.run(both, backend=backend)
    assert seen == {"sync": False, "async": True}


@pytest.mark.anyio
async def test_a_config_parameter_receives_the_run_config() -> None:
    tool = Tagged()
    assert "config" not in tool.args
    assert await tool.ainvoke({"x": 1}, {"tags": ["t"]}) == ["t"]


def test_schemas_args_and_the_model_spec() -> None:
    tool = Multiply()
    assert tool.args == {
        "a": {"description": "The first factor", "title": "A", "type": "integer"},
        "b": {"description": "The second factor", "title": "B", "type": "integer"},
    }
    assert tool.get_input_schema() is MultiplyInput
    call_schema = tool.tool_call_schema
    assert isinstance(call_schema, type)
    schema = call_schema.model_json_schema()
    assert (schema["title"], schema["description"]) == ("multiply", "Multiply two integers.")
    assert Search().args == {
        "query": {"title": "Query", "type": "string"},
        "limit": {"default": 2, "title": "Limit", "type": "integer"},
    }
    assert convert_to_openai_tool(tool)["function"] == {
        "name": "multiply",
        "description": "Multiply two integers.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"description": "The first factor", "type": "integer"},
                "b": {"description": "The second factor", "type": "integer"},
            },
            "required": ["a", "b"],
        },
    }


@pytest.mark.anyio
async def test_run_and_arun_take_langchains_tool_input_forms() -> None:
    tool = Multiply()
    assert tool.run({"a": 2, "b": 2}) == 4
    assert await tool.arun({"a": 3, "b": 3}) == 9
    assert await Search().arun("x", tags=["t"]) == ["x 0", "x 1"]
    answered = tool.run({"a": 1, "b": 2}, tool_call_id="call_9")
    assert answered == ToolMessage(content="2", tool_call_id="call_9", name="multiply")
    assert Tagged().run({"x": 1}, tags=["a"], config={"tags": ["b"]}) == ["b", "a"]


@pytest.mark.anyio
async def test_run_adds_its_tags_and_metadata_to_the_configs() -> None:
    # As any two configs merge: the keywords add to the config's, they do not replace them.
    seen: list[RunnableConfig] = []

    class Seen(BaseTool):
        name: str = "seen"
        description: str = "Record the run's config."

        def _run(self, x: int, config: RunnableConfig) -> int:
            seen.append(config)
            return x

    config: RunnableConfig = {"tags": ["b", "c"], "metadata": {"k": 1, "j": 0}}
    assert await Seen().arun({"x": 1}, tags=["a", "b"], metadata={"k": 2}, config=config) == 1
    assert Seen().run({"x": 2}, tags=["a"], config=config) == 2
    assert seen[0]["tags"] == ["b", "c", "a"]
    assert seen[0]["metadata"] == {"k": 2, "j": 0}
    assert seen[1]["tags"] == ["b", "c", "a"]
    assert config == {"tags": ["b", "c"], "metadata": {"k": 1, "j": 0}}  # not changed


@pytest.mark.anyio
async def test_a_subclass_tool_composes_and_runs_in_the_executor() -> None:
    chain = RunnableLambda(lambda n: {"a": n, "b": n}) | Multiply()
    assert await chain.ainvoke(4) == 16
    reply = AIMessage(
        content="",
        tool_calls=[
            tool_call(name="multiply", args={"a": 2, "b": 3}, id="1"),
            tool_call(name="search", args={"query": "q", "limit": 1}, id="2"),
        ],
    )
    answers = await ToolExecutor([Multiply(), Search()]).ainvoke(reply)
    assert [(m.content, m.tool_call_id) for m in answers] == [("6", "1"), ('["q 0"]', "2")]


def test_a_tool_without_run_fails_when_it_is_made() -> None:
    class Empty(BaseTool):
        name: str = "empty"
        description: str = "Nothing."

    class Sync(Empty):
        def _run(self) -> str:
            return "sync"

    class Async(Empty):
        async def _arun(self) -> str:
            return "async"

    # As LangChain's abstract _run: the class cannot be made, rather than failing when called.
    with pytest.raises(TypeError, match="Empty implements neither _run nor _arun"):
        Empty()
    assert (Sync().invoke({}), Async().invoke({})) == ("sync", "async")


def test_subclass_tools_pickle() -> None:
    copy = pickle.loads(pickle.dumps(Multiply(factor=3)))
    assert (copy.factor, copy.invoke({"a": 1, "b": 1})) == (3, 3)


def test_a_tool_is_hashable_and_equal_only_to_itself() -> None:
    first, second = Multiply(), Multiply()
    assert first != second
    assert len({first, second, first}) == 2
