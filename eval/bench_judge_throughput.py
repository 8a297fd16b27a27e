"""Triples judged per second: batched ``score_choices`` against GraphJudger-style generation.

(a) kgjudge: every triple prompt goes through one batched forward pass per micro-batch and the
    answer is P(Yes) against P(No) from ``score_choices``.
(b) GraphJudger-style: one prompt per call, beam search with 4 beams and up to 64 new tokens,
    then the reply is searched for "yes"/"no".

Both use the same model, machine, prompts (document + triple, REBEL-Sub val) and no response
cache. Prints both rates and their ratio, and writes a JSON result.

    python eval/bench_judge_throughput.py [--quick] [--triples 128 --baseline-triples 8]

Goal (issue "the main job, for real"): the batched path judges at least 20x as many triples per
second as the generation path. Rates are per wall second and per CPU-second of this process
(the machine may be shared; the CPU-second ratio is the one load does not skew).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import time
from pathlib import Path

from kgjudge._prompts import render
from kgjudge.llm import LLM, HFBackend, HFConfig, LLMRequest

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rebel_sub"


def load_triples(data: Path, limit: int) -> list[tuple[str, list[str]]]:
    """(document, [head, relation, tail]) pairs from a .target/.source line-per-document pair."""
    pairs = []
    texts = (data / "val.target").read_text(encoding="utf-8").splitlines()
    graphs = (data / "val.source").read_text(encoding="utf-8").splitlines()
    for text, graph in zip(texts, graphs):
        for triple in ast.literal_eval(graph):
            if len(triple) == 3:
                pairs.append((text, [str(x) for x in triple]))
                if len(pairs) == limit:
                    return pairs
    return pairs


def request(document: str, triple: list[str], **kwargs: object) -> LLMRequest:
    prompt = render("triple_judge.v1", document=document, head=triple[0], relation=triple[1], tail=triple[2])
    return LLMRequest.chat(prompt, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="packaged name, folder or .gguf")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with val.target/val.source")
    parser.add_argument("--triples", type=int, default=128, help="triples for the batched path")
    parser.add_argument("--baseline-triples", type=int, default=8, help="triples for the generation path")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the backend's)")
    parser.add_argument("--quick", action="store_true", help="32 triples against 4")
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench_judge_throughput.json"))
    args = parser.parse_args()

    if args.quick:
        args.triples, args.baseline_triples = min(args.triples, 32), min(args.baseline_triples, 4)
    load_start = os.getloadavg()
    pairs = load_triples(args.data, max(args.triples, args.baseline_triples))
    backend = HFBackend(HFConfig(model=args.model, batch_size=args.batch_size, dtype=args.dtype, threads=args.threads))
    llm = LLM(backend, cache=None)

    llm.score_choices_sync([request(*pairs[0], choices=["Yes", "No"])])  # warm-up
    started, cpu_started = time.perf_counter(), time.process_time()
    scores = llm.score_choices_sync([request(d, t, choices=["Yes", "No"]) for d, t in pairs[: args.triples]])
    batched_s, batched_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    batched_rate = len(scores) / batched_s

    base = pairs[: args.baseline_triples]
    started, cpu_started = time.perf_counter(), time.process_time()
    replies = []
    for document, triple in base:
        (r,) = llm.generate_sync([request(document, triple, max_tokens=64, num_beams=4)])
        replies.append(r.text)
    baseline_s, baseline_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    baseline_rate = len(base) / baseline_s
    cpu_ratio = (len(scores) / batched_cpu) / (len(base) / baseline_cpu)

    def verdict(text: str) -> bool | None:
        low = text.lower()
        return True if "yes" in low else False if "no" in low else None

    gen_verdicts = [verdict(t) for t in replies]
    score_verdicts = [s.prob("Yes") >= 0.5 for s in scores[: len(base)]]
    result = {
        "benchmark": "judge_throughput",
        "model": backend.model_id,
        "device": backend.device,
        "dtype": str(backend.model.dtype),
        "threads": __import__("torch").get_num_threads(),
        "op_dtypes": dict(backend.config.op_dtypes),
        "load_average_at_end": os.getloadavg()[0],
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "load_start": load_start,
                    "load_end": os.getloadavg()},
        "batched": {"triples": len(scores), "seconds": batched_s, "cpu_seconds": batched_cpu,
                    "triples_per_s": batched_rate, "batch_size": args.batch_size},
        "generation_beam4": {"triples": len(base), "seconds": baseline_s, "cpu_seconds": baseline_cpu,
                             "triples_per_s": baseline_rate, "max_new_tokens": 64, "num_beams": 4,
                             "unparseable_replies": sum(v is None for v in gen_verdicts)},
        "ratio": batched_rate / baseline_rate,
        "cpu_ratio": cpu_ratio,
        "decision_agreement": sum(a == b for a, b in zip(gen_verdicts, score_verdicts)) / max(1, len(base)),
    }
    result["goals"] = {
        "batched vs generation, triples per second": {
            "value": round(result["ratio"], 2), "goal": ">= 20", "met": result["ratio"] >= 20
        },
        "batched vs generation, triples per CPU-second": {
            "value": round(cpu_ratio, 2), "goal": ">= 20", "met": cpu_ratio >= 20
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"batched score_choices: {batched_rate:.2f} triples/s ({len(scores)} triples, {batched_s:.1f} s)")
    print(f"generation, 4 beams, 64 tokens: {baseline_rate:.3f} triples/s ({len(base)} triples, {baseline_s:.1f} s)")
    print(f"ratio: {result['ratio']:.1f}x per second, {cpu_ratio:.1f}x per CPU-second   (written to {args.out})")


if __name__ == "__main__":
    main()
