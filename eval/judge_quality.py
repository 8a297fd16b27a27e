"""GraphJudger quality on held-out documents: the tuned adapter against the untuned model, and
graph filtering with injected wrong triples.

Data: KASFT judge examples of REBEL-Sub val built with the adapter's own seed and split
fractions (read from its metadata), so the test documents are ones the adapter never saw.
Thresholds are calibrated (best F1) on the dev split and applied unchanged to the test split.

1. Judge metrics on test positives + corrupted negatives, untuned and tuned: accuracy at 0.5
   and at the dev-calibrated threshold, precision, recall, F1, AUROC, calibration error, accuracy
   per corruption kind, and a precision-recall curve PNG.
2. Filtering: the test documents' gold graphs with their injected wrong triples go through
   ``GraphJudger.judge`` (the pipeline's call); triple precision and recall before and after.

    python eval/judge_quality.py --test-examples 400 --dev-examples 200
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from _data import REBEL_SUB, val_corpus

from kgjudge import Triple
from kgjudge.judges import (
    GraphJudger,
    GraphJudgerConfig,
    binary_metrics,
    build_judge_examples,
    calibrate_threshold,
    load_train_config,
    plot_pr_curve,
    read_metadata,
)
from kgjudge.llm import LLM, HFBackend, HFConfig, ResponseCache, resolve_adapter

def sample(items: list, n: int, seed: int) -> list:
    if len(items) <= n:
        return items
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), n))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--adapter", default="packaged:smollm2-judge.v1", help="folder or packaged:<name>")
    parser.add_argument("--data", type=Path, default=REBEL_SUB, help="folder with val.target / val.source")
    parser.add_argument("--test-examples", type=int, default=400)
    parser.add_argument("--dev-examples", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--dtype-check", type=int, default=0,
                        help="with --dtype bfloat16: also score this many test examples in float32 and compare")
    parser.add_argument("--out", type=Path, default=Path("eval/results/judge_quality.json"))
    parser.add_argument("--png", type=Path, default=Path("eval/results/judge_pr_curve.png"))
    args = parser.parse_args()

    adapter_dir = resolve_adapter(args.adapter)
    meta = read_metadata(adapter_dir)
    corpus = val_corpus(args.data)
    # The adapter's own split: its training config is saved beside it.
    split = load_train_config(Path(adapter_dir) / "train.yaml").data
    examples, stats = build_judge_examples(
        corpus, seed=split.seed, dev_fraction=split.dev_fraction, test_fraction=split.test_fraction,
        kinds=split.kinds, negatives_per_positive=split.negatives_per_positive,
    )
    test = sample([e for e in examples if e.split == "test"], args.test_examples, 1)
    dev = sample([e for e in examples if e.split == "dev"], args.dev_examples, 2)

    backend = HFBackend(HFConfig(model=args.model, adapters={"judge": adapter_dir}, threads=args.threads,
                                 dtype=args.dtype, batch_size=8))
    # A throw-away response cache: the filtering step asks the tuned judge the test questions again.
    cache_dir = tempfile.TemporaryDirectory()
    llm = LLM(backend, cache=ResponseCache(cache_dir.name))
    result: dict = {"benchmark": "judge_quality", "model": backend.model_id, "adapter": args.adapter,
                    "adapter_data_hash": meta.data_hash, "dtype": args.dtype,
                    "test_examples": len(test), "dev_examples": len(dev),
                    "test_kinds": {k: sum(e.kind == k for e in test) for k in sorted({e.kind for e in test})},
                    "data_stats": stats.model_dump()}
    curves = {}
    for name, adapter in (("untuned", None), ("tuned", "judge")):
        cfg = GraphJudgerConfig(adapter=adapter, prompt=meta.prompt, max_document_chars=meta.max_document_chars)
        judge = GraphJudger(llm, cfg)
        started = time.perf_counter()
        dev_scores = judge.score_examples_sync(dev)
        test_scores = judge.score_examples_sync(test)
        seconds = time.perf_counter() - started
        labels = [e.label for e in test]
        cal = calibrate_threshold([e.label for e in dev], dev_scores)
        per_kind = {}
        for kind in sorted({e.kind for e in test}):
            idx = [i for i, e in enumerate(test) if e.kind == kind]
            per_kind[kind] = sum((test_scores[i] >= cal.threshold) == test[i].label for i in idx) / len(idx)
        result[name] = {
            "at_0.5": binary_metrics(labels, test_scores, 0.5).model_dump(),
            "dev_calibrated_threshold": cal.threshold,
            "at_dev_threshold": binary_metrics(labels, test_scores, cal.threshold).model_dump(),
            "accuracy_per_kind_at_dev_threshold": per_kind,
            "seconds": round(seconds, 1),
            "examples_per_s": round((len(dev) + len(test)) / seconds, 2),
        }
        curves[name] = (labels, test_scores)
        print(f"{name}: accuracy {result[name]['at_0.5']['accuracy']:.3f} at 0.5, "
              f"{result[name]['at_dev_threshold']['accuracy']:.3f} at dev threshold {cal.threshold:.3f}; "
              f"AUROC {result[name]['at_0.5']['auroc']:.3f}")

        if adapter:
            # Filtering: gold graph + injected wrong triples of the test documents, judged as a
            # pipeline would judge them, at the dev-calibrated threshold.
            docs = {e.document_id: e.document for e in test}
            triples = [Triple(head=e.head, relation=e.relation, tail=e.tail, document_id=e.document_id,
                              origin="gold" if e.label else "extracted") for e in test]
            judgements = GraphJudger(llm, cfg.model_copy(update={"threshold": cal.threshold})).judge_sync(triples, docs)
            gold = [e.label for e in test]
            kept = [j.label for j in judgements]
            before_p = sum(gold) / len(gold)
            tp = sum(g and k for g, k in zip(gold, kept))
            after_p = tp / max(1, sum(kept))
            recall = tp / max(1, sum(gold))
            result["filtering"] = {
                "triples": len(triples), "gold": sum(gold), "injected_wrong": len(gold) - sum(gold),
                "threshold": cal.threshold, "kept": sum(kept),
                "precision_before": before_p, "precision_after": after_p,
                "precision_gain_points": 100 * (after_p - before_p),
                "recall_after": recall, "recall_loss_points": 100 * (1 - recall),
            }
            f = result["filtering"]
            print(f"filtering: precision {before_p:.3f} -> {after_p:.3f} (+{f['precision_gain_points']:.1f} points), "
                  f"recall loss {f['recall_loss_points']:.1f} points")
    if args.dtype_check and args.dtype != "float32":
        # What bfloat16 weights cost: the tuned judge's scores in float32 on the same examples.
        subset = test[: args.dtype_check]
        reference = LLM(HFBackend(HFConfig(model=args.model, adapters={"judge": adapter_dir}, threads=args.threads,
                                           dtype="float32", batch_size=8)), cache=None)
        cfg = GraphJudgerConfig(adapter="judge", prompt=meta.prompt, max_document_chars=meta.max_document_chars)
        exact = GraphJudger(reference, cfg).score_examples_sync(subset)
        fast = curves["tuned"][1][: len(subset)]
        threshold = result["tuned"]["dev_calibrated_threshold"]
        result["dtype_check"] = {
            "examples": len(subset),
            "mean_abs_score_difference": sum(abs(a - b) for a, b in zip(exact, fast)) / len(subset),
            "decision_agreement": sum((a >= threshold) == (b >= threshold) for a, b in zip(exact, fast)) / len(subset),
            "float32_accuracy": sum((a >= threshold) == e.label for a, e in zip(exact, subset)) / len(subset),
            "bfloat16_accuracy": sum((b >= threshold) == e.label for b, e in zip(fast, subset)) / len(subset),
        }
        print(f"dtype check: {json.dumps(result['dtype_check'])}")
        reference.close()
    plot_pr_curve(curves, args.png, title="GraphJudger on held-out REBEL-Sub documents")
    result["pr_curve_png"] = str(args.png)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out} and {args.png}")
    llm.close()
    cache_dir.cleanup()


if __name__ == "__main__":
    main()
