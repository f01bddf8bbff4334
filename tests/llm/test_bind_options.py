"""Call options bound to a model are checked when the chain is built, not at invoke."""

from collections.abc import Callable
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


def test_offline_accepts_openai_options_and_ignores_them() -> None:
    bound = OfflineChatModel(responses=["ok"]).bind(
        temperature=0.2, max_tokens=5, top_p=0.9, extra_body={"top_k": 3}
    )
    assert bound.invoke("x").content == "ok"


# -- a misspelt option fails the same way on every model and every path ----------------------

TYPO = r"Invalid call options \['temprature'\]: not options of \w+ \(did you mean 'temperature'\?\)"


def _model(name: str) -> Any:
    # A ChatOpenAI that never reaches a server: the check must come before any request.
    if name == "ChatOpenAI":
        return ChatOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9", max_retries=0)
    return OfflineChatModel(responses=["ok"])


MODEL_NAMES = ["ChatOpenAI", "OfflineChatModel"]


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


SYNC_PATHS: dict[str, Callable[[Any], Any]] = {
    "bind": lambda m: m.bind(temprature=0.3),
    "with_config.bind": lambda m: m.with_config(tags=["t"]).bind(temprature=0.3),
    "bind.bind": lambda m: m.bind(top_p=0.5).bind(temprature=0.3),
    "invoke": lambda m: m.invoke("hi", temprature=0.3),
    "bound.invoke": lambda m: m.bind(top_p=0.5).invoke("hi", temprature=0.3),
    "stream": lambda m: list(m.stream("hi", temprature=0.3)),
    "batch": lambda m: m.batch(["hi", "ho"], temprature=0.3),
}

ASYNC_PATHS: dict[str, Callable[[Any], Any]] = {
    "ainvoke": lambda m: m.ainvoke("hi", temprature=0.3),
    "astream": lambda m: _drain(m.astream("hi", temprature=0.3)),
    "abatch": lambda m: m.abatch(["hi"], temprature=0.3),
    "with_config.ainvoke": lambda m: m.with_config(tags=["t"]).ainvoke("hi", temprature=0.3),
}


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("path", list(SYNC_PATHS))
def test_a_misspelt_option_is_rejected_on_every_sync_path(model: str, path: str) -> None:
    with pytest.raises(TypeError, match=TYPO):
        SYNC_PATHS[path](_model(model))


@pytest.mark.anyio
@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("path", list(ASYNC_PATHS))
async def test_a_misspelt_option_is_rejected_on_every_async_path(model: str, path: str) -> None:
    with pytest.raises(TypeError, match=TYPO):
        await ASYNC_PATHS[path](_model(model))


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_a_field_the_model_sets_itself_is_a_value_error(model: str) -> None:
    with pytest.raises(ValueError, match=r"call options \['model'\]: \w+ sets these itself"):
        _model(model).bind(model="other")
    with pytest.raises(ValueError, match=r"\['stream'\]"):
        _model(model).invoke("hi", stream=True)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_an_option_that_is_far_from_any_name_gets_no_suggestion(model: str) -> None:
    with pytest.raises(TypeError, match=r"\['zzqx'\]: not options of \w+; send") as info:
        _model(model).bind(zzqx=1)
    assert "did you mean" not in str(info.value)


def test_several_misspelt_options_each_get_their_suggestion() -> None:
    with pytest.raises(TypeError, match="'max_tokens' for 'max_token', 'temperature' for"):
        OfflineChatModel().bind(temprature=0.3, max_token=3)


def test_chat_openai_model_kwargs_are_checked_by_the_same_rule() -> None:
    with pytest.raises(TypeError, match=r"Invalid model_kwargs \['temprature'\].*'temperature'"):
        ChatOpenAI(temprature=0.3)


def test_a_custom_model_takes_any_option_unless_it_names_its_own() -> None:
    from llm import BaseChatModel
    from prompts._messages import AIMessage, BaseMessage

    class Echo(BaseChatModel):
        async def _agenerate(
            self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
        ) -> AIMessage:
            return AIMessage(content=repr(sorted(options)))

    assert Echo().bind(anything=1).invoke("x").content == "['anything']"
    with pytest.raises(ValueError, match='"temperature"'):  # the common options still are
        Echo().bind(temperature=7)

    class Strict(Echo):
        def _option_names(self) -> frozenset[str]:
            return frozenset({"seed"})

    assert Strict().bind(seed=1).invoke("x").content == "['seed']"
    with pytest.raises(TypeError, match=r"\['sead'\].*did you mean 'seed'"):
        Strict().invoke("x", sead=1)
