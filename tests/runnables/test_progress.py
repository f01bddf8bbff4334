"""ProgressBar: one bar per top-level batch, counting items done and failed."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest

from runnables import RunnableLambda
from runnables.progress import ProgressBar

pytestmark = pytest.mark.anyio


def check(x: int) -> int:
    if x < 0:
        raise ValueError(x)
    return x


def bar() -> tuple[ProgressBar, io.StringIO]:
    out = io.StringIO()
    return ProgressBar(file=out, mininterval=0), out


async def test_abatch_counts_done_and_failed_items() -> None:
    progress, out = bar()
    results = await RunnableLambda(check).abatch(
        [1, -2, 3, 4], {"callbacks": [progress]}, return_exceptions=True
    )
    assert isinstance(results[1], ValueError)
    assert (progress.done, progress.failed, progress.total) == (3, 1, 4)
    assert progress.bar is None  # closed once every item is counted
    text = out.getvalue()
    assert "4/4" in text
    assert "failed=1" in text
    assert "check" in text


async def test_as_completed_forms_are_counted() -> None:
    progress, out = bar()
    stream = RunnableLambda(check).abatch_as_completed([1, 2, 3], {"callbacks": [progress]})
    async with contextlib.aclosing(stream) as pairs:
        assert sorted([i async for i, _ in pairs]) == [0, 1, 2]
    assert (progress.done, progress.failed) == (3, 0)
    assert "3/3" in out.getvalue()


def test_sync_batch_and_batch_as_completed_in_one_line() -> None:
    progress, out = bar()
    step = RunnableLambda(check)
    assert step.batch(list(range(5)), {"callbacks": [progress]}) == list(range(5))
    assert "5/5" in out.getvalue()
    assert sorted(i for i, _ in step.batch_as_completed([1, 2], {"callbacks": [progress]})) == [
        0,
        1,
    ]
    assert (progress.done, progress.total) == (2, 2)  # a new bar for the second batch


async def test_nested_batches_and_inner_steps_are_not_counted() -> None:
    progress, _ = bar()
    inner = RunnableLambda(check)

    async def per_item(xs: list[int]) -> Any:
        return await inner.abatch(xs)

    await (RunnableLambda(per_item) | (lambda x: x)).abatch(
        [[1, 2], [3]], {"callbacks": [progress]}
    )
    assert (progress.done, progress.total) == (2, 2)
