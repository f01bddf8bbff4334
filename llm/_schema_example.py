"""A minimal, deterministic value of a JSON schema: what the offline model answers when asked
for structured output (`with_structured_output`), so such chains also run offline.

Strings are `"[offline model] <field>"`, numbers 0, booleans false, arrays empty, enums their
first value, fields with a default that default; every property of an object is filled, so the
required ones always are.
"""

from __future__ import annotations

from typing import Any

__all__ = ["example_for_schema"]

_MAX_DEPTH = 8


def example_for_schema(schema: dict[str, Any]) -> Any:
    """A value that validates against `schema` in the usual cases (objects, arrays, scalars,
    enums, `$ref`s into `$defs`, `anyOf`/`oneOf`/`allOf`)."""
    return _example(schema, schema.get("$defs", schema.get("definitions", {})), "value", 0)


def _example(schema: Any, defs: dict[str, Any], key: str, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        target = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        return _example(target, defs, key, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combined in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(combined, ()) if o.get("type") != "null"]
        if options:
            return _example(options[0], defs, key, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: _example(sub, defs, name, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        return []
    if kind == "string":
        return f"[offline model] {key}"
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return None
