"""How much the published GraphJudger evaluation's quirks inflate scores, on the dev data.

Scores one gold file against five predictions in both modes (word-level and ``graphjudger``):
the gold graphs themselves, the gold graphs shuffled across documents (every prediction belongs
to another document: unrelated graphs), the benchmark's perturbation (some triples dropped,
altered or borrowed), the gold graphs with every entity renamed, and a file of unparseable
lines. Prints a Markdown table and writes JSON.

    python eval/compat_validation.py                                   # REBEL-Sub val
    python eval/compat_validation.py --gold ../shared/data/scierc/train.source
    python eval/compat_validation.py --bertscore-model all-MiniLM-L6-v2  # adds word-level G-BERTScore
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from bench_metrics import perturb

from kgjudge.metrics import Graph, evaluate_pairs, pair_graphs, read_graphs

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GOLD = REPO.parent / "shared" / "data" / "rebel_sub" / "val.source"


def shuffled(gold: list[Graph], seed: int) -> list[Graph]:
    """Each document gets another document's gold graph (a random derangement)."""
    order = list(range(len(gold)))
    random.Random(seed).shuffle(order)
    # rotating a shuffled order by one leaves no graph in its own place
    target = {order[k]: order[(k + 1) % len(order)] for k in range(len(order))}
    return [Graph(id=g.id, items=gold[target[k]].items) for k, g in enumerate(gold)]


def renamed(gold: list[Graph]) -> list[Graph]:
    """The gold graphs with every entity renamed ("entity 1", "entity 2", ...), relations kept."""
    preds = []
    for graph in gold:
        names: dict[str, str] = {}
        items = [[names.setdefault(str(h), f"entity {len(names) + 1}"), r,
                  names.setdefault(str(t), f"entity {len(names) + 1}")] + list(rest)
                 for h, r, t, *rest in (i for i in graph.items if len(i) >= 3)]
        preds.append(Graph(id=graph.id, items=items))
    return preds


def headline(aggregates: dict, mode: str) -> dict:
    triple = aggregates["triple_match" if mode == "graphjudger" else "triple_exact"]["micro"]["f1"]
    bert = aggregates.get("g_bertscore")
    return {
        "triple_f1": triple,
        "graph_match": aggregates["graph_match_accuracy"],
        "g_bleu_f1": aggregates["g_bleu"]["f1"],
        "g_rouge_f1": aggregates["g_rouge"]["f1"],
        "g_bertscore_f1": None if bert is None else bert["f1"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=DEFAULT_GOLD)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--bertscore-model", default=None)
    parser.add_argument("--out", type=Path, default=REPO / "eval" / "results" / "compat_validation.json")
    args = parser.parse_args(argv)

    gold, _ = read_graphs(args.gold, "gold")
    predictions = {
        "identical": gold,
        "shuffled (unrelated)": shuffled(gold, args.seed),
        "perturbed": perturb(gold, args.seed),
        "entities renamed": renamed(gold),
        "unparseable": [Graph(id=g.id, error="not a Python literal") for g in gold],
    }
    table: dict = {}
    for name, pred in predictions.items():
        pairs, _ = pair_graphs(pred, "lines", gold, "lines", pred_path=name, gold_path=str(args.gold))
        for mode in ("word", "graphjudger"):
            _, aggregates, counts, bert_status, _ = evaluate_pairs(
                pairs, mode=mode, bertscore_model=args.bertscore_model if mode == "word" else None
            )
            table[f"{name} | {mode}"] = {**headline(aggregates, mode), "bertscore": bert_status,
                                         "published_nan_graphs": counts.get("published_nan_graphs", 0)}

    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    print(f"{args.gold} ({len(gold)} graphs)\n")
    print("| prediction | mode | triple F1 | graph match | G-BLEU F1 | G-ROUGE F1 | G-BERTScore F1 |")
    print("|---|---|---|---|---|---|---|")
    for key, row in table.items():
        name, mode = key.split(" | ")
        print(f"| {name} | {mode} | {cell(row['triple_f1'])} | {cell(row['graph_match'])} | "
              f"{cell(row['g_bleu_f1'])} | {cell(row['g_rouge_f1'])} | {cell(row['g_bertscore_f1'])} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"gold": str(args.gold), "graphs": len(gold), "seed": args.seed,
                                    "results": table}, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
