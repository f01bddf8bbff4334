"""What crosses to Ray workers with a batch: the chain, pickled once, with its limits made shared.

`ship` pickles the chain for the object store (the worker `land`s it). Two things happen while
it is pickled, and only then (the chain itself is not changed, nor anything process-wide):

- a plain `RateLimiter` found in the chain is pickled as a `RayRateLimiter` with the same limits
  (one per limiter, kept by the executor for its next batches): its budget lives in one Ray
  actor, so the workers' copies share it instead of each letting the whole rate through. A
  subclass of `RateLimiter` we cannot translate is refused with a `TypeError` naming
  `RayRateLimiter`, never multiplied silently;
- a `Budget` is pickled as a `runnables._ray_budget.ClusterBudget` with the same limits, whose
  totals live in one Ray actor (one per budget, kept by the executor too); a `Budget` subclass
  is refused with a `TypeError`;
- the chain's steps are listed in one order (`steps_of`) and pickled with it, so the worker's
  copies and the driver's originals share their positions in that list: an event a step emits
  on a worker names its position, and the driver's handlers receive the driver's own step.

`portable` turns an exception into one that survives the trip back.
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Callable, Iterator
from typing import Any, cast

from ray import cloudpickle

from runnables._base import Runnable
from runnables._budget import Budget
from runnables._ratelimit import RateLimiter
from runnables._ray_budget import ClusterBudget, SharedBudgets
from runnables._ray_limiter import RayRateLimiter

dumps = cast(Callable[[object], bytes], cloudpickle.dumps)
loads = cast(Callable[[bytes], Any], cloudpickle.loads)

Shipment = tuple[Runnable[Any, Any], list[Runnable[Any, Any]]]
"""What a worker lands: the chain, and its steps in `steps_of` order."""


class SharedLimits:
    """The `RayRateLimiter` standing for each plain `RateLimiter` an executor has shipped, and
    the keeper of each `Budget` (`budgets`).

    One per limiter, for as long as the limiter lives: every batch of the executor that ships
    it draws from the same cluster-wide budget.
    """

    def __init__(self) -> None:
        self._twins: weakref.WeakKeyDictionary[RateLimiter, RayRateLimiter] = (
            weakref.WeakKeyDictionary()
        )
        self.budgets = SharedBudgets()

    def twin(self, limiter: RateLimiter) -> RayRateLimiter:
        twin = self._twins.get(limiter)
        if twin is None:
            twin = self._twins[limiter] = RayRateLimiter(
                requests_per_minute=limiter.requests_per_minute,
                tokens_per_minute=limiter.tokens_per_minute,
                request_burst=limiter._request_cap or None,
                token_burst=limiter._token_cap or None,
            )
        return twin


class _ShippingPickler(cloudpickle.Pickler):
    def __init__(self, file: io.BytesIO, limits: SharedLimits) -> None:
        super().__init__(file, protocol=5)  # type: ignore[no-untyped-call]
        self._limits = limits
        self.budgets: list[Budget] = []

    def reducer_override(self, obj: Any) -> Any:
        # Called for every object pickled: the common case must stay one type check.
        if isinstance(obj, RateLimiter | Budget):
            return self._shared(obj)
        return super().reducer_override(obj)  # type: ignore[no-untyped-call]

    def _shared(self, obj: RateLimiter | Budget) -> Any:
        if isinstance(obj, Budget):
            if isinstance(obj, ClusterBudget):
                return obj.__reduce__()
            if type(obj) is not Budget:
                raise TypeError(
                    f"{obj!r} ({type(obj).__qualname__}, a Budget subclass) would be copied "
                    "into every Ray worker, each letting the whole budget through; give the "
                    "chain a plain runnables.Budget, shipped as one budget for the cluster"
                )
            if obj not in self.budgets:
                self.budgets.append(obj)
            return self._limits.budgets.stand_in(obj).__reduce__()
        if not isinstance(obj, RayRateLimiter):
            if type(obj) is not RateLimiter:
                raise TypeError(
                    f"{obj!r} ({type(obj).__qualname__}, a RateLimiter subclass) would be "
                    "copied into every Ray worker, each letting the whole rate through; "
                    "give the model a runnables.ray.RayRateLimiter for one budget across "
                    "the cluster"
                )
            twin = self._limits.twin(obj)
            return _restore, (RayRateLimiter, twin.__getstate__())
        return super().reducer_override(obj)  # type: ignore[no-untyped-call]


def _restore(cls: type[RayRateLimiter], state: dict[str, object]) -> RayRateLimiter:
    """Unpickle a `RayRateLimiter` from its `__getstate__` (shipped in a plain limiter's place)."""
    obj = cls.__new__(cls)
    obj.__setstate__(state)
    return obj


def ship(
    runnable: Runnable[Any, Any], limits: SharedLimits, budgets: list[Budget] | None = None
) -> tuple[bytes, list[Runnable[Any, Any]]]:
    """Pickle `runnable` and its steps for the workers, plain rate limits and budgets made
    shared; return the payload and the steps (the driver's side of the positions). The budgets
    found are added to `budgets` (to sync with their keepers).

    Raises:
        TypeError: Something in the chain does not pickle (the pickler's own error), or holds
            a `RateLimiter` or `Budget` subclass that cannot be shared.
    """
    buffer = io.BytesIO()
    shipment: Shipment = (runnable, steps_of(runnable))
    pickler = _ShippingPickler(buffer, limits)
    pickler.dump(shipment)  # type: ignore[no-untyped-call]
    if budgets is not None:
        budgets.extend(pickler.budgets)
    return buffer.getvalue(), shipment[1]


def land(payload: bytes) -> Shipment:
    """The chain and its steps, on the worker."""
    shipment: Shipment = loads(payload)
    return shipment


def steps_of(root: Runnable[Any, Any]) -> list[Runnable[Any, Any]]:
    """The runnables reachable from `root` through runnables' attributes and the lists, tuples
    and dicts they hold, each once, depth first (functions and other objects are not entered:
    a step that a function picks at run time is not listed)."""
    found: list[Runnable[Any, Any]] = []
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, Runnable):
            found.append(obj)
            stack.extend(reversed(list(_attributes(obj))))
        elif isinstance(obj, list | tuple):
            stack.extend(reversed(obj))
        elif isinstance(obj, dict):
            stack.extend(reversed(list(obj.values())))
    return found


def _attributes(obj: object) -> Iterator[Any]:
    values = getattr(obj, "__dict__", None)
    if values is not None:
        yield from values.values()


def portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling (type and notes kept), else a RuntimeError describing it."""
    try:
        loads(dumps(exc))
    except Exception:
        stand_in = RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")
        for note in getattr(exc, "__notes__", ()):
            stand_in.add_note(note)
        stand_in.add_note("(raised on a Ray worker; the original exception could not be pickled)")
        return stand_in
    return exc
