"""How the parts of streamed message chunks add up, as LangChain adds them.

- Content: two strings concatenate; a string before a list becomes the list's first part; a
  string after a list extends the list's last part when that is a string (otherwise it is a
  new part, an empty one is dropped). Two lists merge by the `index` key of their dict parts:
  a right part whose `index` matches a left part's (and whose `id`, when both have one, agrees)
  is merged into it, its text concatenated; every other part is appended.
- Dicts (`additional_kwargs`, `response_metadata`): keys only on one side are kept; a `None`
  gives way to a value; strings concatenate (except equal `id`s, `output_version`s and
  `model_provider`s, and `lc_` indexes, which stay once); dicts merge recursively; lists merge
  by index as above; equal values stay; other ints add (except `index`, `created` and
  `timestamp`, where the right one wins). Values of different types, unequal bools or other
  unequal values are a TypeError.
"""

from __future__ import annotations

from typing import Any, TypeAlias

__all__ = ["Content", "content_text", "merge_content", "merge_dicts", "merge_lists"]

Content: TypeAlias = str | list[str | dict[str, Any]]
"""A message's content: text, or a list of parts (strings or content-block dicts)."""

# Keys whose equal string values are one value repeated by every chunk, not pieces to join.
_SAME_STRING_KEYS = frozenset({"id", "output_version", "model_provider"})
# Int keys that identify or date a chunk: the latest value stands, they are not counts.
_LAST_INT_KEYS = frozenset({"index", "created", "timestamp"})


def content_text(content: Content) -> str:
    """The text of `content`: itself if a string, else its string parts and the `text` of its
    `{"type": "text"}` parts, joined with nothing between them."""
    if type(content) is str:
        return content
    pieces: list[str] = []
    for part in content:
        if isinstance(part, str):
            pieces.append(part)
        elif part.get("type") == "text":
            text = part.get("text")
            if isinstance(text, str):
                pieces.append(text)
    return "".join(pieces)


def merge_content(left: Content, right: Content) -> Content:
    """`left` followed by `right`, as chunk contents add up (see the module docstring)."""
    if isinstance(left, str):
        if isinstance(right, str):
            return left + right
        return [left, *right]
    if isinstance(right, list):
        return merge_lists(left, right)
    merged = list(left)
    if merged and isinstance(merged[-1], str):
        merged[-1] += right
    elif right and merged:
        merged.append(right)
    return merged


def _indexed(part: object) -> bool:
    if not isinstance(part, dict) or "index" not in part:
        return False
    index = part["index"]
    return isinstance(index, int) or (isinstance(index, str) and index.startswith("lc_"))


def _ids_agree(left: dict[str, Any], right: dict[str, Any]) -> bool:
    a, b = left.get("id"), right.get("id")
    return a in (None, "") or b in (None, "") or a == b


def merge_lists(left: list[Any], right: list[Any]) -> list[Any]:
    """`left` with the parts of `right` merged in by `index` or appended."""
    merged = list(left)
    for part in right:
        if not _indexed(part):
            merged.append(part)
            continue
        at = next(
            (
                i
                for i, old in enumerate(merged)
                if isinstance(old, dict)
                and old.get("index", object()) == part["index"]
                and _ids_agree(old, part)
            ),
            None,
        )
        if at is None:
            merged.append(part)
            continue
        old = merged[at]
        addition: dict[str, Any]
        if old.get("type") and part.get("type") == "non_standard" and "value" in part:
            # A provider-specific piece of a part: its fields go under the part's extras.
            fields = {k: v for k, v in part["value"].items() if k != "type"}
            if old["type"] != "non_standard":
                addition = {"extras": fields}
            else:
                addition = {"value": fields, "index": part["index"]}
        else:
            # `type` is said once per part, by its first piece.
            addition = {k: v for k, v in part.items() if k != "type"}
        merged[at] = merge_dicts(old, addition)
    return merged


def merge_dicts(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """`left` and `right` merged key by key (see the module docstring); neither is changed.

    Raises:
        TypeError: A key holds values of different types, or values that cannot be merged.
    """
    merged = dict(left)
    for key, value in right.items():
        old: Any = merged.get(key)
        if key not in merged or (old is None and value is not None):
            merged[key] = value
        elif value is None:
            continue
        elif type(old) is not type(value):
            raise TypeError(f"Cannot merge {key!r}: {old!r} and {value!r} are of different types")
        elif isinstance(old, str):
            if (key == "index" and old.startswith("lc_")) or (
                key in _SAME_STRING_KEYS and old == value
            ):
                continue
            merged[key] = old + value
        elif isinstance(old, dict):
            merged[key] = merge_dicts(old, value)
        elif isinstance(old, list):
            merged[key] = merge_lists(old, value)
        elif old == value:
            continue
        elif isinstance(old, int) and not isinstance(old, bool):
            merged[key] = value if key in _LAST_INT_KEYS else old + value
        else:
            raise TypeError(f"Cannot merge {key!r}: {old!r} and {value!r} differ")
    return merged
