"""Every ```python block in the README runs, so the README cannot rot."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(
    r"^```python\n(.*?)^```$", README.read_text(encoding="utf-8"), flags=re.S | re.M
)
# Each row of the examples table: the script, and every `--flag [value]` its text shows.
EXAMPLE_FLAGS = [
    (script, flags)
    for script, row in re.findall(
        r"^\| `(examples/\w+\.py)` \|(.*)$", README.read_text(encoding="utf-8"), flags=re.M
    )
    for flags in re.findall(r"`(--[^`]+)`", row)
]


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


def test_readme_error_snippets_fail_when_nothing_is_raised() -> None:
    # A `try: ... except E:` snippet alone passes when nothing is raised at all.
    snippets = [code for code in BLOCKS if "\ntry:\n" in f"\n{code}"]
    assert snippets
    for code in snippets:
        assert code.count("\ntry:\n") == code.count("\nelse:\n    raise AssertionError("), code


def test_readme_examples_table_shows_flags() -> None:
    assert ("examples/parallel_batch.py", "--latency 0.5") in EXAMPLE_FLAGS


@pytest.mark.parametrize(("script", "flags"), EXAMPLE_FLAGS)
def test_readme_example_flags_are_accepted_as_written(script: str, flags: str) -> None:
    # argparse reads the flags before reaching --help, so a flag missing its value (or a bad
    # value) exits 2 with a usage error, and flags that parse exit 0 with the help text.
    proc = subprocess.run(
        [sys.executable, script, *shlex.split(flags), "--help"],
        cwd=README.parent,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
