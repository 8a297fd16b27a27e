"""The records of GraphRAG: a retrieved context and its facts, an answer and its citations."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kgjudge._records import Record, Span, Triple
from kgjudge.graph._communities import Community
from kgjudge.graph._linking import LinkedEntity
from kgjudge.graph._resolution import normalise_name

Mode = Literal["local", "global"]


class ContextFact(Record):
    """A triple shown to the model, with its label and why it ranked where it did."""

    key: str
    triple: Triple
    confidence: float
    relevance: float
    score: float
    hops: int | None = None
    community: str | None = None

    def line(self) -> str:
        t = self.triple
        return f"[{self.key}] {t.head} | {t.relation} | {t.tail} (confidence {self.confidence:.2f})"


class RetrievedContext(Record):
    """What retrieval found for a question, and the text the model is shown.

    ``nothing_found`` says why the context is empty (no entity matched, no facts); an empty
    context is never sent to the model.
    """

    question: str
    mode: Mode
    linked: list[LinkedEntity] = Field(default_factory=list)
    facts: list[ContextFact] = Field(default_factory=list)
    communities: list[Community] = Field(default_factory=list)
    text: str = ""
    tokens: int = 0
    dropped: int = Field(default=0, description="ranked facts left out by the token budget")
    nothing_found: str | None = None
    seconds: float = 0.0

    def fact(self, key: str) -> ContextFact | None:
        """The fact with label ``key`` (``"T3"``), or None."""
        return next((f for f in self.facts if f.key == key), None)

    def answer_in_context(self, answer: str, k: int | None = None) -> bool:
        """Whether ``answer`` is the head or tail of one of the first ``k`` facts (all when
        None), compared in normalised form: retrieval hit@k."""
        want = normalise_name(answer)
        facts = self.facts if k is None else self.facts[:k]
        return any(want in (normalise_name(f.triple.head), normalise_name(f.triple.tail)) for f in facts)


class Citation(Record):
    """A fact an answer rests on, traced back to its document and evidence span.

    ``source`` is ``cited`` when the model gave the fact's label, ``matched`` when the answer
    names the fact's other entity without citing it.
    """

    key: str
    triple_id: str
    head: str
    relation: str
    tail: str
    confidence: float
    document_id: str | None = None
    document_source: str | None = None
    chunk_id: str | None = None
    evidence: Span | None = None
    source: Literal["cited", "matched"] = "cited"


class Answer(Record):
    """The answer to a question, the context it came from and its citations."""

    question: str
    mode: Mode
    found: bool
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    invalid_citations: list[str] = Field(default_factory=list, description="labels that are not in the context")
    partial_answers: list[str] = Field(default_factory=list, description="global search: the map step's answers")
    grounded: bool = Field(default=False, description="found, and at least one citation points at a retrieved fact")
    raw: str | None = None
    context: RetrievedContext
