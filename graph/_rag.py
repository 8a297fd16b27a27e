"""GraphRAG over any graph store: entity linking, local and global retrieval, cited answers.

Local search links the question's entities (:mod:`kgjudge.graph._linking`), takes their
neighbourhood from the store, ranks its triples by relevance and judge confidence and cuts the
list to a token budget. Global search ranks community summaries
(:mod:`kgjudge.graph._communities`), answers from each of the best communities (map) and
combines the partial answers (reduce). Facts are shown to the model with labels (``[T1]``);
the labels an answer cites are mapped back to triple ids, documents and evidence spans, and a
label that is not in the context is reported as invalid, never trusted.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kgjudge._errors import ConfigError, InputError, KGJudgeError, StoreError
from kgjudge._prompts import render
from kgjudge._rag_config import RAGConfig
from kgjudge._records import Record, Span, Triple
from kgjudge.graph._base import GraphStore
from kgjudge.graph._communities import Community, CommunityIndex, CommunityUpdate, confidence, summary_prompt
from kgjudge.graph._linking import STOPWORDS, EntityIndex, LinkedEntity, VectorCache, index_path
from kgjudge.graph._resolution import SentenceEmbedder, normalise_name
from kgjudge.graph._types import StoredTriple

Mode = Literal["local", "global"]
_PIECES = re.compile(r"\w+|[^\w\s]")
_LABEL = re.compile(r"\bT(\d+)\b")
_LABEL_GROUP = re.compile(r"\s*[\[(]\s*(?:(?:facts?|labels?)\s*:?\s*)?T\d+(?:\s*[,;]?\s*(?:and\s+)?T\d+)*\s*[\])]")
NOT_FOUND = "NOT FOUND"
_NOT_FOUND = re.compile(r"^\W*not\s+found\b", re.IGNORECASE)


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate of a text's token count (words and punctuation, times 1.3)."""
    return math.ceil(len(_PIECES.findall(text)) * 1.3)


def token_counter(llm: Any) -> Callable[[str], int]:
    """The exact token count of ``llm``'s tokenizer when its backend has one loaded, else
    :func:`approximate_tokens`."""
    tokenizer = getattr(getattr(llm, "backend", None), "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "encode"):
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    return approximate_tokens


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


def parse_answer(raw: str) -> tuple[bool, str, list[str]]:
    """(found, answer text without labels, cited labels in order) of a model reply."""
    text = raw.strip()
    keys = list(dict.fromkeys(f"T{n}" for n in _LABEL.findall(text)))
    if not text or _NOT_FOUND.match(text):
        return False, "", keys
    cleaned = _LABEL_GROUP.sub("", text)
    cleaned = re.sub(r"\s+([.,;:])", r"\1", cleaned).strip()
    return bool(cleaned), cleaned, keys


class GraphRAG:
    """Retrieval and question answering over a graph store.

    Args:
        store: any :class:`~kgjudge.graph.GraphStore` (subgraphs come from the store; linking,
            ranking and communities run in memory).
        llm: the :class:`~kgjudge.llm.LLM` that writes answers and community summaries; retrieval
            alone needs none.
        index_dir: where entity embeddings and community summaries are kept between runs
            (in memory only when None).
        documents: document id -> source (path or URI), to name it in citations.

    Example:
        >>> rag = GraphRAG(store, llm, RAGConfig(), index_dir="out/demo/rag")
        >>> answer = rag.query("Where was Marie Curie born?", mode="local")
        >>> answer.answer, [c.triple_id for c in answer.citations]
    """

    def __init__(
        self,
        store: GraphStore,
        llm: Any = None,
        config: RAGConfig | None = None,
        *,
        index_dir: str | Path | None = None,
        embedder: Callable[[Sequence[str]], Any] | None = None,
        documents: Mapping[str, str | None] | None = None,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        self.store = store
        self.llm = llm
        self.config = config or RAGConfig()
        where = index_dir if index_dir is not None else self.config.index_dir
        self.index_dir = Path(where) if where is not None else None
        self.vectors: VectorCache | None = None
        if self.config.linking.embeddings:
            self.vectors = VectorCache(
                embedder or SentenceEmbedder(self.config.linking.embedding_model),
                index_path(self.index_dir, "embeddings.npz"),
            )
        self.communities = CommunityIndex(self.index_dir, self.config.communities)
        self.documents = dict(documents or {})
        self.count_tokens = count_tokens or token_counter(llm)
        self.owns_store = False
        self._checked = False
        self._entities: EntityIndex | None = None
        self._community_of: dict[str, list[int]] | None = None

    # -- indexes ----------------------------------------------------------------------------

    @property
    def entity_index(self) -> EntityIndex:
        """Names and aliases of the store's entities (read on first use; see :meth:`refresh`)."""
        if self._entities is None:
            self._entities = EntityIndex(self.store.iter_entities(), self.config.linking, self.vectors)
        return self._entities

    def refresh(self) -> None:
        """Forget what was read from the store (entities; whether communities are current), so
        the next question sees the store as it is now."""
        self._entities = None
        self._checked = False

    def warm(self) -> None:
        """Embed every entity name and alias now, rather than on first use."""
        self.entity_index.warm()

    def _fingerprint(self) -> dict[str, Any]:
        return self.store.stats().model_dump()

    def update_communities(self, *, force: bool = False) -> CommunityUpdate | None:
        """Recompute communities and summarise the ones that changed; None when the index is
        already up to date with the store (unless ``force``)."""
        fingerprint = self._fingerprint()
        if not force and self.communities.fingerprint == fingerprint and (self.communities.communities or not fingerprint["triples"]):
            return None
        if self.llm is None:
            raise ConfigError("community summaries need a model: give GraphRAG an llm", key="rag.backend")
        triples = list(self.store.iter_triples())
        cfg = self.config
        report = self.communities.update(
            triples, self._summarise, model=self.llm.backend.fingerprint(),
            fingerprint=fingerprint, unjudged_confidence=cfg.ranking.unjudged_confidence,
        )
        self._community_of = None
        self._entities = None
        self._checked = True
        return report

    def _summarise(self, groups: list[list[StoredTriple]]) -> list[tuple[str | None, str]]:
        cfg = self.config
        prompts = [summary_prompt(facts, cfg.communities.summary_prompt) for facts in groups]
        out: list[tuple[str | None, str]] = []
        for text, error in self._generate(prompts, cfg.communities.summary_max_tokens):
            if text is not None and not text.strip():
                text, error = None, "the model returned an empty summary"
            out.append((text.strip() if text is not None else None, error))
        return out

    def close(self) -> None:
        """Keep the embeddings computed so far; close the store when it was opened here
        (:func:`open_graphrag`) and the model client when there is one."""
        if self.vectors is not None:
            self.vectors.save()
        if self.owns_store:
            self.store.close()
        if self.llm is not None and self.owns_store:
            self.llm.close()

    def __enter__(self) -> GraphRAG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- retrieval --------------------------------------------------------------------------

    def retrieve(self, question: str, mode: Mode = "local") -> RetrievedContext:
        """The context for ``question``, without calling the model.

        Raises:
            InputError: an empty question.
            StoreError: global search before communities were computed (see
                :meth:`update_communities`) or the store failed.
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
            if conf < cfg.min_confidence:
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
        if not self._checked:
            # Once per instance (and after refresh()): counting a large store is not free.
            if self.communities.fingerprint != self._fingerprint():
                if self.llm is None:
                    raise StoreError("the community index is missing or older than the store; run "
                                     "GraphRAG.update_communities() (kgjudge communities) first")
                self.update_communities()
            self._checked = True
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

    # -- answering --------------------------------------------------------------------------

    def query(self, question: str, mode: Mode = "local") -> Answer:
        """Answer ``question`` from the graph; see :meth:`query_many`."""
        return self.query_many([question], mode)[0]

    def query_many(self, questions: Sequence[str], mode: Mode = "local") -> list[Answer]:
        """Answer questions in one batch of model calls per step.

        A question with an empty context is answered "nothing found" without a model call.
        Global search makes one call per chosen community (map) and one to combine two or more
        partial answers (reduce).

        Raises:
            ConfigError: no model was given.
        """
        if self.llm is None:
            raise ConfigError("answering needs a model: give GraphRAG an llm", key="rag.backend")
        contexts = [self.retrieve(q, mode) for q in questions]
        if self.config.answer_style == "select":
            return self._answer_select(contexts)
        if mode == "local":
            return self._answer_local(contexts)
        return self._answer_global(contexts)

    def _generate(self, prompts: list[str], max_tokens: int | None = None) -> list[tuple[str | None, str]]:
        """(text or None, error) per prompt, greedy, ``answer_max_tokens`` unless given; one
        failed request does not fail the others."""
        from kgjudge.llm import LLMRequest

        if not prompts:
            return []
        requests = [LLMRequest.chat(p, max_tokens=max_tokens or self.config.answer_max_tokens, temperature=0.0,
                                    adapter=self.config.adapter) for p in prompts]
        out: list[tuple[str | None, str]] = []
        for result in self.llm.generate_sync(requests, return_exceptions=True):
            out.append((None, str(result)) if isinstance(result, KGJudgeError) else (result.text, ""))
        return out

    def _answer_local(self, contexts: list[RetrievedContext]) -> list[Answer]:
        todo = [i for i, c in enumerate(contexts) if c.facts]
        prompts = [render(self.config.answer_prompt, context=contexts[i].text, question=contexts[i].question) for i in todo]
        replies = dict(zip(todo, self._generate(prompts)))
        answers = []
        for i, context in enumerate(contexts):
            if i not in replies:
                answers.append(self._nothing(context))
                continue
            raw, error = replies[i]
            answers.append(self._finish(context, raw, error))
        return answers

    def _answer_global(self, contexts: list[RetrievedContext]) -> list[Answer]:
        jobs: list[tuple[int, str]] = []
        for i, context in enumerate(contexts):
            for community in context.communities:
                facts = "\n".join(f.line() for f in context.facts if f.community == community.id)
                jobs.append((i, render(self.config.map_prompt, summary=community.summary, context=facts,
                                       question=context.question)))
        partials: dict[int, list[str]] = {}
        for (i, _), (raw, _error) in zip(jobs, self._generate([p for _, p in jobs])):
            if raw is not None:
                found, _text, _keys = parse_answer(raw)
                if found:
                    partials.setdefault(i, []).append(raw.strip())
        reduce_ids = [i for i, found in partials.items() if len(found) > 1]
        prompts = [render(self.config.reduce_prompt, partials=partials[i], question=contexts[i].question) for i in reduce_ids]
        reduced = dict(zip(reduce_ids, self._generate(prompts)))
        answers = []
        for i, context in enumerate(contexts):
            if not context.communities:
                answers.append(self._nothing(context))
            elif i not in partials:
                answers.append(self._nothing(context, "no part of the graph answered the question"))
            else:
                raw, error = reduced.get(i, (partials[i][0], ""))
                answers.append(self._finish(context, raw, error).model_copy(update={"partial_answers": partials[i]}))
        return answers

    def _answer_select(self, contexts: list[RetrievedContext]) -> list[Answer]:
        from kgjudge.llm import ChoiceScores, LLMRequest

        todo = [(i, names) for i, c in enumerate(contexts) if (names := select_candidates(c, self.config.max_candidates))]
        prompts = [render(self.config.select_prompt, context=contexts[i].text, question=contexts[i].question)
                   for i, _ in todo]
        requests = [LLMRequest.chat(p, choices=[*names, NOT_FOUND], adapter=self.config.adapter)
                    for p, (_, names) in zip(prompts, todo)]
        if self.config.select_calibration == "pmi":
            # The same choices after a prompt without facts or question: their prior, which is
            # subtracted so that short or frequent names do not win for their form alone.
            empty = render(self.config.select_prompt, context="(none)", question="(none)")
            requests += [LLMRequest.chat(empty, choices=[*names, NOT_FOUND], adapter=self.config.adapter)
                         for _, names in todo]
        results = self.llm.score_choices_sync(requests) if requests else []
        scored: dict[int, ChoiceScores] = {}
        for n, (i, _) in enumerate(todo):
            scores = results[n]
            if self.config.select_calibration == "pmi":
                prior = results[len(todo) + n].logprobs
                scores = ChoiceScores(choices=scores.choices, logprobs=[a - b for a, b in zip(scores.logprobs, prior)])
            scored[i] = scores
        answers = []
        for i, context in enumerate(contexts):
            if i not in scored:
                answers.append(self._nothing(context))
                continue
            scores = scored[i]
            best = scores.best
            raw = json.dumps(dict(zip(scores.choices, (round(p, 4) for p in scores.probs))), ensure_ascii=False)
            if best == NOT_FOUND:
                answers.append(Answer(question=context.question, mode=context.mode, found=False, raw=raw, context=context,
                                      answer="Nothing found: the model chose NOT FOUND over every entity of the facts."))
                continue
            citations = [self._cite(f, "matched") for f in context.facts if best in (f.triple.head, f.triple.tail)]
            answers.append(Answer(question=context.question, mode=context.mode, found=True, answer=best, raw=raw,
                                  context=context, citations=citations, grounded=bool(citations)))
        return answers

    def _nothing(self, context: RetrievedContext, reason: str | None = None) -> Answer:
        why = reason or context.nothing_found or "nothing found"
        return Answer(question=context.question, mode=context.mode, found=False, answer=f"Nothing found: {why}.",
                      context=context)

    def _finish(self, context: RetrievedContext, raw: str | None, error: str) -> Answer:
        if raw is None:
            return Answer(question=context.question, mode=context.mode, found=False,
                          answer=f"No answer: the model call failed: {error}", context=context)
        found, text, keys = parse_answer(raw)
        if not found:
            return Answer(question=context.question, mode=context.mode, found=False,
                          answer="Nothing found: the facts retrieved do not answer the question.", raw=raw,
                          context=context, invalid_citations=[k for k in keys if context.fact(k) is None])
        citations = [self._cite(f, "cited") for k in keys if (f := context.fact(k)) is not None]
        cited = {c.key for c in citations}
        seeds = {link.name for link in context.linked}
        answer_words = f" {normalise_name(text)} "
        for fact in context.facts:
            if fact.key in cited:
                continue
            ends = [e for e in (fact.triple.head, fact.triple.tail) if e not in seeds]
            if any(f" {normalise_name(e)} " in answer_words for e in ends if normalise_name(e)):
                citations.append(self._cite(fact, "matched"))
        return Answer(question=context.question, mode=context.mode, found=True, answer=text, raw=raw, context=context,
                      citations=citations, grounded=bool(citations), invalid_citations=[k for k in keys if context.fact(k) is None])

    def _cite(self, fact: ContextFact, source: Literal["cited", "matched"]) -> Citation:
        t = fact.triple
        return Citation(key=fact.key, triple_id=t.id, head=t.head, relation=t.relation, tail=t.tail,
                        confidence=fact.confidence, document_id=t.document_id,
                        document_source=self.documents.get(t.document_id) if t.document_id else None,
                        chunk_id=t.chunk_id, evidence=t.evidence, source=source)


def select_candidates(context: RetrievedContext, limit: int) -> list[str]:
    """The entities the ``select`` answer style offers for a context: those of its facts (tails
    first, in rank order) other than the question's own entities, unless there are no others."""
    seeds = {link.name for link in context.linked}
    names = [n for n in dict.fromkeys(n for f in context.facts for n in (f.triple.tail, f.triple.head)) if n != NOT_FOUND]
    return ([n for n in names if n not in seeds] or names)[:limit]


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


def open_graphrag(
    out: str | Path | None = None,
    config: Any = None,
    *,
    file: str | None = None,
    with_llm: bool = True,
    rag_overrides: Mapping[str, Any] | None = None,
) -> GraphRAG:
    """A :class:`GraphRAG` over a build output folder or a config's store; closing it closes
    the store too.

    Args:
        out: a ``kgjudge build`` output folder: its store, documents and build config are used,
            and indexes are kept in ``out/rag``.
        config: a :class:`~kgjudge.KGJudgeConfig` for the backends and the ``rag:`` section (and
            the store when ``out`` is None); the build's own config, else the embedded default,
            when None.
        with_llm: build the ``rag.backend`` model (retrieval alone needs none).
        rag_overrides: values replacing those of the ``rag:`` section (validated).

    Raises:
        InputError: ``out`` is not a build output.
    """
    from kgjudge._cache import default_cache_dir
    from kgjudge._config import default_config, parse_config
    from kgjudge._jsonl import iter_jsonl
    from kgjudge._records import Document, stable_id
    from kgjudge._run_folder import MANIFEST, RunFolder
    from kgjudge.graph._base import build_store

    documents: dict[str, str | None] = {}
    build_config = None
    if out is not None:
        out = Path(out)
        manifest = out / MANIFEST
        try:
            found = RunFolder(out, "build").manifest()
            if found is None:
                raise InputError("not a kgjudge build output (manifest.json is missing)", file=str(out))
            build_config = parse_config(found["config"], file=str(manifest))
        except (ValueError, KeyError) as exc:
            raise InputError(f"unreadable build manifest: {exc}", file=str(manifest)) from exc
        if (out / "documents.jsonl").is_file():
            documents = {d.id: d.source for d in iter_jsonl(out / "documents.jsonl", Document, errors=[])}
    config = config or build_config or default_config()
    if rag_overrides:
        config = config.model_copy(update={"rag": RAGConfig.model_validate({**config.rag.model_dump(), **rag_overrides})})
    if out is not None:
        from kgjudge.pipeline import output_store_slot

        slot = output_store_slot(build_config, out)
        index_dir = Path(config.rag.index_dir) if config.rag.index_dir else out / "rag"
    else:
        slot = config.store
        where = json.dumps(slot.model_dump(mode="json") if slot is not None else None, sort_keys=True)
        index_dir = Path(config.rag.index_dir) if config.rag.index_dir else default_cache_dir() / "rag" / stable_id("store", where)
    store = build_store(slot, file=file, read_only=True)  # retrieval never creates or writes the store
    llm = None
    if with_llm:
        from kgjudge.llm import llm_from_config

        try:
            llm = llm_from_config(config, config.rag.backend)
        except BaseException:
            store.close()
            raise
    rag = GraphRAG(store, llm, config.rag, index_dir=index_dir, documents=documents)
    rag.owns_store = True
    return rag
