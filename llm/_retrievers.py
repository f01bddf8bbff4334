"""`BaseRetriever`: a step from a query (a string) to a list of `Document`s.

Subclass it as in LangChain: declare its settings as pydantic fields and implement
`_get_relevant_documents(query, *, run_manager)` (sync; run in a worker thread) or
`async def _aget_relevant_documents(query, *, run_manager)` (run on the loop). Either works
with every entry point (`invoke`, `ainvoke`, `batch`, `stream`, `astream_events`), as one async
core does. It reports as a step of kind "retriever" (`on_retriever_start` / `on_retriever_end`)
and, like a model or a tool, holds one slot of the run's `max_concurrency` while it searches.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from llm._documents import Document
from runnables import Runnable, RunnableConfig, leaf_slot
from runnables._concurrency import run_in_thread
from runnables._config import merge_configs
from runnables._tool_schema import run_params

__all__ = ["BaseRetriever"]

_METHODS = ("_get_relevant_documents", "_aget_relevant_documents")


class BaseRetriever(BaseModel, Runnable[str, list[Document]]):
    """A step that finds the documents relevant to a query.

    Subclasses implement `_get_relevant_documents(self, query, *, run_manager)` or its async
    twin `_aget_relevant_documents`; declaring `run_manager` is optional (it receives None:
    handlers see the run instead). Extra keyword arguments given to `invoke` reach the method.

    Attributes:
        tags: Tags the retriever's own events carry, added to the run's.
        metadata: Metadata its events carry, merged over the run's.

    Raises:
        TypeError: The subclass implements neither method (when it is made).
        pydantic.ValidationError: A field given to the constructor is not one of its fields
            (a ValueError).
    """

    # A misspelt field fails when the retriever is made (LangChain ignores it silently).
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None

    custom_input_type: ClassVar[Any] = None  # type: ignore[misc]
    custom_output_type: ClassVar[Any] = None  # type: ignore[misc]
    _kind: ClassVar[str] = "retriever"  # type: ignore[misc]
    _plan: ClassVar[tuple[bool | None, bool]] = (None, False)
    """Decided once per class: whether the async method is the retriever's own (None: it
    implements neither), and whether that method takes `run_manager`."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        sync, async_ = (getattr(cls, name) for name in _METHODS)
        own_sync, own_async = (
            getattr(cls, name) is not getattr(BaseRetriever, name) for name in _METHODS
        )
        if not (own_async or own_sync):
            cls._plan = (None, False)
            return
        cls._plan = (own_async, run_params(async_ if own_async else sync)[1])

    def __init__(self, **data: Any) -> None:
        if self._plan[0] is None:
            raise TypeError(
                f"{type(self).__name__} implements neither _get_relevant_documents nor "
                "_aget_relevant_documents"
            )
        super().__init__(**data)

    __hash__ = object.__hash__  # a step is itself, as every other runnable
    __eq__ = object.__eq__

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if not (name in ("tags", "metadata") and value is None):
                yield name, value

    @property
    def InputType(self) -> Any:  # LCEL's name
        return str

    @property
    def OutputType(self) -> Any:  # LCEL's name
        return list[Document]

    def _event_config(self, config: RunnableConfig) -> RunnableConfig:
        if not self.tags and not self.metadata:
            return config
        own: dict[str, Any] = {"tags": self.tags or [], "metadata": self.metadata or {}}
        return merge_configs(config, own)  # type: ignore[arg-type]

    if not TYPE_CHECKING:
        # Hidden from type checkers: subclasses write these with or without `run_manager` (and
        # with their own keywords), and no one signature here would accept every such form.

        def _get_relevant_documents(self, query: str, **kwargs: Any) -> list[Document]:
            """The documents relevant to `query` (sync; runs in a worker thread)."""
            raise NotImplementedError(f"{type(self).__name__} has no sync search")

        async def _aget_relevant_documents(self, query: str, **kwargs: Any) -> list[Document]:
            """The documents relevant to `query` (async; runs on the loop)."""
            raise NotImplementedError(f"{type(self).__name__} has no async search")

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> list[Document]:
        own_async, manager = self._plan
        if manager:
            kwargs["run_manager"] = None
        async with leaf_slot():
            if own_async:
                docs: list[Document] = await getattr(self, _METHODS[1])(input, **kwargs)
                return docs
            search = functools.partial(getattr(self, _METHODS[0]), input, **kwargs)
            found: list[Document] = await run_in_thread(search)
            return found
