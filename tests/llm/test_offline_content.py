"""The offline model says which content parts it received."""

from __future__ import annotations

import base64

import pytest

from llm import OfflineChatModel
from prompts import HumanMessage, SystemMessage

IMAGE = base64.b64encode(bytes(range(67))).decode("ascii")


def picture_message() -> HumanMessage:
    return HumanMessage(
        content=[
            {"type": "text", "text": "What is in"},
            {"type": "text", "text": " this picture?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE}"}},
            {"type": "image", "url": "https://example.com/cat.png"},
        ]
    )


@pytest.mark.anyio
async def test_the_reply_names_each_part_it_received() -> None:
    reply = await OfflineChatModel().ainvoke([picture_message()])
    assert reply.content == (
        "[offline model] reply to: What is in this picture? [image: image/png, 67 bytes] "
        "[image: https://example.com/cat.png]"
    )


@pytest.mark.anyio
async def test_with_instructions_the_parts_follow_them() -> None:
    messages = [SystemMessage(content="Describe images."), picture_message()]
    chunks = [chunk.text async for chunk in OfflineChatModel().astream(messages)]
    assert "".join(chunks) == (
        "[offline model] Describe images. | What is in this picture? "
        "[image: image/png, 67 bytes] [image: https://example.com/cat.png]"
    )
