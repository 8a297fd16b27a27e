"""GraphJudger quality on the dev split: judge adapters side by side, asked as the pipeline asks
them.

Examples: the dev split's documents (REBEL-Sub val and SciERC train; eval/_data.py) cut into the
default config's chunks, each gold triple on the chunk that states it (a positive) with one
seeded corruption of it (tail_swap, head_swap, relation_swap, near_duplicate; ``--kinds`` adds the
targeted relation_twin and date_swap), plus hard
negatives: the extractor's own wrong triples from ``--builds`` (kgjudge build folders over dev
documents: self-loops, elements not in the chunk, a wrong relation for a gold pair). Every
example goes through ``GraphJudger.judge`` with the document and its chunks, as in
``kgjudge build``, so each judge reads its own context (``document``: the first
``max_document_chars`` characters; ``chunk``: the triple's chunk). Thresholds are calibrated
(best F1) on the tune part and applied unchanged to the eval part.

Reported per judge: accuracy at 0.5 and at the tune threshold, precision, recall, F1, AUROC,
ECE, accuracy per kind, and for each build folder the exact-match precision/recall/F1 of its
extracted triples before and after this judge (at the tune threshold and at ``--threshold``).

    python eval/judge_quality.py --judge v1=packaged:smollm2-judge.v1:document \
        --judge v2=packaged:smollm2-judge.v2:chunk --builds out/dev-v1 --examples 300
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from _data import DEV_SPLIT_FRACTIONS, dev_sample
from _quality import score_predictions

from kgjudge import Triple, load_config
from kgjudge._jsonl import iter_jsonl
from kgjudge.judges import (
    CORRUPTION_KINDS,
    TARGETED_KINDS,
    GraphJudger,
    GraphJudgerConfig,
    binary_metrics,
    build_judge_examples,
    calibrate_threshold,
    chunk_documents,
    extracted_by_chunk,
    hard_negatives,
    plot_pr_curve,
)
from kgjudge.llm import LLM, HFBackend, HFConfig

DEFAULT_MODEL = "smollm2-135m-instruct"


def parse_judge(text: str) -> tuple[str, str, str, str]:
    """``name=adapter[:context][@model]``."""
    name, _, rest = text.partition("=")
    rest, _, model = rest.partition("@")
    adapter, context = rest, "chunk"
    if rest.endswith((":chunk", ":document")):
        adapter, _, context = rest.rpartition(":")
    if not name or not adapter:
        raise SystemExit(f"--judge {text!r}: expected name=adapter[:context][@model]")
    return name, adapter, context, model or DEFAULT_MODEL


def sample(items: list[Any], n: int, seed: int) -> list[Any]:
    if len(items) <= n:
        return items
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), n))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judge", action="append", required=True, help="name=adapter[:context][@model]; repeat")
    parser.add_argument("--builds", type=Path, nargs="*", default=[], help="build folders over dev documents")
    parser.add_argument("--config", type=Path, default=Path("configs/pipelines/default.yaml"),
                        help="its chunking settings cut the documents")
    parser.add_argument("--examples", type=int, default=300, help="eval-part examples (plus every hard negative)")
    parser.add_argument("--tune-examples", type=int, default=150, help="tune-part examples (thresholds)")
    parser.add_argument("--threshold", type=float, help="also report the builds at this threshold")
    parser.add_argument("--document-chars", type=int, default=600, help="max_document_chars of document contexts")
    parser.add_argument("--chunk-chars", type=int, default=1500, help="max_document_chars of chunk contexts")
    parser.add_argument("--kinds", default=",".join(CORRUPTION_KINDS),
                        help="comma-separated corruption kinds of the gold triples (default: the four taken in turn; "
                        f"add {', '.join(TARGETED_KINDS)} for the targeted ones)")
    parser.add_argument("--out", type=Path, default=Path("eval/results/judge_quality.json"))
    parser.add_argument("--png", type=Path, default=Path("eval/results/judge_pr_curve.png"))
    args = parser.parse_args()

    docs = dev_sample(None, part=None)
    gold = {d.id: d.triples for d in docs}
    text_of = {d.id: d.text for d in docs}
    chunks, _ = chunk_documents(docs, load_config(args.config).pipeline.chunking)
    parent = {c.id: c.split_key for c in chunks}
    text_of.update({c.id: c.text for c in chunks})
    try:
        examples, stats = build_judge_examples(chunks, **DEV_SPLIT_FRACTIONS, kinds=args.kinds.split(","))
    except ValueError as err:
        raise SystemExit(f"--kinds: {err}") from None
    extracted: dict[str, list[tuple[str, str, str]]] = {}
    for folder in args.builds:
        for chunk_id, triples in extracted_by_chunk(folder).items():
            extracted.setdefault(chunk_id, []).extend(triples)
    hard, hard_counts = hard_negatives(chunks, extracted, gold, **DEV_SPLIT_FRACTIONS)
    # Every hard negative is kept (there are few); the gold positives and corruptions are sampled.
    evaluation = sample([e for e in examples if e.split == "test"], args.examples, 1) + [e for e in hard if e.split == "test"]
    tune = sample([e for e in examples if e.split == "dev"], args.tune_examples, 2) + [e for e in hard if e.split == "dev"]
    kinds = sorted({e.kind for e in evaluation})
    result: dict[str, Any] = {
        "benchmark": "judge_quality", "data": "dev split: eval part (report), tune part (thresholds)",
        "examples": len(evaluation), "tune_examples": len(tune),
        "kinds": {k: sum(e.kind == k for e in evaluation) for k in kinds},
        "hard_negatives_from_builds": hard_counts, "builds": [str(b) for b in args.builds],
        "corruptions": stats.model_dump(), "machine": {"cores": os.cpu_count(), "load_start": os.getloadavg()[0]},
        "judges": {},
    }

    def as_triples(items: list[Any]) -> list[Triple]:
        return [Triple(head=e.head, relation=e.relation, tail=e.tail, document_id=parent[e.document_id],
                       chunk_id=e.document_id) for e in items]

    curves = {}
    for spec in args.judge:
        name, adapter, context, model = parse_judge(spec)
        llm = LLM(HFBackend(HFConfig(model=model, adapters={"judge": adapter}, threads=1, batch_size=8)), cache=None)
        limit = args.chunk_chars if context == "chunk" else args.document_chars
        judge = GraphJudger(llm, GraphJudgerConfig(adapter="judge", context=context, max_document_chars=limit))
        started = time.perf_counter()
        tune_scores = [j.score for j in judge.judge_sync(as_triples(tune), text_of)]
        scores = [j.score for j in judge.judge_sync(as_triples(evaluation), text_of)]
        seconds = time.perf_counter() - started
        labels = [e.label for e in evaluation]
        cal = calibrate_threshold([e.label for e in tune], tune_scores)
        per_kind = {k: round(sum((s >= cal.threshold) == e.label for s, e in zip(scores, evaluation) if e.kind == k)
                             / max(1, sum(e.kind == k for e in evaluation)), 3) for k in kinds}
        entry: dict[str, Any] = {
            "adapter": adapter, "context": context, "model": model, "max_document_chars": limit,
            "at_0.5": binary_metrics(labels, scores, 0.5).model_dump(),
            "tune_threshold": cal.threshold,
            "at_tune_threshold": binary_metrics(labels, scores, cal.threshold).model_dump(),
            "accuracy_per_kind_at_tune_threshold": per_kind,
            "examples_per_s": round((len(tune) + len(evaluation)) / seconds, 2),
            "builds": {},
        }
        curves[name] = (labels, scores)
        for folder in args.builds:
            # The build's own extracted triples, judged as the pipeline judges them.
            built = [Triple.model_validate(j["triple"]) for j in iter_jsonl(folder / "judgements.jsonl")]
            texts = {d["id"]: d["text"] for d in iter_jsonl(folder / "documents.jsonl")}
            texts.update({c["id"]: c["text"] for c in iter_jsonl(folder / "chunks.jsonl")})
            judged = judge.judge_sync(built, texts) if built else []
            ids = sorted({d for d in texts if d in gold})
            scored_docs = [d for d in docs if d.id in ids]
            before: dict[str, list[tuple[str, str, str]]] = {}
            for t in built:
                before.setdefault(t.document_id or "", []).append(t.as_tuple())
            report = {"documents": len(scored_docs), "before": score_predictions(scored_docs, before, g_bleu=False)}
            for label, threshold in (("tune_threshold", cal.threshold), ("given_threshold", args.threshold)):
                if threshold is None:
                    continue
                kept: dict[str, list[tuple[str, str, str]]] = {}
                for t, j in zip(built, judged):
                    if j.score >= threshold:
                        kept.setdefault(t.document_id or "", []).append(t.as_tuple())
                report[f"after_at_{label}"] = {"threshold": threshold, **score_predictions(scored_docs, kept, g_bleu=False)}
            entry["builds"][folder.name] = report
        result["judges"][name] = entry
        m, d = entry["at_0.5"], entry["at_tune_threshold"]
        print(f"{name}: accuracy {m['accuracy']:.3f} at 0.5, {d['accuracy']:.3f} at tune threshold {cal.threshold:.3f}; "
              f"AUROC {m['auroc']:.3f}; per kind {json.dumps(per_kind)}", flush=True)
        for folder, report in entry["builds"].items():
            after = report.get("after_at_tune_threshold", {})
            print(f"  {folder}: kept-triple precision {report['before']['exact']['precision']:.3f} -> "
                  f"{after.get('exact', {}).get('precision', float('nan')):.3f}, recall "
                  f"{report['before']['exact']['recall']:.3f} -> {after.get('exact', {}).get('recall', float('nan')):.3f}")
        llm.close()
    result["machine"]["load_end"] = os.getloadavg()[0]
    plot_pr_curve(curves, args.png, title="GraphJudger on the dev split (eval part)")
    result["pr_curve_png"] = str(args.png)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out} and {args.png}")


if __name__ == "__main__":
    main()
