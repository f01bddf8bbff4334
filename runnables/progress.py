"""A progress bar for long batches: `config={"callbacks": [ProgressBar()]}`.

Draws with `tqdm` (`pip install "runnables[progress]"`), in terminals and notebooks alike: items
done, items failed, rate and time left. It follows `batch`, `abatch` and both as-completed forms,
and `RayExecutor`'s (whose workers send their events back to the driver, where the bar is);
batches nested inside a step are left out. A batch over an iterator of unknown length (on
`RayExecutor`) counts without a total.

Once a model reply reports its usage, the bar also shows the tokens used so far (`tokens=`),
and, given a usage tracker (`ProgressBar(usage=llm.UsageTracker())`, which it feeds), their
cost (`cost=$...`). Under `RayExecutor` the bar sees only the items' events, so tokens show
there only with a tracker.

A batch whose model calls go through a provider's Batch API (`ChatOpenAI.with_batch_api()`)
shows its jobs too, from their `batch_api.*` events: how many have finished (`jobs=1/2`) and
the latest one's status and answered requests (`job=in_progress 120/300`).
"""

from __future__ import annotations

import threading
from typing import Any

from runnables._handlers import BaseCallbackHandler, RunEvent

try:
    from tqdm.auto import tqdm
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('runnables.progress needs tqdm: pip install "runnables[progress]"') from exc

__all__ = ["ProgressBar"]

_JOB_ENDS = frozenset({"completed", "failed", "expired", "cancelled"})


class ProgressBar(BaseCallbackHandler):
    """Show a batch's progress: one bar per top-level batch.

    Args:
        description: The bar's label (default: the batched step's name).
        usage: A usage tracker (`llm.UsageTracker`: anything with `total_tokens` and `cost`
            and the handler methods) to feed with the run's events and show on the bar:
            put the bar alone in `callbacks`, the tracker keeps the counts.
        **tqdm_kwargs: Passed to `tqdm` (e.g. `file=`, `disable=`, `leave=`).

    Attributes:
        tokens: Tokens the models' replies reported so far (counted by the bar itself
            without `usage`; a reply from the model cache counts none).
        batch_jobs: The Batch API jobs of this batch seen so far: job id -> the data of its
            latest `batch_api.*` event (`status`, `request_counts`).
    """

    _roots_only = True
    """It counts the items only: `RayExecutor`'s workers need not send the steps' events."""

    def __init__(
        self, description: str | None = None, *, usage: Any = None, **tqdm_kwargs: Any
    ) -> None:
        if usage is not None and not all(
            hasattr(usage, name) for name in ("total_tokens", "cost", "on_end")
        ):
            raise TypeError(
                f'Invalid "usage" argument: expected a usage tracker (llm.UsageTracker), '
                f"got {usage!r}"
            )
        self.description = description
        self.tqdm_kwargs = tqdm_kwargs
        self.usage = usage
        if usage is not None:
            self._roots_only = False  # the tracker needs the models' events
        self.bar: Any = None
        self.done = 0
        self.failed = 0
        self.tokens = 0
        self.total: int | None = 0
        self.batch_jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def on_batch_start(self, event: RunEvent) -> None:
        if self.usage is not None:
            self.usage.on_batch_start(event)
        if event.parent_ids:
            return
        with self._lock:
            self._close()
            self.done = self.failed = self.tokens = 0
            self.batch_jobs = {}
            size = event.data["size"]
            self.total = None if size is None else int(size)
            self.bar = tqdm(
                total=self.total,
                desc=self.description or event.name,
                unit="item",
                **self.tqdm_kwargs,
            )

    def on_start(self, event: RunEvent) -> None:
        if self.usage is not None:
            self.usage.on_start(event)

    def on_end(self, event: RunEvent) -> None:
        if self.usage is not None:
            self.usage.on_end(event)
        elif event.kind == "chat_model":
            self._add_tokens(event.data.get("output"))
        if not event.parent_ids:
            self._count(failed=False)

    def on_error(self, event: RunEvent) -> None:
        if self.usage is not None:
            self.usage.on_error(event)
        if not event.parent_ids:
            self._count(failed=True)

    def on_custom_event(self, event: RunEvent) -> None:
        if self.usage is not None and hasattr(self.usage, "on_custom_event"):
            self.usage.on_custom_event(event)
        data = event.data.get("data")
        if not event.name.startswith("batch_api.") or not isinstance(data, dict):
            return
        job_id = data.get("job_id")
        if not isinstance(job_id, str):
            return
        with self._lock:
            # A job seen again moves to the end: the latest news is shown.
            self.batch_jobs.pop(job_id, None)
            self.batch_jobs[job_id] = data
            if self.bar is not None:
                self.bar.set_postfix(self._postfix(), refresh=True)

    def _add_tokens(self, reply: Any) -> None:
        # Read duck-typed: this package knows no message classes.
        usage = getattr(reply, "usage_metadata", None)
        metadata = getattr(reply, "response_metadata", None) or {}
        if usage and not metadata.get("cache_hit"):
            with self._lock:
                self.tokens += int(usage.get("total_tokens", 0))

    def _postfix(self) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        if self.failed:
            shown["failed"] = self.failed
        tokens = self.tokens if self.usage is None else self.usage.total_tokens
        if tokens:
            shown["tokens"] = tokens
        if self.usage is not None and self.usage.cost:
            shown["cost"] = f"${self.usage.cost:.4f}"
        if self.batch_jobs:
            ended = sum(1 for d in self.batch_jobs.values() if d.get("status") in _JOB_ENDS)
            shown["jobs"] = f"{ended}/{len(self.batch_jobs)}"
            latest = next(reversed(self.batch_jobs.values()))
            counts = latest.get("request_counts") or {}
            total = counts.get("total") or latest.get("requests") or 0
            shown["job"] = f"{latest.get('status')} {counts.get('completed', 0)}/{total}"
        return shown

    def _count(self, *, failed: bool) -> None:
        with self._lock:
            if self.bar is None:
                return
            if failed:
                self.failed += 1
            else:
                self.done += 1
            shown = self._postfix()
            if shown:
                self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)
            if self.total is not None and self.done + self.failed >= self.total:
                self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
