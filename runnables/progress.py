"""A progress bar for long batches: `config={"callbacks": [ProgressBar()]}`.

Draws with `tqdm` (`pip install "runnables[progress]"`), in terminals and notebooks alike: items
done, items failed, rate and time left. It follows `batch`, `abatch` and both as-completed forms,
and `RayExecutor`'s (whose workers send their events back to the driver, where the bar is);
batches nested inside a step are left out. A batch over an iterator of unknown length (on
`RayExecutor`) counts without a total.
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


class ProgressBar(BaseCallbackHandler):
    """Show a batch's progress: one bar per top-level batch.

    Args:
        description: The bar's label (default: the batched step's name).
        **tqdm_kwargs: Passed to `tqdm` (e.g. `file=`, `disable=`, `leave=`).
    """

    _roots_only = True
    """It counts the items only: `RayExecutor`'s workers need not send the steps' events."""

    def __init__(self, description: str | None = None, **tqdm_kwargs: Any) -> None:
        self.description = description
        self.tqdm_kwargs = tqdm_kwargs
        self.bar: Any = None
        self.done = 0
        self.failed = 0
        self.total: int | None = 0
        self._lock = threading.Lock()

    def on_batch_start(self, event: RunEvent) -> None:
        if event.parent_ids:
            return
        with self._lock:
            self._close()
            self.done = self.failed = 0
            size = event.data["size"]
            self.total = None if size is None else int(size)
            self.bar = tqdm(
                total=self.total,
                desc=self.description or event.name,
                unit="item",
                **self.tqdm_kwargs,
            )

    def on_end(self, event: RunEvent) -> None:
        if not event.parent_ids:
            self._count(failed=False)

    def on_error(self, event: RunEvent) -> None:
        if not event.parent_ids:
            self._count(failed=True)

    def _count(self, *, failed: bool) -> None:
        with self._lock:
            if self.bar is None:
                return
            if failed:
                self.failed += 1
                self.bar.set_postfix(failed=self.failed, refresh=False)
            else:
                self.done += 1
            self.bar.update(1)
            if self.total is not None and self.done + self.failed >= self.total:
                self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
