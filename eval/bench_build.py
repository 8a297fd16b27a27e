"""Pipeline benchmarks on REBEL-Sub val documents with a fixed-latency fake backend.

1. Model calls per document: kgjudge's denoise rounds stop early once a round changes nothing,
   identical requests are sent once, and a re-run is answered by the response cache; compared
   with the GraphJudger scripts' fixed 2 calls per round per document + 1.
2. Overhead: the share of wall time spent outside model calls (chunking, parsing, evidence
   matching, cache, files) on a build of N documents. Goal: <= 5%.

The fake backend answers from the request text (entities: the capitalised words; rewrite: the
text's first sentences; triples: consecutive entity pairs), so every document's requests are
distinct, and sleeps ``--latency`` seconds per batch call like a served model would.

    python eval/bench_build.py --documents 200 --latency 0.2
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

from kgjudge import parse_config
from kgjudge.llm import FakeBackend, FakeConfig, LLMRequest
from kgjudge.pipeline import Build

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rebel_sub" / "val.target"
CAPITALISED = re.compile(r"\b[A-Z][\w-]+(?: [A-Z][\w-]+)*")


def respond(request: LLMRequest) -> str:
    """A deterministic stand-in model that reads the request."""
    prompt = request.messages[-1].content if request.messages else request.prompt or ""
    if prompt.startswith(("List the named entities", "Rewrite the text")):
        text = prompt.split("Text:\n", 1)[-1]
    else:  # extraction: the text comes first, then the entities and the instruction
        text = prompt.split("Text:\n", 1)[-1].split("\n\n", 1)[0]
    entities = list(dict.fromkeys(CAPITALISED.findall(text)))[:12]
    if prompt.startswith("List the named entities"):
        return json.dumps({"entities": entities})
    if prompt.startswith("Rewrite the text"):
        return " ".join(re.split(r"(?<=\.)\s+", text)[:3])
    return json.dumps([[a, "related to", b] for a, b in zip(entities, entities[1:])])


def run(docs: Path, out: Path, rounds: int, latency: float, cache: Path) -> dict:
    config = parse_config({
        "backends": {"default": {"type": "fake.v1"}},
        "cache": {"enabled": True, "path": str(cache)},
        "pipeline": {"batch_size": 8, "denoise": {"rounds": rounds}},
    })
    backend = FakeBackend(FakeConfig(latency_s=latency), responder=respond)
    started = time.perf_counter()
    summary = Build(config, out, progress=False, backends={"default": backend}).run([docs])
    wall = time.perf_counter() - started
    model = sum(u.model_seconds for u in [summary.this_run])
    return {"summary": summary, "wall": wall, "model_seconds": model}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a .target file (one document per line)")
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per batch call of the fake model")
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench_build.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kgjudge-bench-"))
    try:
        docs = work / "docs.target"
        lines = args.data.read_text(encoding="utf-8").splitlines()[: args.documents]
        docs.write_text("\n".join(lines) + "\n", encoding="utf-8")
        n = len(lines)

        calls = {}
        for rounds in (1, 2, 3):
            first = run(docs, work / f"calls-{rounds}", rounds, 0.0, work / f"cache-{rounds}")
            rerun = run(docs, work / f"calls-{rounds}-fresh", rounds, 0.0, work / f"cache-{rounds}")
            s, r = first["summary"], rerun["summary"]
            calls[rounds] = {
                "documents": s.documents,
                "chunks": s.chunks,
                "model_calls_per_document": s.this_run.model_calls / s.documents,
                "requests_per_document": s.this_run.requests / s.documents,
                "graphjudger_calls_per_document": 2 * rounds + 1,
                "rerun_model_calls": r.this_run.model_calls,
            }

        timed = run(docs, work / "overhead", 2, args.latency, work / "cache-overhead")
        s = timed["summary"]
        overhead = (timed["wall"] - timed["model_seconds"]) / timed["wall"]
        result = {
            "benchmark": "build",
            "documents": n,
            "latency_s_per_call": args.latency,
            "calls": calls,
            "overhead": {
                "wall_seconds": timed["wall"],
                "model_seconds": timed["model_seconds"],
                "outside_model_share": overhead,
                "model_requests": s.this_run.model_calls,
                "triples": s.triples,
            },
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        for rounds, c in calls.items():
            print(f"rounds={rounds}: {c['model_calls_per_document']:.2f} model calls/document "
                  f"(GraphJudger scripts: {c['graphjudger_calls_per_document']}), re-run: {c['rerun_model_calls']}")
        print(f"overhead: {overhead:.1%} of {timed['wall']:.1f} s outside model calls "
              f"({n} documents, {args.latency} s per call); ratio model/wall {timed['model_seconds'] / timed['wall']:.3f}")
        print(f"written to {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
