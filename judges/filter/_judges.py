"""The judges of ``kgjudge filter``: each scores instruction examples in [0, 1].

- ``direct.v1``: a pointwise prompt (``instruction_judge.v1``) asked once per example; the score
  is P(Yes) renormalised over {Yes, No} from ``score_choices``.
- ``meta_ranking.v1``: the Meta Ranking judge (:class:`~kgjudge.judges.MetaRanker`) with the
  instruction as query and the final response as response, against labelled reference pairs;
  the references can grow between rounds (see :meth:`MetaRankingFilter.add_references`).
- ``kg_grounded.v1``: the factual triples a response states are extracted with the pipeline's
  extraction prompt, looked up in a built graph store, and those not stored verbatim are judged
  by GraphJudger against the stored triples (and their evidence text) around their entities.
  A triple whose entities the graph does not know scores ``unsupported_score``. The example's
  score is the minimum (or mean) over its triples, and every triple below the judge's
  threshold is named in the reasons.

Judges are registered by versioned name in :data:`kgjudge._registry.filter_judges` (entry-point
group ``kgjudge.filter_judges``); each config also carries the judge's ``weight`` and ``threshold``
for the combination rule of :class:`~kgjudge.judges.FilterConfig`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator

from kgjudge._config import validate_slot
from kgjudge._errors import ConfigError
from kgjudge._prompts import cut_document, render
from kgjudge._records import ChatMessage, InstructionExample, Judgement, ModelRef, Triple, stable_id
from kgjudge._registry import filter_judges, stores
from kgjudge._sections import BackendSlot, Slot
from kgjudge.llm import LLM, LLMRequest
from kgjudge.judges.kasft._extraction import extract_triples
from kgjudge.judges.triples._factory import build_registered
from kgjudge.judges.filter._inputs import query_of, response_of
from kgjudge.judges.triples._graphjudger import GraphJudger, GraphJudgerConfig
from kgjudge.judges.triples._meta_ranking import MetaRanker, MetaRankingConfig, QAPair
from kgjudge.judges.triples._prompting import JUDGE_CHOICES, YES
from kgjudge.stages import EXTRACT_PROMPT

INSTRUCTION_JUDGE_PROMPT = "instruction_judge.v1"

class FilterJudge(Protocol):
    """What the filter needs of a judge: a versioned name, a weight, a threshold, and one
    :class:`~kgjudge.Judgement` per example (``target_id`` the example id, ``label`` score >=
    threshold)."""

    name: str
    weight: float
    threshold: float

    def judge_sync(self, examples: Sequence[InstructionExample]) -> list[Judgement]: ...


class DirectConfig(BackendSlot):
    """Config of the pointwise judge.

    Example (YAML)::

        - type: direct.v1
          backend: default
          threshold: 0.5
          weight: 1.0
    """

    type: Literal["direct.v1"] = "direct.v1"
    adapter: str | None = None
    prompt: str = INSTRUCTION_JUDGE_PROMPT
    max_chars: int = Field(default=2000, ge=1, description="instruction and response are each cut to this length")
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    weight: float = Field(default=1.0, gt=0.0)
    batch_size: int = Field(default=64, ge=1, description="requests per score_choices call")


class MetaRankingFilterConfig(MetaRankingConfig):
    """Config of the Meta Ranking judge as a filter judge: :class:`MetaRankingConfig` plus a
    weight in the combination."""

    weight: float = Field(default=1.0, gt=0.0)


class KGGroundedConfig(BackendSlot):
    """Config of the KG-grounded judge.

    Example (YAML)::

        - type: kg_grounded.v1
          backend: default
          store: {type: networkx.v1, path: out/graph.json}   # a built graph
          extractor_adapter: extractor
          judge_adapter: judge
    """

    type: Literal["kg_grounded.v1"] = "kg_grounded.v1"
    store: dict[str, Any] = Field(description="the graph store slot (kgjudge.graph.build_store)")
    extractor_adapter: str | None = Field(default=None, description="adapter of the extraction requests")
    extract_prompt: str = EXTRACT_PROMPT
    extract_max_tokens: int = Field(default=160, ge=1)
    include_instruction: bool = Field(default=False, description="extract from instruction + response, not the response alone")
    max_triples: int = Field(default=8, ge=1, description="claims checked per response")
    judge_adapter: str | None = Field(default=None, description="adapter of the GraphJudger requests")
    judge_threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="GraphJudger: a claim is supported at P(Yes) >= this")
    max_document_chars: int = Field(default=600, ge=1, description="evidence text cut to this length (as the judge adapter was trained)")
    min_match: float = Field(default=0.75, ge=0.0, le=1.0, description="entity name-search score needed (1 exact, 0.75 prefix, 0.5 substring)")
    max_evidence_triples: int = Field(default=12, ge=1)
    unsupported_score: float = Field(default=0.25, ge=0.0, le=1.0, description="score of a claim whose entities the graph lacks")
    no_claims_score: float = Field(default=0.5, ge=0.0, le=1.0, description="score of a response with no extracted claim")
    aggregate: Literal["min", "mean"] = "min"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    weight: float = Field(default=1.0, gt=0.0)

    @field_validator("store")
    @classmethod
    def _valid_store(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            validate_slot(value, stores, key="store")
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return value


class DirectJudge:
    """``direct.v1``: P(Yes) of "is this response correct and good?" per example.

    Example:
        >>> judge = DirectJudge(build_llm({"type": "hf.v1"}), DirectConfig())
        >>> [j] = judge.judge_sync([example])
    """

    name = "direct.v1"

    def __init__(self, llm: LLM, config: DirectConfig) -> None:
        self.llm = llm
        self.config = config
        self.weight = config.weight
        self.threshold = config.threshold

    def request(self, example: InstructionExample) -> LLMRequest:
        cfg = self.config
        text = render(cfg.prompt, query=cut_document(query_of(example), cfg.max_chars),
                      response=cut_document(response_of(example), cfg.max_chars))
        return LLMRequest(messages=[ChatMessage(role="user", content=text)], choices=list(JUDGE_CHOICES),
                          adapter=cfg.adapter, max_tokens=1)

    def judge_sync(self, examples: Sequence[InstructionExample]) -> list[Judgement]:
        cfg = self.config
        requests = [self.request(e) for e in examples]
        scores = []
        for start in range(0, len(requests), cfg.batch_size):
            scores += self.llm.score_choices_sync(requests[start : start + cfg.batch_size])
        model = ModelRef(model=self.llm.backend.model_id, adapter=cfg.adapter, prompt_version=cfg.prompt)
        out = []
        for example, s in zip(examples, scores):
            raw = json.dumps({"choices": s.choices, "logprobs": s.logprobs})
            if not s.usable:
                out.append(Judgement.failed(example.id, self.name, cfg.threshold,
                                            f"the model gave no usable log-probability for Yes/No ({raw})",
                                            raw_output=raw, model=model))
                continue
            p = min(1.0, max(0.0, s.prob(YES)))
            label = p >= cfg.threshold
            out.append(Judgement(
                target_id=example.id, judge=self.name, score=p, label=label, threshold=cfg.threshold,
                raw_output=raw, model=model,
                reasons=[f"direct P(Yes)={p:.3f} {'>=' if label else '<'} threshold {cfg.threshold:.3f}"],
            ))
        return out


class MetaRankingFilter:
    """``meta_ranking.v1`` over instruction examples (a :class:`MetaRanker` underneath).

    Example:
        >>> judge = MetaRankingFilter(llm, MetaRankingFilterConfig(references="refs.jsonl"))
        >>> judge.add_references([QAPair(query="2+2?", response="4", correct=True)])
    """

    name = "meta_ranking.v1"

    def __init__(self, llm: LLM, config: MetaRankingFilterConfig) -> None:
        self.config = config
        self.weight = config.weight
        self.threshold = config.threshold
        self.ranker = MetaRanker(llm, config)
        self.base_references = list(self.ranker.references)

    def add_references(self, pairs: Sequence[QAPair]) -> None:
        """Use the configured references plus ``pairs`` from now on (replacing earlier additions)."""
        self.ranker.set_references(self.base_references + list(pairs))

    def judge_sync(self, examples: Sequence[InstructionExample]) -> list[Judgement]:
        pairs = [QAPair(id=e.id, query=query_of(e), response=response_of(e)) for e in examples]
        return self.ranker.rank_sync(pairs)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class KGGroundedJudge:
    """``kg_grounded.v1``: are the response's factual claims supported by a knowledge graph?

    Args:
        llm: the client for extraction and GraphJudger requests.
        config: the :class:`KGGroundedConfig`.
        store: an open graph store (default: opened from ``config.store``).

    Example:
        >>> judge = KGGroundedJudge(llm, KGGroundedConfig(store={"type": "networkx.v1", "path": "g.json"}))
        >>> [j] = judge.judge_sync([example]); j.reasons
    """

    name = "kg_grounded.v1"

    def __init__(self, llm: LLM, config: KGGroundedConfig, store: Any = None) -> None:
        from kgjudge.graph import build_store

        self.llm = llm
        self.config = config
        self.weight = config.weight
        self.threshold = config.threshold
        # Opened to read: a wrong path is an error, not an empty graph that supports nothing.
        self.store = store if store is not None else build_store(config.store, key="store", read_only=True)
        self.graphjudger = GraphJudger(llm, GraphJudgerConfig(
            adapter=config.judge_adapter, threshold=config.judge_threshold,
            max_document_chars=config.max_document_chars,
        ))

    def close(self) -> None:
        """Close the graph store (releases an on-disk store's lock)."""
        self.store.close()

    def _evidence(self, triple: tuple[str, str, str]) -> tuple[list[Triple], bool]:
        """Stored triples around the claim's entities, and whether the claim is stored as is."""
        names: list[str] = []
        for end in (triple[0], triple[2]):
            names += [h.entity.name for h in self.store.search(end, limit=3) if h.score >= self.config.min_match]
        if not names:
            return [], False
        sub = self.store.subgraph(dict.fromkeys(names), hops=1)
        claim = tuple(_norm(x) for x in triple)
        stored = [s.triple for s in sub.triples]
        exact = any(tuple(_norm(x) for x in t.as_tuple()) == claim for t in stored)
        # Triples touching the claim's own entities first: they are the evidence that matters.
        stored.sort(key=lambda t: (t.head not in names and t.tail not in names, t.id))
        return stored[: self.config.max_evidence_triples], exact

    @staticmethod
    def _evidence_text(triples: Sequence[Triple]) -> str:
        spans = list(dict.fromkeys(t.evidence.text for t in triples if t.evidence is not None and t.evidence.text))
        facts = [f"{t.head} {t.relation} {t.tail}." for t in triples]
        return "\n".join(spans + facts)

    def judge_sync(self, examples: Sequence[InstructionExample]) -> list[Judgement]:
        cfg = self.config
        texts = [
            (f"{query_of(e)}\n{response_of(e)}" if cfg.include_instruction else response_of(e), []) for e in examples
        ]
        extractions = extract_triples(self.llm, texts, adapter=cfg.extractor_adapter, prompt=cfg.extract_prompt,
                                      max_tokens=cfg.extract_max_tokens)
        # One row per claim: (example index, claim, status, evidence triples)
        rows: list[dict[str, Any]] = []
        to_judge: list[Triple] = []
        documents: dict[str, str] = {}
        for i, ex in enumerate(extractions):
            for claim in list(dict.fromkeys(ex.triples or []))[: cfg.max_triples]:
                evidence, exact = self._evidence(claim)
                row: dict[str, Any] = {"example": i, "triple": list(claim), "evidence": [t.id for t in evidence]}
                if exact:
                    row.update(status="in_graph", score=1.0)
                elif not evidence:
                    row.update(status="not_in_graph", score=cfg.unsupported_score)
                else:
                    doc_id = stable_id("evidence", *sorted(row["evidence"]))
                    documents[doc_id] = self._evidence_text(evidence)
                    row["judged"] = len(to_judge)
                    to_judge.append(Triple(head=claim[0], relation=claim[1], tail=claim[2], document_id=doc_id))
                rows.append(row)
        verdicts = self.graphjudger.judge_sync(to_judge, documents) if to_judge else []
        for row in rows:
            if "judged" in row:
                v = verdicts[row.pop("judged")]
                row.update(status="supported" if v.label else "unsupported", score=v.score)
        model = ModelRef(model=self.llm.backend.model_id, adapter=cfg.judge_adapter, prompt_version=self.graphjudger.config.prompt)
        out = []
        claims: list[list[dict[str, Any]]] = [[] for _ in examples]
        for row in rows:
            claims[row.pop("example")].append(row)
        for example, ex, mine in zip(examples, extractions, claims):
            if not mine:
                score = cfg.no_claims_score
                why = "no factual triple extracted from the response" if ex.triples is not None else "the extraction reply did not parse"
                reasons = [f"{why}; score {score:.3f}"]
            else:
                values = [r["score"] for r in mine]
                score = min(values) if cfg.aggregate == "min" else sum(values) / len(values)
                bad = [r for r in mine if r["score"] < cfg.judge_threshold]
                reasons = [
                    f"{r['status'].replace('_', ' ')}: ({'; '.join(r['triple'])}) score {r['score']:.3f}"
                    + (f" against {len(r['evidence'])} stored triples" if r["evidence"] else "")
                    for r in bad
                ] or [f"all {len(mine)} claims supported by the graph"]
            label = score >= cfg.threshold
            out.append(Judgement(
                target_id=example.id, judge=self.name, score=score, label=label, threshold=cfg.threshold,
                raw_output=ex.raw, model=model, reasons=reasons,
                details={"claims": mine, "extractor_adapter": cfg.extractor_adapter, "aggregate": cfg.aggregate},
            ))
        return out


@filter_judges.register("direct.v1", config=DirectConfig)
def make_direct(config: DirectConfig, llm: LLM) -> DirectJudge:
    return DirectJudge(llm, config)


@filter_judges.register("meta_ranking.v1", config=MetaRankingFilterConfig)
def make_meta_ranking_filter(config: MetaRankingFilterConfig, llm: LLM) -> MetaRankingFilter:
    return MetaRankingFilter(llm, config)


@filter_judges.register("kg_grounded.v1", config=KGGroundedConfig)
def make_kg_grounded(config: KGGroundedConfig, llm: LLM) -> KGGroundedJudge:
    return KGGroundedJudge(llm, config)


def build_filter_judge(slot: Slot | dict[str, Any], llms: Mapping[str, LLM], *, file: str | None = None, key: str = "judge") -> FilterJudge:
    """The filter judge a config slot describes, on the client of its ``backend``.

    Example:
        >>> judge = build_filter_judge({"type": "direct.v1"}, {"default": llm})
    """
    return build_registered(filter_judges, slot, llms, file=file, key=key)  # type: ignore[no-any-return]
