"""Model cascading on a labelled task: verifying triples of held-out REBEL-Sub documents.

Each query is the GraphJudger question (document + triple, "Answer Yes or No."), its gold answer
Yes for a gold triple and No for a corrupted one. The weak backend is the untuned packaged
SmolLM2, the strong one the same model with the packaged judge adapter; Meta Ranking (untuned
SmolLM2, N references from training documents (outside the dev split) with right and wrong answers) decides which
weak answers are re-asked. Prints tokens per role and the accuracy of weak-only, strong-only
and the cascade.

    python eval/cascade_quality.py --queries 40
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from _data import REBEL_SUB, balanced, val_judge_examples

from kgjudge.judges import (
    Cascade,
    CascadeConfig,
    CascadeQuery,
    MetaRanker,
    MetaRankingConfig,
    QAPair,
    is_correct,
    judge_messages,
)
from kgjudge.llm import LLM, HFBackend, HFConfig, LLMRequest

def question(e, max_chars: int) -> str:
    return judge_messages(e.document, e.head, e.relation, e.tail, max_document_chars=max_chars)[0].content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--strong-adapter", default="packaged:smollm2-judge.v1")
    parser.add_argument("--data", type=Path, default=REBEL_SUB)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--references", type=int, default=3)
    parser.add_argument("--reference-pool", type=int, default=30)
    parser.add_argument("--max-document-chars", type=int, default=400)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--out", type=Path, default=Path("eval/results/cascade_quality.json"))
    args = parser.parse_args()

    examples = val_judge_examples(args.data)
    test = balanced([e for e in examples if e.split == "test"], args.queries, 3)
    queries = [CascadeQuery(id=e.id, query=question(e, args.max_document_chars), answers=["Yes" if e.label else "No"])
               for e in test]
    rng = random.Random(4)
    refs = []
    for e in balanced([e for e in examples if e.split == "train"], args.reference_pool, 5):
        right = rng.random() < 0.5
        answer = ("Yes" if e.label else "No") if right else ("No" if e.label else "Yes")
        refs.append(QAPair(query=question(e, args.max_document_chars), response=answer, correct=right))

    backend = HFBackend(HFConfig(model=args.model, adapters={"judge": args.strong_adapter}, threads=args.threads, dtype=args.dtype,
                                 batch_size=8))
    llm = LLM(backend, cache=None)
    ranker = MetaRanker(llm, MetaRankingConfig(n_references=args.references, swap=True, threshold=args.threshold),
                        references=refs)
    config = CascadeConfig(weak="smollm2", strong="smollm2+judge", strong_adapter="judge", max_tokens=3,
                           judge={"type": "meta_ranking.v1"}, match="prefix")
    results, report = Cascade(llm, llm, ranker, config).run_sync(queries)

    strong_all = llm.generate_sync([LLMRequest.chat(q.query, max_tokens=3, adapter="judge") for q in queries])
    strong_accuracy = sum(bool(is_correct(r.text, q.answers, "prefix")) for q, r in zip(queries, strong_all)) / len(queries)
    strong_tokens = sum(r.prompt_tokens + r.completion_tokens for r in strong_all)
    out = {
        "benchmark": "cascade_quality",
        "model": backend.model_id,
        "queries": len(queries),
        "references_per_query": args.references,
        "report": report.model_dump(),
        "strong_only": {"accuracy": strong_accuracy, "tokens": strong_tokens},
        "weak_answers": {a: sum(r.weak_answer.startswith(a) for r in results) for a in ("Yes", "No")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    t = report.tokens
    print(f"accuracy: weak only {report.weak_accuracy:.3f}, cascade {report.accuracy:.3f}, strong only {strong_accuracy:.3f}")
    print(f"escalated {report.escalated}/{report.queries}; tokens weak {t['weak'].prompt + t['weak'].completion}, "
          f"judge {t['judge'].prompt}, strong {t['strong'].prompt + t['strong'].completion} "
          f"(strong for every query: {strong_tokens})")
    print(f"written to {args.out}")
    llm.close()


if __name__ == "__main__":
    main()
