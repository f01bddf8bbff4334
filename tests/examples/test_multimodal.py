"""`examples/multimodal.py`: a post's text and image analysed in parallel branches, then merged."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from tests.examples.test_examples import run_example, section
from tests.openai_server import OpenAIServer

CAPTION = "Sunny harbour, happy crew"


def user_parts(body: dict[str, Any]) -> list[Any]:
    """The content of the request's user message: a string, or its list of parts."""
    [user] = [m for m in body["messages"] if m["role"] == "user"]
    content = user["content"]
    return content if isinstance(content, list) else [content]


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines of an 8-bit RGB PNG, read with the standard library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, width, height, idat = 8, 0, 0, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
            assert body[8:10] == b"\x08\x02"  # 8 bits, RGB
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_multimodal_offline_sends_the_image_to_the_image_branch_only() -> None:
    proc = run_example("multimodal.py", "--caption", CAPTION, "--latency", "0.02")
    out = proc.stdout
    assert out.splitlines()[0].startswith("Model: offline (OfflineChatModel")
    text = section(out, "Text analysis")
    image = section(out, "Image analysis")
    synthesis = section(out, "Synthesis")
    assert text.startswith("[offline model] You analyse social media posts.")
    assert text.endswith(f"| {CAPTION}")
    assert "[image:" not in text
    # The offline model names the parts it received: the text part, then the PNG data URL.
    assert image.startswith("[offline model] You describe images.")
    assert image.endswith("| Describe the picture of this post. [image: image/png, 128 bytes]")
    assert synthesis.startswith("[offline model] Combine a text analysis and an image analysis")
    assert "both analyses at the same time, then the synthesis" in out


def test_multimodal_against_openai_server_sends_content_parts(
    openai_server: OpenAIServer,
) -> None:
    env = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": openai_server.base_url}
    proc = run_example("multimodal.py", "--caption", CAPTION, "--sync", env=env)
    assert proc.stdout.startswith("Model: ChatOpenAI gpt-4o-mini at ")
    requests = openai_server.requests
    assert len(requests) == 3
    branches, synthesis = requests[:2], requests[2]
    by_kind = {("image" if len(user_parts(b)) == 2 else "text"): b for b in branches}
    assert user_parts(by_kind["text"]) == [CAPTION]
    text_part, image_part = user_parts(by_kind["image"])
    assert text_part == {"type": "text", "text": "Describe the picture of this post."}
    assert image_part["type"] == "image_url"
    url = image_part["image_url"]["url"]
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    width, height, rows = png_pixels(base64.b64decode(url[len(prefix) :]))
    assert (width, height) == (32, 32)
    assert len(rows) == height * (1 + 3 * width)  # a filter byte, then RGB, per scanline
    # Both branch answers reach the synthesis prompt.
    [user] = user_parts(synthesis)
    assert f"Post text: {CAPTION}" in user
    assert "Text analysis: echo: " + CAPTION in user
    assert "Image analysis: echo: " in user
