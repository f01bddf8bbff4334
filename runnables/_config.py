"""Run configuration: the `RunnableConfig` mapping and the cheap helpers that pass it down a chain.

A config is a plain dict (a `TypedDict`), as in LCEL, so users may pass `{"tags": [...]}` directly.
Steps never mutate the config they receive; a new dict is made only where something changes
(`run_name` is dropped below the root, `with_config` merges), so passing it down is free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from runnables._budget import check_budget
from runnables._handlers import check_handlers

__all__ = ["DEFAULT_RECURSION_LIMIT", "RunnableConfig"]

DEFAULT_RECURSION_LIMIT = 25

_KNOWN_KEYS = frozenset(
    {
        "tags",
        "metadata",
        "run_name",
        "max_concurrency",
        "configurable",
        "recursion_limit",
        "run_id",
        "timeout",
        "callbacks",
        "budget",
    }
)


class RunnableConfig(TypedDict, total=False):
    """Options for one run, passed to every nested step.

    Attributes:
        tags: Labels for this run and every step below it (merged as a union).
        metadata: Key-value pairs for this run and every step below it (shallow-merged).
        run_name: Name of the root run; not inherited by nested steps.
        max_concurrency: Most leaf steps (lambdas, models) running at once in the whole run.
        configurable: Values for configurable steps, passed down unchanged.
        recursion_limit: How many times a lambda may return a runnable to be run in turn.
        run_id: Identifier of the root run, for tracing.
        timeout: Seconds the whole run may take; then it is cancelled with `TimeoutError`.
        callbacks: Handlers that receive the events of every step of the run (see
            `runnables.BaseCallbackHandler`).
        budget: A `runnables.Budget` every model call below spends from (checked before
            each call is sent).
    """

    tags: list[str]
    metadata: dict[str, Any]
    run_name: str
    max_concurrency: int | None
    configurable: dict[str, Any]
    recursion_limit: int
    run_id: Any
    timeout: float
    callbacks: list[Any]
    budget: Any


EMPTY_CONFIG: RunnableConfig = {}


def validate_config(config: Mapping[str, Any], *, param: str = "config") -> RunnableConfig:
    """Check a user-supplied config and return it typed; raise a clear error for bad values."""
    if not isinstance(config, Mapping):
        raise TypeError(f'Invalid "{param}" argument: expected a dict, got {config!r}')
    unknown = set(config) - _KNOWN_KEYS
    if unknown:
        raise ValueError(
            f'Invalid "{param}" argument: unknown keys {sorted(unknown)!r}; '
            f"known keys are {sorted(_KNOWN_KEYS)!r}"
        )
    mc = config.get("max_concurrency")
    if mc is not None:
        _check_number(mc, "max_concurrency", param, (int,), "a positive int or None")
        if mc < 1:
            raise ValueError(
                f'Invalid "max_concurrency" in {param}: {mc!r}; expected a positive int or None'
            )
    rl = config.get("recursion_limit")
    # 0 is valid: a lambda at the last allowed level passes it on to what it calls.
    if rl is not None:
        _check_number(rl, "recursion_limit", param, (int,), "an int >= 0")
        if rl < 0:
            raise ValueError(f'Invalid "recursion_limit" in {param}: {rl!r}; expected an int >= 0')
    timeout = config.get("timeout")
    if timeout is not None:
        _check_number(timeout, "timeout", param, (int, float), "seconds > 0")
        if not timeout > 0:  # (also NaN)
            raise ValueError(f'Invalid "timeout" in {param}: {timeout!r}; expected seconds > 0')
    tags = config.get("tags")
    if tags is not None and (
        not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags)
    ):
        raise TypeError(f'Invalid "tags" in {param}: {tags!r}; expected a list of str')
    callbacks = config.get("callbacks")
    if callbacks is not None:
        check_handlers(callbacks, param)
    for key in ("metadata", "configurable"):
        value = config.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f'Invalid "{key}" in {param}: {value!r}; expected a dict')
    if "budget" in config:
        check_budget(config["budget"], f"in {param}")
    return config  # type: ignore[return-value]


def _check_number(
    value: object, key: str, param: str, kinds: tuple[type, ...], expected: str
) -> None:
    """A number of the wrong kind (a str, a bool) is a TypeError; its range is checked after."""
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f'Invalid "{key}" in {param}: {value!r}; expected {expected}')


def ensure_config(config: RunnableConfig | None) -> RunnableConfig:
    """Return `config` validated, or the shared empty config (never mutated) for None."""
    if config is None:
        return EMPTY_CONFIG
    return validate_config(config)


def child_config(config: RunnableConfig) -> RunnableConfig:
    """Config for the steps below one: the same dict, minus `run_name` (it names the root only)."""
    if "run_name" not in config:
        return config
    return {k: v for k, v in config.items() if k != "run_name"}  # type: ignore[return-value]


def merge_configs(base: RunnableConfig, override: RunnableConfig) -> RunnableConfig:
    """Merge two configs: tags union (order kept), callbacks joined, metadata and configurable
    shallow-merged."""
    if not base:
        return override
    if not override:
        return base
    merged: dict[str, Any] = {**base, **override}
    if "tags" in base and "tags" in override:
        merged["tags"] = list(dict.fromkeys([*base["tags"], *override["tags"]]))
    if "callbacks" in base and "callbacks" in override:
        merged["callbacks"] = [*base["callbacks"], *override["callbacks"]]
    for key in ("metadata", "configurable"):
        if key in base and key in override:
            merged[key] = {**base[key], **override[key]}
    return merged  # type: ignore[return-value]


def config_list(
    config: RunnableConfig | Sequence[RunnableConfig] | None, n: int
) -> list[RunnableConfig]:
    """Expand a batch's config argument (one config, or one per input) to `n` configs."""
    if config is None or isinstance(config, Mapping):
        one = ensure_config(config)
        return [one] * n
    if not isinstance(config, Sequence) or isinstance(config, str):
        raise TypeError(f'Invalid "config" argument: {config!r}; expected a dict or a list')
    if len(config) != n:
        raise ValueError(
            f'Invalid "config" argument: got {len(config)} configs for {n} inputs; '
            "pass one config, or exactly one per input"
        )
    return [ensure_config(c) for c in config]


def without_timeout(config: RunnableConfig) -> RunnableConfig:
    """The config minus `timeout`, once a step has applied it (so nested calls do not again)."""
    return {k: v for k, v in config.items() if k != "timeout"}  # type: ignore[return-value]
