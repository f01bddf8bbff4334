"""RunnableBranch: lazy, ordered conditions and a required default."""

from typing import Any

import pytest

from runnables import RunnableBranch, RunnableLambda

pytestmark = pytest.mark.anyio


async def test_first_true_condition_wins_and_later_ones_are_not_evaluated() -> None:
    evaluated: list[str] = []

    def cond(name: str, result: bool) -> Any:
        def check(x: int) -> bool:
            evaluated.append(name)
            return result

        return check

    branch = RunnableBranch(
        (cond("first", False), lambda x: "one"),
        (cond("second", True), lambda x: "two"),
        (cond("third", True), lambda x: "three"),
        lambda x: "default",
    )
    assert await branch.ainvoke(1) == "two"
    assert evaluated == ["first", "second"]


async def test_default_when_nothing_matches() -> None:
    branch = RunnableBranch((lambda x: x > 10, lambda x: "big"), RunnableLambda(lambda x: "small"))
    assert await branch.ainvoke(3) == "small"
    assert branch.invoke(30) == "big"


async def test_async_conditions() -> None:
    async def is_even(x: int) -> bool:
        return x % 2 == 0

    branch = RunnableBranch((is_even, lambda x: "even"), lambda x: "odd")
    assert await branch.ainvoke(4) == "even"


def test_needs_a_default() -> None:
    with pytest.raises(ValueError, match="default"):
        RunnableBranch((lambda x: True, lambda x: 1))


def test_needs_at_least_one_pair() -> None:
    with pytest.raises(ValueError, match="at least one"):
        RunnableBranch(lambda x: 1)


def test_rejects_non_callable_condition() -> None:
    with pytest.raises(TypeError, match=r'"condition".*\'yes\''):
        RunnableBranch(("yes", lambda x: 1), lambda x: 2)


def test_rejects_malformed_pair() -> None:
    with pytest.raises(TypeError, match="pairs"):
        RunnableBranch((lambda x: True,), lambda x: 2)


async def test_error_in_the_chosen_branch_names_it() -> None:
    def boom(x: int) -> int:
        raise ValueError("bad")

    branch = RunnableBranch((lambda x: x > 0, boom), lambda x: x)
    with pytest.raises(ValueError, match="bad") as info:
        await branch.ainvoke(1)
    assert "in branch 1 of RunnableBranch" in info.value.__notes__


async def test_pairs_may_be_lists_as_in_lcel() -> None:
    branch = RunnableBranch([lambda x: x > 0, lambda x: "positive"], lambda x: "other")
    assert await branch.ainvoke(1) == "positive"
    assert await branch.ainvoke(-1) == "other"
    with pytest.raises(TypeError, match="pairs"):
        RunnableBranch([lambda x: True], lambda x: 2)


async def test_a_condition_that_raises_is_named_in_a_note() -> None:
    def positive(x: int) -> bool:
        if x == 0:
            raise ZeroDivisionError("no sign")
        return x > 0

    def never(x: int) -> bool:
        raise AssertionError("not evaluated")  # pragma: no cover

    branch = RunnableBranch((lambda x: x is None, str), (positive, str), (never, str), str)
    with pytest.raises(ZeroDivisionError, match="no sign") as info:
        await branch.ainvoke(0)
    assert info.value.__notes__[0] == "in condition 2 of RunnableBranch"


def test_repr_lists_the_pairs_and_the_default() -> None:
    branch = RunnableBranch((RunnableLambda(bool, name="truthy"), RunnableLambda(str)), str)
    assert repr(branch).startswith("RunnableBranch((RunnableLambda(")
    assert "default=RunnableLambda(" in repr(branch)


def test_a_pair_as_the_last_argument_is_not_a_default() -> None:
    with pytest.raises(ValueError, match="default step as its last argument"):
        RunnableBranch((bool, str), (bool, repr))
