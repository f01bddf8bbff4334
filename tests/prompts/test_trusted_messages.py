"""Messages built without re-validation (`trusted`) are the same as validated ones."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from prompts import AIMessage, AIMessageChunk, HumanMessage
from prompts._messages import Usage
from prompts._trusted import trusted


def test_a_trusted_message_equals_the_validated_one_field_for_field() -> None:
    usage = trusted(Usage, input_tokens=1, output_tokens=2, total_tokens=3)
    made = trusted(AIMessage, content="hi", usage=usage, response_metadata={"model": "m"})
    validated = AIMessage(
        content="hi", usage=Usage(input_tokens=1, output_tokens=2, total_tokens=3),
        response_metadata={"model": "m"},
    )  # fmt: skip

    assert made == validated
    assert repr(made) == repr(validated)  # fields in declared order
    assert made.model_dump() == validated.model_dump()
    assert made.model_fields_set == validated.model_fields_set


def test_trusted_messages_get_fresh_default_containers() -> None:
    first, second = trusted(AIMessageChunk, content="a"), trusted(AIMessageChunk, content="b")

    first.response_metadata["k"] = 1

    assert second.response_metadata == {}
    assert (first + second).content == "ab"


def test_a_model_with_validators_or_a_missing_field_goes_through_its_constructor() -> None:
    class Shouting(BaseModel):
        text: str

        @field_validator("text")
        @classmethod
        def upper(cls, value: str) -> str:
            return value.upper()

    assert trusted(Shouting, text="hi").text == "HI"
    missing: dict[str, Any] = {}
    with pytest.raises(ValidationError, match="content"):
        trusted(HumanMessage, **missing)
