"""LangServe's wire format: values as JSON, and the bodies and SSE events of each endpoint.

**Values.** `dump(value)` makes any output JSON-able: a pydantic model dumps in JSON mode (a
message's dump carries its `type`, as LangChain's do), dicts, lists and tuples are walked, and a
type with a registered encoder (`register_wire_encoder`) dumps through it. `load(value)` reverses
what it can: a dict whose `"type"` names a registered decoder (`register_wire_decoder`) becomes
that object again, so a message sent as `{"type": "ai", ...}` comes back an `AIMessage`.
`runnables` knows no message classes; `prompts` registers its own (`prompts._serve_codec`).

**Bodies.** `/invoke` takes `{"input", "config", "kwargs"}` and answers
`{"output", "metadata": {"run_id", "feedback_tokens": []}}`; `/batch` takes `{"inputs",
"config" (one or one per input), "kwargs"}` and answers `{"output": [...], "metadata":
{"run_ids", "responses": [...]}}`.

**SSE events** (`/stream`, `/stream_events`): `metadata` (`{"run_id"}`) first, then one `data`
per chunk or event, then `end`; a failure mid-stream is an `error` event
`{"status_code", "message"}` (and a `"type"`, which LangServe's client ignores).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from pydantic import BaseModel

__all__ = [
    "END_EVENT",
    "data_event",
    "dump",
    "dumps",
    "error_event",
    "load",
    "metadata_event",
    "register_wire_decoder",
    "register_wire_encoder",
]

_decoders: dict[str, Callable[[dict[str, Any]], Any]] = {}
_encoders: dict[type, Callable[[Any], Any]] = {}
_encoder_cache: dict[type, Callable[[Any], Any] | None] = {}


def register_wire_decoder(tag: str, decode: Callable[[dict[str, Any]], Any]) -> None:
    """Make `load` turn a dict with `"type": tag` into `decode(the dict)`.

    Raises:
        TypeError: `tag` is not a str or `decode` is not callable.
    """
    if not isinstance(tag, str):
        raise TypeError(f'Invalid "tag" argument: {tag!r}; expected a str')
    if not callable(decode):
        raise TypeError(f'Invalid "decode" argument: {decode!r}; expected a callable')
    _decoders[tag] = decode


def register_wire_encoder(cls: type, encode: Callable[[Any], Any]) -> None:
    """Make `dump` write instances of `cls` (and its subclasses) as `encode(value)`, a JSON-able
    value (a dict with a `"type"` tag, for `load` to read back).

    Raises:
        TypeError: `cls` is not a class or `encode` is not callable.
    """
    if not isinstance(cls, type):
        raise TypeError(f'Invalid "cls" argument: {cls!r}; expected a class')
    if not callable(encode):
        raise TypeError(f'Invalid "encode" argument: {encode!r}; expected a callable')
    _encoders[cls] = encode
    _encoder_cache.clear()


def _encoder(cls: type) -> Callable[[Any], Any] | None:
    try:
        return _encoder_cache[cls]
    except KeyError:
        pass
    found = next((_encoders[base] for base in cls.__mro__ if base in _encoders), None)
    _encoder_cache[cls] = found
    return found


def dump(value: Any) -> Any:
    """`value` as plain JSON-able data (see the module docstring)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(key): dump(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [dump(item) for item in value]
    encode = _encoder(type(value))
    if encode is not None:
        return dump(encode(value))
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: dump(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return [dump(item) for item in value]
    if isinstance(value, BaseException):
        return {"type": type(value).__qualname__, "message": str(value)}
    return repr(value)  # the last resort: readable, never a crash of the whole response


def dumps(value: Any) -> str:
    """`dump(value)` as a JSON string."""
    return json.dumps(dump(value), ensure_ascii=False)


def load(value: Any) -> Any:
    """`value` (parsed JSON) with every dict whose `"type"` has a registered decoder decoded,
    innermost first; a dict its decoder refuses stays a dict."""
    if isinstance(value, list):
        return [load(item) for item in value]
    if not isinstance(value, dict):
        return value
    loaded = {key: load(item) for key, item in value.items()}
    tag = loaded.get("type")
    decode = _decoders.get(tag) if isinstance(tag, str) else None
    if decode is None:
        return loaded
    try:
        return decode(loaded)
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        return loaded


# -- SSE events ------------------------------------------------------------------------------

END_EVENT: dict[str, str] = {"event": "end"}


def metadata_event(run_id: str) -> dict[str, str]:
    """The `metadata` event opening a stream."""
    return {"event": "metadata", "data": json.dumps({"run_id": run_id})}


def data_event(value: Any) -> dict[str, str]:
    """A `data` event carrying one chunk (or one v2 event)."""
    return {"event": "data", "data": dumps(value)}


def error_event(status_code: int, message: str, type_name: str | None = None) -> dict[str, str]:
    """The `error` event ending a failed stream."""
    body: dict[str, Any] = {"status_code": status_code, "message": message}
    if type_name is not None:
        body["type"] = type_name
    return {"event": "error", "data": json.dumps(body)}
