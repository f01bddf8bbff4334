"""`runnables.ray`: batches on a local Ray (started once per session), proved at the loopback
server: the same results and order as the chain's own batch, one `max_concurrency` and one
request budget across worker processes, cancellation that stops the remote work, and recovery
from a killed worker."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
import ray

from llm import ChatOpenAI, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import Runnable, RunnableLambda
from runnables._bridge import wait_future
from runnables._ray_limiter import Budget
from runnables._ray_ship import SharedLimits, ship
from runnables._ray_worker import BatchWorker
from runnables.ray import RayExecutor, RayRateLimiter
from tests.openai_server import WAIT_LIMIT, OpenAIServer

pytestmark = pytest.mark.usefixtures("ray_session")

# A minute's refill of one request: nothing refills while a test runs.
NO_REFILL = 1


class ItemError(Exception):
    """An item's failure, at module level so that it pickles by reference."""


class TwoPartError(Exception):
    """Pickles but does not unpickle: `args` holds one of its two required arguments."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def fail_with_two_parts(x: int) -> int:
    error = TwoPartError(f"bad {x}", 7)
    error.add_note("from the step")
    raise error


def summarize(server: OpenAIServer, **model_options: Any) -> Runnable[dict[str, str], str]:
    model = ChatOpenAI(
        model="test-model",
        base_url=server.base_url,
        api_key="test",
        max_retries=0,
        **model_options,
    )
    return ChatPromptTemplate.from_template("Summarize {text}") | model | StrOutputParser()


def docs(n: int) -> list[dict[str, str]]:
    return [{"text": f"doc {i}"} for i in range(n)]


def fail_on_odd(x: int) -> int:
    if x % 2:
        error = ItemError(f"odd {x}")
        error.add_note(f"raised for {x}")
        raise error
    return x * 10


def batch_actors() -> list[str]:
    """The names of every live worker (of every executor)."""
    return [name for name in ray.util.list_named_actors() if name.startswith("runnables.ray/")]


async def eventually(condition: Callable[[], bool | Awaitable[bool]]) -> None:
    """Wait until `condition()` holds: kills, restarts and reservations land asynchronously."""
    with anyio.fail_after(WAIT_LIMIT):
        while True:
            holds = condition()
            if holds if isinstance(holds, bool) else await holds:
                return
            await anyio.sleep(0.01)


async def actors_gone(prefix: str) -> None:
    """Wait until no actor's name starts with `prefix` (a kill takes effect asynchronously)."""
    await eventually(lambda: not any(name.startswith(prefix) for name in batch_actors()))


@pytest.fixture(scope="module")
def executor(ray_session: None) -> Iterator[RayExecutor]:
    """One executor (its two worker processes) for the module; each test's batches reuse it."""
    with RayExecutor(num_workers=2) as executor:  # joins the session's Ray: close leaves it
        yield executor


def running_chunks() -> int:
    """Chunks still running on any worker of any executor."""
    return sum(ray.get([ray.get_actor(name).running.remote() for name in batch_actors()]))


def nothing_left_running() -> bool:
    """No worker runs any chunk: workers confirm that a batch stopped before it returns."""
    return running_chunks() == 0


# -- the same results as the chain's own batch ----------------------------------------------------


@pytest.mark.anyio
async def test_abatch_equals_local_abatch_in_input_order(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    chain = summarize(openai_server)
    local = await chain.abatch(docs(12))
    remote = await executor.abatch(chain, docs(12))
    assert remote == local == [f"echo: Summarize doc {i}" for i in range(12)]
    # Both workers took part: each request came from one of two processes' connection pools.
    assert len(openai_server.requests) == 24


def test_sync_batch_reads_a_generator(executor: RayExecutor, openai_server: OpenAIServer) -> None:
    chain = summarize(openai_server)
    out = executor.batch(chain, ({"text": f"doc {i}"} for i in range(5)))
    assert out == [f"echo: Summarize doc {i}" for i in range(5)]
    assert executor.batch(chain, []) == []
    assert executor.batch(chain, iter([]), {"max_concurrency": 2}) == []


@pytest.mark.anyio
async def test_as_completed_yields_items_as_they_finish(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    gate = openai_server.gate()
    openai_server.reply("held", gate=gate)  # the first request to arrive waits on the gate
    seen: list[tuple[int, str]] = []
    pairs = executor.abatch_as_completed(summarize(openai_server), docs(6))
    async with contextlib.aclosing(pairs):
        async for index, out in pairs:
            seen.append((index, out))  # type: ignore[arg-type]
            if len(seen) == 5:
                assert "held" not in [o for _, o in seen]  # five came while one was held
                gate.release()
    assert sorted(i for i, _ in seen) == list(range(6))
    assert seen[-1][1] == "held"
    assert all(out == f"echo: Summarize doc {i}" for i, out in seen[:-1])


def test_sync_batch_as_completed_gives_every_index_once(executor: RayExecutor) -> None:
    pairs = list(executor.batch_as_completed(RunnableLambda(fail_on_odd), range(0, 20, 2)))
    assert sorted(pairs) == [(i, i * 20) for i in range(10)]


# -- failures -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_exceptions_keep_their_type_and_notes(executor: RayExecutor) -> None:
    step = RunnableLambda(fail_on_odd)
    local = await step.abatch(list(range(6)), return_exceptions=True)
    remote = await executor.abatch(step, range(6), return_exceptions=True)
    assert [type(r) for r in remote] == [type(r) for r in local]
    assert [r for r in remote if not isinstance(r, Exception)] == [0, 20, 40]
    for got, want in zip(remote, local, strict=True):
        if isinstance(want, Exception):
            assert isinstance(got, ItemError)
            assert str(got) == str(want)
            assert got.__notes__ == want.__notes__


@pytest.mark.anyio
async def test_first_failure_is_raised_with_its_batch_index(executor: RayExecutor) -> None:
    with pytest.raises(ItemError) as info:
        await executor.abatch(RunnableLambda(fail_on_odd), [0, 2, 5, 4])
    assert str(info.value) == "odd 5"
    assert info.value.__notes__[0] == "raised for 5"
    assert info.value.__notes__[-1] == "in batch item 2 of fail_on_odd"
    assert nothing_left_running()


def test_an_exception_that_cannot_be_pickled_arrives_described(executor: RayExecutor) -> None:
    [error] = executor.batch(RunnableLambda(fail_with_two_parts), [1], return_exceptions=True)
    assert type(error) is RuntimeError
    assert str(error) == f"{__name__}.TwoPartError: bad 1"
    assert error.__notes__[0] == "from the step"
    assert "could not be pickled" in error.__notes__[-1]


# -- one limit across the cluster -----------------------------------------------------------------


@pytest.mark.anyio
async def test_max_concurrency_is_one_limit_across_workers(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    hold = openai_server.hold_requests(4)
    async with anyio.create_task_group() as tg:
        results: list[str] = []

        async def run() -> None:
            results.extend(
                await executor.abatch(summarize(openai_server), docs(12), {"max_concurrency": 4})
            )

        tg.start_soon(run)
        await hold.wait_arrived_async()  # four in flight at once, from two processes
        hold.release()
    assert results == [f"echo: Summarize doc {i}" for i in range(12)]
    # Per-process limits would have let eight through while four were held.
    assert openai_server.max_active == 4


@pytest.mark.anyio
async def test_rate_limit_is_one_budget_across_workers(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    limiter = RayRateLimiter(requests_per_minute=NO_REFILL, request_burst=6, block_size=1)
    chain = summarize(openai_server, rate_limiter=limiter)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(executor.abatch, chain, docs(10))
            await openai_server.wait_for_requests_async(6)
            # Every item holds a slot of the budget: the four beyond the burst start in minutes.
            await wait_until_reserved(limiter, 10)
            # Copies of a per-process limiter would each have let six through.
            assert len(openai_server.requests) == 6
            scope.cancel()
    assert nothing_left_running()


async def wait_until_reserved(limiter: RayRateLimiter, n: int) -> None:
    async def reserved() -> bool:
        return (await limiter.usage())[0] >= n

    await eventually(reserved)


@pytest.mark.anyio
async def test_workers_reserve_the_budget_in_blocks(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    limiter = RayRateLimiter(requests_per_minute=60_000, block_size=4)
    out = await executor.abatch(summarize(openai_server, rate_limiter=limiter), docs(16))
    assert len(out) == len(openai_server.requests) == 16
    reserved, calls = await limiter.usage()
    assert reserved >= 16
    assert calls <= reserved // 4  # one call to the budget actor per block, not per request


@pytest.mark.anyio
async def test_budget_counts_tokens_and_what_copies_owe() -> None:
    limits: dict[str, float | None] = {"tokens_per_minute": NO_REFILL, "token_burst": 30}
    budget = Budget(limits)
    assert await budget.reserve(2, 10, 0) == [0.0, 0.0]  # 20 of the 30 tokens
    assert (await budget.reserve(1, 5, 6))[0] > 0  # 6 owed + 5 more: 31 of 30
    assert await budget.usage() == (3, 2)


@pytest.mark.anyio
async def test_settled_tokens_are_paid_with_the_next_reservation(ray_session: None) -> None:
    limiter = RayRateLimiter(tokens_per_minute=NO_REFILL, token_burst=100, block_size=1)
    reservation = await limiter.acquire(10)
    reservation.settle(50)  # 40 more than estimated, owed to the budget
    await limiter.acquire(10)  # pays the 40 with its reservation: 60 of 100 used
    budget = limiter._ensure_budget()
    assert await wait_future(budget.reserve.remote(1, 40, 0).future()) == [0.0]  # 100: in budget
    assert (await wait_future(budget.reserve.remote(1, 1, 0).future()))[0] > 0  # 101: must wait


def test_rate_limiter_needs_ray_only_when_used() -> None:
    limiter = RayRateLimiter(requests_per_minute=60, block_size=8)
    assert "block_size=8" in repr(limiter)
    with pytest.raises(ValueError, match=r'"block_size".*0'):
        RayRateLimiter(requests_per_minute=60, block_size=0)
    with pytest.raises(TypeError, match=r'"block_size".*\'8\''):
        RayRateLimiter(requests_per_minute=60, block_size="8")  # type: ignore[arg-type]


# -- cancellation ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelling_abatch_stops_the_remote_work(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    hold = openai_server.hold_requests(4)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(executor.abatch, summarize(openai_server), docs(4))
            await hold.wait_arrived_async()
            assert running_chunks() == 2
            scope.cancel()
    assert scope.cancelled_caught
    # The held requests' connections closed: their worker processes were stopped.
    await openai_server.wait_for_disconnects_async(4)
    assert nothing_left_running()


def test_leaving_batch_as_completed_stops_the_remote_work(executor: RayExecutor) -> None:
    pairs = executor.batch_as_completed(RunnableLambda(fail_on_odd), range(0, 20_000, 2))
    for n, _ in enumerate(pairs, 1):
        if n == 10:
            break
    pairs.close()
    assert nothing_left_running()


async def forever(x: int) -> int:
    await anyio.sleep_forever()
    return x


@pytest.mark.anyio
async def test_inputs_are_read_only_as_far_as_the_workers_windows(executor: RayExecutor) -> None:
    read: list[int] = []

    def million() -> Iterator[int]:
        for i in range(1_000_000):
            read.append(i)
            yield i

    windows = 2 * 1024  # two workers, each holding at most 1024 unfinished items
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(executor.abatch, RunnableLambda(forever), million())
            await wait_until_running(windows // 64)  # every chunk (64 items) of both windows
            assert len(read) == windows  # nothing finished, so nothing more was read
            scope.cancel()
    assert nothing_left_running()


async def wait_until_running(chunks: int) -> None:
    await eventually(lambda: running_chunks() >= chunks)


@pytest.mark.anyio
async def test_batch_timeout_cancels_the_remote_work(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    hold = openai_server.hold_requests(2)  # whatever arrives before the timeout stays
    with pytest.raises(TimeoutError, match="batch of RunnableSequence timed out after 1 s"):
        await executor.abatch(summarize(openai_server), docs(2), {"timeout": 1})
    assert nothing_left_running()
    await openai_server.wait_for_disconnects_async(hold.arrived)


def test_ctrl_c_in_a_sync_batch_stops_the_remote_work(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    hold = openai_server.hold_requests(2)
    interrupted = threading.Event()

    def press_ctrl_c() -> None:
        try:
            hold.wait_arrived()
            main = threading.main_thread().ident
            assert main is not None
            signal.pthread_kill(main, signal.SIGINT)  # as a terminal's Ctrl-C, to the main thread
            if not interrupted.wait(WAIT_LIMIT):
                raise TimeoutError("Ctrl-C did not interrupt the batch")
        except BaseException:
            hold.release()  # a batch that was not interrupted ends: the test fails, not hangs
            raise

    # Python's own Ctrl-C handler, as in a foreground process: a background job (`pytest &`,
    # some CI runners) starts with SIGINT ignored, and then no Ctrl-C would reach the batch.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            executor.batch(summarize(openai_server), docs(2))
        interrupted.set()
    finally:
        presser.join()
        signal.signal(signal.SIGINT, previous)
    openai_server.wait_for_disconnects(2)
    assert nothing_left_running()


# -- worker loss ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_items_of_a_killed_worker_run_again_elsewhere(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    hold = openai_server.hold_requests(6)
    results: list[str] = []

    async def run() -> None:
        results.extend(await executor.abatch(summarize(openai_server), docs(6)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await hold.wait_arrived_async()  # three items in flight on each worker
        victim = sorted(batch_actors())[0]
        ray.kill(ray.get_actor(victim))
        await openai_server.wait_for_disconnects_async(3)
        await openai_server.wait_for_requests_async(9)  # its three items, sent again
        hold.release()
    assert results == [f"echo: Summarize doc {i}" for i in range(6)]
    texts = [r["messages"][-1]["content"] for r in openai_server.requests]
    assert sorted(set(texts)) == [f"Summarize doc {i}" for i in range(6)]
    assert len(texts) == 9
    assert nothing_left_running()


def test_close_ends_the_workers(ray_session: None) -> None:
    executor = RayExecutor(num_workers=2)
    assert executor.batch(RunnableLambda(fail_on_odd), [0, 2]) == [0, 20]
    name = executor._name
    assert sorted(n for n in batch_actors() if n.startswith(name)) == [f"{name}/0.0", f"{name}/1.0"]
    executor.close()
    anyio.run(actors_gone, name)


@pytest.mark.anyio
async def test_losing_more_workers_than_allowed_raises_rays_error(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    hold = openai_server.hold_requests(2)
    raised: list[BaseException] = []

    async def run() -> None:
        with pytest.raises(ray.exceptions.RayActorError) as info:
            await executor.abatch(summarize(openai_server), docs(2))
        raised.append(info.value)

    executor.max_restarts = 0
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await hold.wait_arrived_async()
            ray.kill(ray.get_actor(sorted(batch_actors())[0]))
    finally:
        executor.max_restarts = 3
    assert "lost 1 Ray workers in one batch" in raised[0].__notes__
    assert nothing_left_running()
    # The pool has a new worker in place of the lost one.
    assert executor.batch(RunnableLambda(fail_on_odd), [0, 2]) == [0, 20]


# -- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_workers": 0}, ValueError, '"num_workers".*0'),
        ({"num_workers": "2"}, TypeError, "\"num_workers\".*'2'"),
        ({"chunk_size": 0}, ValueError, '"chunk_size".*0'),
        ({"max_pending": 1.5}, TypeError, '"max_pending".*1.5'),
        ({"max_restarts": -1}, ValueError, '"max_restarts".*-1'),
        ({"address": 6379}, TypeError, '"address".*6379'),
        ({"worker_options": ["num_cpus"]}, TypeError, '"worker_options"'),
    ],
)
def test_bad_executor_arguments_fail_at_construction(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        RayExecutor(**kwargs)


def test_bad_batch_arguments_fail_at_the_call(executor: RayExecutor) -> None:
    step = RunnableLambda(fail_on_odd)
    untyped: Any = executor
    with pytest.raises(TypeError, match=r'"runnable"'):
        untyped.batch(fail_on_odd, [1])
    with pytest.raises(TypeError, match=r'"inputs".*5'):
        untyped.batch(step, 5)
    with pytest.raises(ValueError, match=r'"config".*2 configs for 3 inputs'):
        executor.batch(step, [0, 2, 4], [{}, {}])
    with pytest.raises(ValueError, match="max_concurrency"):
        executor.abatch_as_completed(step, [0], {"max_concurrency": 0})
    with pytest.raises(ValueError, match=r'"config".*number of configs'):
        executor.batch(step, iter([0, 2, 4]), [{}, {}])
    with pytest.raises(TypeError, match=r'"config".*generator'):  # as the chain's own batch
        executor.batch(step, [0, 2], ({} for _ in range(2)))
    lock = threading.Lock()
    with pytest.raises(TypeError, match=r'"runnable".*must pickle'):
        executor.batch(RunnableLambda(lambda x: (lock, x)[1]), [0])
    with pytest.raises(TypeError) as info:
        untyped.batch(step, [0, 2, lock])  # a chunk per worker: [0, 1] and [2]
    assert info.value.__notes__[-1].startswith("while sending batch items 2 to 2 to a Ray worker")


def test_a_close_that_overtakes_the_first_exchange_starts_nothing() -> None:
    # Ray does not order an async actor's calls: a batch stopped at once may be closed on a
    # worker before its first chunk arrives there. The worker object itself, on an asyncio loop
    # as in Ray's actors.
    worker = BatchWorker()

    async def close_then_exchange() -> tuple[Any, int]:
        await worker.close("b")
        shipment, _ = ship(RunnableLambda(forever), SharedLimits())
        late = await worker.exchange("b", [(0, 1, {})], False, shipment, None)
        return late, await worker.running()

    assert asyncio.run(close_then_exchange()) == (([], None), 0)


def test_workers_spread_over_the_nodes_unless_told_otherwise(ray_session: None) -> None:
    # Ray's default packs actors on one node (on a two-node cluster both went to the head).
    assert RayExecutor().worker_options == {"num_cpus": 0, "scheduling_strategy": "SPREAD"}
    with_cpus = RayExecutor(worker_options={"num_cpus": 1}).worker_options
    assert with_cpus == {"num_cpus": 1, "scheduling_strategy": "SPREAD"}
    own = RayExecutor(worker_options={"scheduling_strategy": "DEFAULT"}).worker_options
    assert own["scheduling_strategy"] == "DEFAULT"
