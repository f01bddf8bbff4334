"""LangChain's message template classes; results checked against langchain-core 1.8.3's."""

from pathlib import Path
from typing import Any

import pytest

from prompts import (
    AIMessage,
    AIMessagePromptTemplate,
    BaseMessage,
    BaseMessagePromptTemplate,
    ChatMessage,
    ChatMessagePromptTemplate,
    ChatPromptTemplate,
    HumanMessage,
    HumanMessagePromptTemplate,
    MessagesPlaceholder,
    MessageTemplate,
    MissingVariablesError,
    PromptTemplate,
    SystemMessage,
    SystemMessagePromptTemplate,
)

KINDS = [
    (HumanMessagePromptTemplate, HumanMessage),
    (SystemMessagePromptTemplate, SystemMessage),
    (AIMessagePromptTemplate, AIMessage),
]


@pytest.mark.parametrize(("kind", "message"), KINDS)
def test_from_template_formats_one_message_of_its_class(
    kind: Any, message: type[BaseMessage]
) -> None:
    template = kind.from_template("hi {x} {y}")

    made = template.format(x=1, y=2)

    assert type(made) is message
    assert made.content == "hi 1 2"
    assert template.format_messages(x=1, y=2) == [made]
    assert template.input_variables == ["x", "y"]
    assert isinstance(template, MessageTemplate)
    assert isinstance(template, BaseMessagePromptTemplate)


@pytest.mark.anyio
@pytest.mark.parametrize(("kind", "message"), KINDS)
async def test_async_forms_give_the_same_message(kind: Any, message: type) -> None:
    template = kind.from_template("hi {x}")

    assert await template.aformat(x=1) == message("hi 1")
    assert await template.aformat_messages(x=1) == [message("hi 1")]


def test_prompt_is_a_prompt_template_of_the_text() -> None:
    template = HumanMessagePromptTemplate.from_template("hi {x}", partial_variables={"x": "P"})

    assert isinstance(template.prompt, PromptTemplate)
    assert template.prompt.template == "hi {x}"
    assert template.prompt.partial_variables == {"x": "P"}
    assert template.prompt is template.prompt


def test_partial_variables_leave_input_variables() -> None:
    template = SystemMessagePromptTemplate.from_template(
        "{a} and {b}", partial_variables={"a": lambda: "A"}
    )

    assert template.input_variables == ["b"]
    assert template.format(b="B") == SystemMessage("A and B")
    assert template.format(a="mine", b="B") == SystemMessage("mine and B")


def test_a_missing_variable_names_it() -> None:
    template = HumanMessagePromptTemplate.from_template("{x} {y}")

    with pytest.raises(MissingVariablesError) as info:
        template.format(x=1, yy=2)

    assert info.value.missing == ["y"]
    assert info.value.unexpected == ["yy"]


def test_constructed_from_a_prompt_template_keeps_it() -> None:
    prompt = PromptTemplate.from_template("q {a} {b}", partial_variables={"b": "B"})

    template = HumanMessagePromptTemplate(prompt=prompt, additional_kwargs={"k": 1})

    assert template.prompt is prompt
    assert template.input_variables == ["a"]
    made = template.format(a=1)
    assert made == HumanMessage("q 1 B", additional_kwargs={"k": 1})
    assert made.additional_kwargs is not template.additional_kwargs


def test_constructor_rejects_a_non_prompt_and_unknown_arguments() -> None:
    with pytest.raises(TypeError, match=r'"prompt".*str \'hi\''):
        HumanMessagePromptTemplate(prompt="hi")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"unexpected arguments \['role'\]"):
        HumanMessagePromptTemplate(prompt=PromptTemplate("x"), role="x")


def test_chat_message_template_needs_a_role_and_sets_it() -> None:
    template = ChatMessagePromptTemplate.from_template("as {r}", role="critic")

    assert template.format(r=1) == ChatMessage("as 1", role="critic")
    assert template.input_variables == ["r"]
    assert repr(template) == "ChatMessagePromptTemplate(template='as {r}', role='critic')"
    made = ChatMessagePromptTemplate(prompt=PromptTemplate("x"), role="judge").format()
    assert made == ChatMessage("x", role="judge")
    with pytest.raises(TypeError, match='"role"'):
        ChatMessagePromptTemplate.from_template("as {r}")
    with pytest.raises(TypeError, match=r'"role".*int 3'):
        ChatMessagePromptTemplate.from_template("x", role=3)


def test_template_formats_apply_to_message_templates() -> None:
    template = SystemMessagePromptTemplate.from_template("{{a}} {b}", template_format="mustache")

    assert template.input_variables == ["a"]
    assert template.format(a="<x>") == SystemMessage("&lt;x&gt; {b}")
    with pytest.raises(ValueError, match=r"\"template_format\" argument 'mustach'"):
        SystemMessagePromptTemplate.from_template("x", "mustach")  # type: ignore[arg-type]


def test_from_template_file_reads_utf8_and_checks_declared_variables(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Grüße, {name}", encoding="utf-8")

    template = HumanMessagePromptTemplate.from_template_file(path, ["name"])

    assert template.format(name="Ann") == HumanMessage("Grüße, Ann")
    with pytest.raises(ValueError, match='"input_variables"'):
        HumanMessagePromptTemplate.from_template_file(path, ["nom"])


def test_message_templates_are_entries_of_a_chat_prompt() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            SystemMessagePromptTemplate.from_template("Be {tone}."),
            HumanMessagePromptTemplate.from_template("{q}"),
            ChatMessagePromptTemplate.from_template("{c}", role="critic"),
        ]
    )

    assert prompt.input_variables == ["tone", "q", "c"]
    assert prompt.format_messages(tone="brief", q="why", c="meh") == [
        SystemMessage("Be brief."),
        HumanMessage("why"),
        ChatMessage("meh", role="critic"),
    ]


def test_pretty_repr_titles_each_kind() -> None:
    assert HumanMessagePromptTemplate.from_template("hi {x}").pretty_repr() == (
        "=" * 32 + " Human Message " + "=" * 33 + "\n\nhi {x}"
    )
    assert AIMessagePromptTemplate.from_template("a").pretty_repr().startswith("=" * 34 + " AI ")
    chat = ChatMessagePromptTemplate.from_template("c", role="r").pretty_repr()
    assert chat.startswith("=" * 33 + " Chat Message ")
    placeholder = MessagesPlaceholder("history").pretty_repr()
    assert placeholder == "=" * 29 + " Messages Placeholder " + "=" * 29 + "\n\n{history}"


def test_pretty_print_prints_the_pretty_repr(capsys: pytest.CaptureFixture[str]) -> None:
    template = SystemMessagePromptTemplate.from_template("{x}")

    template.pretty_print()

    assert capsys.readouterr().out == template.pretty_repr() + "\n"


@pytest.mark.anyio
async def test_placeholder_formats_async_too() -> None:
    placeholder = MessagesPlaceholder("h")

    assert await placeholder.aformat_messages(h=[("ai", "x")]) == [AIMessage("x")]


def test_the_base_class_leaves_formatting_to_its_kinds() -> None:
    base = BaseMessagePromptTemplate()

    with pytest.raises(NotImplementedError):
        base.format_messages()
    with pytest.raises(NotImplementedError):
        base.pretty_repr()
