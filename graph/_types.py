"""Records that graph stores return (stored triples with their judgements, subgraphs, statistics),
and the keys and flat forms stores share."""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

from pydantic import Field

from kgjudge._records import CURATION_JUDGE, Entity, Judgement, ModelRef, Record, Span, Triple


class StoredTriple(Record):
    """A triple as a store holds it: the record itself and every judgement about it.

    Judgements are keyed by judge name (one per judge; a newer one replaces the older) and come
    back sorted by judge.

    Example:
        >>> StoredTriple(triple=Triple(head="Paris", relation="capital of", tail="France"))
    """

    triple: Triple
    judgements: list[Judgement] = Field(default_factory=list)

    def curation(self) -> Judgement | None:
        """The person's decision about the triple (judge :data:`~kgjudge.CURATION_JUDGE`), if any."""
        return next((j for j in self.judgements if j.judge == CURATION_JUDGE), None)

    def rejected(self) -> bool:
        """Whether the triple is rejected: by a person when one decided, else by every judge
        that judged it (an unjudged triple is not rejected)."""
        decided = self.curation()
        if decided is not None:
            return not decided.label
        return bool(self.judgements) and not any(j.label for j in self.judgements)

    def rejected_by_curation(self) -> bool:
        """Whether a person rejected the triple (GraphRAG never uses such a fact)."""
        decided = self.curation()
        return decided is not None and not decided.label


class Subgraph(Record):
    """Entities and the triples between them, both sorted (entities by name, triples by id).

    Example:
        >>> Subgraph(entities=[Entity(name="Paris")], triples=[])
    """

    entities: list[Entity] = Field(default_factory=list)
    triples: list[StoredTriple] = Field(default_factory=list)

    def names(self) -> set[str]:
        """The entity names."""
        return {e.name for e in self.entities}


class EntityHit(Record):
    """One search result: the entity, how it matched and how well (higher is better)."""

    entity: Entity
    score: float
    method: str


class StoreStats(Record):
    """Counts describing a store's content."""

    entities: int = 0
    triples: int = 0
    judgements: int = 0
    relations: int = 0
    documents: int = 0
    origins: dict[str, int] = Field(default_factory=dict)


class StoreFeatures(Record):
    """What a store can do; optional server features are detected, never assumed.

    Attributes:
        embeddings: entity embeddings can be stored and searched.
        vector_index: a server-side vector index answers embedding searches.
        fulltext_index: the server can build full-text indexes.
        text_index: the server has an index for substring (CONTAINS) search.
        apoc: the APOC procedure library is installed.
        sparql: read-only SPARQL queries are available.
    """

    embeddings: bool = False
    vector_index: bool = False
    fulltext_index: bool = False
    text_index: bool = False
    apoc: bool = False
    sparql: bool = False


def search_key(text: str) -> str:
    """The form names are compared in by name search: Unicode NFKC, then case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def name_key(name: str) -> str:
    """A fixed-length key of an exact name (SHA-256 hex), for indexes that cap value sizes."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def judgement_key(target_id: str, judge: str) -> str:
    """The key of a judgement: one per (triple, judge)."""
    return name_key(f"{target_id}\x00{judge}")


def flat_provenance(t: Triple) -> dict[str, Any]:
    """A triple's origin and provenance as flat scalar properties (None where absent), for
    stores whose edges hold only scalars (property graphs, GraphML)."""
    ev, ex = t.evidence, t.extractor
    return {
        "document_id": t.document_id,
        "chunk_id": t.chunk_id,
        "origin": t.origin,
        "evidence_start": ev.start if ev else None,
        "evidence_end": ev.end if ev else None,
        "evidence_text": ev.text if ev else None,
        "extractor_model": ex.model if ex else None,
        "extractor_adapter": ex.adapter if ex else None,
        "extractor_prompt_version": ex.prompt_version if ex else None,
    }


def triple_from_flat(props: Any, *, id: str, head: str, tail: str) -> Triple:
    """The triple whose relation and :func:`flat_provenance` are ``props`` (absent keys are None)."""
    evidence = None
    if props.get("evidence_start") is not None:
        evidence = Span(start=props["evidence_start"], end=props["evidence_end"], text=props["evidence_text"])
    extractor = None
    if props.get("extractor_model") is not None:
        extractor = ModelRef(model=props["extractor_model"], adapter=props.get("extractor_adapter"),
                             prompt_version=props.get("extractor_prompt_version"))
    return Triple(id=id, head=head, relation=props["relation"], tail=tail, document_id=props.get("document_id"),
                  chunk_id=props.get("chunk_id"), evidence=evidence, extractor=extractor, origin=props["origin"])
