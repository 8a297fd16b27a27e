"""Ingestion speed of the graph stores: triples/s batched vs one triple per call.

Targets: the embedded RDF store ingests >= 50,000 triples/s (counted as RDF statements, the
unit RDF stores are measured in; Triple records with full provenance are also reported), and
batched ingestion is >= 20x faster than one triple per call. Every number comes from this run.

    python eval/bench_store_ingest.py                       # rdf and bolt (ArcadeDB started here)
    python eval/bench_store_ingest.py --stores rdf --triples 1000 --per-triple 100
    python eval/bench_store_ingest.py --bolt-config neo4j.yaml   # a config whose store: is neo4j.v1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _bench_common import open_bench_store, stop_server, synthetic_triples, write_result

RDF_STATEMENTS_TARGET = 50_000
RATIO_TARGET = 20.0


def measure(kind: str, triples: list, per_triple: int, bolt_config: str | None, folder: Path) -> dict:
    with open_bench_store(kind, bolt_config, folder) as store:
        started = time.perf_counter()
        store.upsert(triples)
        batched_s = time.perf_counter() - started
        assert store.stats().triples == len(triples)
        statements = store.quad_count if kind == "rdf" else None
    singles = triples[:per_triple]
    with open_bench_store(kind, bolt_config, folder) as store:
        started = time.perf_counter()
        for triple in singles:
            store.upsert([triple])
        single_s = time.perf_counter() - started
        assert store.stats().triples == len(singles)
    batched = len(triples) / batched_s
    single = len(singles) / single_s
    result = {
        "store": store.name,
        "batch_size": store.batch_size,
        "batched": {"triples": len(triples), "seconds": round(batched_s, 3), "triples_per_s": round(batched, 1)},
        "per_triple": {"triples": len(singles), "seconds": round(single_s, 3), "triples_per_s": round(single, 1)},
        "batched_over_per_triple": round(batched / single, 2),
        "ratio_target": RATIO_TARGET,
        "ratio_met": batched / single >= RATIO_TARGET,
    }
    if statements is not None:
        result["batched"]["rdf_statements"] = statements
        result["batched"]["rdf_statements_per_s"] = round(statements / batched_s, 1)
        result["rdf_statements_target"] = RDF_STATEMENTS_TARGET
        result["rdf_statements_target_met"] = statements / batched_s >= RDF_STATEMENTS_TARGET
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="rdf,bolt", help="comma-separated: rdf, bolt, networkx")
    parser.add_argument("--triples", type=int, default=100_000, help="triples ingested in batches")
    parser.add_argument("--bolt-triples", type=int, default=20_000, help="triples for the Bolt store (slower)")
    parser.add_argument("--per-triple", type=int, default=2_000, help="triples ingested one per call")
    parser.add_argument("--bolt-per-triple", type=int, default=300)
    parser.add_argument("--bolt-config", help="config file whose store: section is a neo4j.v1 store")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="eval/results/bench_store_ingest.json")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="kgjudge-bench-") as tmp:
        try:
            for kind in [k.strip() for k in args.stores.split(",") if k.strip()]:
                count = args.bolt_triples if kind == "bolt" else args.triples
                singles = args.bolt_per_triple if kind == "bolt" else args.per_triple
                triples = synthetic_triples(count, seed=args.seed)
                r = measure(kind, triples, min(singles, count), args.bolt_config, Path(tmp))
                results.append(r)
                line = (f"{r['store']}: batched {r['batched']['triples_per_s']:,.0f} triples/s, one per call "
                        f"{r['per_triple']['triples_per_s']:,.0f} triples/s, ratio {r['batched_over_per_triple']:.1f}x "
                        f"(target >= {RATIO_TARGET:.0f}x: {'met' if r['ratio_met'] else 'NOT met'})")
                if "rdf_statements_per_s" in r["batched"]:
                    line += (f"; {r['batched']['rdf_statements_per_s']:,.0f} RDF statements/s (target >= "
                             f"{RDF_STATEMENTS_TARGET:,}: {'met' if r['rdf_statements_target_met'] else 'NOT met'})")
                print(line, flush=True)
        finally:
            stop_server()
    write_result(args.out, {"benchmark": "store_ingest", "seed": args.seed, "results": results})


if __name__ == "__main__":
    main()
