"""What the model is shown of a tool: argument descriptions from every place a user writes them,
and `convert_to_openai_tool`'s output, checked against what langchain-core 1.8.3 produces."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from llm import InjectedToolArg, Tool, convert_to_openai_tool, tool


class Inner(BaseModel):
    """Inner doc."""

    q: str = Field(description="query")
    n: int = 3


class Outer(BaseModel):
    """Outer doc."""

    inner: Inner
    items: list[Inner] = []
    mode: Literal["a", "b"] = "a"
    opt: int | None = None


class Pair(TypedDict):
    """A TD."""

    a: int
    b: Annotated[str, ..., "the b"]


def fn(
    a: Annotated[int, "the a"],
    inner: Inner,
    u: Annotated[str, InjectedToolArg] = "x",
    b: int = Field(default=2, description="the b"),
) -> int:
    """Do fn."""
    return a


INNER_SPEC = {
    "description": "Inner doc.",
    "properties": {
        "n": {"default": 3, "type": "integer"},
        "q": {"description": "query", "type": "string"},
    },
    "required": ["q"],
    "type": "object",
}
FN_SPEC = {
    "type": "function",
    "function": {
        "name": "fn",
        "description": "Do fn.",
        "parameters": {
            "properties": {
                "a": {"description": "the a", "type": "integer"},
                "b": {"default": 2, "description": "the b", "type": "integer"},
                "inner": INNER_SPEC,
            },
            "required": ["a", "inner"],
            "type": "object",
        },
    },
}


@tool
def described(
    by_text: Annotated[int, "Described by Annotated text"],
    by_field: Annotated[int, Field(description="Described by Annotated Field")],
    by_default: int = Field(default=1, description="Described by a Field default"),
    by_docstring: int = 0,
) -> int:
    """Add numbers.

    Args:
        by_docstring: Described by the docstring.
    """
    return by_text + by_field + by_default + by_docstring


DESCRIPTIONS = {
    "by_text": "Described by Annotated text",
    "by_field": "Described by Annotated Field",
    "by_default": "Described by a Field default",
    "by_docstring": "Described by the docstring.",
}


def test_every_way_of_describing_an_argument_reaches_args() -> None:
    assert {k: v.get("description") for k, v in described.args.items()} == DESCRIPTIONS
    assert described.args["by_default"]["default"] == 1
    assert described.invoke({"by_text": 1, "by_field": 2}) == 4  # the Field default applies


def test_descriptions_reach_the_tool_call_schema_and_the_openai_spec() -> None:
    call_schema = described.tool_call_schema
    assert isinstance(call_schema, type)
    properties = call_schema.model_json_schema()["properties"]
    assert {k: v.get("description") for k, v in properties.items()} == DESCRIPTIONS
    parameters = convert_to_openai_tool(described)["function"]["parameters"]
    assert {k: v.get("description") for k, v in parameters["properties"].items()} == DESCRIPTIONS
    assert parameters["required"] == ["by_text", "by_field"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(fn, FN_SPEC, id="function"),
        pytest.param(tool(fn), FN_SPEC, id="tool"),
        pytest.param(
            Outer,
            {
                "type": "function",
                "function": {
                    "name": "Outer",
                    "description": "Outer doc.",
                    "parameters": {
                        "properties": {
                            "inner": INNER_SPEC,
                            "items": {"default": [], "items": INNER_SPEC, "type": "array"},
                            "mode": {"default": "a", "enum": ["a", "b"], "type": "string"},
                            "opt": {
                                "anyOf": [{"type": "integer"}, {"type": "null"}],
                                "default": None,
                            },
                        },
                        "required": ["inner"],
                        "type": "object",
                    },
                },
            },
            id="pydantic model",
        ),
        pytest.param(
            Pair,
            {
                "type": "function",
                "function": {
                    "name": "Pair",
                    "description": "A TD.",
                    "parameters": {
                        "properties": {
                            "a": {"type": "integer"},
                            "b": {"description": "the b", "type": "string"},
                        },
                        "required": ["a", "b"],
                        "type": "object",
                    },
                },
            },
            id="typed dict",
        ),
        pytest.param(
            {"name": "x", "description": "y", "parameters": {"type": "object", "properties": {}}},
            {
                "type": "function",
                "function": {
                    "name": "x",
                    "description": "y",
                    "parameters": {"type": "object", "properties": {}},
                },
            },
            id="function dict",
        ),
        pytest.param(
            Tool(name="t", func=str.upper, description="d"),
            {
                "type": "function",
                "function": {
                    "name": "t",
                    "description": "d",
                    "parameters": {
                        "properties": {"__arg1": {"title": "__arg1", "type": "string"}},
                        "required": ["__arg1"],
                        "type": "object",
                    },
                },
            },
            id="single-input Tool",
        ),
    ],
)
def test_openai_spec_matches_langchain(given: Any, expected: dict[str, Any]) -> None:
    assert convert_to_openai_tool(given) == expected


def test_a_recursive_model_keeps_its_definitions() -> None:
    class Node(BaseModel):
        """A tree node."""

        value: int
        children: list[Node] = []

    parameters = convert_to_openai_tool(Node)["function"]["parameters"]
    assert parameters["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert "Node" in parameters["$defs"]
