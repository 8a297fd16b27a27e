"""Running a (LoRA-tuned) extractor through the LLM interface and scoring it against gold
triples; used to evaluate extractor adapters."""

from __future__ import annotations

from collections.abc import Sequence

from kgjudge._pipeline_config import ExtractConfig
from kgjudge._records import Record
from kgjudge.llm import LLM, LLMRequest
from kgjudge.stages import EXTRACT_PROMPT, extract_messages, parse_reply


class Extraction(Record):
    """An extractor's reply for one text: the triples it parsed to (None: not parseable)."""

    raw: str
    triples: list[tuple[str, str, str]] | None


class ExtractionScores(Record):
    """Exact-match triple precision/recall/F1 (case- and whitespace-insensitive) and how many
    replies parsed as a JSON array of triples."""

    documents: int
    parsed: int
    predicted: int
    gold: int
    correct: int
    precision: float
    recall: float
    f1: float


def extract_triples(
    llm: LLM,
    texts: Sequence[tuple[str, Sequence[str]]],
    *,
    adapter: str | None = None,
    prompt: str = EXTRACT_PROMPT,
    max_document_chars: int | None = None,
    max_tokens: int = 256,
) -> list[Extraction]:
    """Generate and parse triples for (text, entities) pairs, in one batch."""
    requests = [
        LLMRequest(
            messages=extract_messages(text, entities, prompt=prompt, max_document_chars=max_document_chars),
            adapter=adapter,
            max_tokens=max_tokens,
        )
        for text, entities in texts
    ]
    results = llm.generate_sync(requests)
    # Replies are read by the parser of the prompt version asked, as in kgjudge build.
    config = ExtractConfig(prompt=prompt)
    return [Extraction(raw=r.text, triples=parse_reply(r.text, config)[0]) for r in results]


def _norm(triple: Sequence[str]) -> tuple[str, ...]:
    return tuple(" ".join(x.split()).casefold() for x in triple)


def triple_scores(
    gold: Sequence[Sequence[Sequence[str]]], predicted: Sequence[Sequence[Sequence[str]] | None]
) -> ExtractionScores:
    """Micro-averaged exact-match scores over documents (aligned lists of gold and predicted
    triples; None: the reply did not parse). Duplicates ignoring case and whitespace count once."""
    n_pred = n_gold = correct = parsed = 0
    for g, p in zip(gold, predicted):
        gold_set = {_norm(t) for t in g}
        pred_set = {_norm(t) for t in p or []}
        parsed += p is not None
        n_gold += len(gold_set)
        n_pred += len(pred_set)
        correct += len(gold_set & pred_set)
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ExtractionScores(
        documents=len(predicted), parsed=parsed, predicted=n_pred, gold=n_gold, correct=correct,
        precision=precision, recall=recall, f1=f1,
    )


def extraction_scores(gold: Sequence[Sequence[Sequence[str]]], predicted: Sequence[Extraction]) -> ExtractionScores:
    """Micro-averaged exact-match scores of parsed extractor replies (see :func:`triple_scores`)."""
    return triple_scores(gold, [p.triples for p in predicted])
