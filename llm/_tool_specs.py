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
import typing
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
        if tool._input_model() is None:  # a single-input Tool (or infer_schema=False)
            return _spec(tool.name, tool.description, _SINGLE_INPUT)
        schema = tool.tool_call_schema  # without injected arguments
        if isinstance(schema, dict):
            return _spec(tool.name, tool.description, schema)
        return _spec(tool.name, tool.description, schema.model_json_schema())
    if isinstance(tool, type) and issubclass(tool, BaseModel):
        return _spec(schema_name(tool), inspect.getdoc(tool), tool.model_json_schema())
    if isinstance(tool, type) and is_typeddict(tool):
        schema = TypeAdapter(tool).json_schema()
        _describe_typed_dict(tool, schema)
        return _spec(schema_name(tool), inspect.getdoc(tool), schema)
    if isinstance(tool, dict):
        return _from_dict(tool)
    if callable(tool) and inspect.isroutine(tool):
        return _function(StructuredTool(tool))
    raise TypeError(
        f"Invalid tool {tool!r}: expected a tool, a pydantic model or TypedDict class, a "
        "function, or an OpenAI tool dict"
    )


def _describe_typed_dict(cls: type, schema: dict[str, Any]) -> None:
    """Descriptions written as LangChain's TypedDict convention, `Annotated[T, default, "text"]`
    (or `Annotated[T, "text"]`), which pydantic does not read."""
    properties = schema.get("properties", {})
    for key, hint in typing.get_type_hints(cls, include_extras=True).items():
        if typing.get_origin(hint) is typing.Annotated and key in properties:
            extras = typing.get_args(hint)[1:]
            if extras and isinstance(extras[-1], str):
                properties[key].setdefault("description", extras[-1])


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


_SINGLE_INPUT = {
    "type": "object",
    "properties": {"__arg1": {"title": "__arg1", "type": "string"}},
    "required": ["__arg1"],
}
"""What a single-input `Tool` offers the model (LangChain's `__arg1`, kept for porting)."""


def _spec(name: str, description: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    parameters = _inline_refs(copy.deepcopy(schema))
    titled = "__arg1" in parameters.get("properties", {})  # LangChain keeps this one's title
    parameters.pop("title", None)
    schema_description = parameters.pop("description", None)
    description = description or schema_description
    if not titled:
        _strip_titles(parameters)
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    function: dict[str, Any] = {"name": check_tool_name(name)}
    if description:
        function["description"] = description
    function["parameters"] = parameters
    return function


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with each local `$ref` replaced by its definition and `$defs` dropped, as the
    model is best shown one self-contained schema (recursive models keep their refs)."""
    defs: dict[str, Any] = schema.get("$defs", {})
    if not defs:
        return schema

    def inline(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                key = ref.removeprefix("#/$defs/")
                if key in defs and key not in seen:
                    rest = {k: inline(v, seen) for k, v in node.items() if k != "$ref"}
                    return {**inline(copy.deepcopy(defs[key]), seen | {key}), **rest}
                return node
            return {k: inline(v, seen) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        return node

    recursive = any(_refers(d, k) for k, d in defs.items())
    inlined: dict[str, Any] = inline(schema, frozenset())
    if recursive:  # a model that contains itself cannot be written out: keep its definitions
        inlined["$defs"] = schema["$defs"]
    return inlined


def _refers(node: Any, key: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == f"#/$defs/{key}" or any(_refers(v, key) for v in node.values())
    if isinstance(node, list):
        return any(_refers(item, key) for item in node)
    return False


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
