"""GraphRAG retrieval latency without the model call (p50/p95), on a synthetic graph of
100,000 triples by default (--triples makes it smaller for tests).

Local search: entity linking (exact, fuzzy and embedding, with the question's embedding),
the store's neighbourhood of the linked entities, ranking and the token budget. Global search:
community ranking and the facts of the chosen communities; community summaries are written by
the fake backend here, since the benchmark measures retrieval, not summarising.

    python eval/bench_graphrag.py                       # embedded RDF store, 100k triples
    python eval/bench_graphrag.py --stores rdf,networkx --triples 2000 --queries 20

Prints the local p50 against the 50 ms goal as a ratio (goal / p50; >= 1 meets it) and writes
JSON (eval/results/bench_graphrag.json by default).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _bench_common import loaded_stores, percentile, synthetic_triples, write_result

from kgjudge._rag_config import RAGConfig
from kgjudge.graph import GraphRAG
from kgjudge.llm import build_llm

GOAL_P50_MS = 50.0


def timed(rag: GraphRAG, questions: list[str], mode: str) -> tuple[list[float], list[int], int]:
    latencies, sizes, empty = [], [], 0
    for question in questions:
        t0 = time.perf_counter()
        context = rag.retrieve(question, mode)  # type: ignore[arg-type]
        latencies.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(context.facts))
        empty += context.nothing_found is not None
    return latencies, sizes, empty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="rdf", help="comma-separated: rdf (the embedded default), networkx, bolt")
    parser.add_argument("--triples", type=int, default=100_000)
    parser.add_argument("--entities", type=int, help="distinct entities (default: triples / 10)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--hops", type=int, default=1)
    parser.add_argument("--no-embeddings", action="store_true", help="link and rank without sentence embeddings")
    parser.add_argument("--bolt-config", help="config file whose store: section is a neo4j.v1 store")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="eval/results/bench_graphrag.json")
    args = parser.parse_args()

    triples = synthetic_triples(args.triples, args.entities, args.seed)
    rng = random.Random(args.seed)
    asked = rng.sample(triples, min(args.queries, len(triples)))
    questions = [f"What is the {t.relation} of {t.head}?" for t in asked]
    config = RAGConfig.model_validate({"hops": args.hops, "linking": {"embeddings": not args.no_embeddings}})
    llm = build_llm({"type": "fake.v1", "default_reply": "A group of related entities."})
    results = []
    for store, load_s, tmp in loaded_stores(args.stores, args.bolt_config, triples):
        rag = GraphRAG(store, llm, config, index_dir=tmp / f"rag-{store.name}")
        t0 = time.perf_counter()
        rag.warm()
        index_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = rag.update_communities()
        communities_s = time.perf_counter() - t0
        entry = {"store": store.name, "triples": len(triples), "entities": len(rag.entity_index),
                 "queries": len(questions), "hops": args.hops, "embeddings": not args.no_embeddings,
                 "load_seconds": round(load_s, 2), "entity_index_seconds": round(index_s, 2),
                 "communities": report.communities if report else None,
                 "communities_seconds": round(communities_s, 2)}
        for mode in ("local", "global"):
            first, _, _ = timed(rag, questions, mode)  # also embeds relations and summaries once
            latencies, sizes, empty = timed(rag, questions, mode)
            entry[mode] = {
                "p50_ms": round(percentile(latencies, 50), 2), "p95_ms": round(percentile(latencies, 95), 2),
                "first_pass_p50_ms": round(percentile(first, 50), 2),
                "mean_facts": round(statistics.mean(sizes), 1), "nothing_found": empty,
            }
            hits = sum(rag.retrieve(q, mode).answer_in_context(t.tail) for q, t in zip(questions, asked))  # type: ignore[arg-type]
            entry[mode]["hit_rate"] = round(hits / len(questions), 3)
        entry["local_ratio"] = round(GOAL_P50_MS / entry["local"]["p50_ms"], 2)
        rag.close()
        results.append(entry)
        loc, glo = entry["local"], entry["global"]
        print(f"{store.name}: local p50 {loc['p50_ms']:.1f} ms, p95 {loc['p95_ms']:.1f} ms "
              f"(goal p50 <= {GOAL_P50_MS:.0f} ms: ratio {entry['local_ratio']:.2f}, "
              f"{'met' if entry['local_ratio'] >= 1 else 'NOT met'}); global p50 {glo['p50_ms']:.1f} ms, "
              f"p95 {glo['p95_ms']:.1f} ms; {len(triples):,} triples, {entry['entities']:,} entities, "
              f"{entry['communities']} communities; load {load_s:.1f} s, entity index {index_s:.1f} s, "
              f"communities {communities_s:.1f} s; answer in context: local {loc['hit_rate']:.2f}, "
              f"global {glo['hit_rate']:.2f}", flush=True)
    write_result(args.out, {"benchmark": "graphrag_retrieval", "seed": args.seed, "goal_local_p50_ms": GOAL_P50_MS,
                            "results": results})


if __name__ == "__main__":
    main()
