"""Speed of the graph metrics: the fast engine against a one-pair-at-a-time implementation.

Both engines compute triple P/R/F1, G-BLEU and G-ROUGE for the same graphs in both modes
(word-level and GraphJudger-compatible); they share reading, preparation and triple matching and
differ in pair scoring: the fast engine counts each unique edge sentence once, scores all pairs
with sparse matrix operations and splits graphs across processes; the reference engine calls
nltk's ``sentence_bleu`` and rouge-score's ``RougeScorer.score`` once per (prediction, gold)
pair, as the published GraphJudger script does. The run checks that both give the same
per-graph scores, prints the measured speed ratio and writes it to JSON.

Predictions are made from the gold graphs with a fixed seed: each gold triple is kept with
probability 0.7, some kept triples get another graph's tail, and one triple of another graph is
added, so scores are neither all 0 nor all 1.

    python eval/bench_metrics.py                      # 1,000 REBEL-Sub val graphs
    python eval/bench_metrics.py --n 20 --out /tmp/b.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

from kgjudge.metrics import (
    Graph,
    clear_caches,
    default_workers,
    evaluate_pairs,
    pair_graphs,
    read_graphs,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GOLD = REPO.parent / "shared" / "data" / "rebel_sub" / "val.source"
MODES = ("word", "graphjudger")
COMPARED = ("triple_f1", "bleu_precision", "bleu_recall", "bleu_f1", "rouge_precision", "rouge_recall",
            "rouge_f1")


def perturb(gold: list[Graph], seed: int) -> list[Graph]:
    """Predictions made from the gold graphs: some triples dropped, altered or borrowed."""
    rnd = random.Random(seed)
    preds = []
    for k, graph in enumerate(gold):
        other = gold[(k + 1 + rnd.randrange(len(gold) - 1 or 1)) % len(gold)].items
        items = []
        for item in graph.items:
            if rnd.random() >= 0.7:
                continue
            if other and rnd.random() < 0.3 and len(item) == 3:
                item = [item[0], item[1], rnd.choice(other)[-1]]
            items.append(list(item))
        if other:
            items.append(list(rnd.choice(other)))
        rnd.shuffle(items)
        preds.append(Graph(id=graph.id, items=items))
    return preds


def timed(pairs: list, mode: str, engine: str, workers: int | None) -> tuple[float, list, int]:
    """Seconds, per-graph rows and processes used for one evaluation."""
    clear_caches()  # no run profits from words normalised or stemmed by an earlier one
    started = time.perf_counter()
    rows, _, _, _, seconds = evaluate_pairs(pairs, mode=mode, engine=engine, workers=workers,
                                            graph_matching=False)
    return time.perf_counter() - started, rows, int(seconds["workers"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="a .source file of gold graphs")
    parser.add_argument("--n", type=int, default=1000, help="graphs (the file is cycled if shorter)")
    parser.add_argument("--workers", type=int, default=None, help="processes of the fast engine")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=REPO / "eval" / "results" / "bench_metrics.json")
    args = parser.parse_args(argv)

    graphs, _ = read_graphs(args.gold, "gold")
    if not graphs:
        print(f"{args.gold}: no graphs", file=sys.stderr)
        return 1
    gold = [graphs[k % len(graphs)].model_copy(update={"id": str(k + 1)}) for k in range(args.n)]
    pred = perturb(gold, args.seed)
    pairs, _ = pair_graphs(pred, "lines", gold, "lines", pred_path="perturbed", gold_path=str(args.gold))
    n_pairs = sum(len(p.pred.items) * len(p.gold.items) for p in pairs)

    # import and initialise everything once, outside the timings
    for mode in MODES:
        for engine in ("fast", "reference"):
            evaluate_pairs(pairs[:5], mode=mode, engine=engine, workers=1, graph_matching=False)

    result: dict = {
        "benchmark": "graph metrics: triple P/R/F1 + G-BLEU + G-ROUGE",
        "gold": str(args.gold), "graphs": len(pairs), "edge_pairs": n_pairs, "seed": args.seed,
        "workers_allowed": args.workers or default_workers(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "modes": {},
    }
    total_fast = total_ref = 0.0
    for mode in MODES:
        fast_s, fast_rows, used = timed(pairs, mode, "fast", args.workers)
        ref_s, ref_rows, _ = timed(pairs, mode, "reference", args.workers)
        diff = max((abs(getattr(a, f) - getattr(b, f)) for a, b in zip(fast_rows, ref_rows) for f in COMPARED),
                   default=0.0)
        mean_f1 = {f: sum(getattr(r, f) for r in fast_rows) / len(fast_rows) for f in ("triple_f1", "bleu_f1",
                                                                                     "rouge_f1")}
        result["modes"][mode] = {"fast_s": fast_s, "reference_s": ref_s, "ratio": ref_s / fast_s,
                                 "fast_processes": used, "max_abs_difference": diff, "mean": mean_f1}
        total_fast += fast_s
        total_ref += ref_s
        print(f"{mode:<12} fast {fast_s:7.3f} s ({used} process{'es' if used > 1 else ''})   "
              f"one pair at a time {ref_s:7.3f} s   ratio {ref_s / fast_s:5.1f}x   max |difference| {diff:.1e}")
        if diff > 1e-9:
            print(f"{mode}: the engines disagree by {diff}", file=sys.stderr)
            return 1
    result["ratio_both_modes"] = total_ref / total_fast
    print(f"both modes   fast {total_fast:7.3f} s   one pair at a time {total_ref:7.3f} s   "
          f"ratio {total_ref / total_fast:5.1f}x   ({len(pairs)} graphs, {n_pairs} edge pairs, "
          f"{os.cpu_count()} cores)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
