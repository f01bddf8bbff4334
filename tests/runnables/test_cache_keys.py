"""`cache_key`: equal structures give equal keys, in every process; different ones differ."""

from __future__ import annotations

import datetime
import decimal
import enum
import os
import pathlib
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from prompts import AIMessage, HumanMessage
from runnables import cache_key


class Color(enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: int
    y: int


def test_a_key_is_a_sha256_hex_digest_pinned_across_versions() -> None:
    # Pinned: a change here means every stored cache entry misses after an upgrade.
    assert cache_key("a") == "ac8d8342bbb2362d13f0a559a3621bb407011368895164b628a54f7fc33fc43c"
    assert len(cache_key({"any": ["thing"]})) == 64


def test_dict_order_and_set_order_do_not_matter() -> None:
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})
    assert cache_key({"x", "y", "z"}) == cache_key({"z", "x", "y"})
    assert cache_key(frozenset({1, 2})) == cache_key({2, 1})


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ([1, 2], (1, 2)),
        (1, 1.0),
        (1, True),
        (0, None),
        ("1", 1),
        ([1], {1}),
        (b"ab", "ab"),
        ({"a": 1}, [["a", 1]]),
        ({1: "x"}, {"1": "x"}),
        (HumanMessage("hi"), AIMessage("hi")),
        (HumanMessage("hi"), HumanMessage("hi!")),
        (Point(1, 2), Point(2, 1)),
        (Color.RED, "red"),
        (float("nan"), float("inf")),
        (datetime.date(2024, 1, 2), "2024-01-02"),
        (decimal.Decimal("1.0"), decimal.Decimal("1.00")),
        (pathlib.PurePosixPath("a/b"), "a/b"),
    ],
)
def test_different_values_give_different_keys(one: Any, other: Any) -> None:
    assert cache_key(one) != cache_key(other)


def test_models_dataclasses_and_other_types_give_stable_keys() -> None:
    value = {
        "messages": [HumanMessage("hi"), AIMessage("yo", id="1")],
        "point": Point(1, 2),
        "color": Color.RED,
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "delta": datetime.timedelta(seconds=3),
        "id": uuid.UUID(int=7),
        "amount": decimal.Decimal("9.50"),
        "raw": bytearray(b"\x00\x01"),
        "nested": ({"deep": [None, 1.5, -0.0]},),
    }
    same = {
        "nested": ({"deep": [None, 1.5, -0.0]},),
        "raw": bytearray(b"\x00\x01"),
        "amount": decimal.Decimal("9.50"),
        "id": uuid.UUID(int=7),
        "delta": datetime.timedelta(seconds=3),
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "color": Color.RED,
        "point": Point(1, 2),
        "messages": [HumanMessage("hi"), AIMessage("yo", id="1")],
    }
    assert cache_key(value) == cache_key(same)


def test_an_unsupported_value_is_a_type_error_naming_it() -> None:
    class Opaque:
        pass

    with pytest.raises(TypeError, match=r"cannot make a cache key from a Opaque value.*key="):
        cache_key({"inner": [Opaque()]})


def test_keys_are_the_same_in_another_process_whatever_its_hash_seed() -> None:
    code = (
        "from runnables import cache_key\n"
        "print(cache_key({'tags': {'a', 'b', 'c', 'd'}, 'q': ('x', 1.5), 'n': None}))\n"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("0", "1", "12345")
    }
    assert keys == {cache_key({"tags": {"a", "b", "c", "d"}, "q": ("x", 1.5), "n": None})}


def test_a_str_subclass_keys_as_its_text() -> None:
    class Name(str):
        pass

    assert cache_key(Name("x")) == cache_key("x")
