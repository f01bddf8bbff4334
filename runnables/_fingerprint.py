"""Step fingerprints: a hex digest of what a step is, for the default namespace of `with_cache`.

A fingerprint changes when what the step computes may change, and is the same in every process
that builds the same step:

- a step's class (qualified name) and its public attributes, recursively: a prompt's template
  text, a model's name and parameters, a sequence's steps, a parallel's branches, a binding's
  options;
- pydantic models by their fields;
- a function by its code: bytecode, constants (nested functions' code too), the names it uses,
  its defaults, the values it closes over, and the module globals it names (a helper function,
  a prompt defined at module level), recursively;
- anything else by its class and public attributes.

Attributes that do not shape a result are left out (`IGNORED`: an API key, timeouts, retries,
rate limiters, handlers, caches). A step may state its own fingerprint material with a
`_fingerprint_()` method returning data that `cache_key` accepts (or steps, functions).

Bytecode differs between Python versions, so a fingerprint is stable across processes of one
interpreter version, not across upgrades (a new version reruns, which is safe).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import types
from typing import Any

from runnables._cache import canonical

__all__ = ["IGNORED", "fingerprint"]

IGNORED = frozenset(
    {
        "api_key",
        "openai_api_key",
        "max_retries",
        "timeout",
        "request_timeout",
        "rate_limiter",
        "callbacks",
        "cache",
        "budget",
        "verbose",
    }
)
"""Attribute (and config key) names a fingerprint leaves out: they never change a result."""


def fingerprint(step: Any) -> str:
    """The fingerprint of a step (or any function or object): a SHA-256 hex digest."""
    text = json.dumps(_Walker().material(step), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_SCALARS = frozenset({str, int, float, bool, bytes})


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class _Walker:
    """One fingerprint's walk: remembers what it is inside of, so cycles end."""

    def __init__(self) -> None:
        self.path: set[int] = set()
        # Material of objects already walked: a step shared by many branches (or a model
        # every prompt feeds) is walked once, so the walk is linear in the object graph.
        self.done: dict[int, Any] = {}
        self.keep: list[Any] = []  # what `done` refers to by id stays alive until the end

    def material(self, obj: Any) -> Any:
        if obj is None or type(obj) in _SCALARS:
            return canonical(obj)  # plain data: exactly as a cache key sees it
        known = self.done.get(id(obj))
        if known is not None:
            return known
        if id(obj) in self.path:
            return ["cycle", _qualname(type(obj))]
        self.path.add(id(obj))
        try:
            made = self._structure(obj)
        finally:
            self.path.discard(id(obj))
        self.done[id(obj)] = made
        self.keep.append(obj)
        return made

    def _structure(self, obj: Any) -> Any:
        hook = getattr(type(obj), "_fingerprint_", None)
        if hook is not None and not isinstance(obj, type):
            return ["hook", _qualname(type(obj)), self.material(hook(obj))]
        if isinstance(obj, list | tuple | set | frozenset):
            items = [self.material(v) for v in obj]
            if isinstance(obj, set | frozenset):
                items.sort(key=_dump)
            return [type(obj).__name__, items]
        if isinstance(obj, dict):
            pairs = [
                [self.material(k), self.material(v)] for k, v in obj.items() if k not in IGNORED
            ]
            return ["dict", sorted(pairs, key=_dump)]
        if isinstance(obj, types.FunctionType):
            return self._function(obj)
        if isinstance(obj, types.MethodType):
            return ["method", self.material(obj.__func__), self.material(obj.__self__)]
        if isinstance(obj, functools.partial):
            return ["partial", self.material(obj.func), self.material(obj.args),
                    self.material(obj.keywords)]  # fmt: skip
        if isinstance(obj, types.CodeType):
            return self._code(obj)
        if isinstance(obj, type | types.ModuleType | types.BuiltinFunctionType):
            return [
                "name",
                _qualname(obj) if not isinstance(obj, types.ModuleType) else obj.__name__,
            ]
        if isinstance(obj, enum.Enum):
            return ["enum", _qualname(type(obj)), obj.name]
        if not isinstance(getattr(type(obj), "model_fields", None), dict):
            # Other data (dates, dataclasses of plain data, ...) as a cache key sees it; pydantic
            # models go by their fields below, where IGNORED names are left out.
            try:
                return canonical(obj)
            except TypeError:
                pass
        return ["object", _qualname(type(obj)), self._attributes(obj)]

    def _attributes(self, obj: Any) -> list[Any]:
        fields = getattr(type(obj), "model_fields", None)
        if isinstance(fields, dict):  # pydantic: the fields are what the object is
            names = list(fields)
            names += sorted(getattr(obj, "__pydantic_extra__", None) or {})
        else:
            names = sorted(set(getattr(obj, "__dict__", ())) | _slot_names(type(obj)))
        out = []
        for name in names:
            if name.startswith("_") or name in IGNORED:
                continue
            value = getattr(obj, name, _UNSET)
            if value is _UNSET:  # a slot never set
                continue
            if type(value).__name__ in ("SecretStr", "SecretBytes"):
                continue  # pydantic's secrets never shape a result
            out.append([name, self.material(value)])
        call = type(obj).__dict__.get("__call__")
        if call is not None:  # a callable object: its code matters too
            out.append(["__call__", self.material(call)])
        return out

    def _function(self, fn: types.FunctionType) -> Any:
        closure = [self.material(_cell(c)) for c in fn.__closure__ or ()]
        names = sorted(_global_names(fn.__code__))
        used = [
            [name, self.material(fn.__globals__[name])] for name in names if name in fn.__globals__
        ]
        return [
            "function",
            _qualname(fn),
            self._code(fn.__code__),
            self.material(fn.__defaults__),
            self.material(fn.__kwdefaults__),
            closure,
            used,
        ]

    def _code(self, code: types.CodeType) -> Any:
        consts = [self.material(c) for c in code.co_consts]
        return ["code", code.co_code.hex(), consts, list(code.co_names), code.co_argcount]


_UNSET = object()


def _slot_names(cls: type) -> set[str]:
    """The names of the slots of a class and its bases."""
    names: set[str] = set()
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.update((slots,) if isinstance(slots, str) else slots)
    return names


def _cell(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell (a name not yet bound)
        return None


def _global_names(code: types.CodeType) -> set[str]:
    """The names a code object (and the code nested in it) may read from its globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _dump(item: Any) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))
