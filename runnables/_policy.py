"""Fan-out failure policies for `RunnableParallel`, and the values they leave for failed branches.

- `"fail_fast"` (default): the first failing branch cancels the others; its exception is raised.
- `"settle"`: every branch runs to its end; a failed branch's value is a `BranchError`, so the
  synthesis step can use the answers that did arrive.
- `"quorum"` (`min_successes=n`): stop as soon as n branches have succeeded (the rest are
  cancelled and get a `BranchError` with `cancelled=True`), or raise `QuorumError` as soon as n
  successes are no longer possible.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio

FailurePolicy = Literal["fail_fast", "settle", "quorum"]
POLICIES: tuple[str, ...] = ("fail_fast", "settle", "quorum")


@dataclass(frozen=True)
class BranchError:
    """The value a failed (or cancelled) branch leaves under the settle and quorum policies.

    Attributes:
        key: The branch's key.
        error: The exception the branch raised (None if it was cancelled).
        cancelled: True if the branch was cancelled because the quorum was reached.
    """

    key: str
    error: BaseException | None = None
    cancelled: bool = False

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        if self.cancelled:
            return f"[branch {self.key!r} was cancelled: quorum reached]"
        return f"[branch {self.key!r} failed: {type(self.error).__name__}: {self.error}]"


class QuorumError(ExceptionGroup[Exception]):
    """Too many branches failed for `min_successes` to be reached; holds their exceptions."""


def check_policy(policy: object, min_successes: object, n_branches: int) -> None:
    """Validate a failure policy and its quorum size at build time."""
    if policy not in POLICIES:
        raise ValueError(f'Invalid "policy" argument: {policy!r}; expected one of {POLICIES!r}')
    if policy == "quorum":
        if isinstance(min_successes, bool) or not isinstance(min_successes, int):
            raise TypeError(
                f'Invalid "min_successes" argument: the quorum policy needs an int, '
                f"got {min_successes!r}"
            )
        if not 1 <= min_successes <= n_branches:
            raise ValueError(
                f'Invalid "min_successes" argument: {min_successes!r}; expected 1 to '
                f"{n_branches} (the number of branches)"
            )
    elif min_successes is not None:
        raise ValueError(
            f'Invalid "min_successes" argument: {min_successes!r} only applies to policy="quorum"'
        )


async def run_settled(
    keys: Sequence[str], calls: Sequence[Callable[[], Awaitable[Any]]]
) -> list[Any]:
    """Run every call to its end; failures become `BranchError` values."""
    results: list[Any] = [None] * len(calls)

    async def run(i: int) -> None:
        try:
            results[i] = await calls[i]()
        except Exception as exc:
            results[i] = BranchError(keys[i], exc)

    async with anyio.create_task_group() as tg:
        for i in range(len(calls)):
            tg.start_soon(run, i)
    return results


async def run_quorum(
    keys: Sequence[str], calls: Sequence[Callable[[], Awaitable[Any]]], min_successes: int
) -> list[Any]:
    """Run the calls until `min_successes` succeeded; cancel the rest; fail once impossible."""
    n = len(calls)
    results: list[Any] = [BranchError(k, cancelled=True) for k in keys]
    errors: list[Exception] = []
    successes = 0

    async def run(i: int, scope: anyio.CancelScope) -> None:
        nonlocal successes
        try:
            value = await calls[i]()
        except Exception as exc:
            exc.add_note(f"in branch {keys[i]!r} of RunnableParallel")
            results[i] = BranchError(keys[i], exc)
            errors.append(exc)
            if n - len(errors) < min_successes:
                scope.cancel()
            return
        results[i] = value
        successes += 1
        if successes >= min_successes:
            scope.cancel()

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(run, i, tg.cancel_scope)
    if successes < min_successes:
        raise QuorumError(
            f"{len(errors)} of {n} branches failed; {min_successes} successes were needed",
            errors,
        )
    return results
