"""k-hop neighbourhood query latency (p50/p95) of each graph store on a synthetic graph
(100,000 triples by default; --triples makes it smaller for tests).

    python eval/bench_store_query.py
    python eval/bench_store_query.py --stores networkx,rdf --triples 2000 --queries 20
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _bench_common import loaded_stores, percentile, synthetic_triples, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="networkx,rdf,bolt", help="comma-separated: networkx, rdf, bolt")
    parser.add_argument("--triples", type=int, default=100_000)
    parser.add_argument("--entities", type=int, help="distinct entities (default: triples / 10)")
    parser.add_argument("--queries", type=int, default=100, help="queries per hop count")
    parser.add_argument("--hops", default="1,2")
    parser.add_argument("--bolt-config", help="config file whose store: section is a neo4j.v1 store")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="eval/results/bench_store_query.json")
    args = parser.parse_args()

    triples = synthetic_triples(args.triples, args.entities, args.seed)
    names = sorted({n for t in triples for n in (t.head, t.tail)})
    rng = random.Random(args.seed)
    seeds = [rng.choice(names) for _ in range(args.queries)]
    hops = [int(h) for h in args.hops.split(",")]
    results = []
    for store, load_s, _ in loaded_stores(args.stores, args.bolt_config, triples):
        entry = {"store": store.name, "triples": len(triples), "entities": len(names),
                 "load_seconds": round(load_s, 2), "hops": {}}
        for k in hops:
            store.neighbours(seeds[0], k)  # warm caches and connections
            latencies, sizes = [], []
            for name in seeds:
                t0 = time.perf_counter()
                found = store.neighbours(name, k)
                latencies.append((time.perf_counter() - t0) * 1000)
                sizes.append(len(found.triples))
            entry["hops"][str(k)] = {
                "queries": len(seeds), "p50_ms": round(percentile(latencies, 50), 2),
                "p95_ms": round(percentile(latencies, 95), 2),
                "mean_triples_returned": round(statistics.mean(sizes), 1),
            }
            h = entry["hops"][str(k)]
            print(f"{store.name}: {k}-hop p50 {h['p50_ms']:.1f} ms, p95 {h['p95_ms']:.1f} ms "
                  f"({h['mean_triples_returned']:.0f} triples returned on average; "
                  f"{len(triples):,} triples loaded in {load_s:.1f} s)", flush=True)
        results.append(entry)
    write_result(args.out, {"benchmark": "store_query", "seed": args.seed, "results": results})


if __name__ == "__main__":
    main()
