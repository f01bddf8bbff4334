"""Messages: construction, text, and how streamed chunks (and their usage) add up."""

import copy
import pickle
import re
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from prompts import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
    Usage,
    tool_call,
    tool_call_chunk,
)
from prompts._trusted import _plan, trusted


def test_content_may_be_positional_but_not_given_twice() -> None:
    assert HumanMessage("hi") == HumanMessage(content="hi")
    with pytest.raises(TypeError, match="both positionally and by keyword"):
        HumanMessage("hi", content="again")  # type: ignore[misc]


def test_text_and_pretty() -> None:
    message = SystemMessage(content="Be brief.")
    assert message.text == "Be brief."
    assert message.pretty() == "system: Be brief."
    assert AIMessage(content="ok").pretty() == "ai: ok"


def test_usages_add_field_by_field() -> None:
    total = Usage(input_tokens=3, output_tokens=1, total_tokens=4) + Usage(
        input_tokens=0, output_tokens=2, total_tokens=2
    )
    assert total == Usage(input_tokens=3, output_tokens=3, total_tokens=6)


def test_chunks_carrying_usage_both_add_their_usage() -> None:
    first = AIMessageChunk(
        content="Hel", usage=Usage(input_tokens=5, output_tokens=1, total_tokens=6)
    )
    second = AIMessageChunk(
        content="lo", usage=Usage(input_tokens=0, output_tokens=1, total_tokens=1)
    )
    whole = first + second
    assert whole.content == "Hello"
    assert whole.usage == Usage(input_tokens=5, output_tokens=2, total_tokens=7)


@pytest.mark.parametrize("usage_first", [True, False])
def test_usage_of_one_chunk_is_kept_whichever_side_carries_it(usage_first: bool) -> None:
    usage = Usage(input_tokens=2, output_tokens=2, total_tokens=4)
    with_usage, without = AIMessageChunk(content="a", usage=usage), AIMessageChunk(content="b")
    whole = with_usage + without if usage_first else without + with_usage
    assert whole.usage == usage
    assert AIMessageChunk(content="a") + AIMessageChunk(content="b") == AIMessageChunk(
        content="ab"
    )  # no usage at all


def test_chunks_merge_metadata_and_keep_the_first_id_and_name() -> None:
    first = AIMessageChunk(content="a", id="one", response_metadata={"model": "m"})
    second = AIMessageChunk(
        content="b", id="two", name="bot", response_metadata={"finish_reason": "stop"}
    )
    whole = first + second
    assert (whole.id, whole.name) == ("one", "bot")
    assert whole.response_metadata == {"model": "m", "finish_reason": "stop"}
    assert whole.to_message() == AIMessage(
        content="ab",
        id="one",
        name="bot",
        response_metadata={"model": "m", "finish_reason": "stop"},
    )


def test_a_chunk_does_not_add_to_a_whole_message() -> None:
    with pytest.raises(TypeError):
        AIMessageChunk(content="a") + AIMessage(content="b")  # type: ignore[operator]


def test_content_may_be_a_list_of_parts_and_text_reads_their_text() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    message = HumanMessage(content=["Look: ", {"type": "text", "text": "a cat"}, image])
    assert message.content[2] == image
    assert message.text == "Look: a cat"
    assert HumanMessage(content_blocks=[{"type": "text", "text": "x"}]).text == "x"


def test_chunks_with_list_content_merge_parts_by_index() -> None:
    first = AIMessageChunk(content=[{"type": "text", "text": "Hel", "index": 0}])
    second = AIMessageChunk(
        content=[
            {"type": "text", "text": "lo", "index": 0},
            {"type": "image_url", "image_url": {"url": "u"}},
        ]
    )
    whole = first + second
    assert whole.content == [
        {"type": "text", "text": "Hello", "index": 0},
        {"type": "image_url", "image_url": {"url": "u"}},
    ]
    assert whole.text == "Hello"
    assert (AIMessageChunk(content="a") + AIMessageChunk(content=["b"])).content == ["a", "b"]
    assert (AIMessageChunk(content=["a"]) + AIMessageChunk(content="b")).content == ["ab"]


def test_chunk_metadata_merges_as_langchain_merges_it() -> None:
    first = AIMessageChunk(
        content="", additional_kwargs={"function_call": {"name": "f", "arguments": '{"a'}}
    )
    second = AIMessageChunk(
        content="",
        additional_kwargs={"function_call": {"arguments": '": 1}'}},
        response_metadata={"finish_reason": "stop"},
    )
    whole = first + second
    assert whole.additional_kwargs == {"function_call": {"name": "f", "arguments": '{"a": 1}'}}
    assert whole.response_metadata == {"finish_reason": "stop"}
    with pytest.raises(TypeError, match="different types"):
        AIMessageChunk(content="", response_metadata={"n": 1}) + AIMessageChunk(
            content="", response_metadata={"n": "1"}
        )


def test_every_chunk_class_adds_up_and_becomes_its_message() -> None:
    human = HumanMessageChunk(content="a", id="1") + HumanMessageChunk(content="b")
    assert human.to_message() == HumanMessage(content="ab", id="1")
    system = SystemMessageChunk(content="a") + SystemMessageChunk(content="b")
    assert system.to_message() == SystemMessage(content="ab")
    chat = ChatMessageChunk(content="a", role="critic")
    chat += ChatMessageChunk(content="b", role="critic")
    assert chat.to_message() == ChatMessage(content="ab", role="critic")
    function = FunctionMessageChunk(content="4", name="f")
    function += FunctionMessageChunk(content="2", name="f")
    assert function.to_message() == FunctionMessage(content="42", name="f")
    tool = ToolMessageChunk(content="a", tool_call_id="c", artifact=[1]) + ToolMessageChunk(
        content="b", tool_call_id="c", artifact=[2], status="error"
    )
    assert tool.to_message() == ToolMessage(
        content="ab", tool_call_id="c", artifact=[1, 2], status="error"
    )
    rest = [AIMessageChunk(content="b"), AIMessageChunk(content="c")]
    assert (AIMessageChunk(content="a") + rest).content == "abc"


@pytest.mark.parametrize(
    ("left", "right", "error"),
    [
        (
            ChatMessageChunk(content="a", role="x"),
            ChatMessageChunk(content="", role="y"),
            ValueError,
        ),
        (
            ToolMessageChunk(content="", tool_call_id="1"),
            ToolMessageChunk(content="", tool_call_id="2"),
            ValueError,
        ),
        (
            FunctionMessageChunk(content="", name="f"),
            FunctionMessageChunk(content="", name="g"),
            ValueError,
        ),
        (HumanMessageChunk(content="a"), SystemMessageChunk(content="b"), TypeError),
        (HumanMessageChunk(content="a"), AIMessageChunk(content="b"), TypeError),
        (HumanMessageChunk(content="a"), HumanMessage(content="b"), TypeError),
    ],
)
def test_chunks_that_do_not_belong_together_do_not_add(left: Any, right: Any, error: type) -> None:
    with pytest.raises(error):
        left + right


def test_pretty_names_the_parts_that_are_not_text() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    message = HumanMessage(content=[{"type": "text", "text": "What is this?"}, image])
    assert message.pretty() == "human: What is this? [image: https://example.com/cat.png]"


def test_a_tool_result_that_is_not_text_becomes_its_text() -> None:
    assert ToolMessage(content=5, tool_call_id=1) == ToolMessage(content="5", tool_call_id="1")  # type: ignore[arg-type]
    assert ToolMessage(content={"a": 1}, tool_call_id="x").content == "{'a': 1}"  # type: ignore[arg-type]
    parts = ToolMessage(content=[1, {"type": "text", "text": "t"}], tool_call_id="x").content  # type: ignore[list-item]
    assert parts == ["1", {"type": "text", "text": "t"}]
    assert HumanMessage(content="a", id=5).id == "5"  # type: ignore[arg-type]


def test_any_message_schema_lists_the_new_classes() -> None:
    adapter: TypeAdapter[list[AnyMessage]] = TypeAdapter(list[AnyMessage])
    names = set(adapter.json_schema()["$defs"])
    assert {"ChatMessage", "FunctionMessage", "ToolMessage"} <= names
    messages = [ChatMessage(content="c", role="critic"), FunctionMessage(content="4", name="f")]
    assert adapter.validate_python(messages) == messages
    content = adapter.json_schema()["$defs"]["HumanMessage"]["properties"]["content"]
    assert [option["type"] for option in content["anyOf"]] == ["string", "array"]


def test_pretty_repr_lays_messages_out_as_langchain_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    human = HumanMessage(content="hi", name="bob")
    assert human.pretty_repr() == (
        "================================ Human Message =================================\n"
        "Name: bob\n\nhi"
    )
    ai = AIMessage(
        content="ok",
        tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}],
        invalid_tool_calls=[{"name": "g", "args": "{", "id": "c2", "error": "bad"}],
    )
    assert ai.pretty_repr() == (
        "================================== Ai Message ==================================\n\n"
        "ok\nTool Calls:\n  f (c1)\n Call ID: c1\n  Args:\n    a: 1\n"
        "Invalid Tool Calls:\n  g (c2)\n Call ID: c2\n  Error: bad\n  Args:\n    {"
    )
    ToolMessage(content="r", tool_call_id="c1").pretty_print()
    assert capsys.readouterr().out == (
        "================================= Tool Message =================================\n\nr\n"
    )


def test_trusted_chunks_equal_validated_ones_and_still_sync_their_tool_calls() -> None:
    piece = trusted(AIMessageChunk, content=" w1")
    assert piece == AIMessageChunk(content=" w1")
    assert piece.model_fields_set == {"content"}
    fragment = tool_call_chunk(name="f", args='{"a": 1', id="c", index=0)
    with_call = trusted(AIMessageChunk, content="", tool_call_chunks=[fragment])
    assert with_call.tool_calls == [{"name": "f", "args": {"a": 1}, "id": "c", "type": "tool_call"}]
    reply = trusted(AIMessage, content="x", tool_calls=[tool_call(name="f", args={}, id="c")])
    assert reply == AIMessage(content="x", tool_calls=[{"name": "f", "args": {}, "id": "c"}])


def test_usage_metadata_is_langchains_name_for_usage() -> None:
    counts: dict[str, Any] = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    # As langchain-core 1.8.3: the counts given as `usage_metadata` read back as a dict,
    # chunks add them, and a message without usage has None.
    details = {"input_token_details": {"cache_read": 0}}
    reply = AIMessage("x", usage_metadata={**counts, **details})
    assert reply.usage_metadata == {**counts, **details}
    assert reply.usage == Usage(**counts, input_token_details={"cache_read": 0})
    assert AIMessage("y").usage_metadata is None
    both = AIMessageChunk(content="a", usage_metadata=counts) + AIMessageChunk(
        content="b", usage_metadata=counts
    )
    assert both.usage_metadata == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    assert AIMessage("z", usage=Usage(**counts)).usage_metadata == counts


def test_langchains_dumps_with_their_type_load_as_the_class_they_name() -> None:
    # langchain-core 1.8.3 dumps a message's `type` with its fields, and reads it back.
    human: dict[str, Any] = {"content": "h", "type": "human", "id": None, "name": None}
    assert HumanMessage(**human) == HumanMessage("h")
    assert HumanMessage.model_validate(human) == HumanMessage("h")
    chunk = AIMessageChunk.model_validate({"type": "AIMessageChunk", "content": "c"})
    assert chunk == AIMessageChunk(content="c")
    adapter: TypeAdapter[list[AnyMessage]] = TypeAdapter(list[AnyMessage])
    dumps = [
        {"type": "system", "content": "s"},
        {"type": "human", "content": "h"},
        {"type": "ai", "content": "a", "usage_metadata": None},
        {"type": "tool", "content": "t", "tool_call_id": "1"},
    ]
    loaded = adapter.validate_python(dumps)
    assert [type(m) for m in loaded] == [SystemMessage, HumanMessage, AIMessage, ToolMessage]
    assert adapter.validate_json('[{"type": "ai", "content": "j"}]') == [AIMessage("j")]
    with pytest.raises(ValidationError, match="type 'ai' is not HumanMessage's"):
        HumanMessage(content="x", type="ai")  # type: ignore[call-arg]
    # Built internally (no type among the values), a message still skips validation.
    assert _plan(HumanMessage) is not None


@pytest.mark.parametrize(
    "message",
    [
        HumanMessage("x"),
        SystemMessage("x"),
        AIMessage("x", tool_calls=[{"name": "f", "args": {}, "id": "1"}]),
        ToolMessage("x", tool_call_id="1"),
        ChatMessage("x", role="critic"),
    ],
)
def test_a_dump_carries_its_type_and_reads_back_as_the_same_class(message: BaseMessage) -> None:
    # LangChain's dumps carry `type`; without it every class with the same fields would fit.
    adapter: TypeAdapter[Any] = TypeAdapter(AnyMessage)
    dumped = message.model_dump()
    assert dumped["type"] == message.type
    assert adapter.validate_python(dumped) == message
    back = adapter.validate_json(message.model_dump_json())
    assert type(back) is type(message)
    assert back == message


def test_making_a_message_runs_one_python_function() -> None:
    # The hot path of every prompt and model: the message's own __init__, then pydantic's
    # validator (native code, calling back only to read LangChain's `type` key); no
    # BaseModel.__init__ frame in between.
    import cProfile
    import pstats

    HumanMessage(content="warm")
    profile = cProfile.Profile()
    profile.enable()
    HumanMessage(content="hello")
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    python_calls = [k for k in stats if not k[0].startswith("~")]
    assert sorted((path.rsplit("/", 1)[-1], name) for path, _, name in python_calls) == [
        ("_messages.py", "__init__"),
        ("_messages.py", "_without_type"),
    ]


_BAD_CONTENT: list[tuple[Any, str]] = [
    (lambda: HumanMessage(content=5), '"content" argument of HumanMessage'),  # type: ignore[arg-type]
    (lambda: HumanMessage(5), '"content" argument of HumanMessage'),  # type: ignore[arg-type]
    (lambda: AIMessage(content=None), '"content" argument of AIMessage'),
    (lambda: SystemMessage(content=["ok", 3]), '"content[1]" argument of SystemMessage'),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("make", "named"), _BAD_CONTENT)
def test_content_of_the_wrong_kind_is_named_when_the_message_is_made(make: Any, named: str) -> None:
    # A TypeError naming the parameter and the value, still a pydantic ValidationError (what
    # LangChain raises there, so code catching it keeps working).
    with pytest.raises(TypeError, match=re.escape(named)) as info:
        make()
    assert isinstance(info.value, ValidationError)
    assert "got " in str(info.value)


def test_a_content_error_keeps_its_text_when_pickled_or_copied() -> None:
    # pydantic rebuilds a ValidationError from its data on pickling and copying (as when it
    # crosses to a Ray worker or a process pool): the text must come from that data.
    with pytest.raises(TypeError) as info:
        HumanMessage(content=5)  # type: ignore[arg-type]
    text = str(info.value)
    assert "got int 5" in text
    assert str(pickle.loads(pickle.dumps(info.value))) == text
    assert str(copy.copy(info.value)) == text


def test_a_tool_message_still_takes_any_result_as_text() -> None:
    assert ToolMessage(content=5, tool_call_id="1").content == "5"  # type: ignore[arg-type]
