"""Every ```python block in the README runs, so the README cannot rot."""

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(
    r"^```python\n(.*?)^```$", README.read_text(encoding="utf-8"), flags=re.S | re.M
)


def test_readme_has_the_two_commands_first() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = text.split("```")[1]
    assert first_block.strip().splitlines() == [
        "pip install -e . && python examples/parallel_topic.py",
        'pip install -e ".[test]" && pytest',
    ]


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(
    code: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if "runnables.ray" in code:
        request.getfixturevalue("ray_session")  # join the session's Ray: starting one is slow
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    # Blocks may continue the quickstart (the first block), as the README's text says.
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(BLOCKS[0], str(README), "exec"), namespace)
    exec(compile(code, str(README), "exec"), namespace)
    assert "OPENAI_API_KEY" not in os.environ
