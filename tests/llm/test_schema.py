"""Schemas of chat models and parsers, and of the prompt | model | parser chain."""

from pydantic import BaseModel

from llm import (
    CommaSeparatedListOutputParser,
    JsonOutputParser,
    OfflineChatModel,
    PydanticOutputParser,
    StrOutputParser,
)
from prompts import AIMessage, ChatPromptTemplate


class Answer(BaseModel):
    text: str


def test_chat_model_takes_text_prompt_values_or_messages_and_gives_an_ai_message() -> None:
    model = OfflineChatModel()
    schema = model.get_input_jsonschema()
    assert schema["title"] == "OfflineChatModelInput"
    kinds = [option.get("type") or option.get("$ref") for option in schema["anyOf"]]
    assert kinds == ["string", "#/$defs/StringPromptValue", "#/$defs/ChatPromptValue", "array"]
    assert model.get_output_schema() is AIMessage


def test_parsers_take_a_reply_and_give_their_value() -> None:
    assert StrOutputParser().get_output_jsonschema() == {
        "title": "StrOutputParserOutput",
        "type": "string",
    }
    assert CommaSeparatedListOutputParser().get_output_jsonschema()["items"] == {"type": "string"}
    assert JsonOutputParser().get_output_jsonschema() == {"title": "JsonOutputParserOutput"}
    assert PydanticOutputParser(Answer).get_output_schema() is Answer
    reply = StrOutputParser().get_input_jsonschema()
    assert reply["anyOf"][0] == {"type": "string"}
    assert len(reply["anyOf"]) == 7  # a string or one of the six message kinds


def test_prompt_model_parser_chain_takes_the_prompt_input_and_gives_the_parser_output() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])
    chain = prompt | OfflineChatModel() | PydanticOutputParser(Answer)
    assert chain.get_input_jsonschema() == {
        "title": "PromptInput",
        "type": "object",
        "properties": {"question": {"title": "Question", "type": "string"}},
        "required": ["question"],
    }
    assert chain.get_output_schema() is Answer
    graph = chain.get_graph()
    assert [n.name for n in graph.nodes.values()] == [
        "PromptInput",
        "ChatPromptTemplate",
        "OfflineChatModel",
        "PydanticOutputParser",
        "Answer",
    ]
