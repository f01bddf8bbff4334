"""`Document`: a piece of text and its metadata, what a retriever returns (LangChain's shape)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prompts._invalid import invalid_argument

__all__ = ["Document"]


class Document(BaseModel):
    """A piece of text (`page_content`) with `metadata` (its source, page, score, ...).

    `Document("text")` and `Document(page_content="text", metadata={...}, id=...)` are the same,
    as in LangChain. An `id` given as a number is kept as a string.
    """

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, coerce_numbers_to_str=True)
    metadata: dict[str, Any] = Field(default_factory=dict)
    page_content: str
    type: Literal["Document"] = "Document"

    def __init__(self, page_content: str | None = None, /, **data: Any) -> None:
        if page_content is not None:
            if "page_content" in data:
                raise TypeError("page_content given both positionally and by keyword")
            data["page_content"] = page_content
        value = data.get("page_content")
        if type(value) is not str and "page_content" in data and not isinstance(value, str):
            raise invalid_argument("Document", "page_content", value, "a str")
        self.__pydantic_validator__.validate_python(data, self_instance=self)

    def __repr_args__(self) -> Any:
        # As LangChain shows it: no `type`, and no `id` when there is none.
        for name, value in super().__repr_args__():
            if name != "type" and not (name == "id" and value is None):
                yield name, value

    def __str__(self) -> str:
        if self.metadata:
            return f"page_content={self.page_content!r} metadata={self.metadata!r}"
        return f"page_content={self.page_content!r}"
