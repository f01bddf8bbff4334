"""Call options bound to a model are checked when the chain is built, not at invoke."""

from typing import Any

import pytest

from llm import ChatOpenAI, OfflineChatModel


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: ChatOpenAI().bind(bogus=1), TypeError, r"call options \['bogus'\]"),
        (lambda: ChatOpenAI().bind(model="other"), ValueError, r"call options \['model'\]"),
        (lambda: ChatOpenAI().bind(temperature=9), ValueError, '"temperature".*9'),
        (lambda: ChatOpenAI().bind(max_tokens=0), ValueError, '"max_tokens"'),
        (lambda: OfflineChatModel().bind(stop=5), TypeError, '"stop".*5'),
        (lambda: ChatOpenAI().bind(top_p=0.5).bind(stop=7), TypeError, '"stop".*7'),
    ],
)
def test_bad_bound_options_fail_at_build_time(
    build: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        build()


def test_good_bound_options_are_kept() -> None:
    bound = ChatOpenAI().bind(stop=["END"], top_p=0.5, max_tokens=10)
    assert bound.kwargs == {"stop": ["END"], "top_p": 0.5, "max_tokens": 10}


MODELS = [
    pytest.param(lambda: ChatOpenAI(), id="ChatOpenAI"),
    pytest.param(lambda: OfflineChatModel(), id="OfflineChatModel"),
]

COMMON_BAD_OPTIONS = [
    pytest.param(
        {"temperature": 5},
        ValueError,
        r'"temperature" argument: 5; expected a number in \[0, 2\]',
        id="temperature=5",
    ),
    pytest.param({"temperature": -0.1}, ValueError, '"temperature"', id="temperature<0"),
    pytest.param({"temperature": "hot"}, TypeError, "\"temperature\".*'hot'", id="temperature=str"),
    pytest.param({"max_tokens": 0}, ValueError, '"max_tokens" argument: 0', id="max_tokens=0"),
    pytest.param(
        {"max_tokens": 1.5}, TypeError, '"max_tokens" argument: 1.5', id="max_tokens=float"
    ),
    pytest.param({"stop": 5}, TypeError, '"stop" option: 5', id="stop=int"),
    pytest.param({"tools": "search"}, TypeError, "\"tools\" option: 'search'", id="tools=str"),
    pytest.param({"tool_choice": 3}, TypeError, '"tool_choice" option: 3', id="tool_choice=int"),
    pytest.param(
        {"parallel_tool_calls": "yes"}, TypeError, '"parallel_tool_calls"', id="parallel=str"
    ),
    pytest.param(
        {"response_format": "json"}, TypeError, '"response_format" option', id="response_format=str"
    ),
]


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize(("options", "error", "match"), COMMON_BAD_OPTIONS)
def test_every_model_checks_the_common_options_the_same_way(
    make: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    model = make()
    with pytest.raises(error, match=match):
        model.bind(**options)
    with pytest.raises(error, match=match):  # and through other wrappers' bind
        model.with_config(tags=["x"]).bind(**options)


@pytest.mark.anyio
@pytest.mark.parametrize(("options", "error", "match"), COMMON_BAD_OPTIONS)
async def test_offline_checks_options_given_at_invoke_too(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await OfflineChatModel().ainvoke("x", **options)


def test_offline_accepts_good_common_options_and_ignores_the_rest() -> None:
    bound = OfflineChatModel(responses=["ok"]).bind(temperature=0.2, max_tokens=5, top_k=3)
    assert bound.invoke("x").content == "ok"
