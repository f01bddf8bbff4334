import pickle
import re
from typing import Any

import pytest

from prompts import (
    AIMessage,
    BaseMessage,
    ChatPromptTemplate,
    ChatPromptValue,
    HumanMessage,
    MessagesPlaceholder,
    MessageTemplate,
    MissingVariablesError,
    SystemMessage,
)
from runnables import RunnableLambda

ROLES = "['ai', 'assistant', 'human', 'placeholder', 'system', 'user']"


def test_from_messages_maps_every_role_to_its_message_class() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "sys {x}"),
            ("human", "human {x}"),
            ("user", "user {x}"),
            ("ai", "ai {x}"),
            ("assistant", "assistant {x}"),
        ]
    )

    messages = prompt.format_messages(x=1)

    assert messages == [
        SystemMessage(content="sys 1"),
        HumanMessage(content="human 1"),
        HumanMessage(content="user 1"),
        AIMessage(content="ai 1"),
        AIMessage(content="assistant 1"),
    ]
    assert [type(m) for m in messages] == [
        SystemMessage,
        HumanMessage,
        HumanMessage,
        AIMessage,
        AIMessage,
    ]


def test_invoke_returns_a_chat_prompt_value_with_a_transcript() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You explain {topic}."), ("human", "{question}")]
    )

    value = prompt.invoke({"topic": "space", "question": "Why is it dark?"})

    assert isinstance(value, ChatPromptValue)
    assert value.to_string() == "System: You explain space.\nHuman: Why is it dark?"
    assert prompt.format(topic="space", question="Q") == "System: You explain space.\nHuman: Q"
    assert prompt.format_prompt(topic="a", question="b") == ChatPromptValue(
        [SystemMessage(content="You explain a."), HumanMessage(content="b")]
    )


def test_input_variables_in_order_of_first_appearance_across_messages() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "{persona} on {topic}"),
            MessagesPlaceholder("history"),
            ("human", "{question} about {topic}"),
        ]
    )

    assert prompt.input_variables == ["persona", "topic", "history", "question"]
    assert prompt.optional_variables == []


def test_message_objects_are_inserted_as_is_and_not_templated() -> None:
    fixed = SystemMessage(content='Answer in JSON like {"a": {x}}')
    prompt = ChatPromptTemplate.from_messages([fixed, ("human", "{q}")])

    messages = prompt.format_messages(q="hi")

    assert prompt.input_variables == ["q"]
    assert messages[0] is fixed
    assert messages[0].content == 'Answer in JSON like {"a": {x}}'


def test_a_plain_str_entry_is_a_human_template() -> None:
    prompt = ChatPromptTemplate.from_messages(["About {topic}"])

    assert prompt.format_messages(topic="space") == [HumanMessage(content="About space")]


def test_list_pairs_are_accepted_like_tuples() -> None:
    prompt = ChatPromptTemplate.from_messages([["system", "be {tone}"]])  # type: ignore[list-item]

    assert prompt.format_messages(tone="brief") == [SystemMessage(content="be brief")]


def test_from_template_is_one_human_message() -> None:
    prompt = ChatPromptTemplate.from_template("Tell me about {topic}")

    assert prompt.invoke("space").to_messages() == [HumanMessage(content="Tell me about space")]
    with pytest.raises(TypeError, match=r'"template".*42'):
        ChatPromptTemplate.from_template(42)  # type: ignore[arg-type]


def test_constructor_is_from_messages() -> None:
    prompt = ChatPromptTemplate([("human", "{a}")], partial_variables={"a": "x"})

    assert prompt.input_variables == []
    assert prompt.format_messages() == [HumanMessage(content="x")]


def test_empty_prompt_gives_no_messages() -> None:
    assert ChatPromptTemplate.from_messages([]).invoke({}) == ChatPromptValue([])


# -- bad entries ---------------------------------------------------------------------------------


def test_unknown_role_names_it_and_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="'bot'") as info:
        ChatPromptTemplate.from_messages([("system", "s"), ("bot", "hi {x}")])

    assert ROLES in str(info.value)
    assert "messages[1]" in str(info.value)


@pytest.mark.parametrize("entry", [42, None, ("human",), ("human", "a", "b"), {"human", "hi"}])
def test_bad_entry_is_a_type_error_showing_it(entry: Any) -> None:
    with pytest.raises(TypeError, match=r"index 1") as info:
        ChatPromptTemplate.from_messages([("human", "ok"), entry])

    assert repr(entry) in str(info.value)


def test_non_str_role_or_template_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=re.escape("messages[0] (1, 'hi')")):
        ChatPromptTemplate.from_messages([(1, "hi")])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=re.escape('"messages[0] template"')) as info:
        ChatPromptTemplate.from_messages([("human", 42)])  # type: ignore[list-item]
    assert "42" in str(info.value)


def test_bad_template_in_an_entry_names_the_entry_and_field() -> None:
    with pytest.raises(ValueError, match=re.escape("messages[1]")) as info:
        ChatPromptTemplate.from_messages([("system", "s"), ("human", "{x.y}")])

    assert "{x.y}" in str(info.value)


@pytest.mark.parametrize("messages", ["human: {q}", None, {"human": "{q}"}])
def test_messages_must_be_a_list(messages: Any) -> None:
    with pytest.raises(TypeError, match='"messages"') as info:
        ChatPromptTemplate.from_messages(messages)

    assert repr(messages) in str(info.value)


def test_missing_variable_names_missing_and_expected() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Write in a {style} style."), ("human", "About {topic}")]
    )

    with pytest.raises(KeyError) as info:
        prompt.invoke({"style": "plain"})

    assert str(info.value) == "Missing variables ['topic'] for prompt; expected ['style', 'topic']"


def test_missing_variable_error_names_the_unexpected_keys_as_a_hint() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Write in a {style} style."), ("human", "About {topic}")]
    )

    with pytest.raises(KeyError) as info:
        prompt.invoke({"topic": "space", "stlye": "plain"})

    assert str(info.value) == (
        "Missing variables ['style'] for prompt; expected ['style', 'topic']; "
        "got unexpected 'stlye'"
    )


def test_message_template_and_placeholder_alone_name_unexpected_keys() -> None:
    with pytest.raises(MissingVariablesError) as info:
        MessageTemplate("human", "About {topic}").format(topci="space")
    assert info.value.unexpected == ["topci"]
    assert str(info.value).endswith("got unexpected 'topci'")

    with pytest.raises(MissingVariablesError) as info:
        MessagesPlaceholder("history").format_messages(histroy=[])
    assert info.value.unexpected == ["histroy"]


@pytest.mark.parametrize(
    ("messages", "expected"),
    [([("human", "no variables")], "[]"), ([("system", "{a}"), ("human", "{b}")], "['a', 'b']")],
)
def test_plain_input_with_zero_or_several_variables_is_a_type_error(
    messages: list[tuple[str, str]], expected: str
) -> None:
    prompt = ChatPromptTemplate.from_messages(messages)

    with pytest.raises(TypeError, match=re.escape(expected)) as info:
        prompt.invoke("space")

    assert "ChatPromptTemplate" in str(info.value)


# -- MessageTemplate -----------------------------------------------------------------------------


def test_message_template_formats_one_message() -> None:
    template = MessageTemplate("assistant", "Sure, {name}.")

    assert template.input_variables == ["name"]
    assert template.format(name="Ada") == AIMessage(content="Sure, Ada.")
    assert repr(template) == "MessageTemplate('assistant', 'Sure, {name}.')"
    assert template == MessageTemplate("ai", "Sure, {name}.")
    with pytest.raises(MissingVariablesError, match=re.escape("['name']")):
        template.format()


def test_message_template_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"'robot'.*'assistant'"):
        MessageTemplate("robot", "hi")
    with pytest.raises(ValueError, match="'placeholder'"):
        MessageTemplate("placeholder", "{history}")
    with pytest.raises(TypeError, match=r'"template".*None'):
        MessageTemplate("human", None)  # type: ignore[arg-type]


def test_message_template_entries_are_used_in_prompts() -> None:
    prompt = ChatPromptTemplate.from_messages([MessageTemplate("system", "{a}"), ("human", "{b}")])

    assert prompt.format_messages(a=1, b=2) == [
        SystemMessage(content="1"),
        HumanMessage(content="2"),
    ]


# -- MessagesPlaceholder -------------------------------------------------------------------------


def history_prompt(**options: Any) -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages(
        [
            ("system", "You are helpful."),
            MessagesPlaceholder("history", **options),
            ("human", "{question}"),
        ]
    )


def test_placeholder_inserts_messages_and_role_tuples_untemplated() -> None:
    prompt = history_prompt()
    earlier = HumanMessage(content="I am {Ada}")

    messages = prompt.format_messages(
        question="What did I say?", history=[earlier, ("ai", "Hello {Ada}")]
    )

    assert messages == [
        SystemMessage(content="You are helpful."),
        HumanMessage(content="I am {Ada}"),
        AIMessage(content="Hello {Ada}"),
        HumanMessage(content="What did I say?"),
    ]
    assert messages[1] is earlier


def test_placeholder_accepts_a_tuple_of_messages() -> None:
    messages = history_prompt().format_messages(question="q", history=(AIMessage(content="a"),))

    assert messages[1] == AIMessage(content="a")


def test_required_placeholder_missing_is_a_missing_variable() -> None:
    with pytest.raises(KeyError) as info:
        history_prompt().invoke({"question": "q"})

    assert str(info.value) == (
        "Missing variables ['history'] for prompt; expected ['history', 'question']"
    )


def test_optional_placeholder_missing_gives_no_messages() -> None:
    prompt = history_prompt(optional=True)

    assert prompt.input_variables == ["question"]
    assert prompt.optional_variables == ["history"]
    assert prompt.format_messages(question="q") == [
        SystemMessage(content="You are helpful."),
        HumanMessage(content="q"),
    ]
    # One required variable left: a plain input works.
    assert prompt.invoke("q") == prompt.invoke({"question": "q"})
    assert len(prompt.format_messages(question="q", history=[("human", "h")])) == 3


def test_placeholder_tuple_role_is_an_optional_placeholder() -> None:
    prompt = ChatPromptTemplate.from_messages([("placeholder", "{history}"), ("human", "{q}")])

    assert prompt.messages[0] == MessagesPlaceholder("history", optional=True)
    assert prompt.input_variables == ["q"]
    assert prompt.format_messages(q="x") == [HumanMessage(content="x")]
    with pytest.raises(ValueError, match=r"messages\[0\].*'\{history\}'"):
        ChatPromptTemplate.from_messages([("placeholder", "history: {history}")])


def test_variable_optional_in_one_place_and_required_in_another_is_required() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("h", optional=True), MessagesPlaceholder("h")]
    )

    assert prompt.input_variables == ["h"]
    assert prompt.optional_variables == []


@pytest.mark.parametrize(
    "value", ["hello", HumanMessage(content="one message"), 42, None, {"role": "human"}]
)
def test_placeholder_value_must_be_a_list(value: Any) -> None:
    with pytest.raises(TypeError, match="'history'") as info:
        history_prompt().invoke({"question": "q", "history": value})

    assert repr(value) in str(info.value)


def test_placeholder_items_may_be_strings_and_message_dicts() -> None:
    history = [AIMessage(content="a"), "plain text", {"role": "ai", "content": "x"}]

    messages = history_prompt().format_messages(question="q", history=history)

    assert messages[1:4] == [AIMessage("a"), HumanMessage("plain text"), AIMessage("x")]


@pytest.mark.parametrize("item", [("human",), ("human", 42), 42, None])
def test_placeholder_items_must_be_messages_or_role_pairs(item: Any) -> None:
    with pytest.raises(TypeError, match=r"'history'.*item 1") as info:
        history_prompt().invoke({"question": "q", "history": [AIMessage(content="a"), item]})

    assert repr(item) in str(info.value)


def test_placeholder_item_with_unknown_role_names_role_and_variable() -> None:
    with pytest.raises(ValueError, match=r"'history'.*'robot'") as info:
        history_prompt().invoke({"question": "q", "history": [("robot", "beep")]})

    assert "'assistant'" in str(info.value)


def test_n_messages_keeps_the_last_ones() -> None:
    history = [("human", "1"), ("ai", "2"), ("human", "3")]

    messages = history_prompt(n_messages=2).format_messages(question="q", history=history)

    assert [m.content for m in messages] == ["You are helpful.", "2", "3", "q"]


def test_placeholder_format_messages_alone() -> None:
    placeholder = MessagesPlaceholder("history")

    assert placeholder.input_variables == ["history"]
    assert MessagesPlaceholder("h", optional=True).input_variables == []
    assert placeholder.format_messages(history=[("user", "hi")]) == [HumanMessage(content="hi")]
    assert MessagesPlaceholder("h", optional=True).format_messages() == []
    with pytest.raises(MissingVariablesError, match=re.escape("['history']")):
        placeholder.format_messages()


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [
        ({"variable_name": 42}, TypeError, "variable_name"),
        ({"variable_name": ""}, ValueError, "variable_name"),
        ({"variable_name": "h", "optional": "yes"}, TypeError, "optional"),
        ({"variable_name": "h", "n_messages": 0}, ValueError, "n_messages"),
        ({"variable_name": "h", "n_messages": 2.0}, TypeError, "n_messages"),
        ({"variable_name": "h", "n_messages": True}, TypeError, "n_messages"),
    ],
)
def test_placeholder_bad_arguments(
    kwargs: dict[str, Any], error: type[Exception], param: str
) -> None:
    with pytest.raises(error, match=f'"{param}"'):
        MessagesPlaceholder(**kwargs)


# -- partial -------------------------------------------------------------------------------------


def test_partial_on_chat_prompts_including_placeholders() -> None:
    prompt = history_prompt().partial(history=lambda: [("ai", "earlier")])

    assert prompt.input_variables == ["question"]
    assert prompt.partial_variables.keys() == {"history"}
    assert [m.content for m in prompt.invoke("q").to_messages()] == [
        "You are helpful.",
        "earlier",
        "q",
    ]
    with pytest.raises(ValueError, match=r"\['nope'\]"):
        prompt.partial(nope=1)


def test_partial_chat_prompt_missing_names_only_input_variables() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "{a} {b}"), ("human", "{c}")])

    with pytest.raises(MissingVariablesError) as info:
        prompt.partial(a="A").format_messages(b=1)

    assert str(info.value) == "Missing variables ['c'] for prompt; expected ['b', 'c']"


# -- as a runnable -------------------------------------------------------------------------------


def test_pipes_into_a_model_and_batches() -> None:
    def fake_model(value: ChatPromptValue) -> AIMessage:
        last = value.to_messages()[-1]
        return AIMessage(content=f"{len(value.messages)} messages, last: {last.content}")

    chain = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), ("human", "{q}")]
    ) | RunnableLambda(fake_model)

    assert chain.invoke("hi") == AIMessage(content="2 messages, last: hi")
    assert [m.content for m in chain.batch(["a", {"q": "b"}])] == [
        "2 messages, last: a",
        "2 messages, last: b",
    ]


@pytest.mark.anyio
async def test_ainvoke_and_abatch() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "{a}"), ("human", "{b}")])

    value = await prompt.ainvoke({"a": 1, "b": 2})
    values = await prompt.abatch([{"a": 1, "b": 2}, {"a": 3}], return_exceptions=True)

    assert value.to_messages() == [SystemMessage(content="1"), HumanMessage(content="2")]
    assert values[0] == value
    assert isinstance(values[1], MissingVariablesError)


def test_chat_template_pickles() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            SystemMessage(content="fixed"),
            MessagesPlaceholder("history", optional=True, n_messages=3),
            ("human", "{style}: {q}"),
        ]
    ).partial(style="short")

    restored = pickle.loads(pickle.dumps(prompt))

    assert restored.input_variables == ["q"]
    assert restored.messages == prompt.messages
    assert restored.invoke("x") == prompt.invoke("x")


def test_repr_lists_the_entries() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])

    assert repr(prompt) == (
        "ChatPromptTemplate(messages=[HumanMessagePromptTemplate(template='{q}')])"
    )


def test_formatted_messages_are_new_each_call() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])

    first: list[BaseMessage] = prompt.format_messages(q="a")
    first.append(AIMessage(content="x"))

    assert prompt.format_messages(q="a") == [HumanMessage(content="a")]


def test_placeholder_tuples_read_every_role_convert_to_messages_reads() -> None:
    # One role table (convert_to_messages'), as LangChain's placeholder: tool, developer and
    # function roles in (role, content) pairs too.
    from prompts import ChatPromptTemplate, MessagesPlaceholder, SystemMessage

    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history")])
    messages = prompt.format_messages(history=[("developer", "be brief"), ("user", "hi")])
    assert [type(m).__name__ for m in messages] == ["SystemMessage", "HumanMessage"]
    assert isinstance(messages[0], SystemMessage)
    assert messages[0].additional_kwargs == {"__openai_role__": "developer"}
