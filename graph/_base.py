"""The one GraphStore interface; concrete stores implement a few primitives, the rest is here."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from kgjudge._config import Slot, validate_slot
from kgjudge._errors import ConfigError, StoreError
from kgjudge._records import Entity, Judgement, Triple
from kgjudge._registry import stores
from kgjudge.graph._types import EntityHit, StoredTriple, StoreFeatures, StoreStats, Subgraph, search_key

DEFAULT_STORE: dict[str, Any] = {"type": "rdf.v1"}


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def normalise_entity(entity: Entity) -> Entity:
    """The form stores keep an entity in: aliases are a set (sorted, without the name itself)."""
    aliases = sorted({a for a in entity.aliases if a != entity.name})
    return entity if aliases == entity.aliases else entity.model_copy(update={"aliases": aliases})


class GraphStore(ABC):
    """A knowledge-graph store: triples with provenance and judgements, entities, queries.

    Every store keeps the same records and gives them back equal: a :class:`~kgjudge.Triple` is
    identified by its ``id`` (upserting the same id again replaces it, so re-running a batch
    duplicates nothing), a :class:`~kgjudge.Judgement` by ``(target_id, judge)``, an entity by its
    exact name. Subclasses implement the primitives (``_write_batch`` or ``_write_one``,
    ``_fetch``, ``_judgements``, ``_incident``, ...); queries built from them live here, so every
    store answers them the same way.

    Example:
        >>> from kgjudge.graph import build_store
        >>> with build_store({"type": "networkx.v1"}) as store:
        ...     store.upsert([Triple(head="Paris", relation="capital of", tail="France")])
        ...     store.neighbours("Paris").names()
        {'France', 'Paris'}
    """

    name: ClassVar[str]
    formats: ClassVar[tuple[str, ...]] = ()
    features: StoreFeatures = StoreFeatures()
    batch_size: int = 1000
    concurrent_reads: ClassVar[bool] = False
    """Whether several threads may read at once, while one other thread writes (a server
    serialises every call of a store that does not say so)."""

    # -- writing -----------------------------------------------------------------------------

    def upsert(
        self,
        triples: Iterable[Triple],
        judgements: Iterable[Judgement] = (),
        *,
        batch_size: int | None = None,
    ) -> int:
        """Insert or replace triples and judgements, ``batch_size`` triples per store call.

        A judgement must be about a triple of this call or one already stored. Each batch is
        written on its own; when a batch fails, the earlier ones stay written and running the
        same call again resumes without duplicating anything.

        Returns:
            the number of distinct triples written.

        Raises:
            StoreError: a judgement about an unknown triple, or the store failed.
        """
        by_id = {t.id: t for t in triples}
        by_target: dict[str, dict[str, Judgement]] = {}
        for j in judgements:
            by_target.setdefault(j.target_id, {})[j.judge] = j
        outside = sorted(set(by_target) - by_id.keys())
        if outside:
            unknown = sorted(set(outside) - self._existing_ids(outside))
            if unknown:
                shown = ", ".join(repr(u) for u in unknown[:5])
                more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
                raise StoreError(f"judgements refer to triples that are neither given nor stored: {shown}{more}")
        size = batch_size or self.batch_size
        for chunk in _chunks(list(by_id.values()), size):
            found = [j for t in chunk for j in by_target.get(t.id, {}).values()]
            self._write_batch(chunk, found)
        rest = [j for target in outside for j in by_target[target].values()]
        for chunk in _chunks(rest, size):
            self._write_batch([], chunk)
        return len(by_id)

    def _write_batch(self, triples: Sequence[Triple], judgements: Sequence[Judgement]) -> None:
        """Write one batch; stores without a bulk path fall back to one call per triple."""
        by_target: dict[str, list[Judgement]] = {}
        for j in judgements:
            by_target.setdefault(j.target_id, []).append(j)
        for triple in triples:
            self._write_one(triple, by_target.pop(triple.id, []))
        for target, found in by_target.items():
            self._write_judgements(target, found)

    def _write_one(self, triple: Triple, judgements: Sequence[Judgement]) -> None:
        raise NotImplementedError(f"{type(self).__name__} implements neither _write_batch nor _write_one")

    def _write_judgements(self, target_id: str, judgements: Sequence[Judgement]) -> None:
        raise NotImplementedError(f"{type(self).__name__} implements neither _write_batch nor _write_judgements")

    @abstractmethod
    def upsert_entities(self, entities: Iterable[Entity]) -> int:
        """Create entities or replace their attributes (type, aliases, ids); returns how many."""

    @abstractmethod
    def delete_document(self, document_id: str) -> int:
        """Delete every triple from ``document_id`` with its judgements, and the entities left
        without any triple by that; returns how many triples were deleted."""

    def delete_triples(self, ids: Iterable[str]) -> int:
        """Delete the triples with these ids with their judgements, and the entities and
        relations left without any triple by that; unknown ids are skipped. Returns how many
        triples were deleted."""
        raise StoreError(f"store {self.name} cannot delete triples by id")

    @abstractmethod
    def clear(self) -> None:
        """Delete everything in the store."""

    def prune(self) -> int:
        """Delete entities and relations that no triple names any more and that carry nothing
        of their own (no aliases, type or embedding); returns how many. Stores whose deletes are
        one transaction never leave such records behind; others may after a crash."""
        return 0

    def reload(self) -> None:
        """See what other processes wrote since the store was opened (a store that keeps a copy
        in memory reads its file again; a server's or an on-disk database's reads are live)."""

    def flush(self) -> None:
        """Make every write so far durable (a store that keeps its data in memory writes its
        file; others already are). A build calls it before it commits a batch."""

    # -- reading primitives ------------------------------------------------------------------

    @abstractmethod
    def _existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored triples."""

    @abstractmethod
    def _fetch(self, ids: Sequence[str]) -> list[Triple]:
        """The stored triples with these ids (unknown ids are left out)."""

    @abstractmethod
    def _judgements(self, ids: Sequence[str]) -> dict[str, list[Judgement]]:
        """The judgements about each of ``ids``."""

    @abstractmethod
    def _incident(self, names: Sequence[str]) -> list[Triple]:
        """Every triple whose head or tail is one of ``names``."""

    @abstractmethod
    def _iter_all(self, document_id: str | None) -> Iterator[Triple]:
        """Every stored triple (of one document when given)."""

    @abstractmethod
    def get_entities(self, names: Sequence[str]) -> list[Entity]:
        """The stored entities among ``names``, in the order given."""

    @abstractmethod
    def iter_entities(self) -> Iterator[Entity]:
        """Every stored entity."""

    @abstractmethod
    def stats(self) -> StoreStats:
        """Counts of entities, triples, judgements, distinct relations and documents."""

    # -- queries built on the primitives -----------------------------------------------------

    def _stored(self, triples: Iterable[Triple]) -> list[StoredTriple]:
        triples = sorted({t.id: t for t in triples}.values(), key=lambda t: t.id)
        found = self._judgements([t.id for t in triples]) if triples else {}
        return [
            StoredTriple(triple=t, judgements=sorted(found.get(t.id, []), key=lambda j: j.judge)) for t in triples
        ]

    def get_triples(self, ids: Sequence[str]) -> list[StoredTriple]:
        """The stored triples with these ids and their judgements, sorted by id."""
        return self._stored(self._fetch(list(dict.fromkeys(ids))))

    def iter_triples(self, document_id: str | None = None, *, batch_size: int | None = None) -> Iterator[StoredTriple]:
        """Every stored triple with its judgements (of one document when given), in batches."""
        batch: list[Triple] = []
        size = batch_size or self.batch_size
        for triple in self._iter_all(document_id):
            batch.append(triple)
            if len(batch) >= size:
                yield from self._stored(batch)
                batch = []
        if batch:
            yield from self._stored(batch)

    def triples_of(self, name: str, *, offset: int = 0, limit: int = 100) -> list[StoredTriple]:
        """One page of the triples whose head or tail is ``name``, with their judgements.

        Pages come in the store's own order, which stays the same while the store does not
        change, so ``offset`` walks through an entity's triples without reading them all; a
        page is sorted by id. Use it (with :meth:`degree`) where an entity may have many triples.

        Raises:
            StoreError: a negative offset or limit.
        """
        if offset < 0 or limit < 0:
            raise StoreError(f"offset and limit must be >= 0, got {offset} and {limit}")
        return self._stored(self._incident_page(name, offset, limit)) if limit else []

    def degree(self, name: str) -> int:
        """How many triples have ``name`` as head or tail (a triple from an entity to itself
        counts once); 0 for an unknown name."""
        return self._degree(name)

    def _incident_page(self, name: str, offset: int, limit: int) -> list[Triple]:
        """A page of :meth:`_incident`; the fallback reads all and sorts by id, stores with an
        index override it."""
        return sorted(self._incident([name]), key=lambda t: t.id)[offset : offset + limit]

    def _degree(self, name: str) -> int:
        return len(self._incident([name]))

    def get_entity(self, name: str) -> Entity | None:
        """The entity with exactly this name, or None."""
        found = self.get_entities([name])
        return found[0] if found else None

    def _expand(self, names: Iterable[str], hops: int) -> tuple[set[str], dict[str, Triple], set[str]]:
        if hops < 0:
            raise StoreError(f"hops must be >= 0, got {hops}")
        seen = {e.name for e in self.get_entities(list(dict.fromkeys(names)))}
        frontier = set(seen)
        triples: dict[str, Triple] = {}
        for _ in range(hops):
            if not frontier:
                break
            reached: set[str] = set()
            for t in self._incident(sorted(frontier)):
                triples[t.id] = t
                for end in (t.head, t.tail):
                    if end not in seen:
                        seen.add(end)
                        reached.add(end)
            frontier = reached
        return seen, triples, frontier

    def neighbours(self, name: str | Iterable[str], hops: int = 1) -> Subgraph:
        """The ``hops``-hop neighbourhood of an entity (or of several), following triples in
        both directions.

        Contains the entities, every entity at most ``hops`` triples away, and every triple the
        expansion followed (the triples of entities less than ``hops`` away). Empty when no
        entity is stored.
        """
        seen, triples, _ = self._expand([name] if isinstance(name, str) else name, hops)
        return Subgraph(
            entities=sorted(self.get_entities(sorted(seen)), key=lambda e: e.name),
            triples=self._stored(triples.values()),
        )

    def subgraph(self, names: Iterable[str], hops: int = 0) -> Subgraph:
        """The subgraph induced by ``names`` and every entity at most ``hops`` away from them:
        all of those entities and every triple whose head and tail are both among them."""
        seen, triples, frontier = self._expand(names, hops)
        for t in self._incident(sorted(frontier)) if frontier else ():
            if t.head in seen and t.tail in seen:
                triples[t.id] = t
        return Subgraph(
            entities=sorted(self.get_entities(sorted(seen)), key=lambda e: e.name),
            triples=self._stored(triples.values()),
        )

    # -- search ------------------------------------------------------------------------------

    def _name_candidates(self, key: str) -> Iterable[Entity]:
        """Entities whose name or an alias contains ``key`` (in :func:`search_key` form).

        The fallback scans every entity; stores with an index override it.
        """
        for entity in self.iter_entities():
            if any(key in search_key(n) for n in (entity.name, *entity.aliases)):
                yield entity

    def search(self, text: str | None = None, *, embedding: Sequence[float] | None = None, limit: int = 10) -> list[EntityHit]:
        """Entities by name (substring of the name or an alias, after NFKC and case folding) or,
        where the store keeps embeddings, by cosine similarity to ``embedding``.

        Name hits score 1.0 for an exact match, 0.75 for a prefix and 0.5 for a substring;
        ties go to the shorter name, then alphabetical order.
        """
        if (text is None) == (embedding is None):
            raise StoreError("search needs exactly one of text or embedding")
        if embedding is not None:
            if not self.features.embeddings:
                raise StoreError(f"store {self.name} keeps no entity embeddings; search by name instead")
            return self._embedding_search([float(x) for x in embedding], limit)
        key = search_key(text or "")
        if not key:
            return []
        hits = []
        for entity in self._name_candidates(key):
            best = 0.0
            for n in (entity.name, *entity.aliases):
                k = search_key(n)
                score = 1.0 if k == key else 0.75 if k.startswith(key) else 0.5 if key in k else 0.0
                best = max(best, score)
            if best:
                hits.append(EntityHit(entity=entity, score=best, method="name"))
        hits.sort(key=lambda h: (-h.score, len(h.entity.name), h.entity.name))
        return hits[:limit]

    def set_embeddings(self, vectors: Mapping[str, Sequence[float]]) -> int:
        """Attach an embedding to each named entity (created if missing); returns how many."""
        raise StoreError(f"store {self.name} keeps no entity embeddings")

    def _embedding_search(self, vector: list[float], limit: int) -> list[EntityHit]:
        raise StoreError(f"store {self.name} keeps no entity embeddings")

    # -- export and lifetime -----------------------------------------------------------------

    def export(self, path: str | Path, fmt: str) -> Path:
        """Write the store to ``path`` in one of :attr:`formats`.

        Other formats are reached by copying into a store that has them (see
        :func:`kgjudge.graph.export_store`).
        """
        raise StoreError(f"store {self.name} writes no files of its own; use kgjudge.graph.export_store")

    def close(self) -> None:
        """Release connections and files (persistent stores flush here)."""

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cosine_ranking(vector: Sequence[float], candidates: Iterable[tuple[Entity, Sequence[float]]], limit: int) -> list[EntityHit]:
    """Rank ``candidates`` by cosine similarity to ``vector`` (the client-side fallback)."""
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    hits = []
    for entity, other in candidates:
        if len(other) != len(vector):
            raise StoreError(f"embedding of {entity.name!r} has {len(other)} dimensions, the query {len(vector)}")
        other_norm = math.sqrt(sum(x * x for x in other)) or 1.0
        score = sum(a * b for a, b in zip(vector, other)) / (norm * other_norm)
        hits.append(EntityHit(entity=entity, score=score, method="embedding"))
    hits.sort(key=lambda h: (-h.score, h.entity.name))
    return hits[:limit]


def build_store(
    slot: Slot | dict[str, Any] | None = None, *, file: str | None = None, key: str = "store", read_only: bool = False,
    must_exist: bool | None = None,
) -> GraphStore:
    """Open the store a ``{type: ...}`` config slot describes (the embedded RDF store when None).

    Args:
        read_only: open it to read: a store kept in files must exist (a mistyped path is an
            error, never a new empty store), and stores that can are opened read-only (nothing
            is written, not even on close).
        must_exist: a store kept in files must exist (default: ``read_only``); True for a
            caller that writes into an existing store (curation) and must not create one.

    Raises:
        ConfigError: with ``read_only`` or ``must_exist``, the store's path does not exist (naming the file and
            the key ``<key>.path``).

    Example:
        >>> store = build_store({"type": "networkx.v1"})
    """
    config = validate_slot(DEFAULT_STORE if slot is None else slot, stores, file=file, key=key)
    path = getattr(config, "path", None)
    if (read_only if must_exist is None else must_exist) and path and not Path(path).exists():
        why = "a store opened to read is never created" if read_only else "it is opened to edit, not created"
        raise ConfigError(f"no {config.type} store at {path} ({why})", file=file, key=f"{key}.path" if key else "path")
    if read_only:
        if "_read_only" in type(config).__private_attributes__:
            config = config.model_copy()
            config._read_only = True  # type: ignore[attr-defined]
    return stores.build(config, file=file, key=key)  # type: ignore[no-any-return]
