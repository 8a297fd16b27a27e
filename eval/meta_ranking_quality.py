"""Meta Ranking error detection on triples of held-out documents, with N = 1, 3, 5 references.

Targets: KASFT judge examples of REBEL-Sub val documents in the dev split's eval part (gold triples and corrupted ones) as
Meta Ranking pairs (query: "is this triple supported by this document?", response: the triple).
References: labelled pairs of training documents (outside the dev split) (other queries by construction). An error is
a corrupted triple; it is detected when the Meta Ranking score falls below the threshold.
Selections for N = 1 and 3 are the first references of the N = 5 selection, and the response
cache serves their comparisons, so the three settings cost one run.

    python eval/meta_ranking_quality.py --targets 80 --references 40
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _data import REBEL_SUB, balanced, val_judge_examples

from kgjudge.judges import (
    MetaRanker,
    MetaRankingConfig,
    QAPair,
    binary_metrics,
)
from kgjudge.judges.triples._prompting import triple_query, triple_response
from kgjudge.llm import LLM, HFBackend, HFConfig, ResponseCache

def pair(e, max_chars: int) -> QAPair:
    return QAPair(id=e.id, query=triple_query(e.document, max_document_chars=max_chars),
                  response=triple_response(e.head, e.relation, e.tail), correct=e.label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--adapter", default=None, help="optional LoRA adapter folder or packaged:<name>")
    parser.add_argument("--data", type=Path, default=REBEL_SUB)
    parser.add_argument("--targets", type=int, default=80)
    parser.add_argument("--references", type=int, default=40)
    parser.add_argument("--max-document-chars", type=int, default=400)
    parser.add_argument("--selection", default="random", choices=["random", "nearest"])
    parser.add_argument("--no-swap", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--out", type=Path, default=Path("eval/results/meta_ranking_quality.json"))
    args = parser.parse_args()

    examples = val_judge_examples(args.data)
    targets = [pair(e, args.max_document_chars) for e in balanced([e for e in examples if e.split == "test"], args.targets, 1)]
    refs = [pair(e, args.max_document_chars) for e in balanced([e for e in examples if e.split == "train"], args.references, 2)]

    adapters = {"ranker": args.adapter} if args.adapter else {}
    backend = HFBackend(HFConfig(model=args.model, adapters=adapters, threads=args.threads, dtype=args.dtype, batch_size=8))
    with tempfile.TemporaryDirectory() as cache_dir:
        llm = LLM(backend, cache=ResponseCache(cache_dir))
        result: dict = {"benchmark": "meta_ranking_quality", "model": backend.model_id, "adapter": args.adapter,
                        "targets": len(targets), "errors": sum(not t.correct for t in targets),
                        "references": len(refs), "selection": args.selection, "swap": not args.no_swap,
                        "by_n": {}}
        for n in (5, 3, 1):
            config = MetaRankingConfig(n_references=n, selection=args.selection, swap=not args.no_swap,
                                       adapter="ranker" if args.adapter else None)
            ranker = MetaRanker(llm, config, references=refs)
            started = time.perf_counter()
            judgements = ranker.rank_sync(targets)
            seconds = time.perf_counter() - started
            is_error = [not t.correct for t in targets]
            flagged = [0.0 if j.label else 1.0 for j in judgements]  # detected: score below the threshold
            m = binary_metrics(is_error, flagged, 0.5)
            ranking = binary_metrics(is_error, [1.0 - j.score for j in judgements], 0.5)
            stats = ranker.last_prefix_stats
            result["by_n"][str(n)] = {
                "error_precision": m.precision, "error_recall": m.recall, "error_f1": m.f1,
                "accuracy": m.accuracy, "auroc": ranking.auroc, "flagged": int(sum(flagged)),
                "seconds": round(seconds, 1), "prompts": stats.prompts if stats else None,
                "prefix_reuse_share": stats.share if stats else None,
            }
            r = result["by_n"][str(n)]
            print(f"N={n}: error precision {r['error_precision']:.3f} recall {r['error_recall']:.3f} "
                  f"AUROC {r['auroc']:.3f}; prefix-cache reusable share {r['prefix_reuse_share']:.3f} ({seconds:.0f} s)")
        llm.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
