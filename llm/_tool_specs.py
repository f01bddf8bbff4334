"""Tools in OpenAI's format: what `bind_tools` sends, whatever form the tools were given in.

`convert_to_openai_tool` accepts a `BaseTool`, a pydantic model class, a TypedDict class, a
function (made into a tool as `@tool` would), an OpenAI tool dict (`{"type": "function",
"function": {...}}`), a function dict (`{"name", "description", "parameters"}`) or a JSON schema
with a `title`, and returns

    {"type": "function", "function": {"name", "description", "parameters": {...}}}

`tool_choice_spec` turns `tool_choice=` into the request's value: a tool's name becomes
`{"type": "function", "function": {"name": ...}}`; "auto", "none" and "required" pass as they
are ("any" is LangChain's word for "required").
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter
from typing_extensions import is_typeddict

from llm._structured_tool import StructuredTool
from runnables._tool import BaseTool
from runnables._tool_schema import check_tool_name

__all__ = ["convert_to_openai_tool", "forbid_extra_properties", "schema_name", "tool_choice_spec"]


def convert_to_openai_tool(tool: object, *, strict: bool | None = None) -> dict[str, Any]:
    """`tool` as an OpenAI tool spec (see the module docstring for the accepted forms).

    Args:
        tool: The tool, in any accepted form.
        strict: If set, sent as the function's `strict`; with True, every object schema gets
            `additionalProperties: false`, as OpenAI's strict mode requires.

    Raises:
        TypeError: `tool` is none of the accepted forms.
        ValueError: A dict has no name, or the name is not a valid tool name.
    """
    function = _function(tool)
    if strict is not None:
        function["strict"] = strict
        if strict:
            forbid_extra_properties(function["parameters"])
    return {"type": "function", "function": function}


def _function(tool: object) -> dict[str, Any]:
    if isinstance(tool, BaseTool):
        return _spec(tool.name, tool.description, tool.args_schema.model_json_schema())
    if isinstance(tool, type) and issubclass(tool, BaseModel):
        return _spec(schema_name(tool), inspect.getdoc(tool), tool.model_json_schema())
    if isinstance(tool, type) and is_typeddict(tool):
        schema = TypeAdapter(tool).json_schema()
        return _spec(schema_name(tool), inspect.getdoc(tool), schema)
    if isinstance(tool, dict):
        return _from_dict(tool)
    if callable(tool) and inspect.isroutine(tool):
        made = StructuredTool(tool)
        return _spec(made.name, made.description, made.args_schema.model_json_schema())
    raise TypeError(
        f"Invalid tool {tool!r}: expected a tool, a pydantic model or TypedDict class, a "
        "function, or an OpenAI tool dict"
    )


def _from_dict(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
        function: dict[str, Any] = copy.deepcopy(tool["function"])
        check_tool_name(function.get("name"))
        return function
    if "name" in tool and ("parameters" in tool or "description" in tool):
        check_tool_name(tool["name"])
        if not isinstance(tool.get("parameters", {}), dict):
            raise TypeError(
                f"Invalid tool {tool!r}: its 'parameters' must be a JSON-schema dict, got "
                f"{tool['parameters']!r}"
            )
        return copy.deepcopy(tool)
    if "title" in tool:
        schema = copy.deepcopy(tool)
        return _spec(str(schema.pop("title")), schema.pop("description", None), schema)
    raise ValueError(
        f"Invalid tool {tool!r}: a dict must be an OpenAI tool ({{'type': 'function', "
        "'function': {...}}), a function ({'name', 'parameters'}) or a JSON schema with a "
        "'title'"
    )


def _spec(name: str, description: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    parameters = copy.deepcopy(schema)
    parameters.pop("title", None)
    schema_description = parameters.pop("description", None)
    description = description or schema_description
    _strip_titles(parameters)
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    function: dict[str, Any] = {"name": check_tool_name(name)}
    if description:
        function["description"] = description
    function["parameters"] = parameters
    return function


def _strip_titles(schema: Any) -> None:
    """Drop pydantic's generated `title`s from nested schemas (not properties named title)."""
    if isinstance(schema, dict):
        if isinstance(schema.get("title"), str):
            del schema["title"]
        for key, value in schema.items():
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                for sub in value.values():
                    _strip_titles(sub)
            else:
                _strip_titles(value)
    elif isinstance(schema, list):
        for item in schema:
            _strip_titles(item)


def schema_name(schema: type) -> str:
    """A class's name as a valid function name."""
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in schema.__name__)[:64]
    return name or "output"


def tool_choice_spec(choice: object, names: Sequence[str]) -> str | dict[str, Any]:
    """The request's `tool_choice` for `bind_tools(tool_choice=choice)`.

    Args:
        choice: "auto", "none", "required" (or "any"), a tool's name, True (the only tool), or
            an OpenAI tool-choice dict.
        names: The names of the bound tools.

    Raises:
        TypeError: `choice` is of the wrong type.
        ValueError: It names no bound tool, or is True with several tools.
    """
    if choice in ("auto", "none", "required"):
        return str(choice)
    if choice == "any":
        return "required"
    if choice is True:
        if len(names) != 1:
            raise ValueError(
                f'Invalid "tool_choice" argument: True needs exactly one tool, got {list(names)!r}'
            )
        choice = names[0]
    if isinstance(choice, str):
        if choice not in names:
            raise ValueError(
                f'Invalid "tool_choice" argument: {choice!r}; expected "auto", "none", '
                f'"required" or one of the tools {list(names)!r}'
            )
        return {"type": "function", "function": {"name": choice}}
    if isinstance(choice, dict):
        return choice
    raise TypeError(
        f'Invalid "tool_choice" argument: {choice!r}; expected a string, True or a dict'
    )


def forbid_extra_properties(schema: Any) -> None:
    """Set `additionalProperties: false` on every object schema (OpenAI's strict mode needs it)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            schema.setdefault("additionalProperties", False)
        for value in schema.values():
            forbid_extra_properties(value)
    elif isinstance(schema, list):
        for item in schema:
            forbid_extra_properties(item)
