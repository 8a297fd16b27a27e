"""GraphRAG retrieval: the context for a question, without a model call.

Local search links the question's entities (:mod:`kgjudge.graph._linking`), takes their
neighbourhood from the store, ranks its triples by relevance and judge confidence and cuts the
list to a token budget. Global search ranks community summaries
(:mod:`kgjudge.graph._communities`) and takes the best communities' facts, each within its share
of the budget. Facts are labelled (``[T1]``) for the model to cite.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kgjudge._errors import ConfigError, InputError
from kgjudge._rag_config import RAGConfig
from kgjudge.graph._base import GraphStore
from kgjudge.graph._communities import Community, CommunityIndex, confidence
from kgjudge.graph._linking import STOPWORDS, EntityIndex, LinkedEntity, VectorCache
from kgjudge.graph._rag_records import ContextFact, Mode, RetrievedContext
from kgjudge.graph._resolution import normalise_name
from kgjudge.graph._types import StoredTriple


class Retriever:
    """Links, gathers, ranks and budgets the facts for questions over one store.

    Args:
        store: any :class:`~kgjudge.graph.GraphStore`.
        config: the ``rag:`` section.
        vectors: entity and text embeddings (none: spelling and word overlap only).
        communities: the community index of global search.
        count_tokens: the token count of a text, for the budget.

    Example:
        >>> retriever = Retriever(store, RAGConfig(), None, CommunityIndex(None, CommunityConfig()), approximate_tokens)
        >>> retriever.retrieve("Where was Marie Curie born?").facts[0].line()
    """

    def __init__(
        self,
        store: GraphStore,
        config: RAGConfig,
        vectors: VectorCache | None,
        communities: CommunityIndex,
        count_tokens: Callable[[str], int],
    ) -> None:
        self.store = store
        self.config = config
        self.vectors = vectors
        self.communities = communities
        self.count_tokens = count_tokens
        self._entities: EntityIndex | None = None
        self._community_of: dict[str, list[int]] | None = None

    @property
    def entity_index(self) -> EntityIndex:
        """Names and aliases of the store's entities (read on first use; see :meth:`refresh`)."""
        if self._entities is None:
            self._entities = EntityIndex(self.store.iter_entities(), self.config.linking, self.vectors)
        return self._entities

    def refresh(self) -> None:
        """Forget the entities and communities read so far (the store or the index changed)."""
        self._entities = None
        self._community_of = None

    def retrieve(self, question: str, mode: Mode = "local") -> RetrievedContext:
        """The context for ``question``, without calling the model.

        Global search reads the community index as it is (:class:`GraphRAG` brings it up to
        date first).

        Raises:
            InputError: an empty question.
            StoreError: the store failed.
        """
        started = time.perf_counter()
        question = question.strip()
        if not question:
            raise InputError("the question is empty")
        if mode not in ("local", "global"):
            raise ConfigError(f"unknown mode '{mode}'", key="mode", choices=["global", "local"])
        links = self.entity_index.link(question)
        context = self._local(question, links) if mode == "local" else self._global(question, links)
        return context.model_copy(update={"seconds": round(time.perf_counter() - started, 6)})

    def _question_vector(self, question: str) -> Any:
        if self.vectors is None:
            return None
        return self.vectors.embedder([question])[0]

    def _rank(
        self,
        question: str,
        triples: Sequence[StoredTriple],
        seeds: Mapping[str, float],
        qvec: Any,
        default_anchor: float,
    ) -> list[tuple[StoredTriple, float, float, float, int | None]]:
        """(triple, relevance, confidence, score, hops) best first; see RankingConfig."""
        cfg = self.config.ranking
        dist = _distances(triples, seeds)
        words = {w for w in normalise_name(question).split() if w not in STOPWORDS}
        sims: dict[str, float] = {}
        if qvec is not None and self.vectors is not None and triples:
            texts = list(dict.fromkeys(x for st in triples for x in st.triple.as_tuple()))
            for text, sim in zip(texts, (self.vectors.get(texts) @ qvec).tolist()):
                sims[text] = sim
        ranked = []
        for st in triples:
            t = st.triple
            conf = confidence(st, cfg.unjudged_confidence)
            # A fact a person rejected is never shown to the model, whatever min_confidence is.
            if conf < cfg.min_confidence or st.rejected_by_curation():
                continue
            anchor = max(seeds.get(t.head, 0.0), seeds.get(t.tail, 0.0)) or default_anchor
            hops = min(dist.get(t.head, math.inf), dist.get(t.tail, math.inf))
            decay = 0.5 ** hops if hops != math.inf else 0.25
            fact_words = set(normalise_name(f"{t.head} {t.relation} {t.tail}").split())
            overlap = len(words & fact_words) / len(words) if words else 0.0
            if sims:
                sem = max(0.0, (sims[t.relation] + max(sims[t.head], sims[t.tail])) / 2)
                relevance = anchor * decay * (0.4 + 0.4 * sem + 0.2 * overlap)
            else:
                relevance = anchor * decay * (0.6 + 0.4 * overlap)
            score = relevance * (1 - cfg.confidence_weight + cfg.confidence_weight * conf)
            ranked.append((st, relevance, conf, score, None if hops == math.inf else int(hops)))
        ranked.sort(key=lambda r: (-r[3], r[0].triple.id))
        return ranked

    def _facts(
        self,
        ranked: Iterable[tuple[StoredTriple, float, float, float, int | None]],
        budget: int,
        first_key: int,
        community: str | None = None,
    ) -> tuple[list[ContextFact], int, int]:
        """Facts that fit in ``budget`` tokens (greedy, best first): (facts, tokens, dropped)."""
        facts: list[ContextFact] = []
        used = dropped = 0
        for st, relevance, conf, score, hops in ranked:
            fact = ContextFact(key=f"T{first_key + len(facts)}", triple=st.triple, confidence=round(conf, 4),
                               relevance=round(relevance, 4), score=round(score, 4), hops=hops, community=community)
            cost = self.count_tokens(fact.line()) + 1
            if used + cost > budget:
                dropped += 1
                continue
            facts.append(fact)
            used += cost
        return facts, used, dropped

    def _local(self, question: str, links: list[LinkedEntity]) -> RetrievedContext:
        if not links:
            return RetrievedContext(question=question, mode="local",
                                    nothing_found="no entity of the question was found in the graph")
        seeds = {link.name: link.score for link in links}
        hops = self.config.hops
        sub = self.store.neighbours(list(seeds), hops) if hops else self.store.subgraph(list(seeds), 0)
        if not sub.triples:
            return RetrievedContext(question=question, mode="local", linked=links,
                                    nothing_found="the graph holds no facts about the linked entities")
        ranked = self._rank(question, sub.triples, seeds, self._question_vector(question), max(seeds.values()))
        facts, tokens, dropped = self._facts(ranked, self.config.token_budget, 1)
        return RetrievedContext(question=question, mode="local", linked=links, facts=facts,
                                text="\n".join(f.line() for f in facts), tokens=tokens, dropped=dropped,
                                nothing_found=None if facts else "no fact fits the token budget")

    def _global(self, question: str, links: list[LinkedEntity]) -> RetrievedContext:
        communities = self.communities.communities
        if not communities:
            return RetrievedContext(question=question, mode="global", linked=links, nothing_found="the graph is empty")
        qvec = self._question_vector(question)
        scores = self._community_scores(question, links, communities, qvec)
        chosen = [i for i in sorted(range(len(communities)), key=lambda i: (-scores[i], i))[: self.config.top_communities]
                  if scores[i] >= self.config.ranking.min_community_score]
        if not chosen:
            return RetrievedContext(question=question, mode="global", linked=links,
                                    nothing_found="no community of the graph is about the question")
        seeds = {link.name: link.score for link in links}
        share = self.config.token_budget // len(chosen)
        facts: list[ContextFact] = []
        blocks: list[str] = []
        tokens = dropped = 0
        for n, i in enumerate(chosen, 1):
            community = communities[i]
            header = f"Community {n}: {community.summary}"
            budget = max(share - self.count_tokens(header) - 1, 0)
            stored = self._community_facts(community, seeds)
            ranked = self._rank(question, stored, seeds, qvec, 0.5)
            found, used, left = self._facts(ranked, budget, len(facts) + 1, community.id)
            facts.extend(found)
            tokens += used + self.count_tokens(header) + 1
            dropped += left
            blocks.append("\n".join([header, *(f.line() for f in found)]))
        return RetrievedContext(question=question, mode="global", linked=links, facts=facts,
                                communities=[communities[i] for i in chosen], text="\n\n".join(blocks),
                                tokens=tokens, dropped=dropped)

    def _community_facts(self, community: Community, seeds: Mapping[str, float]) -> list[StoredTriple]:
        """A community's most confident facts and every fact of its linked entities."""
        wanted = list(community.triple_ids[: self.config.facts_per_community])
        entities = set(community.entities)
        inside = [name for name in seeds if name in entities]
        if inside and len(community.triple_ids) > len(wanted):
            members = set(community.triple_ids)
            wanted += [st.triple.id for st in self.store.neighbours(inside, 1).triples if st.triple.id in members]
        return self.store.get_triples(wanted)

    def _community_scores(
        self, question: str, links: list[LinkedEntity], communities: list[Community], qvec: Any
    ) -> list[float]:
        """0.5 * best link score of an entity inside + 0.3 * summary similarity + 0.2 * word overlap."""
        if self._community_of is None:
            self._community_of = {}
            for i, c in enumerate(communities):
                for name in c.entities:
                    self._community_of.setdefault(name, []).append(i)
        bonus = [0.0] * len(communities)
        for link in links:
            for i in self._community_of.get(link.name, ()):
                bonus[i] = max(bonus[i], link.score)
        sims = [0.0] * len(communities)
        if qvec is not None and self.vectors is not None:
            sims = [max(0.0, s) for s in (self.vectors.get([c.summary for c in communities]) @ qvec).tolist()]
        words = {w for w in normalise_name(question).split() if w not in STOPWORDS}
        scores = []
        for i, c in enumerate(communities):
            overlap = len(words & set(normalise_name(c.summary).split())) / len(words) if words else 0.0
            scores.append(0.5 * bonus[i] + 0.3 * sims[i] + 0.2 * overlap)
        return scores


def _distances(triples: Sequence[StoredTriple], seeds: Mapping[str, float]) -> dict[str, int]:
    """Hops from the nearest seed to every entity of ``triples`` (breadth-first, both directions)."""
    adjacent: dict[str, set[str]] = {}
    for st in triples:
        adjacent.setdefault(st.triple.head, set()).add(st.triple.tail)
        adjacent.setdefault(st.triple.tail, set()).add(st.triple.head)
    dist = {s: 0 for s in seeds if s in adjacent}
    frontier = list(dist)
    while frontier:
        reached = []
        for name in frontier:
            for other in adjacent[name]:
                if other not in dist:
                    dist[other] = dist[name] + 1
                    reached.append(other)
        frontier = reached
    return dist
