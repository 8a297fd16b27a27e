"""Moving records in and out of stores: JSONL files, other stores, file formats."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kgjudge._config import KGJudgeConfig, Slot
from kgjudge._errors import InputError, StoreError
from kgjudge._jsonl import iter_jsonl, write_jsonl
from kgjudge._records import Entity, Judgement, Record, Triple
from kgjudge.graph._base import GraphStore, build_store
from kgjudge.graph._networkx import NetworkXConfig, NetworkXStore
from kgjudge.graph._rdf import RDFConfig, RDFStore


class LoadResult(Record):
    """What :func:`load_triples` wrote, and the bad lines it skipped (as messages)."""

    triples: int = 0
    judgements: int = 0
    errors: list[str] = Field(default_factory=list)


def open_store(
    config: KGJudgeConfig | Slot | dict[str, Any] | None = None, *, file: str | None = None, read_only: bool = False
) -> GraphStore:
    """The store of a whole config (its ``store:`` section), of one slot, or the default;
    ``read_only`` as for :func:`~kgjudge.graph.build_store` (it must exist, nothing is written)."""
    if isinstance(config, KGJudgeConfig):
        file = file or config.source_file
        config = config.store
    return build_store(config, file=file, read_only=read_only)


def load_triples(
    store: GraphStore,
    triples_path: str | os.PathLike[str],
    judgements_path: str | os.PathLike[str] | None = None,
    *,
    origin: Literal["extracted", "curated", "gold"] | None = None,
    batch_size: int | None = None,
    errors: list[InputError] | None = None,
) -> LoadResult:
    """Write a JSONL file of :class:`~kgjudge.Triple` records (and optionally one of
    :class:`~kgjudge.Judgement` records about them) into ``store``, batch by batch.

    Args:
        origin: overrides each triple's origin; ``"curated"`` marks hand-checked triples, which
            are exempt from judging.
        errors: when given, bad lines are collected here and skipped, and every good line is
            still written; when None, the first bad line raises.

    Raises:
        InputError: a malformed line (file and line named), when ``errors`` is None.
        StoreError: a judgement about a triple that is neither in the file nor stored, or the
            store failed (earlier batches stay written; loading again resumes).
    """
    pending: dict[str, list[Judgement]] = {}
    if judgements_path is not None:
        for j in iter_jsonl(judgements_path, Judgement, errors=errors):
            pending.setdefault(j.target_id, []).append(j)
    size = batch_size or store.batch_size
    result = {"triples": 0, "judgements": 0}

    def flush(batch: list[Triple]) -> None:
        found = [j for t in batch for j in pending.pop(t.id, [])]
        result["triples"] += store.upsert(batch, found, batch_size=size)
        result["judgements"] += len(found)

    batch: list[Triple] = []
    for triple in iter_jsonl(triples_path, Triple, errors=errors):
        if origin is not None and triple.origin != origin:
            triple = triple.model_copy(update={"origin": origin})
        batch.append(triple)
        if len(batch) >= size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    rest = [j for found in pending.values() for j in found]
    if rest:
        store.upsert([], rest, batch_size=size)
        result["judgements"] += len(rest)
    return LoadResult(**result, errors=[str(e) for e in errors or []])


def exempt_from_judging(triple: Triple) -> bool:
    """Curated and gold triples are taken as true: judges skip them."""
    return triple.origin != "extracted"


@contextmanager
def _writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """File-system errors while writing ``path`` as one StoreError naming it."""
    try:
        yield
    except OSError as exc:
        # mkdir under a file fails with "File exists": name the file that is in the way.
        blocker = next((p for p in Path(path).parents if p.is_file()), None)
        why = f"{blocker} is a file, not a folder" if blocker is not None else exc.strerror or exc
        raise StoreError(f"cannot write {path}: {why}") from exc


def export_jsonl(
    store: GraphStore, triples_path: str | os.PathLike[str], judgements_path: str | os.PathLike[str] | None = None
) -> tuple[int, int]:
    """Write every triple (and, to ``judgements_path``, every judgement) as JSONL; the files
    load back with :func:`load_triples`. Returns (triples, judgements) written.

    Raises:
        StoreError: a file cannot be written (naming it).
    """
    judgements: list[Judgement] = []

    def triples() -> Iterator[Triple]:
        for stored in store.iter_triples():
            judgements.extend(stored.judgements)
            yield stored.triple

    with _writing(triples_path):
        count = write_jsonl(triples_path, triples())
    if judgements_path is not None:
        with _writing(judgements_path):
            write_jsonl(judgements_path, judgements)
    return count, len(judgements)


def copy_store(source: GraphStore, target: GraphStore, *, batch_size: int | None = None) -> int:
    """Copy every triple with its judgements, and every entity with attributes, from
    ``source`` into ``target``; returns the number of triples copied."""
    size = batch_size or min(source.batch_size, target.batch_size)
    count = 0
    batch: list[Triple] = []
    judgements: list[Judgement] = []
    for stored in source.iter_triples(batch_size=size):
        batch.append(stored.triple)
        judgements.extend(stored.judgements)
        if len(batch) >= size:
            count += target.upsert(batch, judgements, batch_size=size)
            batch, judgements = [], []
    if batch:
        count += target.upsert(batch, judgements, batch_size=size)
    described = [e for e in source.iter_entities() if e != Entity(name=e.name)]
    if described:
        target.upsert_entities(described)
    return count


EXPORT_FORMATS = sorted({"jsonl", *NetworkXStore.formats, *RDFStore.formats})


def export_store(store: GraphStore, path: str | os.PathLike[str], fmt: str) -> Path:
    """Write ``store`` to ``path`` in ``fmt``: the store's own formats directly, the others
    through an in-memory copy into a store that has them (networkx: ``graphml``, ``json``;
    RDF: ``turtle``, ``nt``, ``trig``, ``nquads``, ``jsonld``); ``jsonl`` writes Triple records
    (judgements: see :func:`export_jsonl`).

    Raises:
        StoreError: an unknown format, or ``path`` cannot be written (naming it).
    """
    path = Path(path)
    if fmt in store.formats:
        with _writing(path):
            return store.export(path, fmt)
    if fmt == "jsonl":
        export_jsonl(store, path)
        return path
    if fmt in NetworkXStore.formats:
        target: GraphStore = NetworkXStore(NetworkXConfig())
    elif fmt in RDFStore.formats:
        target = RDFStore(RDFConfig(path=None))
    else:
        raise StoreError(f"unknown export format {fmt!r}; formats: {', '.join(EXPORT_FORMATS)}")
    try:
        copy_store(store, target)
        with _writing(path):
            return target.export(path, fmt)
    finally:
        target.close()
