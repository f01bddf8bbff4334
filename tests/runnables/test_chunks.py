"""Adding chunks up: `+` where chunks add, the last one where they do not, dicts key by key."""

from typing import Any

import pytest

from runnables import AddableDict
from runnables._chunks import ChunkSum, add_chunks, collect_chunks, sum_chunks

pytestmark = pytest.mark.anyio


def test_chunks_add_with_plus_or_replace() -> None:
    assert add_chunks("a", "b") == "ab"
    assert add_chunks({"x": 1}, {"x": 2}) == {"x": 2}  # plain dicts do not add: last wins


def test_addable_dicts_add_key_by_key() -> None:
    total = AddableDict(a="x") + {"a": "y", "b": 1}
    assert total == {"a": "xy", "b": 1}
    assert isinstance(total, AddableDict)
    assert {"a": "w"} + AddableDict(a="z") == {"a": "wz"}


def test_a_running_sum_tells_an_empty_stream_from_a_none_chunk() -> None:
    total = ChunkSum()
    assert not total.started
    total.add(None)
    assert total.started
    assert total.value is None
    assert sum_chunks(["a", "b", "c"]) == "abc"
    assert sum_chunks([]) is None


async def test_collect_adds_an_async_stream() -> None:
    async def chunks() -> Any:
        for c in [AddableDict(a="1"), AddableDict(a="2", b="3")]:
            yield c

    assert await collect_chunks(chunks()) == {"a": "12", "b": "3"}


def test_chunk_addition_has_one_home() -> None:
    # Every streaming module uses runnables._chunks; none carries a copy of its own.
    import pathlib

    import runnables

    root = pathlib.Path(runnables.__file__).parent
    for path in root.glob("_*.py"):
        if path.name == "_chunks.py":
            continue
        text = path.read_text()
        assert "def add_chunks" not in text, path.name
        assert "class AddableDict" not in text, path.name
