"""Shared parts of the store benchmarks: synthetic records, store set-up, result files."""

from __future__ import annotations

import contextlib
import json
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kgjudge import ModelRef, Span, Triple, load_config
from kgjudge.graph import ArcadeDBBoltServer, GraphStore, build_store

RELATIONS = ["born in", "located in", "member of", "author of", "capital of", "part of", "works for", "founded by"]


def synthetic_triples(count: int, entities: int | None = None, seed: int = 0) -> list[Triple]:
    """Extracted triples with full provenance over ``entities`` names (default: one per ten
    triples, at least ten; degrees vary by 10x)."""
    entities = entities or max(count // 10, 10)
    rng = random.Random(seed)
    weights = [1.0 / (1 + i % 10) for i in range(entities)]
    names = [f"Entity {i} ({rng.choice('ABCDEFGH')})" for i in range(entities)]
    extractor = ModelRef(model="smollm2-135m-instruct", adapter="kasft", prompt_version="extract.v1")
    heads = rng.choices(names, weights=weights, k=count)
    tails = rng.choices(names, weights=weights, k=count)
    out = []
    for i in range(count):
        sentence = f"{heads[i]} is related to {tails[i]}."
        out.append(Triple(
            head=heads[i], relation=RELATIONS[i % len(RELATIONS)], tail=tails[i], document_id=f"doc-{i // 50}",
            chunk_id=f"doc-{i // 50}#{i % 50}", evidence=Span(start=0, end=len(sentence), text=sentence),
            extractor=extractor,
        ))
    return out


@contextlib.contextmanager
def open_bench_store(kind: str, bolt_config: str | None, folder: Path) -> Iterator[GraphStore]:
    """A fresh, empty store of ``kind`` (networkx, rdf on disk, or bolt)."""
    if kind == "networkx":
        store = build_store({"type": "networkx.v1"})
    elif kind == "rdf":
        store = build_store({"type": "rdf.v1", "path": tempfile.mkdtemp(dir=folder, prefix="rdf-")})
    elif kind == "bolt":
        store = build_store(load_config(bolt_config).store if bolt_config else _bolt_slot(folder))
        store.clear()
    else:
        raise SystemExit(f"unknown store {kind!r}; choose from networkx, rdf, bolt")
    try:
        yield store
    finally:
        if kind == "bolt":
            store.clear()
        store.close()


_SERVER: ArcadeDBBoltServer | None = None


def _bolt_slot(folder: Path) -> dict[str, Any]:
    """An ArcadeDB Bolt server started once for the run (when no --bolt-config is given)."""
    global _SERVER
    if _SERVER is None:
        _SERVER = ArcadeDBBoltServer(folder / "arcadedb").start()
    return _SERVER.store_config()


def stop_server() -> None:
    """Stop the ArcadeDB server if this run started one."""
    if _SERVER is not None:
        _SERVER.stop()


def loaded_stores(kinds: str, bolt_config: str | None, triples: list[Triple]) -> Iterator[tuple[GraphStore, float, Path]]:
    """For each of the comma-separated store kinds: a fresh store holding ``triples``, the
    seconds the upsert took, and a scratch folder (removed, and any Bolt server stopped, at the end)."""
    with tempfile.TemporaryDirectory(prefix="kgjudge-bench-") as tmp:
        try:
            for kind in [k.strip() for k in kinds.split(",") if k.strip()]:
                with open_bench_store(kind, bolt_config, Path(tmp)) as store:
                    started = time.perf_counter()
                    store.upsert(triples)
                    yield store, time.perf_counter() - started, Path(tmp)
        finally:
            stop_server()


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1-99) of ``values``, inclusive method; the value itself for one."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def write_result(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` with the machine description as JSON; print where."""
    data = {**data, "machine": {"python": platform.python_version(), "platform": platform.platform(),
                                "processor": platform.processor() or platform.machine()}}
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {out}")
