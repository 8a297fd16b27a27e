"""GraphRAG answers from retrieved contexts, in three styles, with citations.

``generate`` (local search): the model writes an answer citing the facts' labels; ``generate``
(global search): an answer from each chosen community (map), combined when there are several
(reduce); ``select``: the model's log-probabilities pick one entity of the facts, or NOT FOUND,
so it cannot answer outside them. The labels an answer cites are mapped back to triple ids,
documents and evidence spans; a label that is not in the context is reported as invalid,
never trusted. An empty context is never sent to the model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from kgjudge._errors import KGJudgeError
from kgjudge._prompts import render, reply_parser, section_parser
from kgjudge._rag_config import RAGConfig
from kgjudge.graph._rag_records import Answer, Citation, ContextFact, Mode, RetrievedContext
from kgjudge.graph._resolution import normalise_name
from kgjudge.llm import ChoiceScores, LLMRequest

_LABEL = re.compile(r"\bT(\d+)\b")
_LABEL_GROUP = re.compile(r"\s*[\[(]\s*(?:(?:facts?|labels?)\s*:?\s*)?T\d+(?:\s*[,;]?\s*(?:and\s+)?T\d+)*\s*[\])]")
NOT_FOUND = "NOT FOUND"
_NOT_FOUND = re.compile(r"^\W*not\s+found\b", re.IGNORECASE)


@reply_parser("graphrag_answer.v1", "graphrag_map.v1", "graphrag_reduce.v1", reads="answer")
def parse_answer(raw: str) -> tuple[bool, str, list[str]]:
    """(found, answer text without labels, cited labels in order) of a model reply."""
    text = raw.strip()
    keys = list(dict.fromkeys(f"T{n}" for n in _LABEL.findall(text)))
    if not text or _NOT_FOUND.match(text):
        return False, "", keys
    cleaned = _LABEL_GROUP.sub("", text)
    cleaned = re.sub(r"\s+([.,;:])", r"\1", cleaned).strip()
    return bool(cleaned), cleaned, keys


class Answerer:
    """Answers questions from their retrieved contexts with one model.

    Args:
        llm: the :class:`~kgjudge.llm.LLM` that answers.
        config: the ``rag:`` section (answer style, prompts, budgets).
        documents: document id -> source (path or URI), to name it in citations.

    Example:
        >>> answers = Answerer(llm, RAGConfig(), {}).answer([retriever.retrieve("Who?")], "local")
    """

    def __init__(self, llm: Any, config: RAGConfig, documents: Mapping[str, str | None]) -> None:
        self.llm = llm
        self.config = config
        self.documents = documents
        self.parse = {name: section_parser(config, name, key=f"rag.{name}")
                      for name in ("answer_prompt", "map_prompt", "reduce_prompt")}

    def answer(self, contexts: list[RetrievedContext], mode: Mode) -> list[Answer]:
        """The answer to each context's question, in the configured style."""
        if self.config.answer_style == "select":
            return self.select(contexts)
        return self.local(contexts) if mode == "local" else self.global_(contexts)

    def generate(self, prompts: list[str], max_tokens: int | None = None) -> list[tuple[str | None, str]]:
        """(text or None, error) per prompt, greedy, ``answer_max_tokens`` unless given; one
        failed request does not fail the others."""
        if not prompts:
            return []
        requests = [LLMRequest.chat(p, max_tokens=max_tokens or self.config.answer_max_tokens, temperature=0.0,
                                    adapter=self.config.adapter) for p in prompts]
        out: list[tuple[str | None, str]] = []
        for result in self.llm.generate_sync(requests, return_exceptions=True):
            out.append((None, str(result)) if isinstance(result, KGJudgeError) else (result.text, ""))
        return out

    def local(self, contexts: list[RetrievedContext]) -> list[Answer]:
        """Generate: the model writes an answer citing fact labels."""
        todo = [i for i, c in enumerate(contexts) if c.facts]
        prompts = [render(self.config.answer_prompt, context=contexts[i].text, question=contexts[i].question) for i in todo]
        replies = dict(zip(todo, self.generate(prompts)))
        answers = []
        for i, context in enumerate(contexts):
            if i not in replies:
                answers.append(self._nothing(context))
                continue
            raw, error = replies[i]
            answers.append(self._finish(context, raw, error))
        return answers

    def global_(self, contexts: list[RetrievedContext]) -> list[Answer]:
        """Map-reduce: an answer from each chosen community, combined when there are several."""
        jobs: list[tuple[int, str]] = []
        for i, context in enumerate(contexts):
            for community in context.communities:
                facts = "\n".join(f.line() for f in context.facts if f.community == community.id)
                jobs.append((i, render(self.config.map_prompt, summary=community.summary, context=facts,
                                       question=context.question)))
        partials: dict[int, list[str]] = {}
        for (i, _), (raw, _error) in zip(jobs, self.generate([p for _, p in jobs])):
            if raw is not None:
                found, _text, _keys = self.parse["map_prompt"](raw)
                if found:
                    partials.setdefault(i, []).append(raw.strip())
        reduce_ids = [i for i, found in partials.items() if len(found) > 1]
        prompts = [render(self.config.reduce_prompt, partials=partials[i], question=contexts[i].question) for i in reduce_ids]
        reduced = dict(zip(reduce_ids, self.generate(prompts)))
        answers = []
        for i, context in enumerate(contexts):
            if not context.communities:
                answers.append(self._nothing(context))
            elif i not in partials:
                answers.append(self._nothing(context, "no part of the graph answered the question"))
            else:
                raw, error = reduced.get(i, (partials[i][0], ""))
                prompt = "reduce_prompt" if i in reduced else "map_prompt"
                answers.append(self._finish(context, raw, error, prompt).model_copy(update={"partial_answers": partials[i]}))
        return answers

    def select(self, contexts: list[RetrievedContext]) -> list[Answer]:
        """Select: the model's log-probabilities pick one entity of the facts, or NOT FOUND."""
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

    def _finish(self, context: RetrievedContext, raw: str | None, error: str, prompt: str = "answer_prompt") -> Answer:
        if raw is None:
            return Answer(question=context.question, mode=context.mode, found=False,
                          answer=f"No answer: the model call failed: {error}", context=context)
        found, text, keys = self.parse[prompt](raw)
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


_ASKS_TIME_OR_NUMBER = re.compile(r"^\W*(when|(in |from |since |until )?(what|which) (year|date|day|month|decade|century)|how (many|much|old|long))\b",
                                  re.IGNORECASE)


def select_candidates(context: RetrievedContext, limit: int) -> list[str]:
    """The entities the ``select`` answer style offers for a context: those of its facts (tails
    first, in rank order) other than the question's own entities, unless there are no others.
    A question asking when, which year (date, ...) or how many (much, old, long) is answered by
    a time or a number: it is offered only the entities with a digit, when there are any."""
    seeds = {link.name for link in context.linked}
    names = [n for n in dict.fromkeys(n for f in context.facts for n in (f.triple.tail, f.triple.head)) if n != NOT_FOUND]
    names = [n for n in names if n not in seeds] or names
    if _ASKS_TIME_OR_NUMBER.match(context.question):
        names = [n for n in names if any(c.isdigit() for c in n)] or names
    return names[:limit]
