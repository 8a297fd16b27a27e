"""``neo4j.v1``: a Neo4j (or any Bolt/Cypher) server through the official ``neo4j`` driver.

Model: ``(:Entity {key, name, search, ...})-[:RELATION {id, relation, document_id, ...}]->(:Entity)``
and ``(:Judgement {key, triple_id, judge, score, ...})``. ``key`` is the SHA-256 of the exact
name (names can be longer than an index entry may be); ``search`` holds the name and aliases in
search form.

Relation names come from a model and are untrusted, so they are **data, never syntax**: every
triple is a relationship of the one type ``RELATION`` whose ``relation`` property holds the
name verbatim. Mapping names to relationship types would need a whitelist, escaping and a rule
for names that collide once cleaned (``born in`` / ``born_in`` / ``Born-In``), and would lose
the exact text; a property keeps it, is indexable, and is matched with a parameter like any
other value. No text from a record is ever formatted into Cypher: every query below is a
constant, and values travel as parameters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar

from pydantic import Field

from kgjudge._config import Slot, resolve_env
from kgjudge._errors import StoreError
from kgjudge._extras import require
from kgjudge._records import Entity, Judgement, ModelRef, Triple
from kgjudge._registry import stores
from kgjudge.graph._base import GraphStore, cosine_ranking, normalise_entity
from kgjudge.graph._types import (
    EntityHit,
    StoreFeatures,
    StoreStats,
    flat_provenance,
    judgement_key,
    name_key,
    search_key,
    triple_from_flat,
)

T = TypeVar("T")
logger = logging.getLogger(__name__)
SEARCH_SEP = "\x1f"
VECTOR_INDEX = "kgjudge_entity_embedding"

SCHEMA = [
    "CREATE CONSTRAINT kgjudge_entity_key IF NOT EXISTS FOR (e:Entity) REQUIRE e.key IS UNIQUE",
    "CREATE CONSTRAINT kgjudge_judgement_key IF NOT EXISTS FOR (j:Judgement) REQUIRE j.key IS UNIQUE",
    "CREATE INDEX kgjudge_judgement_triple IF NOT EXISTS FOR (j:Judgement) ON (j.triple_id)",
    "CREATE INDEX kgjudge_relation_document IF NOT EXISTS FOR ()-[r:RELATION]-() ON (r.document_id)",
]
# Relationship uniqueness constraints need Neo4j 5.7+; an index is the fallback.
RELATION_ID_CONSTRAINT = (
    "CREATE CONSTRAINT kgjudge_relation_id IF NOT EXISTS FOR ()-[r:RELATION]-() REQUIRE r.id IS UNIQUE"
)
RELATION_ID_INDEX = "CREATE INDEX kgjudge_relation_id IF NOT EXISTS FOR ()-[r:RELATION]-() ON (r.id)"
TEXT_INDEX = "CREATE TEXT INDEX kgjudge_entity_search IF NOT EXISTS FOR (e:Entity) ON (e.search)"
PROCEDURES = "SHOW PROCEDURES YIELD name RETURN name"
FUNCTIONS = "SHOW FUNCTIONS YIELD name RETURN name"

# Relationship lookups take "WHERE r.id IN $ids", the form servers answer from the r.id index.
Q_DELETE_RELATIONS = "MATCH ()-[r:RELATION]->() WHERE r.id IN $ids DELETE r"
Q_NODES = """
UNWIND $rows AS row
MERGE (e:Entity {key: row.key})
ON CREATE SET e.name = row.name, e.search = row.search
"""
# Relationships are replaced (deleted by id above, created here) rather than MERGEd: the same
# effect for a keyed relationship, without MERGE scanning every relationship of the head node
# (half the cost on ArcadeDB), and a triple whose names changed moves to its new entities.
Q_TRIPLES = """
UNWIND $rows AS row
MATCH (h:Entity {key: row.head_key})
MATCH (t:Entity {key: row.tail_key})
CREATE (h)-[r:RELATION]->(t)
SET r = row.props
"""
Q_JUDGEMENTS = """
UNWIND $rows AS row
MERGE (j:Judgement {key: row.key})
SET j = row.props
"""
Q_ENTITIES = """
UNWIND $rows AS row
MERGE (e:Entity {key: row.key})
ON CREATE SET e.name = row.name
SET e.search = row.search, e.entity_id = row.entity_id, e.type = row.type, e.aliases = row.aliases,
    e.document_id = row.document_id, e.chunk_id = row.chunk_id
"""
Q_EMBEDDINGS = """
UNWIND $rows AS row
MERGE (e:Entity {key: row.key})
ON CREATE SET e.name = row.name, e.search = row.search
SET e.embedding = row.embedding
"""
ENTITY_FIELDS = "e.name AS name, e.entity_id AS entity_id, e.type AS type, e.aliases AS aliases, " \
    "e.document_id AS document_id, e.chunk_id AS chunk_id"
Q_GET_ENTITIES = f"UNWIND $keys AS k MATCH (e:Entity {{key: k}}) RETURN {ENTITY_FIELDS}"
Q_PAGE_ENTITIES = f"MATCH (e:Entity) WHERE e.key > $after RETURN e.key AS key, {ENTITY_FIELDS} ORDER BY e.key LIMIT $n"
Q_SEARCH = f"MATCH (e:Entity) WHERE e.search CONTAINS $q RETURN {ENTITY_FIELDS}"
Q_EMBEDDED = f"MATCH (e:Entity) WHERE e.embedding IS NOT NULL RETURN e.embedding AS embedding, {ENTITY_FIELDS}"
Q_VECTOR = f"""
CALL db.index.vector.queryNodes('{VECTOR_INDEX}', $k, $vector) YIELD node AS e, score
RETURN score, {ENTITY_FIELDS}
"""
TRIPLE_FIELDS = "h.name AS head, t.name AS tail, properties(r) AS props"
Q_EXISTING = "MATCH ()-[r:RELATION]->() WHERE r.id IN $ids RETURN r.id AS id"
Q_FETCH = f"MATCH (h:Entity)-[r:RELATION]->(t:Entity) WHERE r.id IN $ids RETURN {TRIPLE_FIELDS}"
Q_INCIDENT = """
UNWIND $keys AS k
MATCH (:Entity {key: k})-[r:RELATION]-(:Entity)
RETURN startNode(r).name AS head, endNode(r).name AS tail, properties(r) AS props
"""
Q_INCIDENT_PAGE = """
MATCH (:Entity {key: $key})-[r:RELATION]-(:Entity)
WITH DISTINCT r ORDER BY r.id SKIP $offset LIMIT $limit
RETURN startNode(r).name AS head, endNode(r).name AS tail, properties(r) AS props
"""
Q_DEGREE = "MATCH (:Entity {key: $key})-[r:RELATION]-(:Entity) RETURN count(DISTINCT r) AS n"
Q_PAGE_TRIPLES = f"""
MATCH (h:Entity)-[r:RELATION]->(t:Entity) WHERE r.id > $after AND ($doc IS NULL OR r.document_id = $doc)
RETURN {TRIPLE_FIELDS} ORDER BY r.id LIMIT $n
"""
Q_JUDGEMENTS_OF = "MATCH (j:Judgement) WHERE j.triple_id IN $ids RETURN properties(j) AS props"
Q_DELETE_DOC = """
MATCH (h:Entity)-[r:RELATION]->(t:Entity) WHERE r.document_id = $doc
WITH r, r.id AS id, h.key AS hk, t.key AS tk
DELETE r
RETURN id, hk, tk
"""
Q_DELETE_IDS = """
MATCH (h:Entity)-[r:RELATION]->(t:Entity) WHERE r.id IN $ids
WITH r, r.id AS id, h.key AS hk, t.key AS tk
DELETE r
RETURN id, hk, tk
"""
Q_DELETE_JUDGEMENTS = "MATCH (j:Judgement) WHERE j.triple_id IN $ids DELETE j"
Q_DELETE_ORPHANS = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
OPTIONAL MATCH (e)-[r:RELATION]-()
WITH e, count(r) AS n
WHERE n = 0
DELETE e
"""
Q_CLEAR = [
    "MATCH ()-[r:RELATION]->() DELETE r",
    "MATCH (e:Entity) DELETE e",
    "MATCH (j:Judgement) DELETE j",
]
Q_STATS = [
    ("entities", "MATCH (e:Entity) RETURN count(e) AS n"),
    ("triples", "MATCH ()-[r:RELATION]->() RETURN count(r) AS n"),
    ("relations", "MATCH ()-[r:RELATION]->() RETURN count(DISTINCT r.relation) AS n"),
    ("documents", "MATCH ()-[r:RELATION]->() WHERE r.document_id IS NOT NULL RETURN count(DISTINCT r.document_id) AS n"),
    ("judgements", "MATCH (j:Judgement) RETURN count(j) AS n"),
]
Q_ORIGINS = "MATCH ()-[r:RELATION]->() RETURN r.origin AS origin, count(*) AS n"


class Neo4jConfig(Slot):
    """Config of the Neo4j store. ``uri``, ``user`` and ``password`` may be (``password``
    must be) environment references such as ``${env:NEO4J_PASSWORD}``.

    Attributes:
        uri: the Bolt URI (``bolt://host:7687`` or ``neo4j://...``).
        database: the database to use; the server's default when none.
        max_attempts: tries of one transaction before a transient failure becomes a
            StoreError (connection refused, server busy, deadlock, leader switch).
        retry_wait_s: first wait between tries; doubled each time up to ``retry_max_wait_s``.
        create_schema: create missing constraints and indexes when the store opens.
    """

    type: Literal["neo4j.v1"] = "neo4j.v1"
    uri: str = "${env:NEO4J_URI}"
    user: str = "${env:NEO4J_USER}"
    password: str | None = "${env:NEO4J_PASSWORD}"
    database: str | None = None
    batch_size: int = Field(default=1000, ge=1)
    max_attempts: int = Field(default=5, ge=1)
    retry_wait_s: float = Field(default=0.2, ge=0)
    retry_max_wait_s: float = Field(default=5.0, ge=0)
    connection_timeout_s: float = Field(default=5.0, gt=0)
    create_schema: bool = True


def _triple_row(t: Triple) -> dict[str, Any]:
    props: dict[str, Any] = {"id": t.id, "relation": t.relation}
    props.update({k: v for k, v in flat_provenance(t).items() if v is not None})
    return {"id": t.id, "head_key": name_key(t.head), "tail_key": name_key(t.tail), "props": props}


def _judgement_row(j: Judgement) -> dict[str, Any]:
    key = judgement_key(j.target_id, j.judge)
    props: dict[str, Any] = {
        "key": key, "triple_id": j.target_id, "judge": j.judge, "score": float(j.score), "label": j.label,
        "threshold": float(j.threshold), "reasons": list(j.reasons),
        "details": json.dumps(j.details, ensure_ascii=False, sort_keys=True),
    }
    optional = {
        "raw_output": j.raw_output,
        "model": j.model.model if j.model else None,
        "model_adapter": j.model.adapter if j.model else None,
        "model_prompt_version": j.model.prompt_version if j.model else None,
    }
    props.update({k: v for k, v in optional.items() if v is not None})
    return {"key": key, "props": props}


def _node_row(name: str, aliases: Sequence[str] = ()) -> dict[str, Any]:
    return {"key": name_key(name), "name": name, "search": SEARCH_SEP.join(search_key(n) for n in (name, *aliases))}


def _triple(record: Mapping[str, Any]) -> Triple:
    p = record["props"]
    return triple_from_flat(p, id=p["id"], head=record["head"], tail=record["tail"])


def _judgement(p: Mapping[str, Any]) -> Judgement:
    model = None
    if p.get("model") is not None:
        model = ModelRef(model=p["model"], adapter=p.get("model_adapter"), prompt_version=p.get("model_prompt_version"))
    return Judgement(
        target_id=p["triple_id"], judge=p["judge"], score=p["score"], label=p["label"], threshold=p["threshold"],
        raw_output=p.get("raw_output"), model=model, reasons=list(p.get("reasons") or []),
        details=json.loads(p["details"]),
    )


def _entity(record: Mapping[str, Any]) -> Entity:
    if record["entity_id"] is None:
        return Entity(name=record["name"])
    return Entity(
        id=record["entity_id"], name=record["name"], type=record["type"], document_id=record["document_id"],
        chunk_id=record["chunk_id"], aliases=sorted(record["aliases"] or []),
    )


class Neo4jStore(GraphStore):
    """Triples as ``RELATION`` relationships in Neo4j, written in batches of ``UNWIND $rows``
    (entities and judgements MERGEd on their keys, relationships replaced by id).

    Opening the store checks the connection, creates missing constraints and indexes (named,
    ``IF NOT EXISTS``) and detects optional server features (text, full-text and vector
    indexes, APOC) instead of assuming them. Each batch is one transaction, retried on transient
    failures with exponential back-off (tenacity), then reported as :class:`StoreError`.

    Example:
        >>> store = Neo4jStore(Neo4jConfig(uri="bolt://127.0.0.1:7687", password="${env:NEO4J_PASSWORD}"))
        >>> store.upsert(triples, judgements)
        >>> store.close()
    """

    name = "neo4j.v1"
    formats = ()
    # The driver is shared by threads; every call opens its own session and transaction.
    concurrent_reads = True

    def __init__(self, config: Neo4jConfig | None = None) -> None:
        self.config = config or Neo4jConfig()
        self.batch_size = self.config.batch_size
        self._neo4j = require("neo4j", "neo4j")
        self._tenacity = require("tenacity", "neo4j")
        self.uri = resolve_env(self.config.uri, key="uri") or ""
        user = resolve_env(self.config.user, key="user") or ""
        password = resolve_env(self.config.password, key="password")
        auth = (user, password) if password is not None else None
        try:
            self._driver = self._neo4j.GraphDatabase.driver(
                self.uri, auth=auth, connection_timeout=self.config.connection_timeout_s,
                max_transaction_retry_time=0,
            )
        except (ValueError, self._neo4j.exceptions.ConfigurationError) as exc:
            raise StoreError(f"invalid Neo4j URI {self.uri!r}: {exc}") from exc
        self._vector_dims: int | None = None
        try:
            self.features = self._detect()
        except StoreError:
            self._driver.close()
            raise

    # -- transactions with retries -----------------------------------------------------------

    def _transient(self, exc: BaseException) -> bool:
        errors = self._neo4j.exceptions
        if isinstance(exc, (errors.ServiceUnavailable, errors.SessionExpired, errors.TransientError)):
            return True
        retryable = getattr(exc, "is_retryable", None)
        return bool(retryable and retryable())

    def _run(self, work: Callable[[Any], T], what: str, *, write: bool = True) -> T:
        tenacity = self._tenacity
        errors = self._neo4j.exceptions
        cfg = self.config
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(cfg.max_attempts),
            wait=tenacity.wait_exponential(multiplier=cfg.retry_wait_s, max=cfg.retry_max_wait_s),
            retry=tenacity.retry_if_exception(self._transient),
            before_sleep=tenacity.before_sleep_log(logger, logging.WARNING),
            reraise=True,
        )
        mode = self._neo4j.WRITE_ACCESS if write else self._neo4j.READ_ACCESS
        try:
            for attempt in retrying:
                with attempt:
                    with self._driver.session(database=cfg.database, default_access_mode=mode) as session:
                        with session.begin_transaction() as tx:
                            result = work(tx)
                            tx.commit()
                            return result
        except (errors.Neo4jError, errors.DriverError, OSError) as exc:
            tries = attempt.retry_state.attempt_number
            raise StoreError(
                f"Neo4j at {self.uri}: {what} failed after {tries} attempt(s): {type(exc).__name__}: {exc}"
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _read(self, query: str, what: str, **params: Any) -> list[dict[str, Any]]:
        return self._run(lambda tx: tx.run(query, params).data(), what, write=False)

    def _try(self, query: str) -> list[dict[str, Any]] | None:
        """Run a schema or probe statement once; None when the server rejects it."""
        errors = self._neo4j.exceptions
        try:
            with self._driver.session(database=self.config.database) as session:
                return session.run(query).data()
        except (errors.ClientError, errors.DatabaseError):
            return None

    def _detect(self) -> StoreFeatures:
        # The first round trip: connection failures surface here with retries and a clear error.
        self._read("RETURN 1 AS ok", "connecting")
        if self.config.create_schema:
            for statement in SCHEMA:
                if self._try(statement) is None:
                    raise StoreError(f"Neo4j at {self.uri} rejected schema statement: {statement}")
            if self._try(RELATION_ID_CONSTRAINT) is None and self._try(RELATION_ID_INDEX) is None:
                raise StoreError(f"Neo4j at {self.uri} can index neither relationship property r.id")
        text_index = self.config.create_schema and self._try(TEXT_INDEX) is not None
        names = {r["name"] for q in (PROCEDURES, FUNCTIONS) for r in (self._try(q) or [])}
        return StoreFeatures(
            embeddings=True,
            vector_index="db.index.vector.queryNodes" in names,
            fulltext_index="db.index.fulltext.queryNodes" in names,
            text_index=text_index,
            apoc=any(n.startswith("apoc.") for n in names),
        )

    # -- writing -----------------------------------------------------------------------------

    def _write_batch(self, triples: Sequence[Triple], judgements: Sequence[Judgement]) -> None:
        nodes = {}
        for t in triples:
            for name in (t.head, t.tail):
                if name not in nodes:
                    nodes[name] = _node_row(name)
        rows = [_triple_row(t) for t in triples]
        jrows = [_judgement_row(j) for j in judgements]

        def work(tx: Any) -> None:
            if rows:
                tx.run(Q_DELETE_RELATIONS, ids=[r["id"] for r in rows]).consume()
                tx.run(Q_NODES, rows=list(nodes.values())).consume()
                tx.run(Q_TRIPLES, rows=rows).consume()
            if jrows:
                tx.run(Q_JUDGEMENTS, rows=jrows).consume()

        self._run(work, f"writing a batch of {len(rows)} triple(s) and {len(jrows)} judgement(s)")

    def upsert_entities(self, entities: Iterable[Entity]) -> int:
        rows = []
        for entity in entities:
            entity = normalise_entity(entity)
            rows.append({
                **_node_row(entity.name, entity.aliases), "entity_id": entity.id, "type": entity.type,
                "aliases": list(entity.aliases), "document_id": entity.document_id, "chunk_id": entity.chunk_id,
            })
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            self._run(lambda tx, c=chunk: tx.run(Q_ENTITIES, rows=c).consume(), f"writing {len(chunk)} entities")
        return len(rows)

    def set_embeddings(self, vectors: Mapping[str, Sequence[float]]) -> int:
        rows = [{**_node_row(name), "embedding": [float(x) for x in v]} for name, v in vectors.items()]
        dims = {len(r["embedding"]) for r in rows}
        if len(dims) > 1:
            raise StoreError(f"embeddings of different sizes: {sorted(dims)}")
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            self._run(lambda tx, c=chunk: tx.run(Q_EMBEDDINGS, rows=c).consume(), f"writing {len(chunk)} embeddings")
        if rows and self.features.vector_index and self._vector_dims is None:
            self._create_vector_index(dims.pop())
        return len(rows)

    def _create_vector_index(self, dims: int) -> None:
        # The dimension is an int computed here, the only value formatted into a statement.
        statement = (
            f"CREATE VECTOR INDEX {VECTOR_INDEX} IF NOT EXISTS FOR (e:Entity) ON (e.embedding) "
            f"OPTIONS {{indexConfig: {{`vector.dimensions`: {int(dims)}, `vector.similarity_function`: 'cosine'}}}}"
        )
        if self._try(statement) is not None:
            self._vector_dims = int(dims)
            self._try("CALL db.awaitIndexes(300)")

    def delete_document(self, document_id: str) -> int:
        def work(tx: Any) -> int:
            deleted = tx.run(Q_DELETE_DOC, doc=document_id).data()
            ids = [r["id"] for r in deleted]
            keys = sorted({k for r in deleted for k in (r["hk"], r["tk"])})
            if ids:
                tx.run(Q_DELETE_JUDGEMENTS, ids=ids).consume()
                tx.run(Q_DELETE_ORPHANS, keys=keys).consume()
            return len(ids)

        return self._run(work, f"deleting document {document_id!r}")

    def delete_triples(self, ids: Iterable[str]) -> int:
        wanted = list(dict.fromkeys(ids))
        deleted = 0
        for start in range(0, len(wanted), self.batch_size):
            chunk = wanted[start : start + self.batch_size]

            def work(tx: Any, chunk: list[str] = chunk) -> int:
                found = tx.run(Q_DELETE_IDS, ids=chunk).data()
                keys = sorted({k for r in found for k in (r["hk"], r["tk"])})
                if found:
                    tx.run(Q_DELETE_JUDGEMENTS, ids=[r["id"] for r in found]).consume()
                    tx.run(Q_DELETE_ORPHANS, keys=keys).consume()
                return len(found)

            deleted += self._run(work, f"deleting {len(chunk)} triple(s)")
        return deleted

    def clear(self) -> None:
        def work(tx: Any) -> None:
            for statement in Q_CLEAR:
                tx.run(statement).consume()

        self._run(work, "clearing the store")

    # -- reading -----------------------------------------------------------------------------

    def _existing_ids(self, ids: Sequence[str]) -> set[str]:
        return {r["id"] for r in self._read(Q_EXISTING, "looking up triples", ids=list(ids))}

    def _fetch(self, ids: Sequence[str]) -> list[Triple]:
        return [_triple(r) for r in self._read(Q_FETCH, "reading triples", ids=list(ids))]

    def _judgements(self, ids: Sequence[str]) -> dict[str, list[Judgement]]:
        out: dict[str, list[Judgement]] = {}
        for r in self._read(Q_JUDGEMENTS_OF, "reading judgements", ids=list(ids)):
            j = _judgement(r["props"])
            out.setdefault(j.target_id, []).append(j)
        return out

    def _incident(self, names: Sequence[str]) -> list[Triple]:
        rows = self._read(Q_INCIDENT, "expanding a neighbourhood", keys=[name_key(n) for n in names])
        return list({t.id: t for t in map(_triple, rows)}.values())

    def _incident_page(self, name: str, offset: int, limit: int) -> list[Triple]:
        rows = self._read(Q_INCIDENT_PAGE, "reading a page of an entity's triples", key=name_key(name),
                          offset=offset, limit=limit)
        return [_triple(r) for r in rows]

    def _degree(self, name: str) -> int:
        rows = self._read(Q_DEGREE, "counting an entity's triples", key=name_key(name))
        return int(rows[0]["n"]) if rows else 0

    def _iter_all(self, document_id: str | None) -> Iterator[Triple]:
        after = ""
        while True:
            page = self._read(Q_PAGE_TRIPLES, "listing triples", after=after, doc=document_id, n=self.batch_size)
            for r in page:
                yield _triple(r)
            if len(page) < self.batch_size:
                return
            after = page[-1]["props"]["id"]

    def get_entities(self, names: Sequence[str]) -> list[Entity]:
        rows = self._read(Q_GET_ENTITIES, "reading entities", keys=[name_key(n) for n in names])
        found = {r["name"]: _entity(r) for r in rows}
        return [found[n] for n in names if n in found]

    def iter_entities(self) -> Iterator[Entity]:
        after = ""
        while True:
            page = self._read(Q_PAGE_ENTITIES, "listing entities", after=after, n=self.batch_size)
            for r in page:
                yield _entity(r)
            if len(page) < self.batch_size:
                return
            after = page[-1]["key"]

    def _name_candidates(self, key: str) -> Iterable[Entity]:
        return [_entity(r) for r in self._read(Q_SEARCH, "searching entities", q=key)]

    def _embedding_search(self, vector: list[float], limit: int) -> list[EntityHit]:
        if self._vector_dims == len(vector):
            rows = self._read(Q_VECTOR, "vector search", k=limit, vector=vector)
            return [EntityHit(entity=_entity(r), score=float(r["score"]), method="embedding") for r in rows]
        rows = self._read(Q_EMBEDDED, "reading embeddings")
        return cosine_ranking(vector, ((_entity(r), r["embedding"]) for r in rows), limit)

    def stats(self) -> StoreStats:
        def work(tx: Any) -> StoreStats:
            counts = {name: tx.run(q).single()["n"] for name, q in Q_STATS}
            origins = {r["origin"]: r["n"] for r in tx.run(Q_ORIGINS).data()}
            return StoreStats(**counts, origins=dict(sorted(origins.items())))

        return self._run(work, "counting", write=False)

    def close(self) -> None:
        self._driver.close()


@stores.register("neo4j.v1", config=Neo4jConfig)
def make_neo4j_store(config: Neo4jConfig) -> Neo4jStore:
    """Factory of ``neo4j.v1``."""
    return Neo4jStore(config)
