"""OpenAPI documentation of a served chain, built from its input, output and config schemas.

On a FastAPI app the chain's paths are merged into the app's own document (so `/docs` shows
them); on a plain Starlette app the document is served at `{path}/openapi.json`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

__all__ = ["chain_openapi", "merge_into_fastapi"]

_REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], name: str, components: dict[str, Any]) -> dict[str, Any]:
    """A reference to `model`'s JSON schema, stored (with its definitions) in `components`."""
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    schema["title"] = name
    components[name] = schema
    return {"$ref": _REF.format(model=name)}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _answer(description: str, schema: dict[str, Any], media: str = "application/json") -> Any:
    return {"description": description, "content": {media: {"schema": schema}}}


def chain_openapi(
    path: str,
    input_schema: type[BaseModel],
    output_schema: type[BaseModel],
    config_schema: type[BaseModel],
    *,
    title: str,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the chain served at `path`."""
    prefix = re.sub(r"\W+", "_", path.strip("/")) or "chain"
    components: dict[str, Any] = {}
    input_ref = _schema(input_schema, f"{prefix}_Input", components)
    output_ref = _schema(output_schema, f"{prefix}_Output", components)
    config_ref = _schema(config_schema, f"{prefix}_Config", components)
    kwargs = {"type": "object"}
    error = _answer(
        "Bad input (422), a body over the limit (413), or a server error (500)",
        {"type": "object", "properties": {"detail": {"type": "string"}}},
    )
    metadata = {"type": "object", "properties": {"run_id": {"type": "string"}}}
    events = _answer(
        "Server-sent events: metadata, data (one per chunk), end; error on failure",
        {"type": "string"},
        "text/event-stream",
    )
    stream_body = _body({"input": input_ref, "config": config_ref, "kwargs": kwargs}, ["input"])
    filters = {
        name: {"type": "array", "items": {"type": "string"}}
        for name in (
            "include_names",
            "include_types",
            "include_tags",
            "exclude_names",
            "exclude_types",
            "exclude_tags",
        )
    }
    events_body = _body(
        {"input": input_ref, "config": config_ref, "kwargs": kwargs, **filters}, ["input"]
    )
    tag = [path or "/"]
    paths: dict[str, Any] = {
        f"{path}/invoke": {
            "post": {
                "summary": "Run the chain on one input",
                "tags": tag,
                "requestBody": stream_body,
                "responses": {
                    "200": _answer(
                        "The output",
                        {
                            "type": "object",
                            "properties": {"output": output_ref, "metadata": metadata},
                        },
                    ),
                    "default": error,
                },
            }
        },
        f"{path}/batch": {
            "post": {
                "summary": "Run the chain on a list of inputs",
                "tags": tag,
                "requestBody": _body(
                    {
                        "inputs": {"type": "array", "items": input_ref},
                        "config": {"anyOf": [config_ref, {"type": "array", "items": config_ref}]},
                        "kwargs": kwargs,
                    },
                    ["inputs"],
                ),
                "responses": {
                    "200": _answer(
                        "The outputs, in input order",
                        {
                            "type": "object",
                            "properties": {"output": {"type": "array", "items": output_ref}},
                        },
                    ),
                    "default": error,
                },
            }
        },
        f"{path}/stream": {
            "post": {
                "summary": "Stream the output chunks",
                "tags": tag,
                "requestBody": stream_body,
                "responses": {"200": events, "default": error},
            }
        },
        f"{path}/stream_events": {
            "post": {
                "summary": "Stream every step's events (LangChain's v2 schema)",
                "tags": tag,
                "requestBody": events_body,
                "responses": {"200": events, "default": error},
            }
        },
    }
    for name in ("input", "output", "config"):
        paths[f"{path}/{name}_schema"] = {
            "get": {
                "summary": f"The chain's {name} JSON schema",
                "tags": tag,
                "responses": {"200": _answer(f"The {name} schema", {"type": "object"})},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "0.1.0"},
        "paths": paths,
        "components": {"schemas": components},
    }


def merge_into_fastapi(app: Any, make_doc: Callable[[], dict[str, Any]], marker: str) -> None:
    """Make a FastAPI `app`'s `openapi()` include the document `make_doc()` builds (built on
    first need; FastAPI rebuilds its own when routes change, and the chain's is merged again).

    `marker` is a path of the chain's document: present means merged already.
    """
    previous = app.openapi
    built: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema: dict[str, Any] = previous()
        if marker not in schema.setdefault("paths", {}):
            if not built:
                built.append(make_doc())
            doc = built[0]
            schema["paths"].update(doc["paths"])
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(doc["components"]["schemas"])
        return schema

    app.openapi = openapi
