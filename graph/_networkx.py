"""``networkx.v1``: an in-memory MultiDiGraph, saved and loaded as JSON (node-link) or GraphML."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr

from kgjudge._config import Slot
from kgjudge._errors import StoreError
from kgjudge._extras import require
from kgjudge._records import Entity, Judgement, Triple
from kgjudge._registry import stores
from kgjudge.graph._base import GraphStore, cosine_ranking, normalise_entity
from kgjudge.graph._types import EntityHit, StoreFeatures, StoreStats, flat_provenance, triple_from_flat

FORMAT_TAG = "kgjudge-networkx/1"
SUFFIXES = {".json": "json", ".graphml": "graphml", ".xml": "graphml"}

# XML 1.0 cannot carry these characters at all, parsers turn CR into LF, and an empty element
# reads back as missing: such values go into GraphML JSON-encoded under "<name>__json".
_XML_UNSAFE = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class NetworkXConfig(Slot):
    """Config of the networkx store.

    Attributes:
        path: file the graph is loaded from (when it exists) and saved to on close; none keeps
            the graph in memory only.
        format: ``json`` or ``graphml``; by default taken from the file suffix.

    ``build_store(..., read_only=True)`` (what commands that only read use) never writes the file.
    """

    type: Literal["networkx.v1"] = "networkx.v1"
    path: str | None = None
    format: Literal["json", "graphml"] | None = None
    batch_size: int = Field(default=1000, ge=1)
    # Not a config key (configs and their hashes stay as they are): set by build_store.
    _read_only: bool = PrivateAttr(default=False)


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise StoreError(f"{path}: cannot tell the format from the suffix; use one of {sorted(SUFFIXES)}") from None


class NetworkXStore(GraphStore):
    """Triples as edges of a ``networkx.MultiDiGraph`` keyed by triple id; nodes are entity names.

    Edge attributes: ``relation``, ``triple`` (the record) and ``judgements`` (judge -> record);
    node attributes: ``entity`` (the record, when one was upserted) and ``embedding``. The graph
    is :attr:`graph`, for networkx algorithms.

    Example:
        >>> store = NetworkXStore(NetworkXConfig(path="kg.json"))
        >>> store.upsert([Triple(head="Paris", relation="capital of", tail="France")])
        >>> store.close()  # writes kg.json
    """

    name = "networkx.v1"
    formats = ("graphml", "json")
    features = StoreFeatures(embeddings=True)

    def __init__(self, config: NetworkXConfig | None = None) -> None:
        nx = require("networkx", "networkx")
        self.config = config or NetworkXConfig()
        self.batch_size = self.config.batch_size
        self.graph = nx.MultiDiGraph()
        self._ends: dict[str, tuple[str, str]] = {}
        if self.config.path and Path(self.config.path).exists():
            self.load(self.config.path, self.config.format)

    # -- writing -----------------------------------------------------------------------------

    def _node(self, name: str) -> None:
        if name not in self.graph:
            self.graph.add_node(name)

    def _write_one(self, triple: Triple, judgements: Sequence[Judgement]) -> None:
        old = self._ends.get(triple.id)
        kept: dict[str, Judgement] = {}
        if old is not None:
            kept = self.graph.edges[old[0], old[1], triple.id]["judgements"]
            self.graph.remove_edge(old[0], old[1], key=triple.id)
        self._node(triple.head)
        self._node(triple.tail)
        kept.update({j.judge: j for j in judgements})
        self.graph.add_edge(triple.head, triple.tail, key=triple.id, relation=triple.relation, triple=triple, judgements=kept)
        self._ends[triple.id] = (triple.head, triple.tail)

    def _write_judgements(self, target_id: str, judgements: Sequence[Judgement]) -> None:
        head, tail = self._ends[target_id]
        self.graph.edges[head, tail, target_id]["judgements"].update({j.judge: j for j in judgements})

    def upsert_entities(self, entities: Iterable[Entity]) -> int:
        count = 0
        for entity in entities:
            self._node(entity.name)
            self.graph.nodes[entity.name]["entity"] = normalise_entity(entity)
            count += 1
        return count

    def set_embeddings(self, vectors: Mapping[str, Sequence[float]]) -> int:
        for name, vector in vectors.items():
            self._node(name)
            self.graph.nodes[name]["embedding"] = [float(x) for x in vector]
        return len(vectors)

    def delete_document(self, document_id: str) -> int:
        doomed = [
            (h, t, k) for h, t, k, triple in self.graph.edges(keys=True, data="triple") if triple.document_id == document_id
        ]
        for h, t, k in doomed:
            self.graph.remove_edge(h, t, key=k)
            del self._ends[k]
        ends = {n for h, t, _ in doomed for n in (h, t)}
        self.graph.remove_nodes_from([n for n in ends if self.graph.degree(n) == 0])
        return len(doomed)

    def delete_triples(self, ids: Iterable[str]) -> int:
        ends: set[str] = set()
        count = 0
        for triple_id in dict.fromkeys(ids):
            found = self._ends.pop(triple_id, None)
            if found is None:
                continue
            self.graph.remove_edge(found[0], found[1], key=triple_id)
            ends.update(found)
            count += 1
        self.graph.remove_nodes_from([n for n in ends if self.graph.degree(n) == 0])
        return count

    def clear(self) -> None:
        self.graph.clear()
        self._ends.clear()

    def flush(self) -> None:
        if self.config.path:
            self.save()

    def reload(self) -> None:
        if self.config.path and Path(self.config.path).exists():
            self.load(self.config.path, self.config.format)

    # -- reading -----------------------------------------------------------------------------

    def _existing_ids(self, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if i in self._ends}

    def _edge(self, triple_id: str) -> dict[str, Any]:
        head, tail = self._ends[triple_id]
        return self.graph.edges[head, tail, triple_id]

    def _fetch(self, ids: Sequence[str]) -> list[Triple]:
        return [self._edge(i)["triple"] for i in ids if i in self._ends]

    def _judgements(self, ids: Sequence[str]) -> dict[str, list[Judgement]]:
        return {i: list(self._edge(i)["judgements"].values()) for i in ids if i in self._ends}

    def _incident(self, names: Sequence[str]) -> list[Triple]:
        found: dict[str, Triple] = {}
        for name in names:
            if name in self.graph:
                for _, _, triple in self.graph.out_edges(name, data="triple"):
                    found[triple.id] = triple
                for _, _, triple in self.graph.in_edges(name, data="triple"):
                    found[triple.id] = triple
        return list(found.values())

    def _incident_ids(self, name: str) -> list[str]:
        if name not in self.graph:
            return []
        keys = {k for _, _, k in self.graph.out_edges(name, keys=True)}
        keys.update(k for _, _, k in self.graph.in_edges(name, keys=True))
        return sorted(keys)

    def _incident_page(self, name: str, offset: int, limit: int) -> list[Triple]:
        return self._fetch(self._incident_ids(name)[offset : offset + limit])

    def _degree(self, name: str) -> int:
        return len(self._incident_ids(name))

    def _iter_all(self, document_id: str | None) -> Iterator[Triple]:
        for _, _, triple in list(self.graph.edges(data="triple")):
            if document_id is None or triple.document_id == document_id:
                yield triple

    def _entity(self, name: str) -> Entity:
        return self.graph.nodes[name].get("entity") or Entity(name=name)

    def get_entities(self, names: Sequence[str]) -> list[Entity]:
        return [self._entity(n) for n in names if n in self.graph]

    def iter_entities(self) -> Iterator[Entity]:
        for name in list(self.graph.nodes):
            yield self._entity(name)

    def _embedding_search(self, vector: list[float], limit: int) -> list[EntityHit]:
        candidates = (
            (self._entity(n), v) for n, v in self.graph.nodes(data="embedding") if v is not None
        )
        return cosine_ranking(vector, candidates, limit)

    def stats(self) -> StoreStats:
        triples = [t for _, _, t in self.graph.edges(data="triple")]
        return StoreStats(
            entities=self.graph.number_of_nodes(),
            triples=len(triples),
            judgements=sum(len(j) for _, _, j in self.graph.edges(data="judgements")),
            relations=len({t.relation for t in triples}),
            documents=len({t.document_id for t in triples if t.document_id is not None}),
            origins=dict(sorted(Counter(t.origin for t in triples).items())),
        )

    # -- files -------------------------------------------------------------------------------

    def export(self, path: str | Path, fmt: str) -> Path:
        return self.save(path, fmt)

    def save(self, path: str | Path | None = None, fmt: str | None = None) -> Path:
        """Write the graph as JSON (node-link, exact) or GraphML (flat attributes)."""
        target = Path(path or self.config.path or "")
        if not str(target):
            raise StoreError("no path to save the networkx graph to")
        fmt = _format_of(target, fmt if path else (fmt or self.config.format))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            if fmt == "json":
                tmp.write_text(json.dumps(self._to_json(), ensure_ascii=False), encoding="utf-8")
            elif fmt == "graphml":
                require("networkx", "networkx").write_graphml(self._to_graphml_graph(), tmp)
            else:
                raise StoreError(f"networkx store cannot write {fmt!r}; formats: {', '.join(self.formats)}")
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def load(self, path: str | Path, fmt: str | None = None) -> None:
        """Replace the graph with the one in ``path`` (written by :meth:`save`)."""
        path = Path(path)
        fmt = _format_of(path, fmt)
        self.clear()
        try:
            if fmt == "json":
                self._from_json(json.loads(path.read_text(encoding="utf-8")))
            else:
                self._from_graphml_graph(require("networkx", "networkx").read_graphml(path, force_multigraph=True))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{path}: not a graph written by the networkx store ({type(exc).__name__}: {exc})") from exc

    def _to_json(self) -> dict[str, Any]:
        nodes = []
        for name, data in self.graph.nodes(data=True):
            node: dict[str, Any] = {"name": name}
            if data.get("entity") is not None:
                node["entity"] = data["entity"].model_dump(mode="json")
            if data.get("embedding") is not None:
                node["embedding"] = data["embedding"]
            nodes.append(node)
        edges = [
            {
                "triple": data["triple"].model_dump(mode="json"),
                "judgements": [j.model_dump(mode="json") for j in data["judgements"].values()],
            }
            for _, _, data in self.graph.edges(data=True)
        ]
        return {"format": FORMAT_TAG, "nodes": nodes, "edges": edges}

    def _from_json(self, data: dict[str, Any]) -> None:
        if data.get("format") != FORMAT_TAG:
            raise ValueError(f"format tag {data.get('format')!r} is not {FORMAT_TAG!r}")
        for node in data["nodes"]:
            self._node(node["name"])
            if "entity" in node:
                self.graph.nodes[node["name"]]["entity"] = Entity.model_validate(node["entity"])
            if "embedding" in node:
                self.graph.nodes[node["name"]]["embedding"] = node["embedding"]
        for edge in data["edges"]:
            self._write_one(Triple.model_validate(edge["triple"]), [Judgement.model_validate(j) for j in edge["judgements"]])

    def _to_graphml_graph(self) -> Any:
        nx = require("networkx", "networkx")
        out = nx.MultiDiGraph(format=FORMAT_TAG)
        ids = {name: f"n{i}" for i, name in enumerate(self.graph.nodes)}
        for name, data in self.graph.nodes(data=True):
            attrs: dict[str, Any] = {"name": name}
            entity = data.get("entity")
            if entity is not None:
                attrs |= {"entity_id": entity.id, "entity_type": entity.type, "entity_document_id": entity.document_id,
                          "entity_chunk_id": entity.chunk_id, "aliases": json.dumps(entity.aliases, ensure_ascii=False)}
            if data.get("embedding") is not None:
                attrs["embedding"] = json.dumps(data["embedding"])
            out.add_node(ids[name], **_xml_safe(attrs))
        for i, (head, tail, data) in enumerate(self.graph.edges(data=True)):
            t: Triple = data["triple"]
            attrs = {
                "triple_id": t.id, "relation": t.relation, **flat_provenance(t),
                "judgements": json.dumps([j.model_dump(mode="json") for j in data["judgements"].values()], ensure_ascii=False),
            }
            out.add_edge(ids[head], ids[tail], key=f"e{i}", **_xml_safe(attrs))
        return out

    def _from_graphml_graph(self, graph: Any) -> None:
        if graph.graph.get("format") != FORMAT_TAG:
            raise ValueError(f"format tag {graph.graph.get('format')!r} is not {FORMAT_TAG!r}")
        names = {}
        for node_id, raw in graph.nodes(data=True):
            data = _xml_unsafe(raw)
            names[node_id] = data["name"]
            self._node(data["name"])
            if "entity_id" in data:
                self.graph.nodes[data["name"]]["entity"] = Entity(
                    id=data["entity_id"], name=data["name"], type=data.get("entity_type"),
                    document_id=data.get("entity_document_id"), chunk_id=data.get("entity_chunk_id"),
                    aliases=json.loads(data["aliases"]),
                )
            if "embedding" in data:
                self.graph.nodes[data["name"]]["embedding"] = json.loads(data["embedding"])
        for head, tail, raw in graph.edges(data=True):
            d = _xml_unsafe(raw)
            triple = triple_from_flat(d, id=d["triple_id"], head=names[head], tail=names[tail])
            self._write_one(triple, [Judgement.model_validate(j) for j in json.loads(d["judgements"])])

    def close(self) -> None:
        if self.config.path and not self.config._read_only:
            self.save()


def _xml_safe(attrs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, str) and (not value or _XML_UNSAFE.search(value)):
            out[f"{key}__json"] = json.dumps(value)
        else:
            out[key] = value
    return out


def _xml_unsafe(attrs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        if key.endswith("__json"):
            out[key[: -len("__json")]] = json.loads(value)
        else:
            out[key] = value
    return out


@stores.register("networkx.v1", config=NetworkXConfig)
def make_networkx_store(config: NetworkXConfig) -> NetworkXStore:
    """Factory of ``networkx.v1``."""
    return NetworkXStore(config)
