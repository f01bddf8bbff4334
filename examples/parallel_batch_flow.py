"""Parallel batch flow: every image x every filter, each a load -> filter -> save pipeline.

PocketFlow runs a sub-flow of three async nodes once per (image, filter) pair and gathers them all
(`AsyncParallelBatchFlow`). Here the sub-flow is a chain of async functions,

    pipeline = (
        RunnableLambda(load_image) | RunnableLambda(apply_filter) | RunnableLambda(save_image)
    )

and the batch is `pipeline.abatch(jobs, config={"max_concurrency": N})`: all combinations run
concurrently, with at most N steps (loads, filters, saves) running at any moment across the whole
batch. The same call with `max_concurrency: 1` runs them one step at a time, for comparison.

No LLM and no real photos: the images are tiny generated RGB pictures, each step waits
`--io-delay` seconds to stand in for disk or network I/O, and the results are saved as real PPM
files into `--output-dir` (by default a temporary directory, removed at exit). Each pipeline passes
its data along the chain; nothing is shared between pipelines.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import anyio
from _common import Stopwatch, non_negative_float, positive_int

from runnables import Runnable, RunnableLambda

SIZE = 8
"""Width and height of the generated images, in pixels."""


@dataclass(frozen=True)
class Image:
    """An RGB image: `width * height` pixels of 3 bytes each, row by row."""

    name: str
    width: int
    height: int
    pixels: bytes

    def brightness(self) -> float:
        """Mean of all channel values, 0-255."""
        return sum(self.pixels) / len(self.pixels) if self.pixels else 0.0

    def to_ppm(self) -> bytes:
        """The image as a binary PPM file (readable by most image viewers)."""
        return f"P6\n{self.width} {self.height}\n255\n".encode() + self.pixels


class Job(TypedDict):
    """One combination to process."""

    image: str
    filter: str


@dataclass(frozen=True)
class Loaded:
    job: Job
    image: Image


@dataclass(frozen=True)
class Filtered:
    job: Job
    image: Image


@dataclass(frozen=True)
class Saved:
    """What the save step reports."""

    job: Job
    path: Path
    size: int
    brightness: float


# -- the simulated images ------------------------------------------------------------------------


def _generate(name: str, pixel: Callable[[int, int], tuple[int, int, int]]) -> Image:
    data = bytearray()
    for y in range(SIZE):
        for x in range(SIZE):
            data.extend(pixel(x, y))
    return Image(name, SIZE, SIZE, bytes(data))


IMAGES: dict[str, Image] = {
    image.name: image
    for image in (
        _generate("cat.jpg", lambda x, y: (32 * x, 32 * y, 128)),  # a gradient
        _generate("dog.jpg", lambda x, y: (250, 250, 250) if (x + y) % 2 else (10, 40, 90)),
        _generate("bird.jpg", lambda x, y: (200, 60, 30) if y % 4 < 2 else (40, 160, 220)),
    )
}
"""The "files" the load step reads: name -> image."""


# -- the filters (pure functions over the pixels) ------------------------------------------------


def grayscale(image: Image) -> bytes:
    out = bytearray()
    for i in range(0, len(image.pixels), 3):
        r, g, b = image.pixels[i : i + 3]
        y = (299 * r + 587 * g + 114 * b) // 1000
        out.extend((y, y, y))
    return bytes(out)


def sepia(image: Image) -> bytes:
    out = bytearray()
    for i in range(0, len(image.pixels), 3):
        r, g, b = image.pixels[i : i + 3]
        out.extend(
            (
                min(255, int(0.393 * r + 0.769 * g + 0.189 * b)),
                min(255, int(0.349 * r + 0.686 * g + 0.168 * b)),
                min(255, int(0.272 * r + 0.534 * g + 0.131 * b)),
            )
        )
    return bytes(out)


def blur(image: Image) -> bytes:
    """A 3x3 box blur (edges average over the neighbours that exist)."""
    w, h, px = image.width, image.height, image.pixels
    out = bytearray()
    for y in range(h):
        for x in range(w):
            near = [
                (nx, ny)
                for ny in range(max(0, y - 1), min(h, y + 2))
                for nx in range(max(0, x - 1), min(w, x + 2))
            ]
            for channel in range(3):
                total = sum(px[3 * (ny * w + nx) + channel] for nx, ny in near)
                out.append(total // len(near))
    return bytes(out)


FILTERS: dict[str, Callable[[Image], bytes]] = {
    "grayscale": grayscale,
    "blur": blur,
    "sepia": sepia,
}


# -- the pipeline ---------------------------------------------------------------------------------


def build_pipeline(io_delay: float, output_dir: Path) -> Runnable[Job, Saved]:
    """load -> filter -> save for one job; each step is an async function that waits `io_delay`."""

    async def load_image(job: Job) -> Loaded:
        await anyio.sleep(io_delay)  # reading the file
        return Loaded(job, IMAGES[job["image"]])

    async def apply_filter(loaded: Loaded) -> Filtered:
        await anyio.sleep(io_delay)  # e.g. an image service call
        source = loaded.image
        pixels = FILTERS[loaded.job["filter"]](source)
        return Filtered(loaded.job, Image(source.name, source.width, source.height, pixels))

    async def save_image(filtered: Filtered) -> Saved:
        await anyio.sleep(io_delay)  # a slow disk or an upload
        stem = filtered.job["image"].rsplit(".", 1)[0]
        path = output_dir / f"{stem}_{filtered.job['filter']}.ppm"
        data = filtered.image.to_ppm()
        await anyio.Path(path).write_bytes(data)
        return Saved(filtered.job, path, len(data), filtered.image.brightness())

    return RunnableLambda(load_image) | RunnableLambda(apply_filter) | RunnableLambda(save_image)


def all_jobs() -> list[Job]:
    """Every image with every filter."""
    return [{"image": image, "filter": name} for image in IMAGES for name in FILTERS]


async def compare(
    pipeline: Runnable[Job, Saved], jobs: list[Job], max_concurrency: int
) -> tuple[list[Saved], float, float]:
    """Run all jobs one step at a time, then concurrently; return the results and both timings."""
    print("\n=== One at a time: abatch(jobs, config={'max_concurrency': 1}) ===")
    with Stopwatch() as sequential:
        one_by_one = await pipeline.abatch(jobs, config={"max_concurrency": 1})
    print(f"{len(jobs)} pipelines in {sequential.seconds:.2f} s")

    print(f"\n=== All at once: abatch(jobs, config={{'max_concurrency': {max_concurrency}}}) ===")
    with Stopwatch() as concurrent:
        together = await pipeline.abatch(jobs, config={"max_concurrency": max_concurrency})
    print(f"{len(jobs)} pipelines in {concurrent.seconds:.2f} s")

    if together != one_by_one:
        raise SystemExit("error: the two runs saved different results")
    return together, sequential.seconds, concurrent.seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Apply every filter to every image, each combination a load -> filter -> save "
            "pipeline of async steps, all concurrently under one max_concurrency, then compare "
            "with one at a time (PocketFlow's parallel batch flow). No LLM; simulated I/O."
        )
    )
    parser.add_argument(
        "--io-delay",
        type=non_negative_float,
        default=0.1,
        metavar="SECONDS",
        help="simulated I/O time of each load, filter and save step (default: %(default)s)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=positive_int,
        default=4,
        metavar="N",
        help="most steps running at once across all pipelines (default: %(default)s)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to save the filtered images (default: a temporary directory, removed at exit)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    jobs = all_jobs()
    print(
        f"Runs: {len(IMAGES)} images x {len(FILTERS)} filters = {len(jobs)} load -> filter -> "
        f"save pipelines of async steps (no LLM; simulated I/O of {args.io_delay:g} s per step)"
    )
    print(f"Images: {', '.join(IMAGES)}; filters: {', '.join(FILTERS)}")

    with tempfile.TemporaryDirectory(prefix="parallel_batch_flow_") as tmp:
        output_dir: Path = args.output_dir if args.output_dir is not None else Path(tmp)
        output_dir.mkdir(parents=True, exist_ok=True)
        pipeline = build_pipeline(args.io_delay, output_dir)
        saved, sequential, concurrent = asyncio.run(compare(pipeline, jobs, args.max_concurrency))

        where = "temporary, removed at exit" if args.output_dir is None else "kept"
        print(f"\n=== Saved images ({output_dir}, {where}) ===")
        for result in saved:
            combination = f"{result.job['image']} x {result.job['filter']}"
            print(
                f"{combination:<20} -> {result.path.name:<20} "
                f"{result.size} bytes, mean brightness {result.brightness:5.1f}"
            )

    steps = 3 * len(jobs)
    print("\n=== Timings ===")
    speedup = sequential / concurrent if concurrent > 0 else float("inf")
    rows = [
        ("One at a time:", f"{sequential:.2f} s"),
        (f"All at once (max_concurrency {args.max_concurrency}):", f"{concurrent:.2f} s"),
        ("Speed-up:", f"{speedup:.1f}x"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}} {value}")
    print(
        f"({steps} steps of {args.io_delay:g} s: about {steps * args.io_delay:.1f} s one at a "
        f"time, about {-(-steps // args.max_concurrency) * args.io_delay:.1f} s with "
        f"{args.max_concurrency} at once.)"
    )


if __name__ == "__main__":
    main()
