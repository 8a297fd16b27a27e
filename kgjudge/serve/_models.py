"""The records of the HTTP API (its OpenAPI schema is generated from them).

Responses are built from kgjudge's own records (:class:`~kgjudge.Triple`,
:class:`~kgjudge.Judgement`, :class:`~kgjudge.Document`, :class:`~kgjudge.graph.Answer`, ...);
the classes here only group them into pages and views.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kgjudge._inputs import Reject
from kgjudge._records import CurationDecision, Entity, FilterDecision, Judgement, Record, Triple
from kgjudge.graph import StoreStats
from kgjudge.llm import Usage

MAX_NAME = 1000
MAX_QUESTION = 2000
MAX_NOTE = 2000
MAX_JUDGE_TEXT = 50_000


class ErrorBody(Record):
    """What every error response holds."""

    error: str = Field(description="what went wrong, in one sentence")
    status: int


class Limits(Record):
    """The caps the server applies (the page never asks for more)."""

    max_hops: int
    max_facts: int = Field(description="facts in one neighbourhood or page")
    max_search: int
    max_text: int = Field(description="characters of a document in one response")
    max_body: int = Field(description="bytes of a request body")


class RunInfo(Record):
    """A run folder the runs view can show."""

    index: int
    kind: Literal["build", "filter"]
    folder: str


class ServerInfo(Record):
    """What the server shows and what it allows."""

    version: str
    source: Literal["build", "store"]
    name: str
    store: str
    allow_edit: bool
    documents: bool = Field(description="documents (text and spans) can be shown")
    judge: str | None = Field(description="the configured judge, if any")
    model: str | None = Field(description="the backend that answers questions")
    curation_log: bool = Field(description="decisions are logged (for kgjudge export-labels)")
    runs: list[RunInfo]
    limits: Limits


class Fact(Record):
    """A triple as the explorer shows it: the record, every judgement about it, and the verdict.

    Attributes:
        confidence: the mean judge score; a person's decision overrules it (1 or 0).
        rejected: rejected by a person, or else by every judge that judged it.
        curated: a person decided about it (see ``judgements``).
        source: ``store`` for the graph, ``build_rejected`` for a triple the build's judge
            rejected (kept only in ``rejected.jsonl``).
    """

    triple: Triple
    judgements: list[Judgement] = Field(default_factory=list)
    confidence: float
    rejected: bool
    curated: bool = False
    source: Literal["store", "build_rejected"] = "store"


class EntityMatch(Record):
    """An entity found by search: how its name matched and how many triples it has."""

    name: str
    matched: str = Field(description="the name or alias that matched")
    method: Literal["exact", "alias", "fuzzy", "prefix", "substring"]
    score: float
    degree: int


class EntitySearch(Record):
    """Entities matching a query, best first."""

    query: str
    hits: list[EntityMatch] = Field(default_factory=list)


class Neighbourhood(Record):
    """The facts around an entity, capped: ``more`` says how many triples of an entity are not
    shown yet (ask again with that entity and a larger offset)."""

    entity: str
    hops: int
    offset: int
    entities: list[Entity] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)
    more: dict[str, int] = Field(default_factory=dict)
    truncated: bool = Field(default=False, description="the fact cap cut the expansion short")
    hidden_rejected: int = Field(default=0, description="rejected facts left out (ask with rejected=true)")


class DocumentInfo(Record):
    """Where a fact's document is, and how long it is."""

    id: str
    source: str | None = None
    line: int | None = None
    length: int


class FactDetail(Record):
    """One fact with its provenance, judgements and every decision about it."""

    fact: Fact
    document: DocumentInfo | None = None
    decisions: list[CurationDecision] = Field(default_factory=list)


class DocumentView(Record):
    """A window of a document's text and the facts whose evidence lies in it.

    ``text`` is ``document[offset : offset + len(text)]``; evidence spans index the whole
    document, so a span's place in ``text`` is ``span.start - offset``.
    """

    document: DocumentInfo
    offset: int
    text: str
    facts: list[Fact] = Field(default_factory=list)
    more_facts: bool = False


class QueryRequest(Record):
    """A question for GraphRAG."""

    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    mode: Literal["local", "global"] = "local"


class JudgeRequest(Record):
    """A triple to judge against a document: a stored triple by id, or head, relation and tail
    with a document id (of the build) or a text."""

    triple_id: str | None = Field(default=None, max_length=MAX_NAME)
    head: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    relation: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    tail: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    document_id: str | None = Field(default=None, max_length=MAX_NAME)
    text: str | None = Field(default=None, max_length=MAX_JUDGE_TEXT)


class CurationRequest(Record):
    """A person's decision: accept or reject the triple, or correct some of its elements."""

    action: Literal["accept", "reject", "correct"]
    head: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    relation: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    tail: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    note: str | None = Field(default=None, max_length=MAX_NOTE)


class CurationResult(Record):
    """The decision as logged, and the facts it changed as they are now."""

    decision: CurationDecision
    facts: list[Fact]


class HistogramBin(Record):
    """Scores in ``[start, end)`` (the last bin includes 1.0)."""

    start: float
    end: float
    count: int


class RunSummary(Record):
    """A build or filter run: counts, usage per stage or judge, and score histograms."""

    index: int
    kind: Literal["build", "filter"]
    folder: str
    finished: bool
    counts: dict[str, Any] = Field(default_factory=dict)
    usage: dict[str, Usage] = Field(default_factory=dict)
    prompt_versions: dict[str, Any] = Field(default_factory=dict)
    histograms: dict[str, list[HistogramBin]] = Field(default_factory=dict, description="scores per judge")
    rejected_inputs: int = Field(description="inputs that could not be read (rejects.jsonl)")
    rejected: int = Field(description="triples (build) or examples (filter) the judges rejected")


class RejectedInput(Record):
    """An input a run could not read, with its place in rejects.jsonl."""

    index: int
    reject: Reject


class RejectedInputs(Record):
    """A page of a run's rejected inputs."""

    total: int
    offset: int
    items: list[RejectedInput] = Field(default_factory=list)


class RejectedPage(Record):
    """A page of what a run's judges rejected: triples with their judgements (build) or the
    final decisions about examples (filter), with their reasons."""

    total: int
    offset: int
    facts: list[Fact] = Field(default_factory=list)
    decisions: list[FilterDecision] = Field(default_factory=list)
