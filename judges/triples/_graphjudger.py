"""``graphjudger.v1``: is a triple supported by its document? P(Yes) from ``score_choices``.

Each triple is asked with a context (context first, triple last, so all triples of one context
share its prompt prefix). With ``context: chunk`` the context is the chunk the triple was
extracted from (the pipeline hands chunk texts to the judge keyed by chunk id, beside the
documents), or for a triple without one its document; a context longer than
``max_document_chars`` is cut to the whole sentences around the triple's evidence, never to a
prefix. With ``context: document`` (the first packaged judge's training) it is the document cut
to its first ``max_document_chars`` characters. The score is P(Yes) renormalised over
{Yes, No}; a triple is kept when its score reaches the threshold. The optional ``keep_top_k``
floor keeps, per document, the k best-scored triples even below the threshold; such decisions
say so in their reasons and details, and nothing else is ever kept.

With ``require_in_context`` a triple the text cannot support is rejected before any model call:
a self-loop (head equal to tail), or a head or tail not found in its whole chunk (``context:
chunk``) or document (rapidfuzz partial ratio, case-insensitive, below ``min_match``). Such a
decision has score 0, says why in its reasons, carries ``details["rule"]`` and is never kept by
the floor.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from kgjudge._errors import InputError
from kgjudge._extras import require
from kgjudge._records import Judgement, ModelRef, Triple
from kgjudge._registry import judges
from kgjudge._sections import BackendSlot
from kgjudge.llm import LLM, ChoiceScores
from kgjudge.judges.triples._prompting import JUDGE_PROMPT, YES, judge_request

if TYPE_CHECKING:
    from kgjudge.judges.kasft._data import JudgeExample


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def evidence_window(text: str, triple: Triple, max_chars: int | None) -> str:
    """``text``, or when longer than ``max_chars`` the whole sentences around the triple's
    evidence (its evidence span, else the first mention of its tail or head), taking neighbours
    after and before in turn while they fit; a single sentence too long is cut around the anchor.

    Example:
        >>> evidence_window("A b. C d. E f.", Triple(head="E", relation="r", tail="f", document_id="d"), 6)
        'E f.'
    """
    if max_chars is None or len(text) <= max_chars:
        return text
    low = text.casefold()
    anchor = -1
    if triple.evidence is not None:
        anchor = low.find(triple.evidence.text.casefold()[:200])
    for name in (triple.tail, triple.head):
        if anchor < 0:
            anchor = low.find(name.casefold())
    anchor = max(anchor, 0)
    bounds, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    i = next((k for k, (a, b) in enumerate(bounds) if a <= anchor <= b), len(bounds) - 1)
    lo = hi = i
    if bounds[i][1] - bounds[i][0] > max_chars:
        begin = max(bounds[i][0], min(anchor - max_chars // 3, bounds[i][1] - max_chars))
        piece = text[begin : begin + max_chars]
        return piece.rsplit(" ", 1)[0] if begin + max_chars < len(text) and " " in piece else piece
    grew = True
    while grew:
        grew = False
        for j in (hi + 1, lo - 1):
            if 0 <= j < len(bounds) and max(bounds[hi][1], bounds[j][1]) - min(bounds[lo][0], bounds[j][0]) <= max_chars:
                lo, hi = min(lo, j), max(hi, j)
                grew = True
    return text[bounds[lo][0] : bounds[hi][1]]


class GraphJudgerConfig(BackendSlot):
    """Config of the GraphJudger judge.

    Example (YAML)::

        judge:
          type: graphjudger.v1
          backend: default            # a backend of the config's ``backends``
          adapter: judge              # a LoRA adapter of that backend (none: the base model)
          threshold: 0.5              # or set by ``kgjudge judge calibrate``
    """

    type: Literal["graphjudger.v1"] = "graphjudger.v1"
    adapter: str | None = Field(default=None, description="LoRA adapter name on that backend")
    prompt: str = Field(default=JUDGE_PROMPT, description="prompt template version")
    context: Literal["document", "chunk"] = Field(
        default="document",
        description="chunk: the triple's chunk, cut around its evidence when too long; document: the "
        "document's first max_document_chars characters",
    )
    max_document_chars: int | None = Field(
        default=600, ge=1, description="the longest context, in characters (documents: cut to a prefix)"
    )
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="keep when P(Yes) >= threshold")
    keep_top_k: int | None = Field(
        default=None, ge=1, description="also keep each document's k best triples (reported per decision)"
    )
    batch_size: int = Field(default=256, ge=1, description="requests per score_choices call")
    require_in_context: bool = Field(
        default=False,
        description="reject without a model call a self-loop, or a triple whose head or tail is not found in "
        "its whole chunk (context: chunk) or document (needs rapidfuzz, the nlp extra)",
    )
    min_match: float = Field(
        default=90.0, ge=0.0, le=100.0,
        description="require_in_context: the lowest rapidfuzz partial ratio (0-100, case-insensitive) that finds "
        "a head or tail in the text",
    )
    calibration: dict[str, Any] | None = Field(
        default=None, description="written by `kgjudge judge calibrate`: how the threshold was chosen"
    )

    decision_fields: ClassVar[frozenset[str]] = frozenset({"threshold", "keep_top_k", "calibration", "batch_size"})
    """Settings that change only the decision taken from a score (or how requests are batched),
    never the score: a new value is applied to stored scores without a model call."""

    def redecide(self, triples: Sequence[Triple], judgements: Sequence[Judgement]) -> list[Judgement]:
        """This config's decisions from stored judgements of the same judge (one per triple, in
        order): their scores and raw outputs are kept, label, threshold and reasons are new."""
        return decide(self, triples, [j.score for j in judgements], [j.raw_output for j in judgements],
                      [j.model for j in judgements],
                      [j.reasons[0] if j.details.get("failed") and j.reasons else None for j in judgements],
                      [(j.details["rule"], j.reasons[0]) if j.details.get("rule") and j.reasons else None
                       for j in judgements])


SELF_LOOP = "self_loop"
NOT_IN_CONTEXT = "not_in_context"


def context_rule(triple: Triple, text: str, min_match: float) -> tuple[str, str] | None:
    """Why ``text`` cannot support ``triple`` (a rule name and a reason), or None when its head
    differs from its tail and both are found in ``text`` (rapidfuzz partial ratio, case-insensitive,
    at least ``min_match``).

    Example:
        >>> context_rule(Triple(head="Curie", relation="died in", tail="1913", document_id="d"),
        ...              "Marie Curie was born in 1867.", 90)[0]
        'not_in_context'
    """
    head, tail = " ".join(triple.head.split()).casefold(), " ".join(triple.tail.split()).casefold()
    if head == tail:
        return SELF_LOOP, "head and tail are the same: rejected without a model call"
    low = " ".join(text.split()).casefold()
    fuzz = require("rapidfuzz.fuzz", "nlp")
    for role, name in (("head", head), ("tail", tail)):
        if name in low:
            continue
        score = fuzz.partial_ratio(name, low)
        if score < min_match:
            return NOT_IN_CONTEXT, (f"{role} not found in the text (best match {score:.0f} < {min_match:.0f}): "
                                    "rejected without a model call")
    return None


def decide(config: GraphJudgerConfig, triples: Sequence[Triple], p_yes: Sequence[float],
           raw: Sequence[str | None], models: Sequence[ModelRef | None],
           failed: Sequence[str | None] | None = None,
           ruled: Sequence[tuple[str, str] | None] | None = None) -> list[Judgement]:
    """The judgements of ``triples`` from their P(Yes): kept at the threshold, or by the
    per-document top-k floor. ``failed`` gives, per triple, why the model's reply gave no usable
    score (None: it did); such a triple is a failed judgement, never kept, outside the floor.
    ``ruled`` gives, per triple, the rule (name, reason) that rejected it without a model call
    (:func:`context_rule`); such a triple has score 0, is never kept and is outside the floor."""
    failed = failed or [None] * len(triples)
    ruled = ruled or [None] * len(triples)
    floor: set[int] = set()
    k = config.keep_top_k
    if k:
        by_doc: dict[str, list[int]] = defaultdict(list)
        for i, t in enumerate(triples):
            if failed[i] is None and ruled[i] is None:
                by_doc[t.document_id or ""].append(i)
        for idxs in by_doc.values():
            floor.update(sorted(idxs, key=lambda i: (-p_yes[i], i))[:k])
    threshold = config.threshold
    out = []
    for i, t in enumerate(triples):
        rule = ruled[i]
        if rule is not None:
            out.append(Judgement(target_id=t.id, judge=GraphJudger.name, score=0.0, label=False, threshold=threshold,
                                 raw_output=None, model=None, reasons=[rule[1]],
                                 details={"document_id": t.document_id, "rule": rule[0]}))
            continue
        reason = failed[i]
        if reason is not None:
            out.append(Judgement.failed(t.id, GraphJudger.name, threshold, reason, raw_output=raw[i], model=models[i],
                                        details={"document_id": t.document_id}))
            continue
        above = p_yes[i] >= threshold
        by_floor = not above and i in floor
        if above:
            reasons = [f"P(Yes)={p_yes[i]:.3f} >= threshold {threshold:.3f}"]
        elif by_floor:
            reasons = [f"P(Yes)={p_yes[i]:.3f} < threshold {threshold:.3f}, kept by the top-{k} floor"]
        else:
            reasons = [f"P(Yes)={p_yes[i]:.3f} < threshold {threshold:.3f}"]
        out.append(
            Judgement(
                target_id=t.id,
                judge=GraphJudger.name,
                score=min(1.0, max(0.0, p_yes[i])),
                label=above or by_floor,
                threshold=threshold,
                raw_output=raw[i],
                model=models[i],
                reasons=reasons,
                details={"document_id": t.document_id, "keep_top_k": k, "kept_by_floor": by_floor},
            )
        )
    return out


class GraphJudger:
    """Judges triples against their documents.

    Args:
        llm: the client of the configured backend.
        config: the :class:`GraphJudgerConfig`.

    Example:
        >>> judge = GraphJudger(build_llm({"type": "hf.v1", "adapters": {"judge": "packaged:smollm2-judge.v1"}}),
        ...                     GraphJudgerConfig(adapter="judge"))
        >>> [j] = judge.judge_sync([Triple(head="Paris", relation="country", tail="France", document_id="d")],
        ...                        {"d": "Paris is the capital of France."})
        >>> j.label, j.score
    """

    name = "graphjudger.v1"

    def __init__(self, llm: LLM, config: GraphJudgerConfig | None = None) -> None:
        self.llm = llm
        self.config = config or GraphJudgerConfig()

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(model=self.llm.backend.model_id, adapter=self.config.adapter, prompt_version=self.config.prompt)

    async def score(self, items: Sequence[tuple[str | None, str, str, str]]) -> list[ChoiceScores]:
        """Yes/No scores for (document, head, relation, tail) items, in order."""
        cfg = self.config
        # Chunk contexts are already fitted around the evidence by context_of.
        limit = cfg.max_document_chars if cfg.context == "document" else None
        requests = [
            judge_request(d, h, r, t, prompt=cfg.prompt, max_document_chars=limit, adapter=cfg.adapter)
            for d, h, r, t in items
        ]
        # Same-document requests next to each other, so each call holds whole documents and the
        # backend can share their prefix.
        order = sorted(range(len(items)), key=lambda i: (items[i][0] or "", i))
        results: list[ChoiceScores | None] = [None] * len(items)
        for start in range(0, len(order), cfg.batch_size):
            chunk = order[start : start + cfg.batch_size]
            for i, res in zip(chunk, await self.llm.score_choices([requests[i] for i in chunk])):
                results[i] = res
        return results  # type: ignore[return-value]

    async def score_examples(self, examples: Sequence[JudgeExample]) -> list[float]:
        """P(Yes) of labelled examples (for calibration and evaluation)."""
        scores = await self.score([(e.document, e.head, e.relation, e.tail) for e in examples])
        return [s.prob(YES) for s in scores]

    def context_of(self, triple: Triple, texts: Mapping[str, str]) -> str:
        """The text ``triple`` is judged against; ``texts`` maps document ids (and, for
        ``context: chunk``, chunk ids) to texts: :meth:`whole_context_of`, a chunk cut to the
        sentences around the triple's evidence when longer than ``max_document_chars``."""
        text = self.whole_context_of(triple, texts)
        if self.config.context == "document":
            return text
        return evidence_window(text, triple, self.config.max_document_chars)

    async def judge(self, triples: Sequence[Triple], documents: Mapping[str, str]) -> list[Judgement]:
        """One :class:`Judgement` per triple, in order (``label`` True: keep). With ``context:
        chunk``, ``documents`` may also map chunk ids to chunk texts.

        Raises:
            InputError: a triple's ``document_id`` is missing or not in ``documents`` (raised
                before any model call, naming the triple).
        """
        for t in triples:
            if t.document_id is None or t.document_id not in documents:
                raise InputError(
                    f"triple '{t.id}' ({t.head}; {t.relation}; {t.tail}): its document "
                    f"'{t.document_id}' was not given to the judge"
                )
        cfg = self.config
        ruled: list[tuple[str, str] | None] = [None] * len(triples)
        if cfg.require_in_context:
            ruled = [context_rule(t, self.whole_context_of(t, documents), cfg.min_match) for t in triples]
        asked = [i for i, r in enumerate(ruled) if r is None]
        scores = await self.score([(self.context_of(triples[i], documents), *triples[i].as_tuple()) for i in asked])
        p_yes, raw = [0.0] * len(triples), [None] * len(triples)
        failed: list[str | None] = [None] * len(triples)
        models: list[ModelRef | None] = [None] * len(triples)
        for i, s in zip(asked, scores):
            raw[i] = json.dumps({"choices": s.choices, "logprobs": s.logprobs})
            p_yes[i], models[i] = s.prob(YES), self.model_ref
            if not s.usable:
                failed[i] = f"the model gave no usable log-probability for Yes/No ({raw[i]})"
        return decide(cfg, triples, p_yes, raw, models, failed, ruled)

    def whole_context_of(self, triple: Triple, texts: Mapping[str, str]) -> str:
        """The whole text a triple is judged against, never cut (what ``require_in_context``
        searches): its chunk (``context: chunk``, when given) or its document."""
        document = texts[triple.document_id or ""]
        if self.config.context == "chunk" and triple.chunk_id:
            return texts.get(triple.chunk_id, document)
        return document

    def judge_sync(self, triples: Sequence[Triple], documents: Mapping[str, str]) -> list[Judgement]:
        """Blocking :meth:`judge` (reuses the client's event loop)."""
        return self.llm.run_sync(self.judge(triples, documents))

    def score_examples_sync(self, examples: Sequence[JudgeExample]) -> list[float]:
        """Blocking :meth:`score_examples`."""
        return self.llm.run_sync(self.score_examples(examples))


@judges.register("graphjudger.v1", config=GraphJudgerConfig)
def make_graphjudger(config: GraphJudgerConfig, llm: LLM) -> GraphJudger:
    return GraphJudger(llm, config)
