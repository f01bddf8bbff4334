"""runnables: compose programs out of small async-first steps.

`a | b` runs steps in sequence; `RunnableParallel` (or a dict) runs branches concurrently; every
step can be invoked, batched and streamed, from async or sync code, on asyncio or trio.
"""

from runnables._base import Runnable, coerce_to_runnable
from runnables._binding import RunnableBinding, RunnableEach
from runnables._branch import RunnableBranch
from runnables._bridge import loop_resource
from runnables._budget import Budget, BudgetExceededError, BudgetReservation
from runnables._cache import CACHE_MISS, BaseCache, InMemoryCache, cache_key
from runnables._cache_redis import RedisCache
from runnables._cache_sqlite import SQLiteCache
from runnables._chunks import AddableDict
from runnables._config import RunnableConfig
from runnables._custom_events import adispatch_custom_event, dispatch_custom_event
from runnables._fallbacks import RunnableWithFallbacks
from runnables._graph import Edge, Graph, Node
from runnables._handlers import (
    BaseCallbackHandler,
    RunEvent,
    add_global_handler,
    remove_global_handler,
)
from runnables._lambda import RunnableGenerator, RunnableLambda, chain
from runnables._parallel import RunnableParallel
from runnables._passthrough import RunnableAssign, RunnablePassthrough, RunnablePick
from runnables._policy import BranchError, QuorumError
from runnables._race import RunnableRace
from runnables._ratelimit import RateLimiter, Reservation
from runnables._retry import RunnableRetry
from runnables._run import RunState, current_run, leaf_slot
from runnables._sequence import RunnableSequence
from runnables._step_cache import RunnableWithCache
from runnables._timeout import RunnableTimeout
from runnables._wrapper import RunnableWrapper

__all__ = [
    "CACHE_MISS",
    "AddableDict",
    "BaseCache",
    "BaseCallbackHandler",
    "BranchError",
    "Budget",
    "BudgetExceededError",
    "BudgetReservation",
    "Edge",
    "Graph",
    "InMemoryCache",
    "Node",
    "QuorumError",
    "RateLimiter",
    "RedisCache",
    "Reservation",
    "RunEvent",
    "RunState",
    "Runnable",
    "RunnableAssign",
    "RunnableBinding",
    "RunnableBranch",
    "RunnableConfig",
    "RunnableEach",
    "RunnableGenerator",
    "RunnableLambda",
    "RunnableParallel",
    "RunnablePassthrough",
    "RunnablePick",
    "RunnableRace",
    "RunnableRetry",
    "RunnableSequence",
    "RunnableTimeout",
    "RunnableWithCache",
    "RunnableWithFallbacks",
    "RunnableWrapper",
    "SQLiteCache",
    "add_global_handler",
    "adispatch_custom_event",
    "cache_key",
    "chain",
    "coerce_to_runnable",
    "current_run",
    "dispatch_custom_event",
    "leaf_slot",
    "loop_resource",
    "remove_global_handler",
]
