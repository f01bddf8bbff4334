"""The playground page, driven in headless Chromium (Debian's package) against a real uvicorn.

The browser may reach 127.0.0.1 only, with its background requests turned off, so a page that
needed a CDN or any other host would fail here. These tests are sync: the browser is not a
runnable, and the server runs in a thread of its own.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx
import pydantic
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from starlette.applications import Starlette
from starlette.routing import Route

from llm import OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate, MessagesPlaceholder, PromptValue
from runnables import (
    Runnable,
    RunnableGenerator,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from runnables._serve_playground import playground
from runnables.serve import add_routes
from tests.uvicorn_thread import running

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    # Only loopback resolves: any other host (a CDN, Google's update servers) is unreachable.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--disable-quic",
    "--disable-gpu",
    "--no-sandbox",  # CI and this machine run as root, where Chromium's sandbox cannot start
]
LOOPBACK = "http://127.0.0.1"
WAIT_MS = 60_000
"""One generous safety limit for anything the page waits for (never reached when healthy)."""


class Params(pydantic.BaseModel):
    topic: str
    style: Literal["short", "long"] = "short"
    words: int = 3
    shout: bool = False
    tags: list[str] = []


def app_for(runnable: Runnable[Any, Any], path: str = "/chain") -> Starlette:
    app = Starlette()
    add_routes(app, runnable, path)
    return app


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium (`apt-get install chromium`); "
            "the playground's browser test never skips"
        )
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    failed: list[str] = []
    # Any request that leaves 127.0.0.1 is a page that would not work offline.
    page.on(
        "request", lambda r: None if r.url.startswith("http://127.0.0.1") else failed.append(r.url)
    )
    yield page
    context.close()
    assert failed == []


def open_playground(page: Page, url: str) -> None:
    """Open the page and wait until it has built its form from the input schema."""
    page.goto(url)
    page.wait_for_selector("body[data-form=ready]")


def run_and_wait(page: Page) -> None:
    page.click("#run")
    # A selector, not a JS predicate: the page's CSP forbids the eval a string predicate needs.
    page.wait_for_selector(
        "body[data-state=done], body[data-state=error], body[data-state=stopped]"
    )


def test_playground_streams_a_chains_answer(page: Page, tmp_path: Path) -> None:
    chain = (
        ChatPromptTemplate.from_template("Tell me about {topic}")
        | OfflineChatModel(chunk_size=4)
        | StrOutputParser()
    )
    with running(app_for(chain, "/topic")) as url:
        open_playground(page, f"{url}/topic/playground/")
        page.fill("textarea[name=topic]", "comets")
        run_and_wait(page)
        shot = tmp_path / "playground.png"
        page.screenshot(path=str(shot), full_page=True)
        assert page.inner_text("#output") == "[offline model] reply to: Tell me about comets"
        assert page.inner_text("#error") == ""
        assert page.inner_text("#status") == "done"
        assert page.inner_text("#title") == "/topic playground"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000


def test_playground_shows_message_chunks_content(page: Page) -> None:
    model = OfflineChatModel(responses=["Four, I think."], chunk_size=3)  # five chunks
    chain = ChatPromptTemplate.from_template("{question}") | model
    with running(app_for(chain)) as url:
        page.goto(f"{url}/chain/playground")  # redirected to the folder form
        assert page.url == f"{url}/chain/playground/"
        page.fill("textarea[name=question]", "2 + 2?")
        run_and_wait(page)
        assert page.inner_text("#output") == "Four, I think."


def test_playground_builds_fields_from_the_schema(page: Page) -> None:
    seen: list[Any] = []

    def echo(params: Params) -> dict[str, Any]:
        seen.append(params)
        return {"got": params}

    with running(app_for(RunnableLambda(echo))) as url:
        open_playground(page, f"{url}/chain/playground/")
        kinds = page.eval_on_selector_all(
            "#fields [name]", "els => els.map(e => [e.name, e.tagName, e.type, e.dataset.kind])"
        )
        assert kinds == [
            ["topic", "TEXTAREA", "textarea", "string"],
            ["style", "SELECT", "select-one", "enum"],
            ["words", "INPUT", "number", "integer"],
            ["shout", "INPUT", "checkbox", "boolean"],
            ["tags", "TEXTAREA", "textarea", "json"],
        ]
        assert page.input_value("[name=words]") == "3"  # defaults are filled in
        page.fill("[name=topic]", "tides")
        page.select_option("[name=style]", label="long")
        page.fill("[name=words]", "7")
        page.check("[name=shout]")
        page.fill("[name=tags]", '["sea", "moon"]')
        run_and_wait(page)
        sent = {
            "topic": "tides",
            "style": "long",
            "words": 7,
            "shout": True,
            "tags": ["sea", "moon"],
        }
        assert seen == [sent]
        assert json.loads(page.inner_text("#output")) == {"got": sent}  # JSON pretty-printed


def test_playground_shows_a_server_error(page: Page) -> None:
    def broken(text: str) -> str:
        raise ValueError("no luck with " + text)

    with running(app_for(RunnableLambda(broken))) as url:
        open_playground(page, f"{url}/chain/playground/")
        page.fill("textarea[name=input]", "that")
        run_and_wait(page)
        assert page.inner_text("#error") == "500 ValueError: no luck with that"
        assert page.inner_text("#status") == "failed"


def test_playground_shows_the_servers_refusal(page: Page) -> None:
    with running(app_for(RunnableLambda(lambda p: p).with_types(input_type=Params))) as url:
        open_playground(page, f"{url}/chain/playground/")
        page.fill("[name=topic]", "tides")
        page.fill("[name=tags]", "[1, 2]")  # not strings: the server's schema check says so
        run_and_wait(page)
        assert page.inner_text("#error") == "422 input.tags.0: Input should be a valid string"
        assert page.inner_text("#output") == ""


def test_playground_reports_bad_json_before_sending(page: Page) -> None:
    with running(app_for(RunnableLambda(lambda d: d).with_types(input_type=list[int]))) as url:
        open_playground(page, f"{url}/chain/playground/")
        page.fill("textarea[name=input]", "[1, 2")
        page.click("#run")
        page.wait_for_selector("body[data-state=error]")
        assert "invalid JSON" in page.inner_text("#error")


def test_playground_page_is_self_contained_and_redirects_to_its_folder() -> None:
    app = Starlette(
        routes=[Route("/x/playground", playground), Route("/x/playground/", playground)]
    )
    with running(app) as url:
        moved = httpx.get(f"{url}/x/playground?a=1")
        page = httpx.get(f"{url}/x/playground/")
    assert moved.status_code == 307
    assert moved.headers["location"] == f"{url}/x/playground/?a=1"
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert "<script src" not in html
    assert "<link" not in html
    assert "http://" not in html
    assert "https://" not in html


def test_playground_takes_messages_as_json(page: Page) -> None:
    seen: list[Any] = []

    def record(prompt: PromptValue) -> str:
        seen.append([(m.type, m.content) for m in prompt.to_messages()])
        return "noted"

    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), MessagesPlaceholder("history"), ("user", "{question}")]
    )
    with running(app_for(prompt | RunnableLambda(record))) as url:
        open_playground(page, f"{url}/chain/playground/")
        history = page.locator("[name=history]")
        assert history.get_attribute("data-kind") == "json"
        assert history.get_attribute("placeholder") == '[{"type": "human", "content": "Hello"}]'
        history.fill('[{"type": "human", "content": "hi"}, {"type": "ai", "content": "hello"}]')
        page.fill("[name=question]", "2 + 2?")
        run_and_wait(page)
        assert page.inner_text("#output") == "noted"
    assert seen == [
        [("system", "Be brief."), ("human", "hi"), ("ai", "hello"), ("human", "2 + 2?")]
    ]


def test_playground_stop_cancels_the_run(page: Page) -> None:
    started = threading.Event()
    cancelled = threading.Event()

    async def hold(text: str) -> AsyncIterator[str]:
        yield "thinking"
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        yield "never"  # pragma: no cover

    chain = RunnableLambda(lambda text: text) | RunnableGenerator(_passing(hold))
    with running(app_for(chain.with_types(input_type=str))) as url:
        open_playground(page, f"{url}/chain/playground/")
        page.fill("textarea[name=input]", "x")
        page.click("#run")
        page.wait_for_selector("#output:text('thinking')")
        assert started.wait(WAIT_MS / 1000)
        page.click("#stop")
        page.wait_for_selector("body[data-state=stopped]")
        assert page.inner_text("#status") == "stopped"
        assert cancelled.wait(WAIT_MS / 1000)  # the page hung up; the server cancelled the run


def _passing(
    body: Callable[[str], AsyncIterator[str]],
) -> Callable[[AsyncIterator[str]], AsyncIterator[str]]:
    """A generator step's transform calling `body` on its (one) input."""

    async def transform(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        text = "".join([c async for c in chunks])
        async for out in body(text):
            yield out

    return transform


def test_playground_adds_up_a_parallels_chunks_by_key(page: Page) -> None:
    answer = ChatPromptTemplate.from_template("About {topic}") | OfflineChatModel(chunk_size=5)
    parallel = RunnableParallel(answer=answer | StrOutputParser(), topic=RunnablePassthrough())
    chain = parallel.with_types(input_type=str)
    with running(app_for(chain)) as url:
        open_playground(page, f"{url}/chain/playground/")
        page.fill("textarea[name=input]", "tides")
        run_and_wait(page)
        shown = json.loads(page.inner_text("#output"))
    assert shown == chain.invoke("tides")
    assert shown["answer"] == "[offline model] reply to: About tides"


def test_playground_shows_the_output_while_it_streams(page: Page) -> None:
    gate = threading.Event()

    async def gated(text: str) -> AsyncIterator[str]:
        yield "Hello"
        # The rest exists only once the test has seen the first piece on the page.
        assert await anyio.to_thread.run_sync(gate.wait, WAIT_MS / 1000)
        yield ", world"

    chain = RunnableGenerator(_passing(gated)).with_types(input_type=str)
    with running(app_for(chain)) as url:
        open_playground(page, f"{url}/chain/playground/")
        page.fill("textarea[name=input]", "x")
        page.click("#run")
        page.wait_for_selector("#output:text-is('Hello')")
        assert page.get_attribute("body", "data-state") == "running"
        gate.set()
        run_and_wait(page)
        assert page.inner_text("#output") == "Hello, world"
