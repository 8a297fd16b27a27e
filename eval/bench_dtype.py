"""Compute dtype per operation for hf.v1 on this device: choice scoring and generation.

For each variant (float32 weights; float32 weights with bfloat16 autocast for scoring, for the
prompt pass of generation, or for everything; bfloat16 weights) it measures, on the packaged
SmolLM2 with one thread:

- judge scoring: GraphJudger prompts (a REBEL-Sub document and one of its triples), Yes/No
  scored by ``score_choices`` in batches of 16: triples per CPU-second, and P(Yes) against
  float32 (the largest difference: how far decisions can move);
- generation: 8 chat requests, 48 new tokens, batches of 4: tokens per CPU-second.

CPU-seconds of this process, not wall time, so a shared machine skews the numbers less.
The ``auto`` choice of ``HFConfig.op_dtypes`` follows these measurements.

    python eval/bench_dtype.py [--quick] [--out eval/results/bench_dtype.json]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from kgjudge._prompts import render
from kgjudge.llm import LLM, HFBackend, HFConfig, LLMRequest

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rebel_sub"
VARIANTS: dict[str, dict[str, Any]] = {
    "float32": {"dtype": "float32", "op_dtypes": {"score": "float32"}},
    "bf16 autocast: score": {"dtype": "float32", "op_dtypes": {"score": "bfloat16"}},
    "bf16 autocast: prefill": {"dtype": "float32", "op_dtypes": {"score": "float32", "prefill": "bfloat16"}},
    "bf16 autocast: all": {"dtype": "float32", "op_dtypes": {"score": "bfloat16", "prefill": "bfloat16", "decode": "bfloat16"}},
    "bf16 weights": {"dtype": "bfloat16"},
}


def judge_pairs(data: Path, limit: int) -> list[tuple[str, list[str]]]:
    texts = (data / "val.target").read_text(encoding="utf-8").splitlines()
    graphs = (data / "val.source").read_text(encoding="utf-8").splitlines()
    pairs = [(t, [str(x) for x in tr]) for t, g in zip(texts, graphs) for tr in ast.literal_eval(g) if len(tr) == 3]
    return pairs[:limit]


def measure(model: str, settings: dict[str, Any], pairs: list[tuple[str, list[str]]], generations: int) -> dict[str, Any]:
    backend = HFBackend(HFConfig(model=model, threads=1, batch_size=16, **settings))
    llm = LLM(backend, cache=None)
    requests = [
        LLMRequest.chat(render("triple_judge.v1", document=d, head=t[0], relation=t[1], tail=t[2]), choices=["Yes", "No"])
        for d, t in pairs
    ]
    llm.score_choices_sync(requests[:1])  # warm-up
    started = time.process_time()
    scores = llm.score_choices_sync(requests)
    score_cpu = time.process_time() - started
    backend.config = backend.config.model_copy(update={"batch_size": 4})
    prompts = [LLMRequest.chat(f"Write a sentence about {t[0]}.", max_tokens=48) for _, t in pairs[:generations]]
    started = time.process_time()
    replies = llm.generate_sync(prompts)
    gen_cpu = time.process_time() - started
    tokens = sum(r.completion_tokens for r in replies)
    return {
        "score_triples_per_cpu_s": round(len(scores) / score_cpu, 3),
        "generation_tokens_per_cpu_s": round(tokens / gen_cpu, 2),
        "p_yes": [s.prob("Yes") for s in scores],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="packaged name, folder or .gguf")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with val.target/val.source")
    parser.add_argument("--triples", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="16 triples, 4 generations")
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench_dtype.json"))
    args = parser.parse_args()
    load_start = os.getloadavg()
    pairs = judge_pairs(args.data, 16 if args.quick else args.triples)
    generations = 4 if args.quick else 8
    results = {name: measure(args.model, settings, pairs, generations) for name, settings in VARIANTS.items()}
    reference = results["float32"]["p_yes"]
    for name, r in results.items():
        r["max_p_yes_difference"] = round(max(abs(a - b) for a, b in zip(r.pop("p_yes"), reference)), 4)
        print(f"{name:24s} scoring {r['score_triples_per_cpu_s']:6.2f} triples/CPU-s   generation "
              f"{r['generation_tokens_per_cpu_s']:6.2f} tokens/CPU-s   max |dP(Yes)| {r['max_p_yes_difference']}")
    base = results["float32"]
    report = {
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "load_start": load_start,
                    "load_end": os.getloadavg()},
        "settings": {"triples": len(pairs), "generations": generations, "threads": 1, "max_tokens": 48},
        "variants": results,
        "goals": {
            "bfloat16 autocast scoring is faster than float32 (auto uses it)": {
                "value": round(results["bf16 autocast: score"]["score_triples_per_cpu_s"] / base["score_triples_per_cpu_s"], 2),
                "goal": "> 1.0",
                "met": results["bf16 autocast: score"]["score_triples_per_cpu_s"] > base["score_triples_per_cpu_s"],
            },
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
