"""Running a (LoRA-tuned) extractor through the LLM interface and scoring it against gold
triples; used to evaluate extractor adapters."""

from __future__ import annotations

from collections.abc import Sequence

from kgjudge._records import Record
from kgjudge.llm import LLM, LLMRequest, extract_json
from kgjudge.judges._prompting import EXTRACT_PROMPT, extract_messages


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


def parse_triples(text: str) -> list[tuple[str, str, str]] | None:
    """The [head, relation, tail] arrays of a reply; None when it is not such a JSON array.
    Items of the wrong shape are dropped (model output is untrusted)."""
    try:
        value = extract_json(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if isinstance(item, list) and len(item) == 3 and all(isinstance(x, str) and x.strip() for x in item):
            out.append((item[0].strip(), item[1].strip(), item[2].strip()))
    return out


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
    return [Extraction(raw=r.text, triples=parse_triples(r.text)) for r in results]


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
