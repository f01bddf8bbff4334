"""Prompt schemas: variables as required strings, placeholders as lists of messages."""

from prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate, SystemMessage


def test_prompt_variables_are_required_strings() -> None:
    prompt = PromptTemplate.from_template("Tell me about {topic} in {words} words")
    assert prompt.get_input_jsonschema() == {
        "title": "PromptInput",
        "type": "object",
        "properties": {
            "topic": {"title": "Topic", "type": "string"},
            "words": {"title": "Words", "type": "string"},
        },
        "required": ["topic", "words"],
    }


def test_equal_prompts_share_one_schema_class() -> None:
    a = PromptTemplate.from_template("About {topic}")
    b = PromptTemplate.from_template("On {topic}")
    assert a.input_schema is a.get_input_schema() is b.get_input_schema()


def test_partial_variables_leave_the_schema() -> None:
    prompt = PromptTemplate.from_template("{a} {b}").partial(a="x")
    assert list(prompt.get_input_jsonschema()["properties"]) == ["b"]


def test_chat_placeholders_are_lists_of_messages() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You answer questions about {topic}."),
            MessagesPlaceholder("history"),
            ("placeholder", "{examples}"),
            ("human", "{question}"),
        ]
    )
    schema = prompt.get_input_jsonschema()
    assert schema["required"] == ["topic", "history", "question"]
    history = schema["properties"]["history"]
    assert history["type"] == "array"
    refs = [item.get("$ref") for item in history["items"]["anyOf"]]
    assert refs[:3] == ["#/$defs/SystemMessage", "#/$defs/HumanMessage", "#/$defs/AIMessage"]
    assert schema["properties"]["examples"]["default"] is None  # optional
    model = prompt.get_input_schema()
    parsed = model.model_validate(
        {"topic": "t", "question": "q", "history": [SystemMessage(content="s"), ("human", "hi")]}
    )
    assert parsed.model_dump()["history"][0]["content"] == "s"


def test_prompt_output_is_its_prompt_value() -> None:
    chat = ChatPromptTemplate.from_messages([("human", "{q}")]).get_output_jsonschema()
    assert chat["title"] == "ChatPromptTemplateOutput"
    assert chat["$ref"] == "#/$defs/ChatPromptValue"
    assert list(chat["$defs"]["ChatPromptValue"]["properties"]) == ["messages"]
    text = PromptTemplate.from_template("{q}").get_output_jsonschema()
    assert text["title"] == "PromptTemplateOutput"
    assert text["$defs"]["StringPromptValue"]["properties"] == {
        "text": {"title": "Text", "type": "string"}
    }
