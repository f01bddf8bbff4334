"""Batches beyond one machine: `RayExecutor` runs a runnable's batch on a Ray cluster.

Install with `pip install "runnables[ray]"`. The chain is shipped once per worker; each worker
(a Ray async actor) runs the chain's own batch on its event loop over the chunks of inputs it is
sent; inputs are read lazily. Limits that must hold across the cluster have one owner: the
driver splits the batch's `max_concurrency` among the workers, and a `RayRateLimiter` keeps its
budget in a Ray actor that workers reserve from in blocks.

    from runnables.ray import RayExecutor

    executor = RayExecutor()  # joins the running Ray, or RAY_ADDRESS, or starts a local one
    summaries = executor.batch(chain, documents, {"max_concurrency": 200})
"""

from __future__ import annotations

try:
    import ray as _ray  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'runnables.ray needs Ray: pip install "runnables[ray]" (or pip install ray)'
    ) from exc

from runnables._ray_executor import RayExecutor
from runnables._ray_limiter import RayRateLimiter

__all__ = ["RayExecutor", "RayRateLimiter"]
