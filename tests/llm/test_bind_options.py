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
