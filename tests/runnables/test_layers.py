"""Imports point down only: `runnables` never imports `prompts` or `llm`, not even lazily inside
a function or for type checking, and its tools (`Runnable.as_tool`) work without them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import runnables

PACKAGE = Path(runnables.__file__).parent
ABOVE = ("llm", "prompts")


def imports_above(path: Path) -> list[str]:
    """Every `import x` / `from x import ...` in the file (at any depth) naming a layer above."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [
            f"{path.name}:{node.lineno} imports {name}"
            for name in names
            if name.split(".")[0] in ABOVE
        ]
    return found


def test_no_module_of_runnables_imports_a_layer_above() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 20  # the scan found the package
    assert [hit for path in modules for hit in imports_above(path)] == []


def test_the_scan_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from llm._tools import BaseTool\n"
        "def f():\n"
        "    import prompts\n"
    )
    assert imports_above(sample) == [
        "sample.py:3 imports llm._tools",
        "sample.py:5 imports prompts",
    ]


def test_a_runnable_as_a_tool_needs_no_layer_above() -> None:
    code = (
        "import sys\n"
        "from runnables import RunnableLambda\n"
        "t = RunnableLambda(lambda x: x * 2).as_tool(name='double', description='Double.')\n"
        "assert t.invoke({'input': 21}) == 42\n"
        "assert t.args == {'input': {'title': 'Input'}}\n"
        "call = {'name': 'double', 'args': {'input': 1}, 'id': 'c', 'type': 'tool_call'}\n"
        "try:\n"
        "    t.invoke(call)\n"
        "except RuntimeError as e:\n"
        "    assert 'import llm' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('a tool call was answered without llm')\n"
        "print(sorted({'llm', 'prompts'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
