"""Input and output schemas: where each kind of step takes them from, titled as LCEL titles them."""

from collections.abc import AsyncIterator, Iterator
from operator import itemgetter
from typing import Any

import pytest
from pydantic import BaseModel

from runnables import (
    Runnable,
    RunnableBranch,
    RunnableConfig,
    RunnableEach,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
    RunnableRace,
)


def to_len(text: str) -> int:
    return len(text)


def to_text(n: int) -> str:
    return str(n)


async def ato_text(n: int) -> str:
    return str(n)


def words(text: str) -> Iterator[str]:
    yield from text.split()


def by_topic(inputs: dict[str, Any]) -> dict[str, Any]:
    return inputs


class Point(BaseModel):
    x: int
    y: int


def to_point(n: int) -> Point:
    return Point(x=n, y=n)


class Upper(Runnable[str, str]):
    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> str:
        return str(input).upper()


def test_function_schemas_come_from_its_annotations() -> None:
    step = RunnableLambda(to_len)
    assert step.InputType is str
    assert step.OutputType is int
    assert step.get_input_jsonschema() == {"title": "to_len_input", "type": "string"}
    assert step.get_output_jsonschema() == {"title": "to_len_output", "type": "integer"}


def test_async_function_output_is_the_awaited_type() -> None:
    assert RunnableLambda(ato_text).get_output_jsonschema() == {
        "title": "ato_text_output",
        "type": "string",
    }


def test_generator_function_output_is_its_item_type() -> None:
    assert RunnableLambda(words).get_output_jsonschema() == {
        "title": "words_output",
        "type": "string",
    }


def test_unannotated_function_takes_anything() -> None:
    step = RunnableLambda(lambda x: x)
    assert step.InputType is Any
    assert step.get_input_jsonschema() == {"title": "lambda_input"}


def test_itemgetter_takes_a_dict_with_its_keys() -> None:
    schema = RunnableLambda(itemgetter("question", "context")).get_input_jsonschema()
    assert schema["required"] == ["question", "context"]
    assert schema["type"] == "object"


def test_unannotated_function_reading_keys_takes_a_dict_with_them() -> None:
    step = RunnableLambda(lambda x: x["question"] + x.get("context", ""))
    schema = step.get_input_jsonschema()
    assert schema["title"] == "lambda_input"
    assert schema["required"] == ["context", "question"]

    def annotated(x: dict[str, Any]) -> Any:
        return x["question"]

    assert RunnableLambda(annotated).get_input_jsonschema()["type"] == "object"
    assert "properties" not in RunnableLambda(annotated).get_input_jsonschema()


def test_a_pydantic_type_is_its_own_schema() -> None:
    assert RunnableLambda(to_point).get_output_schema() is Point


def test_schemas_are_cached_models() -> None:
    step = RunnableLambda(to_len)
    assert step.get_input_schema() is step.get_input_schema()
    assert step.input_schema is step.get_input_schema()
    assert step.output_schema is step.get_output_schema()
    assert step.get_input_schema().model_validate("abc").model_dump_json() == '"abc"'


def test_a_subclass_takes_its_types_from_its_generic_arguments() -> None:
    upper = Upper()
    assert (upper.InputType, upper.OutputType) == (str, str)
    assert upper.get_input_jsonschema() == {"title": "UpperInput", "type": "string"}
    assert upper.get_output_jsonschema() == {"title": "UpperOutput", "type": "string"}


def test_sequence_takes_first_input_and_last_output() -> None:
    seq = RunnableLambda(to_len) | to_text | RunnableLambda(to_len)
    assert seq.InputType is str
    assert seq.OutputType is int
    assert seq.get_input_jsonschema() == {"title": "to_len_input", "type": "string"}
    assert seq.get_output_jsonschema() == {"title": "to_len_output", "type": "integer"}


def test_parallel_output_has_one_field_per_key() -> None:
    par = RunnableParallel(length=to_len, same=RunnablePassthrough())
    schema = par.get_output_jsonschema()
    assert schema["title"] == "RunnableParallel<length,same>Output"
    assert list(schema["properties"]) == ["length", "same"]
    assert schema["properties"]["length"] == {"title": "Length", "type": "integer"}
    assert schema["required"] == ["length", "same"]


def test_parallel_input_is_its_first_typed_branch_input() -> None:
    par = RunnableParallel(length=to_len, same=RunnablePassthrough())
    assert par.get_input_jsonschema() == {
        "title": "RunnableParallel<length,same>Input",
        "type": "string",
    }


def test_parallel_of_dict_inputs_merges_their_fields() -> None:
    par = RunnableParallel(
        q=RunnableLambda(itemgetter("question")), c=RunnableLambda(itemgetter("context"))
    )
    schema = par.get_input_jsonschema()
    assert schema["title"] == "RunnableParallel<q,c>Input"
    assert schema["required"] == ["question", "context"]


def test_assign_after_a_parallel_outputs_both_sets_of_fields() -> None:
    seq = RunnableParallel(length=to_len, text=RunnablePassthrough()).assign(
        doubled=RunnableLambda(itemgetter("length")) | (lambda n: n * 2)
    )
    schema = seq.get_output_jsonschema()
    assert schema["title"] == "RunnableSequenceOutput"
    assert list(schema["properties"]) == ["length", "text", "doubled"]
    assert seq.get_input_jsonschema()["type"] == "string"


def test_assign_alone_takes_and_gives_a_dict() -> None:
    assign = RunnablePassthrough.assign(n=RunnableLambda(itemgetter("text")) | to_len)
    assert assign.get_input_jsonschema()["required"] == ["text"]
    out = assign.get_output_jsonschema()
    assert out["title"] == "RunnableAssignOutput"
    assert list(out["properties"]) == ["text", "n"]


def test_pick_narrows_a_sequence_output() -> None:
    par = RunnableParallel(length=to_len, text=RunnablePassthrough())
    assert (par | RunnablePick("length")).get_output_jsonschema() == {
        "title": "RunnableSequenceOutput",
        "type": "integer",
    }
    picked = par.pick(["length"]).get_output_jsonschema()
    assert list(picked["properties"]) == ["length"]
    assert RunnablePick("a").get_name("Input") == "RunnablePick<a>Input"


def test_branch_takes_the_input_of_its_first_typed_step() -> None:
    branch = RunnableBranch((lambda x: x > 1, RunnableLambda(to_text)), RunnablePassthrough())
    assert branch.get_input_jsonschema() == {"title": "to_text_input", "type": "integer"}
    assert branch.OutputType is str


def test_map_takes_and_gives_lists() -> None:
    each = RunnableLambda(to_len).map()
    assert isinstance(each, RunnableEach)
    assert each.InputType == list[str]
    # As in LCEL, the items are the wrapped step's own schemas.
    assert each.get_input_jsonschema() == {
        "title": "RunnableEach<to_len>Input",
        "type": "array",
        "items": {"$ref": "#/$defs/to_len_input"},
        "$defs": {"to_len_input": {"title": "to_len_input", "type": "string"}},
    }
    assert each.get_output_jsonschema()["$defs"]["to_len_output"]["type"] == "integer"


WRAPPERS = {
    "bind": lambda step: step.bind(unused=1),
    "with_config": lambda step: step.with_config(tags=["t"]),
    "with_retry": lambda step: step.with_retry(stop_after_attempt=2),
    "with_timeout": lambda step: step.with_timeout(5),
    "with_fallbacks": lambda step: step.with_fallbacks([RunnablePassthrough()]),
    "race": lambda step: RunnableRace(step, RunnablePassthrough()),
}


@pytest.mark.parametrize("wrap", WRAPPERS.values(), ids=WRAPPERS.keys())
def test_a_wrapper_has_the_schemas_of_the_step_it_wraps(wrap: Any) -> None:
    step = RunnableLambda(to_len)
    wrapped = wrap(step)
    assert wrapped.get_input_schema() is step.get_input_schema()
    assert wrapped.get_output_schema() is step.get_output_schema()
    assert (wrapped.InputType, wrapped.OutputType) == (str, int)


def test_with_types_replaces_the_schemas() -> None:
    typed = RunnableLambda(lambda x: x).with_types(input_type=int, output_type=Point)
    assert typed.InputType is int
    assert typed.get_input_jsonschema() == {"title": "lambda_input", "type": "integer"}
    assert typed.get_output_schema() is Point
    assert typed.invoke(3) == 3


def test_with_types_survives_bind_and_keeps_the_other_side() -> None:
    typed = RunnableLambda(to_len).with_types(output_type=float).bind(extra=1)
    assert typed.InputType is str
    assert typed.get_output_jsonschema() == {"title": "to_len_output", "type": "number"}


def test_schema_of_an_unknown_type_is_untyped() -> None:
    class Opaque(Runnable[Any, Any]):
        pass

    assert Opaque().get_input_jsonschema() == {"title": "OpaqueInput"}


@pytest.mark.anyio
async def test_generator_schemas_use_the_sync_transform_name() -> None:
    def upper(chunks: Iterator[str]) -> Iterator[str]:
        for c in chunks:
            yield c.upper()

    async def aupper(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for c in chunks:
            yield c.upper()

    from runnables import RunnableGenerator

    gen = RunnableGenerator(upper, aupper)
    assert gen.name == "upper"
    assert gen.get_input_jsonschema() == {"title": "upper_input", "type": "string"}
    assert await gen.ainvoke("ab") == "AB"


def test_a_function_returning_a_runnable_gives_that_runnable_output_untyped() -> None:
    def route(text: str) -> Runnable[str, int]:
        return RunnableLambda(to_len)

    step = RunnableLambda(route)
    assert step.OutputType is Any
    assert step.get_output_jsonschema() == {"title": "route_output"}
    result: Any = step.invoke("abc")  # the returned runnable was run
    assert result == 3
