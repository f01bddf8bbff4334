"""Coercion, `|` both ways, flattening, pipe, repr, names and pickling."""

import pickle
from typing import Any

import pytest

from runnables import (
    Runnable,
    RunnableGenerator,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnableSequence,
    coerce_to_runnable,
)


def add_one(x: int) -> int:
    return x + 1


def double(x: int) -> int:
    return x * 2


async def async_double(x: int) -> int:
    return x * 2


def gen_upper(chunks: Any) -> Any:
    for chunk in chunks:
        yield chunk.upper()


def test_coercion_of_each_kind() -> None:
    assert isinstance(coerce_to_runnable(add_one), RunnableLambda)
    assert isinstance(coerce_to_runnable(async_double), RunnableLambda)
    assert isinstance(coerce_to_runnable(gen_upper), RunnableGenerator)
    nested = coerce_to_runnable({"a": add_one, "b": {"c": double}})
    assert isinstance(nested, RunnableParallel)
    assert isinstance(nested.branches["b"], RunnableParallel)
    passthrough = RunnablePassthrough()
    assert coerce_to_runnable(passthrough) is passthrough


def test_pipe_on_either_side() -> None:
    right = RunnableLambda(add_one) | double
    left = add_one | RunnableLambda(double)
    from_dict = {"x": add_one} | RunnableLambda(lambda d: d["x"])
    assert right.invoke(1) == 4
    assert left.invoke(1) == 4
    assert from_dict.invoke(1) == 2


def test_nested_sequences_flatten() -> None:
    a, b, c, d = (RunnableLambda(add_one) for _ in range(4))
    seq = (a | b) | (c | d)
    assert isinstance(seq, RunnableSequence)
    assert len(seq.steps) == 4
    assert seq.first is a
    assert seq.last is d
    assert seq.middle == [b, c]
    assert seq.invoke(0) == 4


def test_pipe_method_and_name() -> None:
    seq = RunnableLambda(add_one).pipe(double, add_one, name="math")
    assert seq.invoke(1) == 5
    assert seq.name == "math"
    assert RunnableLambda(add_one).name == "add_one"
    assert RunnableLambda(lambda x: x).name == "lambda"


@pytest.mark.parametrize("bad", [5, "text", None, 1.5])
def test_pipe_rejects_non_runnables(bad: Any) -> None:
    with pytest.raises(TypeError, match=repr(bad).replace(".", r"\.")) as info:
        RunnableLambda(add_one) | bad
    assert type(bad).__name__ in str(info.value)


def test_ror_rejects_non_runnables() -> None:
    with pytest.raises(TypeError, match="int 5"):
        5 | RunnableLambda(add_one)  # type: ignore[operator]


def test_parallel_rejects_bad_branch() -> None:
    with pytest.raises(TypeError, match=r"steps\['a'\].*int 5"):
        RunnableParallel(a=5)


def test_sequence_needs_two_steps() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        RunnableSequence(add_one)


def test_lambda_rejects_non_callable() -> None:
    with pytest.raises(TypeError, match=r'"func".*42'):
        RunnableLambda(42)  # type: ignore[call-overload]


def test_repr_is_readable() -> None:
    chain = {"a": add_one, "b": RunnablePassthrough()} | RunnableLambda(double)
    text = repr(chain)
    assert "a: RunnableLambda(add_one)" in text
    assert "b: RunnablePassthrough()" in text
    assert "| RunnableLambda(double)" in text


def test_chains_pickle_with_plain_functions() -> None:
    chain: Runnable[Any, Any] = RunnableParallel(a=add_one, b=RunnableLambda(double) | add_one)
    clone = pickle.loads(pickle.dumps(chain))
    assert clone.invoke(3) == {"a": 4, "b": 7}
    assert repr(clone) == repr(chain)


def test_async_lambda_pickles() -> None:
    seq = RunnableLambda(async_double) | add_one
    assert pickle.loads(pickle.dumps(seq)).invoke(2) == 5


class Shout(Runnable[str, str]):
    async def _acall(self, input: Any, config: Any, **kwargs: Any) -> str:
        return str(input).upper()


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: RunnableLambda(str) | Shout, "other"),
        (lambda: Shout | RunnableLambda(str), "other"),
        (lambda: RunnableLambda(str).pipe(Shout), "others"),
        (lambda: RunnableSequence(str, Shout), "steps"),
        (lambda: RunnableParallel(loud=Shout), "steps['loud']"),
        (lambda: RunnableLambda(str) | {"loud": Shout}, "steps['loud']"),
        (lambda: coerce_to_runnable(Shout), "step"),
    ],
    ids=["or", "ror", "pipe", "sequence", "parallel", "dict", "coerce"],
)
def test_runnable_class_instead_of_instance_is_rejected_when_built(build: Any, param: str) -> None:
    with pytest.raises(TypeError) as info:
        build()

    message = str(info.value)
    assert message.startswith(f'Invalid "{param}" argument: expected a Runnable instance')
    assert repr(Shout) in message
    assert message.endswith("put an instance in the chain, e.g. Shout()")


def test_plain_classes_still_coerce_as_functions() -> None:
    # Only Runnable classes are refused: a class like `str` is a fine one-argument function.
    assert (RunnableLambda(add_one) | str).invoke(1) == "2"
