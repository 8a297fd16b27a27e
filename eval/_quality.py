"""Scoring builds and predictions against the gold graphs of the dev split: shared by
eval/extractor_quality.py, eval/judge_quality.py and eval/bench_embedded.py.

A build's triples are scored per document against the document's whole gold graph (the union
over its chunks; duplicates ignoring case count once): exact-match triple precision, recall and F1
(micro over documents; case and whitespace ignored) and word-level G-BLEU (kgjudge.metrics,
Hungarian one-to-one matching), before the judge (every extracted triple: ``judgements.jsonl``,
or ``triples.jsonl`` without a judge) and after it (``triples.jsonl``, the kept ones).

    >>> docs = dev_sample(100)
    >>> summary = run_build(config, docs, Path("out/dev"))
    >>> scores = score_build(Path("out/dev"), docs)
    >>> scores["after_judge"]["exact"]["f1"]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kgjudge import KGJudgeConfig
from kgjudge._jsonl import iter_jsonl
from kgjudge.judges import GoldDocument, triple_scores
from kgjudge.pipeline import Build

Triples = Sequence[Sequence[str]]


def score_predictions(gold: Sequence[GoldDocument], predicted: Mapping[str, Triples], *, g_bleu: bool = True) -> dict[str, Any]:
    """Scores of ``predicted`` (document id -> triples; a missing id counts as no triples)
    against the gold documents: ``exact`` precision/recall/F1 (micro), counts, and ``g_bleu``
    (word-level, mean over documents) from :func:`kgjudge.metrics.evaluate_pairs`."""
    scores = triple_scores([d.triples for d in gold], [predicted.get(d.id, ()) for d in gold])
    out: dict[str, Any] = {
        "documents": len(gold), "predicted": scores.predicted, "gold": scores.gold, "correct": scores.correct,
        "exact": {"precision": round(scores.precision, 4), "recall": round(scores.recall, 4), "f1": round(scores.f1, 4)},
    }
    if g_bleu:
        from kgjudge.metrics import evaluate_pairs
        from kgjudge.metrics._io import Graph, GraphPair

        pairs = [GraphPair(gold=Graph(id=doc.id, items=[list(t) for t in doc.triples]),
                           pred=Graph(id=doc.id, items=[list(t) for t in predicted.get(doc.id, ())])) for doc in gold]
        _, aggregates, _, _, _ = evaluate_pairs(pairs, mode="word", workers=1, graph_matching=False)
        out["g_bleu"] = {k: round(v, 4) for k, v in aggregates["g_bleu"].items()}
    return out


def write_documents(documents: Sequence[GoldDocument], path: Path) -> Path:
    """The documents as build input (JSONL ``{"id", "text"}``, so build ids are the corpus ids)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) + "\n" for d in documents),
                    encoding="utf-8")
    return path


def run_build(config: KGJudgeConfig, documents: Sequence[GoldDocument], out: Path, *,
              backends: dict[str, Any] | None = None) -> Any:
    """``kgjudge build`` of ``documents`` into ``out`` (a fresh folder), with already loaded
    ``backends`` if given; returns the build summary."""
    inputs = write_documents(documents, out.parent / f"{out.name}.documents.jsonl")
    return Build(config, out, restart=True, progress=False, backends=backends).run([inputs])


def build_triples(out: Path) -> tuple[dict[str, list[tuple[str, str, str]]], dict[str, list[tuple[str, str, str]]] | None]:
    """(every extracted triple, the kept triples) per document of a build folder; without a
    judge in its config the first holds the triples of ``triples.jsonl`` and the second is None."""
    kept: dict[str, list[tuple[str, str, str]]] = {}
    for t in iter_jsonl(out / "triples.jsonl"):
        kept.setdefault(t["document_id"], []).append((t["head"], t["relation"], t["tail"]))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    judged_file = out / "judgements.jsonl"
    if manifest["config"].get("judge") is None:
        return kept, None
    extracted: dict[str, list[tuple[str, str, str]]] = {}
    for j in iter_jsonl(judged_file) if judged_file.is_file() else []:
        t = j["triple"]
        extracted.setdefault(j["document_id"], []).append((t["head"], t["relation"], t["tail"]))
    return extracted, kept


def score_build(out: Path, gold: Sequence[GoldDocument], *, g_bleu: bool = True) -> dict[str, Any]:
    """Scores of a build folder against the gold documents: before and after the judge, unusable
    extraction replies (not JSON of the right shape even after the repair request), and the
    build's usage and time (from its manifest)."""
    extracted, kept = build_triples(out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    summary = manifest.get("summary", {})
    usage = summary.get("usage", {})
    extract = usage.get("extract", {})
    result: dict[str, Any] = {
        "documents": len(gold),
        "chunks": summary.get("chunks"),
        "before_judge": score_predictions(gold, extracted, g_bleu=g_bleu),
        "after_judge": score_predictions(gold, kept, g_bleu=g_bleu) if kept is not None else None,
        "unusable_replies": extract.get("parse_failures", 0),
        "repaired_replies": extract.get("parse_repairs", 0),
        "usage": usage,
        "wall_seconds": round(summary.get("wall_seconds", 0.0), 1),
    }
    if gold:
        result["seconds_per_document"] = round(result["wall_seconds"] / len(gold), 2)
    for stage, counts in usage.items():
        if counts.get("model_seconds"):
            result[f"{stage}_output_tokens_per_s"] = round(counts["completion_tokens"] / counts["model_seconds"], 1)
    return result
