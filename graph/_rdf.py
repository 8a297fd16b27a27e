"""``rdf.v1``: the embedded default. rdflib over a persistent pyoxigraph store (oxrdflib).

Layout (``<base>`` is the configured base IRI, default ``urn:kgjudge:``):

* every triple record is asserted in a **named graph of its own**, ``<base>statement/...``
  minted from the triple id: ``GRAPH S { H R T }``;
* ``<base>graph/kg`` (the rdflib :attr:`RDFStore.graph`, a fixed identifier) describes entities
  and relations: ``rdf:type kgv:Entity|kgv:Relation``, ``rdfs:label`` (the exact name),
  ``skos:altLabel`` (aliases), ``kgv:searchKey`` (name and aliases in search form) and the
  attributes of upserted entities;
* ``<base>graph/provenance`` describes each statement graph ``S`` (``kgv:tripleId``,
  ``kgv:document``, ``kgv:chunk``, ``kgv:origin``, ``kgv:evidenceStart|End|Text``,
  ``kgv:extractorModel|Adapter|PromptVersion``) and each judgement ``J`` (``kgv:about S``,
  ``kgv:judge``, ``kgv:score``, ``kgv:label``, ``kgv:threshold``, ...).

Why named graphs rather than RDF-star: rdflib 7 has no quoted-triple terms (oxrdflib cannot hand
them over), and pyoxigraph 0.5 replaced RDF-star with RDF 1.2 triple terms, so RDF-star data
would be neither portable nor readable through rdflib; named graphs are plain RDF 1.1 that every
SPARQL 1.1 store, TriG, N-Quads and JSON-LD carry. They also keep two extractions of the same
(head, relation, tail) from different documents apart, each with its own provenance and
judgements, where one quoted triple would be a single shared term.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator

from kgjudge._config import Slot
from kgjudge._errors import StoreError
from kgjudge._extras import require
from kgjudge._records import Entity, Judgement, ModelRef, Span, Triple
from kgjudge._registry import stores
from kgjudge.graph._base import GraphStore, normalise_entity
from kgjudge.graph._iri import check_base, mint_iri
from kgjudge.graph._types import StoreFeatures, StoreStats, judgement_key, search_key

VOCAB = "urn:kgjudge:vocab:"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
XSD = "http://www.w3.org/2001/XMLSchema#"
PREFIXES = {"kgv": VOCAB, "rdf": RDF, "rdfs": RDFS, "skos": SKOS, "xsd": XSD}
DATASET_FORMATS = {"trig": "ox-trig", "nquads": "ox-nquads", "jsonld": "ox-json-ld"}
GRAPH_FORMATS = {"turtle": "TURTLE", "nt": "N_TRIPLES"}
# Below this many triples a batch is faster as one transaction than through the bulk loader,
# whose fixed cost per call is about a tenth of a second.
BULK_MIN = 5000

_ENTITY_FIELDS = {"id": "entityId", "type": "entityType", "document_id": "entityDocument", "chunk_id": "entityChunk"}


class RDFConfig(Slot):
    """Config of the RDF store.

    Attributes:
        path: folder of the on-disk pyoxigraph store (created if missing); none keeps the store
            in memory.
        base_iri: prefix of minted IRIs; only unreserved IRI characters, ending in ``:``, ``/``
            or ``#``.
        bulk_load: write batches of at least ``BULK_MIN`` triples with pyoxigraph's bulk
            loader (faster for large batches, not transactional: a failed batch may be half
            written, and re-running it repairs that); smaller batches are one transaction.
        allow_update: allow SPARQL updates through :meth:`RDFStore.update`.

    ``build_store(..., read_only=True)`` (what commands that only read use) opens an existing
    store read-only: it is never created, may be open in a writing process at the same time,
    and refuses writes.
    """

    type: Literal["rdf.v1"] = "rdf.v1"
    path: str | None = "out/graph.oxigraph"
    base_iri: str = "urn:kgjudge:"
    batch_size: int = Field(default=10_000, ge=1)
    bulk_load: bool = True
    allow_update: bool = False
    # Not a config key (configs and their hashes stay as they are): set by build_store.
    _read_only: bool = PrivateAttr(default=False)

    @field_validator("base_iri")
    @classmethod
    def _check_base(cls, value: str) -> str:
        return check_base(value)


class RDFStore(GraphStore):
    """Triples as RDF named graphs with provenance and judgements, in pyoxigraph through rdflib.

    :attr:`dataset` is an rdflib ``Dataset`` over the whole store (SPARQL through
    :meth:`query`, serialisation), :attr:`graph` the rdflib ``Graph`` of entity descriptions.

    Example:
        >>> store = RDFStore(RDFConfig(path="out/kg.oxigraph"))
        >>> store.upsert([Triple(head="Paris", relation="capital of", tail="France", document_id="d1")])
        >>> store.export("kg.trig", "trig")
        >>> store.close()
    """

    name = "rdf.v1"
    formats = ("jsonld", "nquads", "nt", "trig", "turtle")
    features = StoreFeatures(sparql=True)
    # pyoxigraph's store takes reads from any thread beside a writer (each read sees a snapshot).
    concurrent_reads = True

    def __init__(self, config: RDFConfig | None = None) -> None:
        self.config = config or RDFConfig()
        self.batch_size = self.config.batch_size
        ox = self._ox = require("pyoxigraph", "rdf")
        rdflib = require("rdflib", "rdf")
        oxrdflib = require("oxrdflib", "rdf")
        try:
            if self.config.path and self.config._read_only:
                self._store = ox.Store.read_only(self.config.path)
            elif self.config.path:
                Path(self.config.path).mkdir(parents=True, exist_ok=True)
                self._store = ox.Store(self.config.path)
            else:
                self._store = ox.Store()
        except OSError as exc:
            raise StoreError(f"cannot open the RDF store at {self.config.path}: {exc}") from exc
        base = self.config.base_iri
        self._base = base
        nn = ox.NamedNode
        self._kg = nn(f"{base}graph/kg")
        self._prov = nn(f"{base}graph/provenance")
        self._p = {name: nn(VOCAB + name) for name in (
            "tripleId", "document", "chunk", "origin", "evidenceStart", "evidenceEnd", "evidenceText",
            "extractorModel", "extractorAdapter", "extractorPromptVersion", "about", "judge", "score", "label",
            "threshold", "rawOutput", "judgeModel", "judgeAdapter", "judgePromptVersion", "reasons", "details",
            "searchKey", "entityId", "entityType", "entityDocument", "entityChunk", "Entity", "Relation",
        )}
        self._type = nn(RDF + "type")
        self._label = nn(RDFS + "label")
        self._alt = nn(SKOS + "altLabel")
        self._int = nn(XSD + "integer")
        self._double = nn(XSD + "double")
        self._bool = nn(XSD + "boolean")
        self._json = nn(RDF + "JSON")
        self._known: set[str] = set()
        self._rdflib_store = oxrdflib.OxigraphStore(store=self._store)
        self.dataset = rdflib.Dataset(store=self._rdflib_store, default_union=True)
        self.graph = rdflib.Graph(store=self._rdflib_store, identifier=rdflib.URIRef(self._kg.value))
        for prefix, namespace in PREFIXES.items():
            self.dataset.bind(prefix, namespace)

    # -- terms -------------------------------------------------------------------------------

    def _iri(self, kind: str, name: str) -> Any:
        return self._ox.NamedNode(mint_iri(self._base, kind, name))

    def _lit(self, value: Any) -> Any:
        ox = self._ox
        if isinstance(value, bool):
            return ox.Literal("true" if value else "false", datatype=self._bool)
        if isinstance(value, int):
            return ox.Literal(str(value), datatype=self._int)
        if isinstance(value, float):
            return ox.Literal(repr(value), datatype=self._double)
        return ox.Literal(value)

    def _jlit(self, value: Any) -> Any:
        return self._ox.Literal(json.dumps(value, ensure_ascii=False, sort_keys=True), datatype=self._json)

    def _one(self, s: Any, p: Any, o: Any, g: Any) -> Any:
        return next(iter(self._store.quads_for_pattern(s, p, o, g)), None)

    # -- writing -----------------------------------------------------------------------------

    def _describe(self, iri: Any, name: str, cls: str, out: list[Any]) -> None:
        if iri.value in self._known:
            return
        self._known.add(iri.value)
        if self._one(iri, self._type, None, self._kg) is not None:
            return
        q = self._ox.Quad
        out.append(q(iri, self._type, self._p[cls], self._kg))
        out.append(q(iri, self._label, self._ox.Literal(name), self._kg))
        if cls == "Entity":
            out.append(q(iri, self._p["searchKey"], self._ox.Literal(search_key(name)), self._kg))

    def _statement_quads(self, t: Triple, s: Any, out: list[Any]) -> None:
        q, p, lit = self._ox.Quad, self._p, self._lit
        head, rel, tail = self._iri("entity", t.head), self._iri("relation", t.relation), self._iri("entity", t.tail)
        self._describe(head, t.head, "Entity", out)
        self._describe(tail, t.tail, "Entity", out)
        self._describe(rel, t.relation, "Relation", out)
        out.append(q(head, rel, tail, s))
        prov = self._prov
        out.append(q(s, p["tripleId"], lit(t.id), prov))
        out.append(q(s, p["origin"], lit(t.origin), prov))
        if t.document_id is not None:
            out.append(q(s, p["document"], lit(t.document_id), prov))
        if t.chunk_id is not None:
            out.append(q(s, p["chunk"], lit(t.chunk_id), prov))
        if t.evidence is not None:
            out.append(q(s, p["evidenceStart"], lit(t.evidence.start), prov))
            out.append(q(s, p["evidenceEnd"], lit(t.evidence.end), prov))
            out.append(q(s, p["evidenceText"], lit(t.evidence.text), prov))
        if t.extractor is not None:
            self._model_quads(s, "extractor", t.extractor, out)

    def _model_quads(self, s: Any, prefix: str, model: ModelRef, out: list[Any]) -> None:
        q, p, lit, prov = self._ox.Quad, self._p, self._lit, self._prov
        out.append(q(s, p[f"{prefix}Model"], lit(model.model), prov))
        if model.adapter is not None:
            out.append(q(s, p[f"{prefix}Adapter"], lit(model.adapter), prov))
        if model.prompt_version is not None:
            out.append(q(s, p[f"{prefix}PromptVersion"], lit(model.prompt_version), prov))

    def _judgement_quads(self, j: Judgement, out: list[Any]) -> Any:
        q, p, lit, prov = self._ox.Quad, self._p, self._lit, self._prov
        node = self._iri("judgement", judgement_key(j.target_id, j.judge))
        out.append(q(node, p["about"], self._iri("statement", j.target_id), prov))
        out.append(q(node, p["judge"], lit(j.judge), prov))
        out.append(q(node, p["score"], lit(float(j.score)), prov))
        out.append(q(node, p["label"], lit(j.label), prov))
        out.append(q(node, p["threshold"], lit(float(j.threshold)), prov))
        out.append(q(node, p["reasons"], self._jlit(j.reasons), prov))
        out.append(q(node, p["details"], self._jlit(j.details), prov))
        if j.raw_output is not None:
            out.append(q(node, p["rawOutput"], lit(j.raw_output), prov))
        if j.model is not None:
            self._model_quads(node, "judge", j.model, out)
        return node

    def _drop_statement(self, s: Any) -> None:
        """Remove a statement's fact and provenance (its judgements stay: they are per judge)."""
        self._store.remove_graph(s)
        for quad in list(self._store.quads_for_pattern(s, None, None, self._prov)):
            self._store.remove(quad)

    def _writable(self) -> None:
        if self.config._read_only:
            raise StoreError(f"the RDF store at {self.config.path} was opened read-only")

    def _write_batch(self, triples: Sequence[Triple], judgements: Sequence[Judgement]) -> None:
        self._writable()
        quads: list[Any] = []
        # Building hundreds of thousands of term objects triggers repeated full garbage
        # collections that find nothing to free; pausing the collector for the batch saves ~40%.
        paused = gc.isenabled()
        gc.disable()
        try:
            for t in triples:
                s = self._iri("statement", t.id)
                if self._store.contains_named_graph(s):
                    self._drop_statement(s)
                self._statement_quads(t, s, quads)
            for j in judgements:
                node = self._judgement_quads(j, quads)
                for quad in list(self._store.quads_for_pattern(node, None, None, self._prov)):
                    self._store.remove(quad)
            if self.config.bulk_load and len(triples) >= BULK_MIN:
                self._store.bulk_extend(quads)
            else:
                self._store.extend(quads)
        except (OSError, ValueError, TypeError) as exc:
            self._known.clear()
            raise StoreError(f"RDF store write failed: {exc}") from exc
        finally:
            if paused:
                gc.enable()

    def upsert_entities(self, entities: Iterable[Entity]) -> int:
        self._writable()
        quads: list[Any] = []
        count = 0
        drop = [self._p[f] for f in (*_ENTITY_FIELDS.values(), "searchKey")] + [self._alt]
        for entity in entities:
            entity = normalise_entity(entity)
            iri = self._iri("entity", entity.name)
            self._describe(iri, entity.name, "Entity", quads)
            for pred in drop:
                for quad in list(self._store.quads_for_pattern(iri, pred, None, self._kg)):
                    self._store.remove(quad)
            q = self._ox.Quad
            for name in (entity.name, *entity.aliases):
                quads.append(q(iri, self._p["searchKey"], self._ox.Literal(search_key(name)), self._kg))
            for alias in entity.aliases:
                quads.append(q(iri, self._alt, self._ox.Literal(alias), self._kg))
            for field, pred in _ENTITY_FIELDS.items():
                value = getattr(entity, field)
                if value is not None:
                    quads.append(q(iri, self._p[pred], self._ox.Literal(value), self._kg))
            count += 1
        self._store.extend(quads)
        return count

    def delete_document(self, document_id: str) -> int:
        self._writable()
        statements = [
            q.subject for q in self._store.quads_for_pattern(None, self._p["document"], self._lit(document_id), self._prov)
        ]
        return self._delete_statements(statements)

    def delete_triples(self, ids: Iterable[str]) -> int:
        statements = [s for s in (self._iri("statement", i) for i in dict.fromkeys(ids)) if self._store.contains_named_graph(s)]
        return self._delete_statements(statements)

    def _delete_statements(self, statements: Sequence[Any]) -> int:
        """Delete statement graphs with their provenance and judgements, then the entities and
        relations nothing uses any more."""
        ends: set[Any] = set()
        relations: set[Any] = set()
        for s in statements:
            for fact in self._store.quads_for_pattern(None, None, None, s):
                ends.update((fact.subject, fact.object))
                relations.add(fact.predicate)
            for j in list(self._store.quads_for_pattern(None, self._p["about"], s, self._prov)):
                for quad in list(self._store.quads_for_pattern(j.subject, None, None, self._prov)):
                    self._store.remove(quad)
            self._drop_statement(s)
        for node in ends:
            if not self._used(node, as_relation=False):
                self._forget(node)
        for node in relations:
            if not self._used(node, as_relation=True):
                self._forget(node)
        return len(statements)

    def prune(self) -> int:
        # A delete is many writes here: one cut off leaves entity descriptions nothing uses.
        p = self._p
        doomed = []
        for kind, as_relation in (("Entity", False), ("Relation", True)):
            for quad in list(self._store.quads_for_pattern(None, self._type, p[kind], self._kg)):
                node = quad.subject
                if self._used(node, as_relation=as_relation):
                    continue
                if kind == "Entity" and any(
                    self._one(node, pred, None, self._kg) is not None
                    for pred in (self._alt, *(p[f] for f in _ENTITY_FIELDS.values()))
                ):
                    continue  # an entity someone described (aliases, type) stays
                doomed.append(node)
        for node in doomed:
            self._forget(node)
        return len(doomed)

    def _used(self, node: Any, *, as_relation: bool) -> bool:
        patterns = [(None, node, None)] if as_relation else [(node, None, None), (None, None, node)]
        for s, p, o in patterns:
            for quad in self._store.quads_for_pattern(s, p, o, None):
                if quad.graph_name not in (self._kg, self._prov) and not isinstance(quad.graph_name, self._ox.DefaultGraph):
                    return True
        return False

    def _forget(self, node: Any) -> None:
        for quad in list(self._store.quads_for_pattern(node, None, None, self._kg)):
            self._store.remove(quad)
        self._known.discard(node.value)

    def clear(self) -> None:
        self._writable()
        self._store.clear()
        self._known.clear()

    # -- reading -----------------------------------------------------------------------------

    def _label_of(self, node: Any, cache: dict[str, str]) -> str:
        if node.value not in cache:
            quad = self._one(node, self._label, None, self._kg)
            if quad is None:
                raise StoreError(f"RDF store is inconsistent: {node.value} has no rdfs:label")
            cache[node.value] = quad.object.value
        return cache[node.value]

    def _read_statement(self, s: Any, cache: dict[str, str]) -> Triple | None:
        meta = {q.predicate.value[len(VOCAB):]: q.object for q in self._store.quads_for_pattern(s, None, None, self._prov)}
        fact = self._one(None, None, None, s)
        if "tripleId" not in meta or fact is None:
            return None
        evidence = None
        if "evidenceStart" in meta:
            evidence = Span(start=int(meta["evidenceStart"].value), end=int(meta["evidenceEnd"].value),
                            text=meta["evidenceText"].value)
        return Triple(
            id=meta["tripleId"].value,
            head=self._label_of(fact.subject, cache),
            relation=self._label_of(fact.predicate, cache),
            tail=self._label_of(fact.object, cache),
            document_id=meta["document"].value if "document" in meta else None,
            chunk_id=meta["chunk"].value if "chunk" in meta else None,
            evidence=evidence,
            extractor=_model(meta, "extractor"),
            origin=meta["origin"].value,
        )

    def _existing_ids(self, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if self._store.contains_named_graph(self._iri("statement", i))}

    def _fetch(self, ids: Sequence[str]) -> list[Triple]:
        cache: dict[str, str] = {}
        found = (self._read_statement(self._iri("statement", i), cache) for i in ids)
        return [t for t in found if t is not None]

    def _judgements(self, ids: Sequence[str]) -> dict[str, list[Judgement]]:
        out: dict[str, list[Judgement]] = {}
        for i in ids:
            for link in self._store.quads_for_pattern(None, self._p["about"], self._iri("statement", i), self._prov):
                meta = {
                    q.predicate.value[len(VOCAB):]: q.object
                    for q in self._store.quads_for_pattern(link.subject, None, None, self._prov)
                }
                out.setdefault(i, []).append(Judgement(
                    target_id=i,
                    judge=meta["judge"].value,
                    score=float(meta["score"].value),
                    label=meta["label"].value == "true",
                    threshold=float(meta["threshold"].value),
                    raw_output=meta["rawOutput"].value if "rawOutput" in meta else None,
                    model=_model(meta, "judge"),
                    reasons=json.loads(meta["reasons"].value),
                    details=json.loads(meta["details"].value),
                ))
        return out

    def _statement_graphs(self, quads: Iterable[Any]) -> Iterator[Any]:
        for quad in quads:
            g = quad.graph_name
            if isinstance(g, self._ox.NamedNode) and g != self._kg and g != self._prov:
                yield g

    def _incident(self, names: Sequence[str]) -> list[Triple]:
        graphs: dict[str, Any] = {}
        for name in names:
            node = self._iri("entity", name)
            for pattern in ((node, None, None, None), (None, None, node, None)):
                for g in self._statement_graphs(self._store.quads_for_pattern(*pattern)):
                    graphs[g.value] = g
        cache: dict[str, str] = {}
        found = (self._read_statement(g, cache) for g in graphs.values())
        return [t for t in found if t is not None]

    def _incident_graphs(self, name: str) -> Iterator[Any]:
        """The statement graph of every triple of ``name``, each once, lazily from the indexes."""
        node = self._iri("entity", name)
        yield from self._statement_graphs(self._store.quads_for_pattern(node, None, None, None))
        # A triple from the entity to itself was already found as subject.
        tails = (q for q in self._store.quads_for_pattern(None, None, node, None) if q.subject != node)
        yield from self._statement_graphs(tails)

    def _incident_page(self, name: str, offset: int, limit: int) -> list[Triple]:
        cache: dict[str, str] = {}
        found = (self._read_statement(g, cache) for g in islice(self._incident_graphs(name), offset, offset + limit))
        return [t for t in found if t is not None]

    def _degree(self, name: str) -> int:
        return sum(1 for _ in self._incident_graphs(name))

    def _iter_all(self, document_id: str | None) -> Iterator[Triple]:
        if document_id is None:
            pattern = (None, self._p["tripleId"], None, self._prov)
        else:
            pattern = (None, self._p["document"], self._lit(document_id), self._prov)
        cache: dict[str, str] = {}
        for quad in list(self._store.quads_for_pattern(*pattern)):
            triple = self._read_statement(quad.subject, cache)
            if triple is not None:
                yield triple
            if len(cache) > 100_000:
                cache.clear()

    def _read_entity(self, node: Any) -> Entity | None:
        data: dict[str, Any] = {"aliases": []}
        for quad in self._store.quads_for_pattern(node, None, None, self._kg):
            pred = quad.predicate.value
            if pred == self._label.value:
                data["name"] = quad.object.value
            elif pred == self._alt.value:
                data["aliases"].append(quad.object.value)
            elif pred.startswith(VOCAB):
                for field, local in _ENTITY_FIELDS.items():
                    if pred == VOCAB + local:
                        data[field] = quad.object.value
        if "name" not in data:
            return None
        data["aliases"].sort()
        return Entity(**data)

    def get_entities(self, names: Sequence[str]) -> list[Entity]:
        found = (self._read_entity(self._iri("entity", n)) for n in names)
        return [e for e in found if e is not None]

    def iter_entities(self) -> Iterator[Entity]:
        for quad in list(self._store.quads_for_pattern(None, self._type, self._p["Entity"], self._kg)):
            entity = self._read_entity(quad.subject)
            if entity is not None:
                yield entity

    def _name_candidates(self, key: str) -> Iterable[Entity]:
        nodes = {
            q.subject.value: q.subject
            for q in self._store.quads_for_pattern(None, self._p["searchKey"], None, self._kg)
            if key in q.object.value
        }
        for node in nodes.values():
            entity = self._read_entity(node)
            if entity is not None:
                yield entity

    def _sparql_count(self, pattern: str, what: str = "*") -> int:
        rows = self._store.query(f"SELECT (COUNT({what}) AS ?n) WHERE {{ {pattern} }}")
        return int(next(iter(rows))["n"].value)

    def stats(self) -> StoreStats:
        # Counted by the database (SPARQL aggregates): 20x faster than iterating the quads in
        # Python, which made every command that ends with a summary slow on a large store.
        p, prov, kg = self._p, self._prov, self._kg
        rows = self._store.query(f"SELECT ?o (COUNT(*) AS ?n) WHERE {{ GRAPH {prov} {{ ?s {p['origin']} ?o }} }} GROUP BY ?o")
        origins = {row["o"].value: int(row["n"].value) for row in rows}
        return StoreStats(
            entities=self._sparql_count(f"GRAPH {kg} {{ ?s {self._type} {p['Entity']} }}"),
            triples=sum(origins.values()),
            judgements=self._sparql_count(f"GRAPH {prov} {{ ?s {p['about']} ?o }}"),
            # Relations nobody uses any more are dropped with the last statement using them.
            relations=self._sparql_count(f"GRAPH {kg} {{ ?s {self._type} {p['Relation']} }}"),
            documents=self._sparql_count(f"GRAPH {prov} {{ ?s {p['document']} ?o }}", "DISTINCT ?o"),
            origins=dict(sorted(origins.items())),
        )

    @property
    def quad_count(self) -> int:
        """How many RDF statements (quads) the store holds."""
        return len(self._store)

    # -- SPARQL and files --------------------------------------------------------------------

    def query(self, sparql: str, *, allow_service: bool = False) -> Any:
        """Run a read-only SPARQL query over the whole dataset (default graph = union of all).

        A query is text someone else may have written: ``SERVICE`` (a federated query, which
        makes the store send requests to any URL) is refused unless ``allow_service`` is set.

        Returns:
            an rdflib ``Result``.

        Raises:
            StoreError: the query is not valid SPARQL, is an update, or uses SERVICE.
        """
        if not allow_service and uses_service(sparql):
            raise StoreError("SPARQL SERVICE (a query sent to another endpoint) is refused; "
                             "pass allow_service=True to RDFStore.query to allow it")
        try:
            return self.dataset.query(sparql)
        except (SyntaxError, ValueError, OSError, RuntimeError) as exc:
            raise StoreError(f"SPARQL query failed (queries are read-only; updates need allow_update): {exc}") from exc

    def update(self, sparql: str) -> None:
        """Run a SPARQL update; refused unless the config sets ``allow_update: true``."""
        if not self.config.allow_update:
            raise StoreError("SPARQL updates are disabled; set allow_update: true in the store config")
        self._writable()
        try:
            self._store.update(sparql)
        except (SyntaxError, ValueError, OSError, RuntimeError) as exc:
            raise StoreError(f"SPARQL update failed: {exc}") from exc
        finally:
            self._known.clear()

    def export(self, path: str | Path, fmt: str) -> Path:
        """Write TriG, N-Quads or JSON-LD (everything, provenance included), or Turtle or
        N-Triples (the asserted triples and the entity descriptions, without provenance: those
        formats have no named graphs)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ox = self._ox
        if fmt in DATASET_FORMATS:
            self.dataset.serialize(destination=str(path), format=DATASET_FORMATS[fmt])
        elif fmt in GRAPH_FORMATS:
            triples = {}
            for quad in self._store.quads_for_pattern(None, None, None, None):
                if quad.graph_name != self._prov:
                    triple = quad.triple
                    triples[str(triple)] = triple
            ox.serialize(list(triples.values()), str(path), format=getattr(ox.RdfFormat, GRAPH_FORMATS[fmt]),
                         prefixes=PREFIXES)
        else:
            raise StoreError(f"RDF store cannot write {fmt!r}; formats: {', '.join(self.formats)}")
        return path

    def close(self) -> None:
        store = self._store
        if store is None:
            return
        if self.config.path and not self.config._read_only:
            store.flush()
        # pyoxigraph releases the on-disk lock when the last reference goes.
        self._rdflib_store.close()
        self._store = None


# What may hold the word SERVICE without being the keyword: long and short strings, IRIs and
# comments. The keyword itself is not part of a variable (?service) or a prefixed name.
_SPARQL_SKIP = re.compile(
    r"'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'(?:[^'\\\n]|\\.)*'"
    r'|"(?:[^"\\\n]|\\.)*"'
    r'|<[^<>"{}|^`\\\x00-\x20]*>'
    r"|#[^\n]*"
)
_SERVICE = re.compile(r"(?<![\w:?$])SERVICE(?![\w:-])", re.IGNORECASE)
_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


def uses_service(sparql: str) -> bool:
    """Whether a SPARQL query uses the SERVICE keyword (outside strings, IRIs and comments)."""
    # SPARQL allows \uXXXX escapes anywhere in a query: they are decoded before it is parsed.
    text = _CODEPOINT.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), sparql)
    return _SERVICE.search(_SPARQL_SKIP.sub(" ", text)) is not None


def _model(meta: dict[str, Any], prefix: str) -> ModelRef | None:
    if f"{prefix}Model" not in meta:
        return None
    return ModelRef(
        model=meta[f"{prefix}Model"].value,
        adapter=meta[f"{prefix}Adapter"].value if f"{prefix}Adapter" in meta else None,
        prompt_version=meta[f"{prefix}PromptVersion"].value if f"{prefix}PromptVersion" in meta else None,
    )


@stores.register("rdf.v1", config=RDFConfig)
def make_rdf_store(config: RDFConfig) -> RDFStore:
    """Factory of ``rdf.v1``."""
    return RDFStore(config)
