"""The openai SDK (about 0.4 s to import) is never imported on a running event loop."""

import subprocess
import sys
import textwrap

BUILDING_IMPORTS_IT = """
import sys
from llm import ChatOpenAI
assert "openai" not in sys.modules, "imported before it was needed"
ChatOpenAI(api_key="test")
assert "openai" in sys.modules, "not imported when the model was built"
print("ok")
"""

# A model unpickled in a fresh process was never built there: its first call imports the SDK,
# and must do so off the loop's thread. A finder on sys.meta_path records where it happens.
FIRST_CALL_IMPORTS_IN_A_WORKER = """
import sys, threading
import anyio

where = []

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "openai":
            where.append(threading.current_thread().name)
        return None

sys.meta_path.insert(0, Spy())
from llm._openai_clients import ClientSettings, openai_client

async def main():
    settings = ClientSettings("http://127.0.0.1:9/v1", "test", None, 0, None)
    async with openai_client(settings) as client:
        assert type(client).__name__ == "AsyncOpenAI"
    return threading.current_thread().name

loop_thread = anyio.run(main, backend=sys.argv[1])
assert where and loop_thread not in where, (loop_thread, where)
print("ok")
"""


def run(code: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_building_chat_openai_imports_the_sdk() -> None:
    assert run(BUILDING_IMPORTS_IT) == "ok"


def test_a_first_call_without_the_sdk_imports_it_in_a_worker_thread() -> None:
    assert run(FIRST_CALL_IMPORTS_IN_A_WORKER, "asyncio") == "ok"
    assert run(FIRST_CALL_IMPORTS_IN_A_WORKER, "trio") == "ok"


OFFLINE_COMMON_OPTIONS_DO_NOT_IMPORT_IT = """
import sys
from llm import OfflineChatModel
OfflineChatModel().bind(temperature=0, stop=["."]).invoke("hi", max_tokens=5)
assert "openai" not in sys.modules, "checking common options imported the SDK"
print("ok")
"""


def test_the_offline_model_checks_common_options_without_the_sdk() -> None:
    assert run(OFFLINE_COMMON_OPTIONS_DO_NOT_IMPORT_IT) == "ok"
