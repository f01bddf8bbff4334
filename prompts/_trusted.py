"""Building pydantic models from values known to be valid, without validating them again.

`trusted(cls, **values)` is for internal hot paths (a prompt's rendered text, a model's reply),
where our own code built the values with the right types. How each class is filled is worked
out once (`_plan`) and kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

__all__ = ["SKIPPABLE_VALIDATORS", "trusted"]

M = TypeVar("M", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__
_IMMUTABLE = (type(None), str, int, float, bool, tuple, frozenset)
_Plan: TypeAlias = tuple[
    frozenset[str],
    dict[str, Any],
    tuple[tuple[str, Callable[[], Any]], ...],
    frozenset[str],
]
_plans: dict[type[BaseModel], _Plan | None] = {}
# Classes whose validators `trusted` may skip, unless one of the given fields is among the
# values: their validators only complete what a caller may leave out (a tool call's `type`),
# which values built by our own code already have, or act on those fields alone.
SKIPPABLE_VALIDATORS: dict[type[BaseModel], frozenset[str]] = {}


def _plan(cls: type[BaseModel]) -> _Plan | None:
    """How `trusted` fills the fields of `cls`: the required ones, every field's default in
    field order, the default factories (None: it cannot, use the constructor)."""
    decorators = cls.__pydantic_decorators__
    guard = SKIPPABLE_VALIDATORS.get(cls)
    if guard is None and (
        decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
        or cls.__pydantic_post_init__ is not None
    ):
        return None
    required: set[str] = set()
    template: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, field in cls.model_fields.items():
        template[name] = None if field.default is PydanticUndefined else field.default
        if field.default_factory is not None:
            factories.append((name, field.default_factory))  # type: ignore[arg-type]
        elif field.default is PydanticUndefined:
            required.add(name)
        elif not isinstance(field.default, _IMMUTABLE):
            return None  # a mutable default pydantic would copy
    return frozenset(required), template, tuple(factories), guard or frozenset()


def trusted(cls: type[M], /, **values: Any) -> M:
    """An instance of a model from values known to be valid, without validating them again.

    For internal hot paths (a prompt's rendered text, an offline model's reply), where the
    values are built by our own code with the right types (tool calls complete with their
    `type`). A model with validators (other than the messages' that only complete what a
    caller may leave out), a `model_post_init` or a mutable default goes through its
    constructor instead, as do values a model's validators must see (an AI chunk's tool calls).
    """
    plan = _plans[cls] if cls in _plans else _plans.setdefault(cls, _plan(cls))
    if plan is None or not plan[0] <= values.keys() or (plan[3] and not plan[3].isdisjoint(values)):
        return cls(**values)  # (a required field missing: the constructor says so)
    data = plan[1].copy()  # field order, as pydantic keeps it; `update` keeps the order
    data.update(values)
    for name, factory in plan[2]:
        if name not in values:
            data[name] = factory()
    model = _new(cls)
    _set(model, "__dict__", data)
    _set(model, "__pydantic_fields_set__", set(values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model
