"""Growing a build: what adding, changing and removing one document and judging again with a
new threshold cost, against building the final documents from scratch.

With the fake backend (a fixed latency per batch call, replies read from the request) on
REBEL-Sub val documents (cycled, each made distinct, when more are asked for than the file
holds): build N documents into an output folder with its on-disk store, then in that folder

1. add one document (the inputs are the N documents and a new one),
2. change one (its text differs),
3. remove one (``kgjudge remove``),
4. judge again with a new threshold (``kgjudge rejudge``: decided from the stored scores),

and build the N + 1 documents from scratch into a fresh folder. For each, the wall time and the
time outside model calls (wall minus the seconds the backend spent answering). Then the same
add on a build of ``--scale`` documents, to show how its cost grows with the build.

Goals (issue: graphs that grow): adding one document to a 1,000-document build costs <= 1 s
outside its own model calls and <= 2% of a rebuild; a threshold-only rejudge of 1,000
documents makes 0 model calls and takes <= 5 s.

    python eval/bench_incremental.py                 # 1,000 documents, the add again at 10,000
    python eval/bench_incremental.py --quick         # 200 documents, the add again at 1,000

Every run is cold: a fresh output folder and no response cache. Writes a JSON result (machine,
load average at start and end, settings, figures, goals) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from kgjudge import parse_config
from kgjudge.llm import FakeBackend, FakeConfig, LLMRequest
from kgjudge.pipeline import Build, Rejudge, Remove

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rebel_sub" / "val.target"
CAPITALISED = re.compile(r"\b[A-Z][\w-]+(?: [A-Z][\w-]+)*")
THRESHOLD, NEW_THRESHOLD = 0.5, 0.7


def respond(request: LLMRequest) -> str:
    """A deterministic stand-in model: triples between consecutive capitalised names of the text."""
    prompt = request.messages[-1].content if request.messages else request.prompt or ""
    text = prompt.split("Text:\n", 1)[-1].split("\n\n", 1)[0]
    names = list(dict.fromkeys(CAPITALISED.findall(text)))[:10]
    return json.dumps([[a, "related to", b] for a, b in zip(names, names[1:])])


def documents(data: Path, n: int) -> list[dict[str, str]]:
    """``n`` documents from the .target file (one per line), cycled and made distinct."""
    lines = [line for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise SystemExit(f"{data}: no documents")
    out = []
    for i in range(n):
        text = lines[i % len(lines)]
        out.append({"id": f"doc-{i}", "text": text if i < len(lines) else f"{text} (copy {i // len(lines)})"})
    return out


def write_docs(path: Path, docs: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


def config(store: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "backends": {"default": {"type": "fake.v1"}},
        "cache": {"enabled": False},
        "pipeline": {"batch_size": 8, "denoise": {"enabled": False}},
        "judge": {"type": "graphjudger.v1", "backend": "default", "threshold": THRESHOLD},
    }
    if store == "networkx":
        cfg["store"] = {"type": "networkx.v1"}
    return cfg


class Bench:
    def __init__(self, work: Path, store: str, latency: float) -> None:
        self.work = work
        self.cfg = config(store)
        self.latency = latency
        self.inputs = 0

    def backend(self) -> FakeBackend:
        return FakeBackend(FakeConfig(latency_s=self.latency), responder=respond)

    def build(self, out: Path, docs: list[dict[str, str]]) -> dict[str, Any]:
        self.inputs += 1
        path = write_docs(self.work / f"inputs-{self.inputs}.jsonl", docs)
        started = time.perf_counter()
        s = Build(parse_config(self.cfg), out, progress=False, backends={"default": self.backend()}).run([path])
        return figures(time.perf_counter() - started, s.this_run.model_seconds, s.this_run.model_calls,
                       documents=s.documents, added=s.added, changed=s.changed, unchanged=s.unchanged,
                       triples=s.triples)

    def remove(self, out: Path, doc_id: str) -> dict[str, Any]:
        started = time.perf_counter()
        s = Remove(out).run([doc_id])
        return figures(time.perf_counter() - started, 0.0, 0, documents=s.documents, triples=s.triples)

    def rejudge(self, out: Path) -> dict[str, Any]:
        judge_file = self.work / "judge.yaml"
        judge_file.write_text(yaml.safe_dump({"backends": self.cfg["backends"],
                                              "judge": {**self.cfg["judge"], "threshold": NEW_THRESHOLD}}))
        started = time.perf_counter()
        s = Rejudge(out, judge_file, progress=False, backends={"default": self.backend()}).run()
        return figures(time.perf_counter() - started, s.this_run.model_seconds, s.this_run.model_calls,
                       judged=s.judged, kept=s.kept, labels_changed=s.labels_changed, scores_kept=s.scores_kept)


def figures(wall: float, model: float, calls: int, **extra: Any) -> dict[str, Any]:
    return {"wall_s": round(wall, 3), "model_s": round(model, 3), "outside_model_s": round(max(wall - model, 0.0), 3),
            "model_calls": calls, **extra}


def goal(value: float, limit: float, unit: str = "s") -> dict[str, Any]:
    shown = f"<= {limit:g} {unit}".rstrip() if unit else f"<= {limit:g}"
    return {"value": round(value, 4), "goal": shown, "met": value <= limit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 documents, the add repeated at 1,000")
    parser.add_argument("--documents", type=int, help="the build grown (default 1,000; 200 with --quick)")
    parser.add_argument("--scale", type=int, help="the build the add is repeated on (default 10,000; 1,000 with "
                        "--quick; 0: none)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per batch call of the fake model")
    parser.add_argument("--store", choices=["rdf", "networkx"], default="rdf", help="the build's store")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a .target file (one document per line)")
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench_incremental.json"))
    args = parser.parse_args()
    n = args.documents or (200 if args.quick else 1000)
    scale = args.scale if args.scale is not None else (1000 if args.quick else 10_000)
    load_start = os.getloadavg()

    work = Path(tempfile.mkdtemp(prefix="kgjudge-bench-incremental-"))
    try:
        bench = Bench(work, args.store, args.latency)
        docs = documents(args.data, n + 2)
        base, extra, spare = docs[:n], docs[n], docs[n + 1]
        out = work / "grown"
        steps: dict[str, dict[str, Any]] = {}
        steps["build"] = bench.build(out, base)
        grown = [*base, extra]
        steps["add"] = bench.build(out, grown)
        changed = [{**grown[0], "text": spare["text"]}, *grown[1:]]
        steps["change"] = bench.build(out, changed)
        steps["remove"] = bench.remove(out, changed[1]["id"])
        steps["rejudge"] = bench.rejudge(out)
        steps["rebuild"] = bench.build(work / "scratch", grown)
        for name, f in steps.items():
            print(f"{name:8s} {f['wall_s']:8.3f} s wall, {f['outside_model_s']:8.3f} s outside {f['model_calls']} model calls")

        scaled: dict[str, Any] | None = None
        if scale:
            big = documents(args.data, scale + 1)
            scaled_out = work / "scaled"
            scaled = {"documents": scale, "build": bench.build(scaled_out, big[:scale])}
            scaled["add"] = bench.build(scaled_out, big)
            print(f"at {scale} documents: build {scaled['build']['wall_s']:.1f} s, add one "
                  f"{scaled['add']['wall_s']:.3f} s wall, {scaled['add']['outside_model_s']:.3f} s outside model calls")

        add, rebuild, rejudge = steps["add"], steps["rebuild"], steps["rejudge"]
        # The add as a whole (its own model calls too) against the rebuild as a whole.
        share = add["wall_s"] / rebuild["wall_s"] if rebuild["wall_s"] else 0.0
        goals = {
            "add_outside_model_s": goal(add["outside_model_s"], 1.0),
            "add_share_of_rebuild": goal(share, 0.02, ""),
            "rejudge_model_calls": goal(rejudge["model_calls"], 0, ""),
            "rejudge_s": goal(rejudge["wall_s"], 5.0),
        }
        print(f"add one: {share:.2%} of a rebuild of {n + 1} documents; rejudge: {rejudge['model_calls']} model calls")
        for name, g in goals.items():
            print(f"goal {name}: {g['value']} ({g['goal']}) {'met' if g['met'] else 'NOT met'}")
        result = {
            "benchmark": "incremental", "quick": args.quick, "cold": True, "documents": n, "store": args.store,
            "latency_s_per_call": args.latency, "batch_size": 8, "data": args.data.name,
            "cores": os.cpu_count(), "load_average_at_start": list(load_start),
            "load_average_at_end": list(os.getloadavg()),
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "steps": steps, "scaled": scaled, "goals": goals,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written to {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
