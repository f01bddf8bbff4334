"""Static types of model chains; mypy (strict) checks this file, pytest runs it."""

from typing import Any, assert_type

from pydantic import BaseModel

from llm import (
    ChatOpenAI,
    CommaSeparatedListOutputParser,
    JsonOutputParser,
    LanguageModelInput,
    OfflineChatModel,
    PydanticOutputParser,
    StrOutputParser,
)
from prompts._messages import AIMessage, AIMessageChunk
from runnables import Runnable, RunnableSequence


class Answer(BaseModel):
    text: str


def test_model_and_parser_types_flow_through_pipes() -> None:
    model = OfflineChatModel(responses=['{"text": "hi"}'])
    assert_type(model.invoke("x"), AIMessage)
    assert_type(next(iter(model.stream("x"))), AIMessageChunk)
    text = model | StrOutputParser()
    assert_type(text, RunnableSequence[LanguageModelInput, str])
    assert_type(text.invoke("x"), str)
    assert_type((model | PydanticOutputParser(Answer)).invoke("x"), Answer)
    assert_type((model | JsonOutputParser()).invoke("x"), Any)
    assert_type((model | CommaSeparatedListOutputParser()).invoke("x"), list[str])
    structured = ChatOpenAI(api_key="k").with_structured_output(Answer)
    assert_type(structured, Runnable[LanguageModelInput, Answer])
