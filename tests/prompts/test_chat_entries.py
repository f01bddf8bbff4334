"""ChatPromptTemplate's entry forms, multipart content and list-like operations; results checked
against langchain-core 1.8.3's."""

from typing import Any

import pytest

from prompts import (
    AIMessage,
    AIMessagePromptTemplate,
    ChatMessagePromptTemplate,
    ChatPromptTemplate,
    ChatPromptValue,
    HumanMessage,
    HumanMessagePromptTemplate,
    MessagesPlaceholder,
    MissingVariablesError,
    PromptTemplate,
    SystemMessage,
    SystemMessagePromptTemplate,
    ToolMessage,
)

PARTS: list[Any] = [
    {"type": "text", "text": "Describe {what}"},
    {"type": "image_url", "image_url": {"url": "{img}", "detail": "{detail}"}},
    {"type": "image_url", "image_url": "{url2}"},
    "plain {p}",
    {"text": "untyped {q}"},
    {"image_url": "data:{mime};base64,{data}"},
    {"type": "text", "text": ""},
    {"type": "input_audio", "input_audio": {"data": "{audio}", "format": "wav"}},
]
VALUES = {
    "what": "cat",
    "img": "http://u",
    "detail": "high",
    "url2": "http://v",
    "p": "P",
    "q": "Q",
    "mime": "image/png",
    "data": "AAAA",
    "audio": "UklG",
}


def test_message_classes_name_their_role_and_template_classes_build_one() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            (SystemMessage, "s {a}"),
            (HumanMessage, "h {b}"),
            (AIMessage, "a {c}"),
            (HumanMessagePromptTemplate, "t {d}"),
            (AIMessagePromptTemplate, "u {e}"),
        ]
    )

    assert [type(m) for m in prompt.messages] == [
        SystemMessagePromptTemplate,
        HumanMessagePromptTemplate,
        AIMessagePromptTemplate,
        HumanMessagePromptTemplate,
        AIMessagePromptTemplate,
    ]
    assert prompt.format_messages(a=1, b=2, c=3, d=4, e=5) == [
        SystemMessage("s 1"),
        HumanMessage("h 2"),
        AIMessage("a 3"),
        HumanMessage("t 4"),
        AIMessage("u 5"),
    ]


@pytest.mark.parametrize("cls", [ToolMessage, int])
def test_other_classes_are_refused_naming_the_index(cls: type) -> None:
    with pytest.raises(ValueError, match=r"index 1.*" + cls.__name__):
        ChatPromptTemplate.from_messages([("human", "x"), (cls, "y")])


def test_a_template_class_that_cannot_be_built_names_the_index() -> None:
    with pytest.raises(TypeError, match=r'index 0.*needs a "role"'):
        ChatPromptTemplate.from_messages([(ChatMessagePromptTemplate, "x")])


def test_role_content_dicts_are_pairs() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [{"role": "system", "content": "s {a}"}, {"role": "user", "content": [{"text": "{b}"}]}]
    )

    assert prompt.format_messages(a=1, b=2) == [
        SystemMessage("s 1"),
        HumanMessage([{"type": "text", "text": "2"}]),
    ]


@pytest.mark.parametrize("entry", [{"role": "user", "content": "x", "name": "n"}, {"role": "ai"}])
def test_dicts_with_other_keys_are_refused_naming_index_and_value(entry: Any) -> None:
    with pytest.raises(ValueError, match="index 1") as info:
        ChatPromptTemplate.from_messages([("human", "ok"), entry])

    assert repr(entry) in str(info.value)


def test_multipart_templates_fill_text_image_and_other_parts() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", PARTS)])

    (message,) = prompt.format_messages(**VALUES)

    assert prompt.input_variables == list(VALUES)
    assert message.content == [
        {"type": "text", "text": "Describe cat"},
        {"type": "image_url", "image_url": {"url": "http://u", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "http://v"}},
        {"type": "text", "text": "plain P"},
        {"type": "text", "text": "untyped Q"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
    ]


def test_multipart_values_are_not_shared_between_formats() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", [{"image_url": {"url": "{u}"}}])])

    first = prompt.format_messages(u="a")[0]
    second = prompt.format_messages(u="b")[0]

    assert first.content == [{"type": "image_url", "image_url": {"url": "a"}}]
    assert second.content == [{"type": "image_url", "image_url": {"url": "b"}}]


@pytest.mark.parametrize("role", ["system", "ai"])
def test_multipart_works_for_every_role(role: str) -> None:
    prompt = ChatPromptTemplate.from_messages([(role, [{"type": "text", "text": "{a}"}])])

    assert prompt.format_messages(a=1)[0].content == [{"type": "text", "text": "1"}]


def test_multipart_in_mustache() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            (
                "human",
                [{"type": "text", "text": "{{a}}"}, {"type": "image_url", "image_url": "{{u}}"}],
            )
        ],
        template_format="mustache",
    )

    assert prompt.format_messages(a=1, u="x")[0].content == [
        {"type": "text", "text": "1"},
        {"type": "image_url", "image_url": {"url": "x"}},
    ]


def test_multipart_missing_variable_names_it() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", PARTS)])

    with pytest.raises(MissingVariablesError) as info:
        prompt.format_messages(**{k: v for k, v in VALUES.items() if k != "mime"})

    assert info.value.missing == ["mime"]


def test_multipart_message_template_with_partials_and_prompt_view() -> None:
    template = HumanMessagePromptTemplate.from_template(
        ["x {a}", {"type": "image_url", "image_url": "{u}"}], partial_variables={"a": "A"}
    )

    assert template.input_variables == ["u"]
    assert template.format(u="U").content == [
        {"type": "text", "text": "x A"},
        {"type": "image_url", "image_url": {"url": "U"}},
    ]
    text, image = template.prompt  # type: ignore[misc]
    assert isinstance(text, PromptTemplate)
    assert text.template == "x {a}"
    assert image == {"type": "image_url", "image_url": "{u}"}


@pytest.mark.parametrize(
    ("parts", "error"),
    [
        ([42], TypeError),
        ([{"type": "image_url", "image_url": 3}], TypeError),
        ("not a list", None),
        ([{"text": "{x.y}"}], ValueError),
    ],
)
def test_bad_parts_fail_at_build_time_showing_the_part(parts: Any, error: Any) -> None:
    if error is None:  # a str is a plain template, never a list of parts
        assert HumanMessagePromptTemplate.from_template(parts).format() == HumanMessage(parts)
        return
    with pytest.raises(error, match="part 0"):
        HumanMessagePromptTemplate.from_template(parts)


def test_a_message_with_list_content_is_kept_as_is() -> None:
    fixed = HumanMessage([{"type": "text", "text": "{not_a_variable}"}])

    prompt = ChatPromptTemplate.from_messages([fixed])

    assert prompt.input_variables == []
    assert prompt.format_messages()[0] is fixed


def test_placeholder_pairs_are_optional_unless_said_otherwise() -> None:
    optional = ChatPromptTemplate.from_messages([("placeholder", "{h}"), ("human", "{q}")])
    required = ChatPromptTemplate.from_messages([("placeholder", ["{h}", False])])

    assert optional.input_variables == ["q"]
    assert optional.optional_variables == ["h"]
    assert optional.format_messages(q="x") == [HumanMessage("x")]
    assert optional.format_messages(q="x", h=[("ai", "y")]) == [AIMessage("y"), HumanMessage("x")]
    assert required.input_variables == ["h"]
    assert required.messages == [MessagesPlaceholder("h")]


@pytest.mark.parametrize("template", ["h", "{a}{b}", "{}", ["{h}", "yes"], ["{h}"], 3, "x{h}"])
def test_bad_placeholder_pairs_are_refused(template: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="placeholder"):
        ChatPromptTemplate.from_messages([("placeholder", template)])


def test_a_chat_prompt_is_an_entry_of_another_with_its_partials() -> None:
    inner = ChatPromptTemplate.from_messages([("system", "{a} {b}"), ("placeholder", "{h}")])
    prompt = ChatPromptTemplate.from_messages([inner.partial(b="B"), ("human", "{c}")])

    assert prompt.input_variables == ["a", "c"]
    assert prompt.optional_variables == ["h"]
    assert prompt.format_messages(a=1, c=2) == [SystemMessage("1 B"), HumanMessage("2")]


def test_constructor_takes_messages_by_keyword() -> None:
    prompt = ChatPromptTemplate(messages=[("human", "{a}")], template_format="f-string")

    assert prompt.input_variables == ["a"]


def test_invoke_returns_a_prompt_value_of_every_entry_form() -> None:
    prompt = ChatPromptTemplate(
        [
            SystemMessage("fixed {x}"),
            (HumanMessage, "{a}"),
            {"role": "assistant", "content": "{b}"},
            ("placeholder", "{h}"),
            ChatMessagePromptTemplate.from_template("{c}", role="critic"),
        ]
    )

    value = prompt.invoke({"a": 1, "b": 2, "c": 3})

    assert isinstance(value, ChatPromptValue)
    assert value.to_string() == "System: fixed {x}\nHuman: 1\nAI: 2\ncritic: 3"


@pytest.mark.anyio
async def test_async_forms_match_sync_ones() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "{a}"), ("human", "{b}")])

    assert await prompt.aformat_messages(a=1, b=2) == prompt.format_messages(a=1, b=2)
    assert await prompt.aformat(a=1, b=2) == "System: 1\nHuman: 2"
    assert await prompt.aformat_prompt(a=1, b=2) == prompt.invoke({"a": 1, "b": 2})
    assert await prompt.ainvoke({"a": 1, "b": 2}) == prompt.invoke({"a": 1, "b": 2})


# -- a prompt as a list ------------------------------------------------------------------------


def three() -> ChatPromptTemplate:
    return ChatPromptTemplate(
        [("system", "s {a}"), ("human", "h {b}"), ("ai", "x")], partial_variables={"a": "A"}
    )


def test_indexing_gives_entries_and_slices_give_prompts() -> None:
    prompt = three()

    assert prompt[0] == SystemMessagePromptTemplate.from_template("s {a}")
    assert prompt[-1] == AIMessagePromptTemplate.from_template("x")
    assert len(prompt) == 3
    tail = prompt[1:]
    assert isinstance(tail, ChatPromptTemplate)
    assert tail.messages == prompt.messages[1:]
    assert tail.input_variables == ["b"]
    assert prompt[0:1].partial_variables == {}


def test_adding_prompts_keeps_both_partials() -> None:
    other = ChatPromptTemplate.from_messages([("human", "{c} {d}")]).partial(c="C")

    combined = three() + other

    assert combined.partial_variables == {"a": "A", "c": "C"}
    assert combined.input_variables == ["b", "d"]
    assert len(combined) == 4


@pytest.mark.parametrize(
    ("other", "added"),
    [
        (HumanMessage("m"), [HumanMessage("m")]),
        ("str {d}", [HumanMessagePromptTemplate.from_template("str {d}")]),
        (("ai", "t {e}"), [AIMessagePromptTemplate.from_template("t {e}")]),
        (
            [("human", "{e}"), ("ai", "{f}")],
            [
                HumanMessagePromptTemplate.from_template("{e}"),
                AIMessagePromptTemplate.from_template("{f}"),
            ],
        ),
        (MessagesPlaceholder("h"), [MessagesPlaceholder("h")]),
    ],
)
def test_adding_entries(other: Any, added: list[Any]) -> None:
    prompt = three()

    combined = prompt + other

    assert combined.messages == [*prompt.messages, *added]
    assert combined.partial_variables == {"a": "A"}
    assert len(prompt) == 3


def test_adding_before_a_prompt() -> None:
    combined = SystemMessage("first") + three()

    assert combined.messages[0] == SystemMessage("first")
    assert len(combined) == 4
    before: list[Any] = [("human", "{z}")]
    assert (before + three()).input_variables == ["z", "b"]


def test_adding_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unsupported operand"):
        three() + 1  # type: ignore[operator]
    with pytest.raises(TypeError, match="unsupported operand"):
        1 + three()  # type: ignore[operator]


def test_append_and_extend_add_entries_and_their_variables() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{a}")])
    copy = prompt.partial(a="A")

    prompt.append(("ai", "{z}"))
    prompt.extend([("ai", "{y}"), "k {w}", MessagesPlaceholder("h", optional=True)])

    assert len(prompt) == 5
    assert prompt.input_variables == ["a", "z", "y", "w"]
    assert prompt.optional_variables == ["h"]
    assert prompt.format_messages(a=1, z=2, y=3, w=4)[-1] == HumanMessage("k 4")
    assert len(copy) == 1


def test_append_and_extend_refuse_bad_entries() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{a}")])

    with pytest.raises(TypeError, match="42"):
        prompt.append(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='"messages"'):
        prompt.extend("hi")
    with pytest.raises(ValueError, match="'robot'"):
        prompt.extend([("robot", "x")])
    assert len(prompt) == 1


def test_pretty_repr_shows_every_entry() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [SystemMessage("fixed"), MessagesPlaceholder("h"), ("human", "{a}")]
    )

    assert prompt.pretty_repr() == "\n\n".join(
        [
            "=" * 32 + " System Message " + "=" * 32 + "\n\nfixed",
            "=" * 29 + " Messages Placeholder " + "=" * 29 + "\n\n{h}",
            "=" * 32 + " Human Message " + "=" * 33 + "\n\n{a}",
        ]
    )


def test_pretty_repr_of_multipart_shows_text_then_other_parts() -> None:
    template = HumanMessagePromptTemplate.from_template(
        ["look {a}", {"type": "image_url", "image_url": "{u}"}]
    )

    assert template.pretty_repr().split("\n\n")[1:] == [
        "look {a}",
        '{"type": "image_url", "image_url": {"url": "{u}"}}',
    ]


def test_dict_parts_template_every_string_at_any_depth_and_keep_other_values() -> None:
    part = {"type": "file", "file": {"ids": ["{a}", 3, ("{b}",)], "flag": True, "n": None}}
    prompt = ChatPromptTemplate.from_messages([("human", [part])])

    (message,) = prompt.format_messages(a="A", b="B")

    assert prompt.input_variables == ["a", "b"]
    assert message.content == [
        {"type": "file", "file": {"ids": ["A", 3, ("B",)], "flag": True, "n": None}}
    ]


def test_a_bad_template_in_a_class_pair_names_the_index() -> None:
    with pytest.raises(TypeError, match=r"index 0.*list of parts"):
        ChatPromptTemplate.from_messages([(HumanMessage, 42)])  # type: ignore[list-item]


def test_additional_kwargs_must_be_a_dict() -> None:
    with pytest.raises(TypeError, match=r'"additional_kwargs".*list \[1\]'):
        HumanMessagePromptTemplate.from_template("x", additional_kwargs=[1])  # type: ignore[arg-type]


def test_nested_prompt_placeholders_type_the_outer_schema() -> None:
    inner = ChatPromptTemplate.from_messages([MessagesPlaceholder("history")])
    prompt = ChatPromptTemplate.from_messages([inner, ("human", "{q}")])

    schema = prompt.get_input_jsonschema()

    assert schema["required"] == ["history", "q"]
    assert schema["properties"]["history"]["type"] == "array"


def test_chat_pretty_print_prints_the_pretty_repr(capsys: pytest.CaptureFixture[str]) -> None:
    prompt = ChatPromptTemplate.from_messages([AIMessage("done", name="bob")])

    prompt.pretty_print()

    assert capsys.readouterr().out == "=" * 34 + " Ai Message " + "=" * 34 + "\nName: bob\n\ndone\n"


def test_placeholder_dict_items_with_unknown_roles_name_the_variable() -> None:
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history")])

    with pytest.raises(ValueError, match=r"'history'.*item 0.*'robot'"):
        prompt.format_messages(history=[{"role": "robot", "content": "x"}])


def test_legacy_constructor_with_declared_input_variables() -> None:
    prompt = ChatPromptTemplate(
        input_variables=["question", "history"],
        messages=[
            SystemMessagePromptTemplate(prompt=PromptTemplate(input_variables=[], template="Hi")),
            MessagesPlaceholder("history", optional=True),
            HumanMessagePromptTemplate.from_template("{question}"),
        ],
    )

    assert prompt.input_variables == ["question"]
    assert prompt.format_messages(question="q") == [SystemMessage("Hi"), HumanMessage("q")]
    with pytest.raises(ValueError, match=r'"input_variables".*\[\'quest\'\]'):
        ChatPromptTemplate([("human", "{question}")], input_variables=["quest"])
    with pytest.raises(TypeError, match='"input_variables"'):
        ChatPromptTemplate([("human", "{q}")], input_variables="q")
