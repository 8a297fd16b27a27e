"""Latency of `kgjudge serve` over HTTP: entity search, neighbourhood and triple by id, p50 and
p95, against a real server (`kgjudge serve` in its own process, uvicorn) on the synthetic
100,000-triple graph of eval/bench_graphrag.py in the embedded RDF store on disk.

    python eval/bench_serve.py                   # 100k triples, 200 requests of each kind
    python eval/bench_serve.py --quick           # 10k triples, 50 requests of each kind

Requests are made one at a time by one client (httpx, keep-alive). The first search builds
the server's name index and is timed on its own (``first_search_ms``); then each kind is
asked once to warm up and timed over the rest. Search queries are entity names, name prefixes
and names with one letter changed (misspellings), in equal parts. Goal: p50 <= 50 ms each.
Writes JSON (eval/results/bench_serve.json by default) with the machine, its load average at
start and end, the settings, the figures and a ``goals`` map.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import yaml
from _bench_common import percentile, synthetic_triples, write_result

from kgjudge.graph import build_store

GOAL_P50_MS = 50.0


def misspell(name: str, rng: random.Random) -> str:
    """``name`` with one letter of its longest word changed (what a person mistypes)."""
    words = name.split(" ")
    i = max(range(len(words)), key=lambda k: len(words[k]))
    word = words[i]
    if len(word) < 4:
        return name
    j = rng.randrange(1, len(word))
    words[i] = word[:j] + ("x" if word[j] != "x" else "y") + word[j + 1 :]
    return " ".join(words)


def start_server(config: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """``kgjudge serve --config CONFIG`` on a free loopback port; returns the process and its URL."""
    kgjudge = Path(sys.executable).with_name("kgjudge")
    handle = log.open("w")
    proc = subprocess.Popen([str(kgjudge), "serve", "--config", str(config), "--port", "0"], stdout=handle,
                            stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = re.search(r"open (http://127\.0\.0\.1:\d+)/", log.read_text())
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            raise SystemExit(f"kgjudge serve exited:\n{log.read_text()}")
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("kgjudge serve did not start in 5 minutes")


def timed(client, paths: list[str]) -> list[float]:  # noqa: ANN001
    out = []
    for path in paths:
        t0 = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code} {response.text[:200]}")
    return out


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k triples, 50 requests of each kind")
    parser.add_argument("--triples", type=int, help="graph size (default 100,000; 10,000 with --quick)")
    parser.add_argument("--requests", type=int, help="timed requests of each kind (default 200; 50 with --quick)")
    parser.add_argument("--limit", type=int, default=50, help="facts per neighbourhood page (the page asks for 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="eval/results/bench_serve.json")
    args = parser.parse_args()
    n_triples = args.triples or (10_000 if args.quick else 100_000)
    n_requests = args.requests or (50 if args.quick else 200)
    load_start = os.getloadavg()

    triples = synthetic_triples(n_triples, max(n_triples // 10, 10), args.seed)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kgjudge-bench-serve-") as tmp:
        folder = Path(tmp)
        store_path = folder / "graph.oxigraph"
        t0 = time.perf_counter()
        with build_store({"type": "rdf.v1", "path": str(store_path)}) as store:
            store.upsert(triples)
        load_s = time.perf_counter() - t0
        config = folder / "serve.yaml"
        config.write_text(yaml.safe_dump({
            "backends": {"default": {"type": "fake.v1"}}, "cache": {"enabled": False},
            "store": {"type": "rdf.v1", "path": str(store_path)},
        }))
        names = sorted({t.head for t in triples} | {t.tail for t in triples})
        picked = [rng.choice(names) for _ in range(n_requests + 1)]
        queries = []
        for i, name in enumerate(picked):
            queries.append([name, name[: max(3, len(name) // 2)], misspell(name, rng)][i % 3])
        ids = [rng.choice(triples).id for _ in range(n_requests + 1)]
        proc, url = start_server(config, folder / "server.log")
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                t0 = time.perf_counter()
                client.get("/api/entities", params={"q": picked[0]}).raise_for_status()
                first_search_ms = (time.perf_counter() - t0) * 1000
                kinds = {
                    "search": [f"/api/entities?q={quote(q)}&limit=10" for q in queries],
                    "neighbourhood": [f"/api/neighbourhood?entity={quote(n)}&hops=1&limit={args.limit}" for n in picked],
                    "triple": [f"/api/triples/{quote(i, safe='')}" for i in ids],
                }
                figures = {}
                for kind, paths in kinds.items():
                    timed(client, paths[:1])
                    latencies = timed(client, paths[1:])
                    figures[kind] = {"p50_ms": round(percentile(latencies, 50), 2),
                                     "p95_ms": round(percentile(latencies, 95), 2),
                                     "mean_ms": round(sum(latencies) / len(latencies), 2), "requests": len(latencies)}
                sizes = [len(client.get(p).json()["facts"]) for p in kinds["neighbourhood"][1:21]]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    goals = {f"{kind}_p50_ms": {"value": f["p50_ms"], "goal": f"<= {GOAL_P50_MS:.0f} ms", "met": f["p50_ms"] <= GOAL_P50_MS}
             for kind, f in figures.items()}
    for kind, f in figures.items():
        print(f"{kind}: p50 {f['p50_ms']:.1f} ms, p95 {f['p95_ms']:.1f} ms (goal p50 <= {GOAL_P50_MS:.0f} ms: "
              f"ratio {GOAL_P50_MS / f['p50_ms']:.2f}, {'met' if f['p50_ms'] <= GOAL_P50_MS else 'NOT met'})", flush=True)
    print(f"{n_triples:,} triples on the RDF store (load {load_s:.1f} s); first search {first_search_ms:.0f} ms "
          f"(builds the name index); {sum(sizes) / len(sizes):.1f} facts per neighbourhood", flush=True)
    write_result(args.out, {
        "benchmark": "serve_latency", "quick": args.quick, "store": "rdf.v1", "triples": n_triples,
        "entities": len(names), "requests_per_kind": n_requests, "neighbourhood_limit": args.limit, "seed": args.seed,
        "cores": os.cpu_count(), "load_average_at_start": list(load_start), "load_average_at_end": list(os.getloadavg()),
        "load_seconds": round(load_s, 2), "first_search_ms": round(first_search_ms, 1),
        "mean_neighbourhood_facts": round(sum(sizes) / len(sizes), 1), "latency": figures, "goals": goals,
    })


if __name__ == "__main__":
    main()
