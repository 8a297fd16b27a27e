"""How many kept triples the text really supports: exact-match precision counts a kept triple as
wrong whenever the gold graph lacks it, and the dev split's gold graphs (REBEL-Sub's Wikidata
alignments, SciERC's annotations) hold only some of the facts a document states. This script
draws a seeded sample of a build's kept triples that are not in the gold graph, for a person to
label by reading the text, and estimates the precision of all kept triples from those labels.

    # 1. a build of dev documents, kept: python eval/extractor_quality.py --documents 100 \\
    #        --variant v3=packaged:smollm2-extractor.v3 --keep out/q100
    python eval/kept_precision.py sample --build out/q100/v3 --documents 100 --n 60 \\
        --labels eval/labels/kept-v3-dev100.jsonl
    # 2. set every line's "supported" to true or false by reading its "context" (a triple the text
    #    states, or plainly implies, as written); "note" says why when false
    python eval/kept_precision.py score --build out/q100/v3 --documents 100 \\
        --labels eval/labels/kept-v3-dev100.jsonl --out eval/results/kept_precision.json
    # 3. another build of the same documents (another judge, say): how many of the labelled
    #    triples it still keeps, supported and unsupported
    python eval/kept_precision.py recheck --build out/q100-judge-v3/v3 --documents 100 \\
        --labels eval/labels/kept-v3-dev100.jsonl --out eval/results/kept_recheck.json

Estimated precision = (exact matches + p x kept triples not in the gold graph) / kept triples,
where p is the labelled share supported, with its Wilson 95% interval (scipy). Duplicates
ignoring case and white space count once per document, as in eval/_quality.py.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _data import dev_sample
from _quality import build_triples

from kgjudge._jsonl import iter_jsonl
from kgjudge.judges import GoldDocument

Key = tuple[str, str, str]


def norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def key_of(triple: Sequence[str]) -> Key:
    return norm(triple[0]), norm(triple[1]), norm(triple[2])


def not_in_gold(kept: Mapping[str, Sequence[Sequence[str]]], gold: Sequence[GoldDocument]) -> tuple[int, list[tuple[str, tuple[str, str, str]]]]:
    """(kept triples in the gold graph, the other kept triples as (document id, triple as
    written)): each distinct per document ignoring case and white space, in document order."""
    exact, others = 0, []
    for doc in gold:
        gold_keys = {key_of(t) for t in doc.triples}
        seen: set[Key] = set()
        for t in kept.get(doc.id, ()):
            k = key_of(t)
            if k in seen:
                continue
            seen.add(k)
            if k in gold_keys:
                exact += 1
            else:
                others.append((doc.id, (t[0], t[1], t[2])))
    return exact, others


def contexts(build: Path) -> dict[tuple[str, Key], str]:
    """The chunk text of every kept triple of a build, by (document id, key), for the person
    labelling it (the first chunk that states it)."""
    chunks = {c["id"]: c["text"] for c in iter_jsonl(build / "chunks.jsonl")}
    out: dict[tuple[str, Key], str] = {}
    for t in iter_jsonl(build / "triples.jsonl"):
        out.setdefault((t["document_id"], key_of((t["head"], t["relation"], t["tail"]))),
                       chunks.get(t.get("chunk_id") or "", ""))
    return out


def read_labels(path: Path) -> list[dict[str, Any]]:
    """The lines of a labels file; a line that is not a JSON object with document_id, head,
    relation, tail and a true/false/null "supported" stops the script naming file and line."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise SystemExit(f"{path}:{number}: not JSON ({err.msg})") from None
        if not isinstance(item, dict):
            raise SystemExit(f"{path}:{number}: expected a JSON object")
        for field in ("document_id", "head", "relation", "tail"):
            if not isinstance(item.get(field), str):
                raise SystemExit(f"{path}:{number}: field {field!r} must be a string")
        if item.get("supported") not in (True, False, None):
            raise SystemExit(f"{path}:{number}: field 'supported' must be true, false or null")
        item["_line"] = number
        items.append(item)
    return items


def estimate(kept: Mapping[str, Sequence[Sequence[str]]], gold: Sequence[GoldDocument],
             labels: Sequence[Mapping[str, Any]], *, source: str = "labels") -> dict[str, Any]:
    """The precision estimate of the kept triples from labelled non-gold ones. Every label must
    name a kept triple that is not in the gold graph (else SystemExit naming its line)."""
    from scipy.stats import binomtest

    exact, others = not_in_gold(kept, gold)
    other_keys = {(d, key_of(t)) for d, t in others}
    labelled = [item for item in labels if item.get("supported") is not None]
    if not labelled:
        raise SystemExit(f"{source}: no line has 'supported' set to true or false yet")
    seen: set[tuple[str, Key]] = set()
    for item in labelled:
        k = (item["document_id"], key_of((item["head"], item["relation"], item["tail"])))
        if k not in other_keys:
            raise SystemExit(f"{source}:{item.get('_line', '?')}: ({item['head']}; {item['relation']}; {item['tail']}) "
                             f"of {item['document_id']} is not a kept triple outside the gold graph of this build")
        if k in seen:
            raise SystemExit(f"{source}:{item.get('_line', '?')}: labelled twice")
        seen.add(k)
    supported = sum(1 for item in labelled if item["supported"])
    n, total = len(labelled), exact + len(others)
    interval = binomtest(supported, n).proportion_ci(confidence_level=0.95, method="wilson")
    share = supported / n

    def precision(p: float) -> float:
        return round((exact + p * len(others)) / total, 4) if total else 0.0

    unsupported = Counter(norm(item["relation"]) for item in labelled if not item["supported"])
    return {
        "kept": total, "exact_matches": exact, "not_in_gold": len(others), "labelled": n,
        "labelled_supported": supported, "share_supported": round(share, 4),
        "share_supported_95": [round(interval.low, 4), round(interval.high, 4)],
        "exact_precision": round(exact / total, 4) if total else 0.0,
        "estimated_precision": precision(share),
        "estimated_precision_95": [precision(interval.low), precision(interval.high)],
        "unsupported_by_relation": dict(unsupported.most_common()),
    }


def recheck(kept: Mapping[str, Sequence[Sequence[str]]], labels: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How many labelled triples (labelled on another build of the same documents) ``kept``
    holds, for the supported and the unsupported ones."""
    held = {(doc_id, key_of(t)) for doc_id, triples in kept.items() for t in triples}
    out: dict[str, Any] = {}
    for name, value in (("supported", True), ("unsupported", False)):
        items = [i for i in labels if i.get("supported") is value]
        dropped = [f"{i['head']} | {i['relation']} | {i['tail']}" for i in items
                   if (i["document_id"], key_of((i["head"], i["relation"], i["tail"]))) not in held]
        out[name] = {"labelled": len(items), "still_kept": len(items) - len(dropped), "dropped": dropped}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sample", "score", "recheck"])
    parser.add_argument("--build", type=Path, required=True, help="a finished build folder of dev documents")
    parser.add_argument("--documents", type=int, default=100, help="the dev sample the build holds (as built)")
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--n", type=int, default=60, help="sample: how many triples to label")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("eval/results/kept_precision.json"))
    args = parser.parse_args()

    gold = dev_sample(args.documents)
    extracted, kept = build_triples(args.build)
    kept = kept if kept is not None else extracted
    if args.command == "sample":
        if args.labels.exists():
            raise SystemExit(f"{args.labels} exists: remove it to draw a new sample")
        _, others = not_in_gold(kept, gold)
        random.Random(args.seed).shuffle(others)
        args.labels.parent.mkdir(parents=True, exist_ok=True)
        context = contexts(args.build)
        with args.labels.open("w", encoding="utf-8") as f:
            for document_id, (head, relation, tail) in others[: args.n]:
                f.write(json.dumps({"document_id": document_id, "head": head, "relation": relation, "tail": tail,
                                    "supported": None, "note": "",
                                    "context": context.get((document_id, key_of((head, relation, tail))), "")},
                                   ensure_ascii=False) + "\n")
        print(f"{min(args.n, len(others))} of {len(others)} kept triples outside the gold graph written to "
              f"{args.labels}: set each 'supported'")
        return
    if args.command == "recheck":
        result = {"benchmark": "kept_recheck", "build": args.build.name, "documents": len(gold),
                  "labels": str(args.labels), **recheck(kept, read_labels(args.labels))}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        for name in ("supported", "unsupported"):
            print(f"{name}: {result[name]['still_kept']} of {result[name]['labelled']} labelled triples still kept")
        print(f"written to {args.out}")
        return
    result = {"benchmark": "kept_precision", "build": args.build.name, "documents": len(gold), "labels": str(args.labels)}
    result.update(estimate(kept, gold, read_labels(args.labels), source=str(args.labels)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    low, high = result["estimated_precision_95"]
    print(f"kept {result['kept']}: {result['exact_matches']} in the gold graph (exact precision "
          f"{result['exact_precision']:.3f}); of {result['labelled']} labelled others {result['labelled_supported']} "
          f"supported by the text; estimated precision {result['estimated_precision']:.3f} (95%: {low:.3f}-{high:.3f})")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
