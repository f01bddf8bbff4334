"""Document and BaseRetriever: LangChain-style subclasses, in chains, batches and events."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from pydantic import ValidationError

from llm import BaseRetriever, Document, OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import RunnableParallel, RunnablePassthrough

DOCS = [
    Document("Cats sleep sixteen hours a day.", metadata={"source": "cats.txt"}),
    Document("Cats purr when content.", metadata={"source": "cats.txt"}),
    Document("Dogs bark at strangers.", metadata={"source": "dogs.txt"}),
]


class KeywordRetriever(BaseRetriever):
    """A sync retriever in LangChain's form: pydantic fields and `run_manager`."""

    docs: list[Document]
    k: int = 2

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        assert run_manager is None  # handlers see the run instead
        words = query.lower().split()
        hits = [d for d in self.docs if any(w in d.page_content.lower() for w in words)]
        return hits[: self.k]


class AsyncEcho(BaseRetriever):
    """An async retriever without `run_manager`, with an extra keyword."""

    async def _aget_relevant_documents(self, query: str, n: int = 1) -> list[Document]:
        await anyio.lowlevel.checkpoint()
        return [Document(f"{query} #{i}", id=i) for i in range(n)]


def format_docs(docs: list[Document]) -> str:
    return "\n".join(d.page_content for d in docs)


def retriever() -> KeywordRetriever:
    return KeywordRetriever(docs=DOCS)


# -- Document ------------------------------------------------------------------------------------


def test_document_has_langchains_shape() -> None:
    doc = Document(page_content="hello", metadata={"source": "x"})
    assert doc == Document("hello", metadata={"source": "x"})
    assert doc.model_dump() == {
        "id": None,
        "metadata": {"source": "x"},
        "page_content": "hello",
        "type": "Document",
    }
    assert repr(doc) == "Document(metadata={'source': 'x'}, page_content='hello')"
    assert repr(Document("a", id="i1")) == "Document(id='i1', metadata={}, page_content='a')"
    assert str(doc) == "page_content='hello' metadata={'source': 'x'}"
    assert str(Document("a")) == "page_content='a'"
    assert Document("a", id=5).id == "5"
    assert Document("a").metadata == {}
    assert Document("a").metadata is not Document("a").metadata


def test_document_rejects_bad_content_and_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="page_content"):
        Document(page_content=3)
    with pytest.raises(ValidationError, match="metdata"):
        Document("a", metdata={})
    with pytest.raises(TypeError, match="both positionally and by keyword"):
        Document("a", page_content="b")


# -- retrievers in every entry point -------------------------------------------------------------


def test_a_sync_retriever_works_with_invoke_and_batch() -> None:
    r = retriever()
    assert r.invoke("cats") == DOCS[:2]
    assert KeywordRetriever(docs=DOCS, k=1).invoke("cats") == DOCS[:1]
    assert r.batch(["cats", "dogs", "fish"]) == [DOCS[:2], DOCS[2:], []]
    assert list(r.stream("dogs")) == [DOCS[2:]]


@pytest.mark.anyio
async def test_a_sync_retriever_runs_in_a_worker_thread() -> None:
    threads: list[int] = []

    class Where(BaseRetriever):
        def _get_relevant_documents(self, query: str) -> list[Document]:
            threads.append(threading.get_ident())
            return [Document(query)]

    assert await Where().ainvoke("q") == [Document("q")]
    assert threads
    assert threads[0] != threading.get_ident()


@pytest.mark.anyio
async def test_an_async_retriever_works_with_every_entry_point() -> None:
    r = AsyncEcho()
    assert await r.ainvoke("q") == [Document("q #0", id="0")]
    assert await r.ainvoke("q", n=2) == [Document("q #0", id="0"), Document("q #1", id="1")]
    assert await r.abatch(["a", "b"]) == [[Document("a #0", id="0")], [Document("b #0", id="0")]]
    assert [c async for c in r.astream("s")] == [[Document("s #0", id="0")]]


def test_an_async_retriever_works_sync() -> None:
    assert AsyncEcho().invoke("q") == [Document("q #0", id="0")]
    assert AsyncEcho().batch(["a"], n=2)[0][1].page_content == "a #1"


def test_a_retriever_implementing_neither_method_fails_when_made() -> None:
    class Nothing(BaseRetriever):
        pass

    with pytest.raises(TypeError, match="Nothing implements neither _get_relevant_documents"):
        Nothing()


def test_a_misspelt_field_fails_when_the_retriever_is_made() -> None:
    with pytest.raises(ValidationError, match="kk"):
        KeywordRetriever(docs=DOCS, kk=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="k"):
        KeywordRetriever(docs=DOCS, k="many")  # type: ignore[arg-type]


def test_a_retriever_pickles_and_shows_its_fields() -> None:
    r = KeywordRetriever(docs=DOCS[:1], k=1)
    assert pickle.loads(pickle.dumps(r)).invoke("cats") == DOCS[:1]
    assert repr(r).startswith("KeywordRetriever(docs=[Document(")
    assert "tags" not in repr(r)


def test_a_retriever_schema_is_str_to_list_of_documents() -> None:
    r = retriever()
    assert r.get_input_jsonschema() == {"title": "KeywordRetrieverInput", "type": "string"}
    output = r.get_output_jsonschema()
    assert output["type"] == "array"
    assert output["items"] == {"$ref": "#/$defs/Document"}
    assert output["$defs"]["Document"]["required"] == ["page_content"]


# -- the seed shape ------------------------------------------------------------------------------

PROMPT = ChatPromptTemplate.from_messages(
    [("system", "Answer from the context:\n{context}"), ("human", "{question}")]
)


def rag_chain(model: OfflineChatModel) -> Any:
    return (
        {"context": retriever() | format_docs, "question": RunnablePassthrough()}
        | PROMPT
        | model
        | StrOutputParser()
    )


def test_retriever_then_format_docs_inside_a_parallel_feeds_the_prompt() -> None:
    seen: list[Any] = []

    def reply(messages: list[Any]) -> str:
        seen.append(messages)
        return "sixteen hours"

    chain = rag_chain(OfflineChatModel(responses=reply))
    assert chain.invoke("cats") == "sixteen hours"
    system, human = seen[0]
    assert system.content == (
        "Answer from the context:\nCats sleep sixteen hours a day.\nCats purr when content."
    )
    assert human.content == "cats"


@pytest.mark.anyio
async def test_the_seed_shape_streams_and_batches() -> None:
    chain = rag_chain(OfflineChatModel(responses=["an answer"]))
    assert "".join([c async for c in chain.astream("dogs")]) == "an answer"
    assert await chain.abatch(["cats", "dogs"]) == ["an answer", "an answer"]


@pytest.mark.anyio
async def test_a_retriever_reports_start_and_end_but_no_stream_events() -> None:
    events = [e async for e in retriever().astream_events("cats", version="v2")]
    assert [e["event"] for e in events] == ["on_retriever_start", "on_retriever_end"]
    assert events[0]["name"] == "KeywordRetriever"
    assert events[0]["data"] == {"input": "cats"}
    assert events[1]["data"]["output"] == DOCS[:2]


@pytest.mark.anyio
async def test_retriever_events_inside_the_seed_chain() -> None:
    chain = rag_chain(OfflineChatModel(responses=["ok"]))
    events = [e async for e in chain.astream_events("cats", version="v2")]
    retriever_events = [e for e in events if "retriever" in e["event"]]
    assert [e["event"] for e in retriever_events] == ["on_retriever_start", "on_retriever_end"]
    start, end = retriever_events
    assert end["data"]["output"] == DOCS[:2]
    assert "seq:step:1" in start["tags"]
    parallel = next(e for e in events if e["event"] == "on_chain_start")
    assert parallel["run_id"] in start["parent_ids"]
    types = {e["event"] for e in events}
    assert {"on_chat_model_start", "on_parser_end", "on_prompt_end"} <= types


@pytest.mark.anyio
async def test_a_retriever_s_own_tags_and_metadata_mark_its_events() -> None:
    r = KeywordRetriever(docs=DOCS, tags=["kb"], metadata={"index": "pets"})
    events = [e async for e in r.astream_events("cats", version="v2", include_tags=["kb"])]
    assert [e["event"] for e in events] == ["on_retriever_start", "on_retriever_end"]
    assert events[0]["metadata"]["index"] == "pets"


@pytest.mark.anyio
async def test_retrievers_hold_a_slot_of_the_run_s_max_concurrency() -> None:
    running = 0
    most = 0
    started = anyio.Event()

    class Slow(BaseRetriever):
        async def _aget_relevant_documents(self, query: str) -> list[Document]:
            nonlocal running, most
            running += 1
            most = max(most, running)
            started.set()
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            running -= 1
            return []

    parallel = RunnableParallel(a=Slow(), b=Slow(), c=Slow())
    assert await parallel.ainvoke("q", {"max_concurrency": 1}) == {"a": [], "b": [], "c": []}
    assert started.is_set()
    assert most == 1
    await parallel.ainvoke("q")
    assert most > 1  # without the limit they overlap, so the check above could fail


@pytest.mark.anyio
async def test_astream_events_filters_by_the_retriever_type() -> None:
    chain = rag_chain(OfflineChatModel(responses=["ok"]))
    events = [
        e async for e in chain.astream_events("cats", version="v2", include_types=["retriever"])
    ]
    assert [(e["event"], e["name"]) for e in events] == [
        ("on_retriever_start", "KeywordRetriever"),
        ("on_retriever_end", "KeywordRetriever"),
    ]


@pytest.mark.parametrize("bad", [5, None, ["a"]])
def test_a_document_of_the_wrong_kind_is_named_when_made(bad: Any) -> None:
    with pytest.raises(TypeError, match=r'"page_content" argument of Document.*got') as info:
        Document(page_content=bad)
    assert isinstance(info.value, ValidationError)
