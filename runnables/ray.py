"""Batches beyond one machine: `RayExecutor` runs a runnable's batch on a Ray cluster.

Install with `pip install "runnables[ray]"`. The chain is shipped once per worker; each worker
(a Ray async actor) runs the chain's own batch on its event loop over the chunks of inputs it is
sent; inputs are read lazily. Workers are spread over the cluster's nodes.

What crosses to the workers, and what stays:

- the run's handlers (`config["callbacks"]`, process-wide handlers, a `ProgressBar`, the
  OpenTelemetry handler) stay on the driver: the workers send back the events they take, with
  the results, and the handlers see the same events as in a local batch;
- limits that must hold across the cluster have one owner: the driver splits the batch's
  `max_concurrency` among the workers, and a `RayRateLimiter` keeps its budget in a Ray actor
  that workers reserve from in blocks. A plain `RateLimiter` in the chain is shipped as a
  `RayRateLimiter` with the same limits, so it is one budget too; a `Budget` is shipped as one
  cluster budget whose totals live in a Ray actor, and the driver's `Budget` shows the spend;
- anything else in the chain (a cache, a client, a handler bound with `with_config`) is copied
  into each worker process.

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
