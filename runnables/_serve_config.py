"""Which parts of a run's config a client may set, checked per request.

A served chain accepts from its clients only the config keys it was told to (`config_keys`,
LangServe's default: `configurable`, `tags`, `metadata`, `run_name`), plus `max_concurrency`
when the server sets a cap. Everything else is refused with 422 naming the key:
`callbacks` (code, never data), keys not allowed, unknown keys, a `max_concurrency` over the
cap. Two keys LangServe's client sends on every call are dropped instead: `recursion_limit`
and `run_id` (the server chooses the run id); so is a key not allowed whose value is empty
(`"configurable": {}`, `"tags": []`, which LangChain's config always carries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError, create_model

from runnables._config import _KNOWN_KEYS, RunnableConfig
from runnables._serve_http import HTTPError

__all__ = ["DEFAULT_CONFIG_KEYS", "ConfigPolicy"]

DEFAULT_CONFIG_KEYS = ("configurable", "tags", "metadata", "run_name")

_ALLOWABLE = frozenset({"configurable", "tags", "metadata", "run_name", "recursion_limit"})
"""The keys a server may let clients set (data, not objects: never callbacks or a budget)."""
_DROPPED = frozenset({"recursion_limit", "run_id"})

_KEY_TYPES: dict[str, Any] = {
    "configurable": (dict[str, Any], Field(default=None)),
    "tags": (list[str], Field(default=None)),
    "metadata": (dict[str, Any], Field(default=None)),
    "run_name": (str, Field(default=None)),
    "recursion_limit": (int, Field(default=None, ge=1)),
    "max_concurrency": (int, Field(default=None, ge=1)),
}


class ConfigPolicy:
    """The config keys clients may set on one served chain.

    Args:
        config_keys: The keys accepted from clients.
        max_concurrency: The most a client may ask for; None: clients may not set it.

    Raises:
        TypeError: `config_keys` is not a sequence of str, or `max_concurrency` not an int.
        ValueError: A key that cannot come from a client, or `max_concurrency` below 1.
    """

    def __init__(self, config_keys: Sequence[str], max_concurrency: int | None) -> None:
        if isinstance(config_keys, str) or not isinstance(config_keys, Sequence):
            raise TypeError(
                f'Invalid "config_keys" argument: {config_keys!r}; expected a tuple of str'
            )
        for key in config_keys:
            if not isinstance(key, str) or key not in _ALLOWABLE:
                raise ValueError(
                    f'Invalid "config_keys" argument: {config_keys!r}; {key!r} cannot be set by '
                    f"clients (allowed: {sorted(_ALLOWABLE)!r})"
                )
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int)
        ):
            raise TypeError(
                f'Invalid "max_concurrency" argument: {max_concurrency!r}; expected an int'
            )
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(
                f'Invalid "max_concurrency" argument: {max_concurrency!r}; expected at least 1'
            )
        self.config_keys = tuple(config_keys)
        self.max_concurrency = max_concurrency
        keys = [*self.config_keys, *(["max_concurrency"] if max_concurrency else [])]
        self.schema: type[BaseModel] = create_model(
            "Config", **{key: _KEY_TYPES[key] for key in keys}
        )

    def check(self, raw: Any, *, loc: list[str | int]) -> RunnableConfig:
        """The config a client sent (`raw`, parsed JSON), checked and typed.

        Raises:
            HTTPError: 422 naming the key that is refused or badly typed.
        """
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            raise HTTPError(422, f"config must be an object, got {raw!r}", loc=loc)
        kept: dict[str, Any] = {}
        for key, value in raw.items():
            if key in self.config_keys:
                kept[key] = value
            elif key == "max_concurrency" and (self.max_concurrency or value is None):
                if value is not None:
                    kept[key] = value
            elif key != "callbacks" and (
                key in _DROPPED or (key in _KNOWN_KEYS and value in (None, [], {}))
            ):
                continue
            else:
                raise HTTPError(422, _refusal(key, self.max_concurrency), loc=[*loc, key])
        try:
            checked = self.schema.model_validate(kept)
        except ValidationError as exc:
            first = exc.errors()[0]
            where, message = list(first["loc"]), first["msg"]
            raise HTTPError(
                422, f"config.{'.'.join(map(str, where))}: {message}", loc=[*loc, *where]
            ) from None
        config: dict[str, Any] = checked.model_dump(exclude_none=True)
        cap = self.max_concurrency
        wanted = config.get("max_concurrency")
        if cap is not None and wanted is not None and wanted > cap:
            raise HTTPError(
                422,
                f"config.max_concurrency {wanted} is over this server's cap of {cap}",
                loc=[*loc, "max_concurrency"],
            )
        return config  # type: ignore[return-value]


def _refusal(key: str, cap: int | None) -> str:
    if key == "callbacks":
        return "config.callbacks cannot be sent to a server (handlers are code, not data)"
    if key == "max_concurrency":
        return "config.max_concurrency is not accepted by this server (it sets no cap)"
    if key in _KNOWN_KEYS:
        return f"config.{key} is not accepted by this server (config_keys does not list it)"
    return f"config.{key} is not a config key"
