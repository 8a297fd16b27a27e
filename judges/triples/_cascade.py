"""Model cascading: answer every query with a weak backend, judge the answers with Meta Ranking,
and send the queries whose answer scores below the threshold to a strong backend.

The report counts tokens per role (weak answers, judging, strong answers) and, where queries
carry gold answers, the accuracy of the cascade beside the weak backend alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from kgjudge._config import Section
from kgjudge._records import Judgement, Record
from kgjudge.llm import LLM, LLMRequest
from kgjudge.judges.triples._meta_ranking import MetaRanker, QAPair


class CascadeConfig(Section):
    """The ``cascade`` section of a config file (the judge is its ``judge`` sub-section, a
    ``meta_ranking.v1`` slot whose ``backend`` names the judging backend).

    Example (YAML)::

        cascade:
          weak: small
          strong: large
          judge: {type: meta_ranking.v1, backend: small, references: refs.jsonl, n_references: 3}
    """

    weak: str = Field(description="backend answering first")
    strong: str = Field(description="backend answering the queries the judge rejects")
    weak_adapter: str | None = None
    strong_adapter: str | None = None
    judge: dict[str, Any]
    system: str | None = Field(default=None, description="system message for both answering backends")
    max_tokens: int = Field(default=64, ge=1)
    match: Literal["exact", "prefix", "contains"] = Field(
        default="prefix", description="how an answer is compared with the gold answers (normalised text)"
    )


class CascadeQuery(Record):
    """A query, with its acceptable answers when accuracy is to be measured."""

    id: str = Field(min_length=1)
    query: str = Field(min_length=1)
    answers: list[str] = Field(default_factory=list)


class CascadeResult(Record):
    """What happened to one query."""

    id: str
    query: str
    weak_answer: str
    score: float
    escalated: bool
    answer: str
    strong_answer: str | None = None
    correct: bool | None = None
    weak_correct: bool | None = None
    judgement: Judgement


class TokenCount(Record):
    prompt: int = 0
    completion: int = 0


class CascadeReport(Record):
    """Totals of a cascade run."""

    queries: int
    escalated: int
    threshold: float
    tokens: dict[str, TokenCount]
    labelled: int
    accuracy: float | None
    weak_accuracy: float | None
    prefix_reuse_share: float | None = None


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def is_correct(answer: str, gold: Sequence[str], match: str) -> bool | None:
    """Whether ``answer`` matches any gold answer (None when there is no gold answer)."""
    if not gold:
        return None
    a = _norm(answer)
    for g in map(_norm, gold):
        if (match == "exact" and a == g) or (match == "prefix" and a.startswith(g)) or (match == "contains" and g in a):
            return True
    return False


class Cascade:
    """Weak backend -> Meta Ranking -> strong backend for the rejected queries.

    Example:
        >>> cascade = Cascade(weak_llm, strong_llm, MetaRanker(judge_llm, ranking_config), CascadeConfig(...))
        >>> results, report = cascade.run_sync(queries)
    """

    def __init__(self, weak: LLM, strong: LLM, ranker: MetaRanker, config: CascadeConfig) -> None:
        self.weak = weak
        self.strong = strong
        self.ranker = ranker
        self.config = config

    def _request(self, query: str, adapter: str | None) -> LLMRequest:
        return LLMRequest.chat(query, system=self.config.system, max_tokens=self.config.max_tokens, adapter=adapter)

    async def run(self, queries: Sequence[CascadeQuery]) -> tuple[list[CascadeResult], CascadeReport]:
        cfg = self.config
        tokens = {role: TokenCount() for role in ("weak", "judge", "strong")}

        def add(role: str, prompt: int, completion: int = 0) -> None:
            t = tokens[role]
            tokens[role] = TokenCount(prompt=t.prompt + prompt, completion=t.completion + completion)

        weak = await self.weak.generate([self._request(q.query, cfg.weak_adapter) for q in queries])
        for r in weak:
            add("weak", r.prompt_tokens, r.completion_tokens)
        pairs = [QAPair(id=q.id, query=q.query, response=r.text.strip()) for q, r in zip(queries, weak)]
        judgements = await self.ranker.rank(pairs)
        stats = self.ranker.last_prefix_stats
        add("judge", stats.prompt_tokens if stats else 0)
        low = [i for i, j in enumerate(judgements) if not j.label]
        strong_answers: dict[int, str] = {}
        if low:
            strong = await self.strong.generate([self._request(queries[i].query, cfg.strong_adapter) for i in low])
            for i, r in zip(low, strong):
                strong_answers[i] = r.text.strip()
                add("strong", r.prompt_tokens, r.completion_tokens)
        results = []
        for i, (q, r, j) in enumerate(zip(queries, weak, judgements)):
            answer = strong_answers.get(i, r.text.strip())
            results.append(
                CascadeResult(
                    id=q.id, query=q.query, weak_answer=r.text.strip(), score=j.score, escalated=i in strong_answers,
                    answer=answer, strong_answer=strong_answers.get(i),
                    correct=is_correct(answer, q.answers, cfg.match),
                    weak_correct=is_correct(r.text, q.answers, cfg.match), judgement=j,
                )
            )
        labelled = [x for x in results if x.correct is not None]
        report = CascadeReport(
            queries=len(results),
            escalated=len(strong_answers),
            threshold=self.ranker.config.threshold,
            tokens=tokens,
            labelled=len(labelled),
            accuracy=sum(bool(x.correct) for x in labelled) / len(labelled) if labelled else None,
            weak_accuracy=sum(bool(x.weak_correct) for x in labelled) / len(labelled) if labelled else None,
            prefix_reuse_share=stats.share if stats else None,
        )
        return results, report

    def run_sync(self, queries: Sequence[CascadeQuery]) -> tuple[list[CascadeResult], CascadeReport]:
        """Blocking :meth:`run` (on the weak backend's client loop)."""
        return self.weak.run_sync(self.run(queries))
