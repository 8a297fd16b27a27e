"""Communities of a stored graph and their LLM summaries, for GraphRAG's global search.

The graph is read from any store into networkx; each connected component is split with
Louvain (``networkx.community.louvain_communities``, seeded, on a graph built in sorted
order, so the same component always splits the same way). Splitting per component keeps
changes local: a new document only reshapes the components it touches. Every triple belongs
to the community of its head.

A community's id is derived from its triple ids, so an unchanged community keeps its id and
its summary; :meth:`CommunityIndex.update` asks the LLM only for communities whose id is new.
Communities smaller than ``min_size`` are summarised by their facts alone, without a call.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kgjudge._errors import KGJudgeError, KGJudgeWarning, StoreError
from kgjudge._extras import require
from kgjudge._jsonl import iter_jsonl, write_jsonl
from kgjudge._progress import Progress
from kgjudge._prompts import render
from kgjudge._rag_config import CommunityConfig
from kgjudge._records import Record, stable_id
from kgjudge.graph._types import StoredTriple

INDEX_VERSION = 1


class Community(Record):
    """One community: its entities, its triples (most confident first) and a summary of them."""

    id: str
    entities: list[str]
    triple_ids: list[str]
    summary: str
    summary_source: Literal["llm", "facts"]
    model: str | None = None
    prompt_version: str | None = None


class CommunityUpdate(Record):
    """What an update did: communities now, how many summaries were kept, written, dropped."""

    communities: int
    reused: int
    summarised: int
    from_facts: int
    removed: int
    seconds: float
    failures: list[str] = Field(default_factory=list)


def triple_line(st: StoredTriple) -> str:
    """A triple as one line of text: ``head | relation | tail``."""
    t = st.triple
    return f"{t.head} | {t.relation} | {t.tail}"


def confidence(st: StoredTriple, unjudged: float) -> float:
    """The mean judge score of a stored triple; 1.0 for unjudged curated or gold triples; a
    person's decision (a curation judgement) overrules the judges: 1.0 accepted, 0.0 rejected."""
    decided = st.curation()
    if decided is not None:
        return decided.score
    if st.judgements:
        return sum(j.score for j in st.judgements) / len(st.judgements)
    return 1.0 if st.triple.origin in ("curated", "gold") else unjudged


def partition(triples: Iterable[StoredTriple], config: CommunityConfig) -> list[tuple[list[str], list[str]]]:
    """(entities, triple ids) of every community, entities and ids sorted, communities in
    order of their first entity."""
    nx = require("networkx", "rag")
    edges: dict[tuple[str, str], float] = {}
    owner_of: dict[str, str] = {}
    for st in triples:
        t = st.triple
        owner_of[t.id] = t.head
        a, b = sorted((t.head, t.tail))
        edges[(a, b)] = edges.get((a, b), 0.0) + 1.0
    graph = nx.Graph()
    graph.add_nodes_from(sorted({n for pair in edges for n in pair}))
    graph.add_weighted_edges_from((a, b, w) for (a, b), w in sorted(edges.items()))
    groups: list[set[str]] = []
    for component in sorted(nx.connected_components(graph), key=min):
        sub = graph.subgraph(sorted(component))
        if sub.number_of_edges() <= config.max_triples_in_summary:
            groups.append(set(component))
            continue
        parts = nx.community.louvain_communities(sub, weight="weight", resolution=config.resolution, seed=config.seed)
        groups.extend(parts)
    community_of = {n: i for i, group in enumerate(groups) for n in group}
    members: list[list[str]] = [[] for _ in groups]
    for triple_id, head in owner_of.items():
        members[community_of[head]].append(triple_id)
    out = [(sorted(group), sorted(ids)) for group, ids in zip(groups, members)]
    return sorted(out, key=lambda c: c[0][0])


class CommunityIndex:
    """Communities and summaries of one store, kept in ``communities.jsonl`` under ``path``
    (in memory when ``path`` is None).

    Example:
        >>> index = CommunityIndex(Path("out/rag"), CommunityConfig())
        >>> report = index.update(store, summarise)   # only new communities are summarised
        >>> index.communities[0].summary
    """

    def __init__(self, path: Path | None, config: CommunityConfig) -> None:
        self.path = path
        self.config = config
        self.communities: list[Community] = []
        self.fingerprint: dict[str, Any] = {}
        if path is not None and (path / "communities.jsonl").is_file():
            try:
                meta = json.loads((path / "communities.meta.json").read_text(encoding="utf-8"))
                if meta.get("version") == INDEX_VERSION:
                    communities = list(iter_jsonl(path / "communities.jsonl", Community))
                    self.fingerprint, self.communities = meta.get("fingerprint", {}), communities
            except (OSError, ValueError, AttributeError, KGJudgeError) as exc:
                # Summaries are derived data: an unreadable index is rebuilt on the next update.
                warnings.warn(f"ignoring the unreadable community index in {path}: {exc}", KGJudgeWarning, stacklevel=2)

    def by_id(self) -> dict[str, Community]:
        return {c.id: c for c in self.communities}

    def update(
        self,
        triples: list[StoredTriple],
        summarise: Callable[[list[list[StoredTriple]]], list[tuple[str | None, str]]],
        *,
        model: str,
        fingerprint: dict[str, Any],
        unjudged_confidence: float = 0.5,
    ) -> CommunityUpdate:
        """Recompute communities from ``triples``; summarise only those that are new.

        Args:
            summarise: facts of each community (best first) -> (summary or None, failure reason)
                per community, in one batch.
            model: identifies the summarising model; summaries by another model are redone.
            fingerprint: what the store looked like (stored, to tell when the index is stale).
        """
        started = time.perf_counter()
        by_id = {st.triple.id: st for st in triples}
        old = self.by_id()
        prompt = self.config.summary_prompt
        fresh: list[Community | None] = []
        pending: list[tuple[int, str, list[str], list[str], list[StoredTriple]]] = []
        from_facts = reused = 0
        for entities, ids in partition(triples, self.config):
            community_id = stable_id("com", *ids)
            facts = sorted((by_id[i] for i in ids), key=lambda st: (-confidence(st, unjudged_confidence), st.triple.id))
            ids = [st.triple.id for st in facts]
            if len(ids) < self.config.min_size:
                fresh.append(Community(id=community_id, entities=entities, triple_ids=ids,
                                       summary="; ".join(triple_line(st) for st in facts), summary_source="facts"))
                from_facts += 1
                continue
            previous = old.get(community_id)
            if previous and previous.summary_source == "llm" and (previous.model, previous.prompt_version) == (model, prompt):
                fresh.append(previous)
                reused += 1
                continue
            pending.append((len(fresh), community_id, entities, ids, facts[: self.config.max_triples_in_summary]))
            fresh.append(None)
        failures: list[str] = []
        if pending:
            with Progress("summarise", "communities", len(pending)) as progress:
                results = summarise([p[4] for p in pending])
                progress.advance(len(pending))
            for (slot, community_id, entities, ids, facts), (summary, error) in zip(pending, results):
                if summary is None:
                    failures.append(f"community {community_id}: {error}; summarised by its facts")
                    fresh[slot] = Community(id=community_id, entities=entities, triple_ids=ids,
                                            summary="; ".join(triple_line(st) for st in facts), summary_source="facts")
                else:
                    fresh[slot] = Community(id=community_id, entities=entities, triple_ids=ids, summary=summary,
                                            summary_source="llm", model=model, prompt_version=prompt)
        new = [c for c in fresh if c is not None]
        removed = len(set(old) - {c.id for c in new})
        self.communities = new
        self.fingerprint = fingerprint
        self._save()
        return CommunityUpdate(
            communities=len(new), reused=reused, summarised=len(pending) - len(failures), from_facts=from_facts + len(failures),
            removed=removed, seconds=round(time.perf_counter() - started, 3), failures=failures,
        )

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            write_jsonl(self.path / "communities.jsonl", self.communities)
            meta = {"version": INDEX_VERSION, "fingerprint": self.fingerprint, "config": self.config.model_dump()}
            (self.path / "communities.meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"cannot write the community index in {self.path}: {exc}") from exc


def summary_prompt(facts: list[StoredTriple], name: str) -> str:
    """The summariser's prompt for a community's facts."""
    return render(name, facts=[triple_line(st) for st in facts])
