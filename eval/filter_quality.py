"""Error detection of the `kgjudge filter` judges on question-answer examples about held-out
REBEL-Sub val documents.

Labelled set: for each document of the dev split's eval part (no packaged adapter trains on it),
one gold triple (head, relation, tail) becomes the instruction "What is the <relation> of
<head>?". Every other document gets the correct answer "The <relation> of <head> is <tail>.",
the rest a corrupted one whose tail is swapped for another document's tail (of the same relation
where one exists). An error is a corrupted answer; a judge detects it when it rejects the example.
The KG-grounded judge checks answers against a networkx store holding the gold triples of those
documents with the document text as evidence (so it measures the judge given a correct graph).
Meta Ranking references are labelled examples built the same way from training documents.

All three judges run once through :class:`kgjudge.judges.Filter`; the combinations (weighted
mean, all-pass) are computed from the same judgements, as the filter computes them.

    python eval/filter_quality.py --documents 40
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _data import REBEL_SUB, val_corpus

from kgjudge import Span, Triple
from kgjudge.graph import build_store
from kgjudge.judges import Filter, binary_metrics, dev_part, parse_filter_config

def labelled_examples(docs: list[Any], rng: random.Random, *, alternate: bool) -> list[dict[str, Any]]:
    """One QA example per document: correct or with a swapped tail (alternating, or both labels
    at random for references)."""
    tails: dict[str, list[str]] = defaultdict(list)
    for d in docs:
        for h, r, t in d.triples:
            tails[r].append(t)
    every_tail = [t for ts in tails.values() for t in ts]
    out = []
    for i, d in enumerate(docs):
        h, r, t = d.triples[0]
        correct = i % 2 == 0 if alternate else rng.random() < 0.5
        answer = t
        if not correct:
            pool = [x for x in tails[r] if x.casefold() != t.casefold()] or [x for x in every_tail if x.casefold() != t.casefold()]
            answer = rng.choice(pool)
        out.append({"id": f"{d.id}:{'ok' if correct else 'bad'}", "document_id": d.id, "correct": correct,
                    "instruction": f"What is the {r} of {h}?", "output": f"The {r} of {h} is {answer}.",
                    "triple": [h, r, t]})
    return out


def metrics(is_error: list[bool], kept: list[bool], scores: list[float], keep_rates: list[float]) -> dict[str, Any]:
    m = binary_metrics(is_error, [0.0 if k else 1.0 for k in kept], 0.5)
    ranking = binary_metrics(is_error, [1.0 - s for s in scores], 0.5)
    out: dict[str, Any] = {"error_precision": m.precision, "error_recall": m.recall, "error_f1": m.f1,
                           "rejected": sum(not k for k in kept), "auroc": ranking.auroc, "wrong_removed_at_keep_rate": {}}
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    errors = sum(is_error) or 1
    for rate in keep_rates:
        dropped = order[round(rate * len(order)):]
        out["wrong_removed_at_keep_rate"][str(rate)] = sum(is_error[i] for i in dropped) / errors
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--extractor-adapter", default="packaged:smollm2-extractor.v1", help="'' for none")
    parser.add_argument("--judge-adapter", default="packaged:smollm2-judge.v1", help="'' for none")
    parser.add_argument("--judge-threshold", type=float, default=0.595123, help="GraphJudger's (the packaged judge's calibrated one)")
    parser.add_argument("--data", type=Path, default=REBEL_SUB)
    parser.add_argument("--documents", type=int, default=40, help="held-out documents (one example each)")
    parser.add_argument("--references", type=int, default=6)
    parser.add_argument("--keep-rates", default="0.5,0.7")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("eval/results/filter_quality.json"))
    args = parser.parse_args()
    keep_rates = [float(x) for x in args.keep_rates.split(",")]

    corpus = val_corpus(args.data)
    usable = [d for d in corpus.documents if d.triples]
    rng = random.Random(args.seed)
    test_docs = rng.sample([d for d in usable if dev_part(d.id) == "eval"], args.documents)
    ref_docs = rng.sample([d for d in usable if dev_part(d.id) is None], args.references)
    targets = labelled_examples(test_docs, rng, alternate=True)
    refs = [{"query": e["instruction"], "response": e["output"], "correct": e["correct"]}
            for e in labelled_examples(ref_docs, rng, alternate=True)]

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        store = {"type": "networkx.v1", "path": str(tmp / "graph.json")}
        with build_store(store) as s:
            s.upsert([Triple(head=h, relation=r, tail=t, document_id=d.id,
                             evidence=Span(start=0, end=len(d.text), text=d.text), origin="gold")
                      for d in test_docs for h, r, t in d.triples], [])
        (tmp / "in.jsonl").write_text("".join(json.dumps({k: e[k] for k in ("id", "instruction", "output")}) + "\n" for e in targets))
        (tmp / "refs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in refs))
        adapters = {k: v for k, v in (("extractor", args.extractor_adapter), ("judge", args.judge_adapter)) if v}
        config = {
            "backends": {"default": {"type": "hf.v1", "model": args.model, "threads": 1, "adapters": adapters}},
            "cache": {"enabled": True, "path": str(tmp / "cache")},
            "filter": {
                "judges": [
                    {"type": "direct.v1"},
                    {"type": "meta_ranking.v1", "references": str(tmp / "refs.jsonl"), "n_references": 2},
                    {"type": "kg_grounded.v1", "store": store, "extractor_adapter": "extractor" if args.extractor_adapter else None,
                     "judge_adapter": "judge" if args.judge_adapter else None, "judge_threshold": args.judge_threshold,
                     "extract_max_tokens": 64},
                ],
                "combine": {"rule": "weighted_mean", "threshold": 0.5},
                "batch_size": 8,
            },
        }
        base, fconfig = parse_filter_config(config)
        started = time.perf_counter()
        summary = Filter(base, fconfig, tmp / "out", progress=False).run([tmp / "in.jsonl"])
        seconds = time.perf_counter() - started
        decisions = {d["example_id"]: d for d in map(json.loads, (tmp / "out" / "decisions.jsonl").read_text().splitlines())}

    is_error = [not e["correct"] for e in targets]
    claims: dict[str, dict[str, int]] = {"correct": defaultdict(int), "wrong": defaultdict(int)}
    for e in targets:
        [kg] = [j for j in decisions[e["id"]]["judgements"] if j["judge"] == "kg_grounded.v1"]
        group = claims["correct" if e["correct"] else "wrong"]
        for c in kg["details"]["claims"]:
            group[c["status"]] += 1
        group["examples_without_claims"] += not kg["details"]["claims"]
    per_judge: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"kept": [], "score": []})
    combined: dict[str, dict[str, list[Any]]] = {"weighted_mean": {"kept": [], "score": []}, "all_pass": {"kept": [], "score": []}}
    for e in targets:
        d = decisions[e["id"]]
        for j in d["judgements"]:
            per_judge[j["judge"]]["kept"].append(j["label"])
            per_judge[j["judge"]]["score"].append(j["score"])
        combined["weighted_mean"]["kept"].append(d["kept"])
        combined["weighted_mean"]["score"].append(d["score"])
        combined["all_pass"]["kept"].append(all(j["label"] for j in d["judgements"]))
        combined["all_pass"]["score"].append(min(j["score"] for j in d["judgements"]))
    result = {
        "benchmark": "filter_quality", "data": "rebel_sub/val, the dev split's eval part",
        "examples": len(targets), "errors": sum(is_error), "references": len(refs), "model": args.model,
        "extractor_adapter": args.extractor_adapter or None, "judge_adapter": args.judge_adapter or None,
        "judges": {name: metrics(is_error, v["kept"], v["score"], keep_rates) for name, v in sorted(per_judge.items())},
        "combinations": {name: metrics(is_error, v["kept"], v["score"], keep_rates) for name, v in combined.items()},
        "kg_grounded_claims": claims, "seconds": round(seconds, 1), "model_calls": summary.this_run.model_calls,
    }
    for group in ("judges", "combinations"):
        for name, m in result[group].items():
            removed = ", ".join(f"keep {k}: {v:.2f}" for k, v in m["wrong_removed_at_keep_rate"].items())
            print(f"{name}: error precision {m['error_precision']:.3f} recall {m['error_recall']:.3f} "
                  f"AUROC {m['auroc']:.3f}; wrong removed ({removed})")
    print("kg_grounded claims:", json.dumps(claims))
    print(f"{len(targets)} examples ({sum(is_error)} wrong), {seconds:.0f} s, {summary.this_run.model_calls} model calls")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
