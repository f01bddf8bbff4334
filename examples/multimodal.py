"""Multi-modal processing: a social media post's text and image, analysed at the same time.

The seed's social-media analysis agent: one branch reads the post's text (sentiment and keywords),
another describes its image (objects and scene), both at once; a synthesis merges the two. The
image goes to the model as a content part of the user message (a data URL in an `image_url`
part), written as a multipart prompt template:

    ("user", [{"type": "text", "text": "{caption}"},
              {"type": "image_url", "image_url": {"url": "{image_url}"}}])

The picture is made here, with the standard library only: a small PNG of a sunset over the sea
(sky, sun, water), encoded as a `data:image/png;base64,...` URL.

    python examples/multimodal.py
    python examples/multimodal.py --caption "Best beach day ever!"
    python examples/multimodal.py --sync

Without `OPENAI_API_KEY` it runs offline: `OfflineChatModel` restates what it was sent, naming
each content part it received (`[image: image/png, N bytes]`), so the output shows the image
reaching the image branch only. With `OPENAI_API_KEY` it calls `ChatOpenAI` (`--model`, else
`OPENAI_MODEL`, else gpt-4o-mini, which reads images) at `OPENAI_BASE_URL`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import struct
import zlib
from typing import Any

from _common import Stopwatch, add_model_arguments, choose_model

from llm import BaseChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import Runnable, RunnableParallel, RunnablePassthrough

DEFAULT_CAPTION = "Golden hour at the harbour. Worth every minute of the drive! #sunset #sea"
SIZE = 32
"""The picture's width and height in pixels."""


def sunset_png(size: int = SIZE) -> bytes:
    """A `size` x `size` RGB PNG: an orange sky, a yellow sun on the horizon, blue sea below."""
    sky, sun, sea = (250, 140, 60), (255, 225, 90), (30, 80, 160)
    horizon, radius = size * 5 // 8, size // 5
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # each scanline starts with its filter type: 0, none
        for x in range(size):
            in_sun = (x - size // 2) ** 2 + (y - horizon) ** 2 <= radius**2 and y < horizon
            rows.extend(sun if in_sun else sky if y < horizon else sea)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


def data_url(png: bytes) -> str:
    """`png` as a `data:image/png;base64,...` URL, the form an `image_url` part carries."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def build_chain(model: BaseChatModel) -> Runnable[dict[str, str], dict[str, Any]]:
    """The post analysis: `{"caption", "image_url"}` -> the two analyses and their synthesis.

    Returns a runnable giving `{"text_analysis", "image_analysis", "caption", "summary"}`.
    """
    text_branch = (
        ChatPromptTemplate.from_messages(
            [
                (
                    "system",
                    "You analyse social media posts. Give the sentiment of the text (positive, "
                    "negative or neutral) and its five most important keywords.",
                ),
                ("user", "{caption}"),
            ]
        )
        | model
        | StrOutputParser()
    )
    image_branch = (
        ChatPromptTemplate.from_messages(
            [
                (
                    "system",
                    "You describe images. List the objects you see and describe the scene in "
                    "one sentence.",
                ),
                (
                    "user",
                    [
                        {"type": "text", "text": "Describe the picture of this post."},
                        {"type": "image_url", "image_url": {"url": "{image_url}"}},
                    ],
                ),
            ]
        )
        | model
        | StrOutputParser()
    )
    synthesis = (
        ChatPromptTemplate.from_messages(
            [
                (
                    "system",
                    "Combine a text analysis and an image analysis of one social media post into "
                    "a short report: overall mood, main subject, and whether text and image agree.",
                ),
                (
                    "user",
                    "Post text: {caption}\n\nText analysis: {text_analysis}\n\n"
                    "Image analysis: {image_analysis}",
                ),
            ]
        )
        | model
        | StrOutputParser()
    )
    analyses = RunnableParallel(
        text_analysis=text_branch,
        image_analysis=image_branch,
        caption=lambda post: post["caption"],
    )
    return analyses | RunnablePassthrough.assign(summary=synthesis)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Analyse a social media post's text and image in parallel branches, then merge the "
            "two analyses (the seed's multi-modal case)."
        )
    )
    parser.add_argument(
        "--caption", default=DEFAULT_CAPTION, help="the post's text (default: %(default)r)"
    )
    parser.add_argument("--sync", action="store_true", help="use chain.invoke instead of ainvoke")
    add_model_arguments(parser, default_latency=0.5)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    choice = choose_model(args.model, latency=args.latency)
    print(choice.description)
    png = sunset_png()
    post = {"caption": args.caption, "image_url": data_url(png)}
    print(f"Post: {args.caption!r} with a {SIZE}x{SIZE} PNG ({len(png)} bytes) as a data URL")

    chain = build_chain(choice.model)
    with Stopwatch() as watch:
        result = chain.invoke(post) if args.sync else asyncio.run(chain.ainvoke(post))
    print("\n=== Text analysis (sentiment, keywords) ===")
    print(result["text_analysis"].strip())
    print("\n=== Image analysis (objects, scene) ===")
    print(result["image_analysis"].strip())
    print("\n=== Synthesis ===")
    print(result["summary"].strip())
    print(f"\nDone in {watch.seconds:.2f} s: both analyses at the same time, then the synthesis.")


if __name__ == "__main__":
    main()
