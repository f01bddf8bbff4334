"""A `RayExecutor` batch's arguments, checked, and its items, read lazily from the caller's inputs.

`Batch.of` checks the arguments as the chain's own `batch` does (bad ones fail at the call, with
the parameter named); `Batch.items` yields `(index, input, config)` with the batch-wide keys
taken out of each config and a config's `Budget` replaced by its cluster-wide stand-in; `Feed`
hands the items out in chunks, those given back by a lost worker first.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from runnables._base import Runnable
from runnables._budget import Budget
from runnables._config import RunnableConfig, ensure_config
from runnables._ray_worker import Item

__all__ = ["Batch", "Feed"]


@dataclass(frozen=True)
class Batch:
    """A batch's arguments, checked: the items come from `items()`, read lazily."""

    runnable: Runnable[Any, Any]
    inputs: Iterable[Any]
    configs: RunnableConfig | list[RunnableConfig]
    return_exceptions: bool
    first_config: RunnableConfig
    max_concurrency: int | None
    timeout: float | None
    budgets: tuple[Budget, ...]
    """The configs' budgets, each once (shipped as one budget for the cluster)."""

    @classmethod
    def of(
        cls,
        runnable: object,
        inputs: object,
        config: object,
        return_exceptions: object,
    ) -> Batch:
        if not isinstance(runnable, Runnable):
            raise TypeError(f'Invalid "runnable" argument: expected a Runnable, got {runnable!r}')
        if not isinstance(inputs, Iterable) or isinstance(inputs, str | bytes | Mapping):
            raise TypeError(f'Invalid "inputs" argument: expected an iterable, got {inputs!r}')
        if not isinstance(return_exceptions, bool):
            raise TypeError(
                f'Invalid "return_exceptions" argument: expected a bool, got {return_exceptions!r}'
            )
        configs: RunnableConfig | list[RunnableConfig]
        if config is None or isinstance(config, Mapping):
            configs = ensure_config(config)  # type: ignore[arg-type]
            first = configs
        elif isinstance(config, Sequence) and not isinstance(config, str | bytes):
            configs = [ensure_config(c) for c in config]
            if isinstance(inputs, Sized) and len(inputs) != len(configs):
                raise ValueError(
                    f'Invalid "config" argument: got {len(configs)} configs for '
                    f"{len(inputs)} inputs; pass one config, or exactly one per input"
                )
            first = configs[0] if configs else {}
        else:
            raise TypeError(f'Invalid "config" argument: {config!r}; expected a dict or a list')
        budgets: dict[int, Budget] = {}
        for c in configs if isinstance(configs, list) else [configs]:
            budget = c.get("budget")
            if budget is not None and type(budget) is not Budget:
                # A subclass's own rules cannot be kept by the cluster's one budget.
                raise TypeError(
                    f'Invalid "budget" in config: {budget!r} ({type(budget).__qualname__}, a '
                    "Budget subclass) cannot be shared by Ray workers; give a plain Budget"
                )
            if budget is not None:
                budgets.setdefault(id(budget), budget)
        return cls(
            runnable,
            inputs,
            configs,
            return_exceptions,
            first,
            first.get("max_concurrency"),
            first.get("timeout"),
            tuple(budgets.values()),
        )

    def items(self, stand_in: Callable[[Budget], Budget]) -> Iterator[Item]:
        """`(index, input, config)` for each input; the configs without the batch-wide keys
        (`max_concurrency`, `timeout` and `callbacks` hold for the whole batch, as in `abatch`;
        the handlers stay on the driver), a `Budget` replaced by `stand_in(budget)`."""
        if isinstance(self.configs, list):
            configs = iter(self.configs)
            inputs = iter(self.inputs)
            for index in itertools.count():
                x, c = next(inputs, _END), next(configs, _END)
                if x is _END and c is _END:
                    return
                if x is _END or c is _END:
                    raise ValueError(
                        'Invalid "config" argument: the number of configs differs from the '
                        "number of inputs; pass one config, or exactly one per input"
                    )
                yield index, x, _item_config(c, stand_in)
        else:
            config = _item_config(self.configs, stand_in)
            for index, x in enumerate(self.inputs):
                yield index, x, config


_END: Any = object()
_BATCH_WIDE = ("max_concurrency", "timeout", "callbacks")


def _item_config(config: RunnableConfig, stand_in: Callable[[Budget], Budget]) -> RunnableConfig:
    budget = config.get("budget")
    if budget is not None:
        config = {**config, "budget": stand_in(budget)}
    if not any(key in config for key in _BATCH_WIDE):
        return config
    return {k: v for k, v in config.items() if k not in _BATCH_WIDE}  # type: ignore[return-value]


class Feed:
    """The items still to send: those given back by lost workers first, then the source's."""

    def __init__(self, source: Iterator[Item]) -> None:
        self._source = source
        self._ready: deque[Item] = deque()

    def prefetch(self, n: int) -> int:
        """Read up to `n` items ahead; return how many there are (for sizing the workers)."""
        self._ready.extend(itertools.islice(self._source, n - len(self._ready)))
        return len(self._ready)

    def take(self, n: int) -> list[Item]:
        """Up to `n` items (fewer only when the batch has no more)."""
        taken = [self._ready.popleft() for _ in range(min(n, len(self._ready)))]
        if len(taken) < n:
            taken.extend(itertools.islice(self._source, n - len(taken)))
        return taken

    def give_back(self, items: Iterable[Item]) -> None:
        """Items whose worker was lost: they go out first, in index order."""
        self._ready.extendleft(sorted(items, reverse=True))
