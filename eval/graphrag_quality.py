"""GraphRAG quality on held-out gold graphs: retrieval hit@k and exact-match answers with the
packaged model, for local and global search.

Data: REBEL-Sub val documents in the eval part of the fixed dev split (eval/_data.py; documents
no packaged adapter was trained on); their gold triples go into a store. Questions come from
triples whose (head, relation) has a single tail in that graph: "What is the <relation> of
<head>?", answer = the tail.

- hit@k: the answer entity is the head or tail of one of the first k facts of the retrieved
  context (k = 1, 3, 5, 10 and the whole context).
- exact match: the model's answer equals the gold tail after normalisation (case, punctuation,
  articles, whitespace); "contains" counts answers that include the gold tail.
- citations: the share of found answers citing a retrieved fact, and of those whose cited
  facts contain the gold answer.
- ``select_chance_exact_match``: the exact match of picking uniformly among the entities the
  select style offers (the baseline a model must beat there).

Both answer styles are run: ``generate`` (the model writes an answer citing fact labels) and
``select`` (the model's log-probabilities pick an entity of the context, or NOT FOUND).

    python eval/graphrag_quality.py --documents 60 --questions 60
"""

from __future__ import annotations

import argparse
import random
import re
import string
import time
from collections import Counter
from pathlib import Path

from _bench_common import write_result
from _data import REBEL_SUB, val_corpus

from kgjudge import Triple
from kgjudge._rag_config import RAGConfig
from kgjudge.graph import Answer, GraphRAG, build_store, select_candidates
from kgjudge.judges import dev_documents
from kgjudge.llm import build_llm

KS = (1, 3, 5, 10)


def normalise(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (the usual exact-match form)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def held_out(data: Path, documents: int, seed: int) -> list:
    test = [d for d in dev_documents(val_corpus(data).documents, "eval") if d.triples]
    return random.Random(seed).sample(test, min(documents, len(test)))


def questions_of(triples: list[Triple], count: int, seed: int) -> list[tuple[str, Triple]]:
    tails = Counter((t.head, t.relation) for t in triples)
    usable = [t for t in triples if tails[(t.head, t.relation)] == 1 and t.head != t.tail]
    picked = random.Random(seed).sample(usable, min(count, len(usable)))
    return [(f"What is the {t.relation} of {t.head}?", t) for t in picked]


def score(answers: list[Answer], asked: list[tuple[str, Triple]]) -> dict:
    gold = [normalise(t.tail) for _, t in asked]
    out: dict = {"questions": len(answers)}
    for k in KS:
        out[f"hit@{k}"] = round(sum(a.context.answer_in_context(t.tail, k) for a, (_, t) in zip(answers, asked)) / len(answers), 3)
    out["hit@all"] = round(sum(a.context.answer_in_context(t.tail) for a, (_, t) in zip(answers, asked)) / len(answers), 3)
    out["nothing_retrieved"] = sum(a.context.nothing_found is not None for a in answers)
    out["mean_context_facts"] = round(sum(len(a.context.facts) for a in answers) / len(answers), 1)
    out["found"] = sum(a.found for a in answers)
    out["exact_match"] = round(sum(a.found and normalise(a.answer) == g for a, g in zip(answers, gold)) / len(answers), 3)
    out["contains"] = round(sum(a.found and bool(g) and g in normalise(a.answer) for a, g in zip(answers, gold)) / len(answers), 3)
    grounded = [a for a in answers if a.found and any(c.source == "cited" for c in a.citations)]
    out["found_and_citing"] = len(grounded)
    out["citing_with_answer_fact"] = sum(
        any(c.source == "cited" and normalise(t.tail) in (normalise(c.head), normalise(c.tail)) for c in a.citations)
        for a, (_, t) in zip(answers, asked) if a in grounded
    )
    out["invalid_citations"] = sum(len(a.invalid_citations) for a in answers)
    out["grounded"] = sum(a.grounded for a in answers)
    # What picking uniformly among the entities the select style offers would score.
    chance = 0.0
    for a, g in zip(answers, gold):
        offered = {normalise(n) for n in select_candidates(a.context, RAGConfig().max_candidates)}
        chance += (1 / len(offered)) if g in offered else 0.0
    out["select_chance_exact_match"] = round(chance / len(answers), 3)
    return out


def retrieval_only(triples: list[Triple], asked: list[tuple[str, Triple]], args: argparse.Namespace) -> None:
    config = RAGConfig.model_validate({"linking": {"embeddings": not args.no_embeddings}})
    with build_store({"type": "networkx.v1"}) as store:
        store.upsert(triples)
        rag = GraphRAG(store, None, config)
        started = time.perf_counter()
        contexts = [rag.retrieve(q) for q, _ in asked]
        seconds = time.perf_counter() - started
    entry: dict = {"questions": len(asked), "seconds": round(seconds, 1)}
    for k in (*KS, None):
        hits = sum(c.answer_in_context(t.tail, k) for c, (_, t) in zip(contexts, asked))
        entry[f"hit@{k or 'all'}"] = round(hits / len(asked), 3)
    entry["nothing_retrieved"] = sum(c.nothing_found is not None for c in contexts)
    entry["mean_context_facts"] = round(sum(len(c.facts) for c in contexts) / len(asked), 1)
    print(f"local retrieval over {len(triples)} triples: " + ", ".join(f"{k} {v}" for k, v in entry.items()), flush=True)
    write_result(args.out, {"benchmark": "graphrag_retrieval_quality", "documents": args.documents,
                            "triples": len(triples), "seed": args.seed, "local": entry})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REBEL_SUB)
    parser.add_argument("--documents", type=int, default=60)
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--modes", default="local,global")
    parser.add_argument("--styles", default="generate,select", help="answer styles (rag.answer_style) to run")
    parser.add_argument("--backend", default="hf.v1", help="hf.v1 (the packaged SmolLM2) or fake.v1 (smoke runs)")
    parser.add_argument("--answer-prompt", default=None, help="rag.answer_prompt (the config default if omitted)")
    parser.add_argument("--select-calibration", default=None, choices=["none", "pmi"])
    parser.add_argument("--retrieval-only", action="store_true",
                        help="local retrieval hit@k only: no model, no communities (for larger graphs)")
    parser.add_argument("--no-embeddings", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="eval/results/graphrag_quality.json")
    args = parser.parse_args()

    docs = held_out(args.data, args.documents, args.seed)
    triples = [Triple(head=h, relation=r, tail=t, document_id=d.id, origin="gold") for d in docs for h, r, t in d.triples]
    asked = questions_of(triples, args.questions, args.seed)
    slot = {"type": args.backend, "batch_size": 8} if args.backend == "hf.v1" else {"type": args.backend}
    if args.retrieval_only:
        retrieval_only(triples, asked, args)
        return
    llm = build_llm(slot, cache={"enabled": True})
    config = RAGConfig.model_validate({"linking": {"embeddings": not args.no_embeddings}})
    if args.answer_prompt:
        config = config.model_copy(update={"answer_prompt": args.answer_prompt})
    if args.select_calibration:
        config = config.model_copy(update={"select_calibration": args.select_calibration})
    result: dict = {"benchmark": "graphrag_quality", "backend": llm.backend.fingerprint(), "documents": len(docs),
                    "triples": len(triples), "seed": args.seed, "modes": {}}
    with build_store({"type": "networkx.v1"}) as store:
        store.upsert(triples)
        rag = GraphRAG(store, llm, config)
        started = time.perf_counter()
        report = rag.update_communities()
        result["communities"] = report.model_dump() if report else None
        result["communities_seconds"] = round(time.perf_counter() - started, 1)
        for style in [x.strip() for x in args.styles.split(",") if x.strip()]:
            rag.config = config.model_copy(update={"answer_style": style})
            for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
                started = time.perf_counter()
                answers = rag.query_many([q for q, _ in asked], mode)  # type: ignore[arg-type]
                entry = score(answers, asked)
                entry["seconds"] = round(time.perf_counter() - started, 1)
                entry["examples"] = [{"question": a.question, "gold": t.tail, "answer": a.answer, "found": a.found,
                                      "cited": [c.triple_id for c in a.citations if c.source == "cited"]}
                                     for a, (_, t) in list(zip(answers, asked))[:5]]
                result["modes"][f"{mode}/{style}"] = entry
                print(f"{mode}/{style}: hit@1 {entry['hit@1']:.2f}, hit@5 {entry['hit@5']:.2f}, hit@all {entry['hit@all']:.2f}; "
                      f"exact match {entry['exact_match']:.2f}, contains {entry['contains']:.2f}; found {entry['found']}/"
                      f"{entry['questions']}, citing {entry['found_and_citing']}, grounded {entry['grounded']}; "
                      f"select by chance {entry['select_chance_exact_match']:.2f}; {entry['seconds']:.0f} s", flush=True)
    result["usage"] = llm.usage.model_dump()
    write_result(args.out, result)


if __name__ == "__main__":
    main()
