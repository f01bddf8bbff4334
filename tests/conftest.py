"""Shared pytest fixtures: the anyio backends and the loopback OpenAI-compatible server."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.openai_server import OpenAIServer
from tests.redis_server import RedisServer

# Under trio (>= 0.35) every async generator garbage-collected before exhaustion triggers a
# ResourceWarning. The openai SDK's AsyncStream leaves its own (and httpx2/httpcore2's) generators
# unexhausted even after a complete stream (it breaks out at "[DONE]"); trio still closes them.
# Ignore exactly those third-party generators so ``filterwarnings = error`` keeps catching ours.
_SDK_ASYNCGEN_WARNING = (
    r"ignore:Async generator '(openai|httpx2|httpcore2)\..*' was garbage collected:ResourceWarning"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the SDK async-generator warning filter (later ini lines take precedence)."""
    config.addinivalue_line("filterwarnings", _SDK_ASYNCGEN_WARNING)


@pytest.fixture(params=[pytest.param("asyncio"), pytest.param("trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on both asyncio and trio."""
    return str(request.param)


@pytest.fixture(scope="session")
def openai_server_session() -> Iterator[OpenAIServer]:
    """One server for the whole session (starting uvicorn per test would be slow)."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def openai_server(openai_server_session: OpenAIServer) -> Iterator[OpenAIServer]:
    """The session's server with a clean queue, records and counters for this test.

    Teardown releases every gate this test created, so held or hung requests cannot leak.
    """
    openai_server_session.reset()
    yield openai_server_session
    openai_server_session.reset()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A local Ray for the whole session, small: 2 CPUs, no dashboard (it starts in seconds).

    Its workers run at the test process's own priority. Ray starts them at niceness 15, so on a
    busy machine (a shared CI runner, CPU burners) they got ~3% of a core and the Ray tests took
    minutes: the workers are the code under test here, not background work.
    """
    import ray  # only sessions that run Ray tests pay for the import

    ray.init(
        address="local",  # a Ray of its own, never a cluster started on this machine
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.ERROR,
        object_store_memory=100 * 1024 * 1024,
        _system_config={"worker_niceness": 0},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real `redis-server` on 127.0.0.1 (free port, no persistence) for the whole session.

    Fails loudly, saying how to install it, where `redis-server` is missing: Redis tests are
    never skipped.
    """
    try:
        server = RedisServer()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with server:
        yield server


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A `redis-server` of this test's own, which the test may stop and start again."""
    try:
        server = RedisServer()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with server:
        yield server
