"""The embedded default on the dev split: speed and quality of `kgjudge build`, old adapters
against new, in one run.

Each variant is a real build (chunking, extraction, judging, store) of the same seeded sample of
the dev split's eval part (REBEL-Sub val and SciERC train documents; eval/_data.py), from a fresh
output folder with the response cache off, the model already converted into the model store and
loaded once per variant (its load time is reported apart). Variants:

- ``new``: the config as given (default: configs/pipelines/default.yaml, the packaged defaults);
- ``old``: the same config with the first packaged adapters and judge settings
  (smollm2-extractor.v1 without ``min_triples``, smollm2-judge.v1 on the document's first 600
  characters at threshold 0.595123 without the ``require_in_context`` check), as the default
  was published before.

Reported per variant: documents per minute (build wall time, model loaded), output tokens per
second of extraction, seconds per stage (model time of extraction, judging and denoising; the
rest is chunking, evidence, store and bookkeeping), unusable extraction replies (not JSON of the
right shape even after the repair request), exact-match triple precision/recall/F1 and word-level
G-BLEU before and after the judge (eval/_quality.py). The goals (issue: "the embedded default on
two CPU cores") are checked on ``new``: at least 20 documents per minute with extraction and
judging, no unusable extraction reply, exact-match F1 after the judge at least 0.47 (double the
first extractor's published 0.235).

    python eval/bench_embedded.py [--quick] [--documents 100] [--out eval/results/bench_embedded.json]

``--model`` and ``--adapter`` replace the base model and every adapter in all variants (a tiny
model in the tests: they check only that the benchmark runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from _data import dev_sample
from _quality import run_build, score_build

import yaml

from kgjudge import dump_config, load_config, parse_config
from kgjudge.llm import build_backend

GOAL_DOCS_PER_MINUTE = 20.0
GOAL_UNUSABLE = 0
FIRST_PUBLISHED_F1 = 0.235
OLD_ADAPTERS = {"extractor": "packaged:smollm2-extractor.v1", "judge": "packaged:smollm2-judge.v1"}
OLD_JUDGE = {"context": "document", "max_document_chars": 600, "threshold": 0.595123, "require_in_context": False}
OLD_EXTRACT = {"min_triples": 0}


def variant_configs(base: Any, *, model: str | None, adapter: str | None) -> dict[str, Any]:
    """The ``old`` and ``new`` configs: response cache off, an in-memory store (the store's
    cost is not what is compared), optionally another base model and adapter everywhere."""
    configs = {}
    for name in ("old", "new"):
        data = yaml.safe_load(dump_config(base))
        data["cache"] = {"enabled": False}
        data["store"] = {"type": "networkx.v1"}
        backend = data["backends"]["default"]
        if name == "old":
            backend["adapters"] = {**backend.get("adapters", {}), **OLD_ADAPTERS}
            if data.get("judge"):
                data["judge"].update(OLD_JUDGE)
            data["pipeline"]["extract"].update(OLD_EXTRACT)
        if model:
            backend["model"] = model
        if adapter:
            backend["adapters"] = {k: adapter for k in backend.get("adapters", {})}
        configs[name] = parse_config(data)
    return configs


def stage_seconds(scores: dict[str, Any], config: Any) -> dict[str, float]:
    """Model seconds per stage from the build's usage (0 for a configured stage that made no
    call, e.g. a judge given no triples), and the rest of the wall time."""
    configured = ["denoise"] * config.pipeline.denoise.enabled + ["extract"] + ["judge"] * (config.judge is not None)
    stages = {stage: 0.0 for stage in configured}
    stages.update({stage: round(u.get("model_seconds", 0.0), 1) for stage, u in scores["usage"].items()})
    stages["other"] = round(max(0.0, scores["wall_seconds"] - sum(stages.values())), 1)
    return stages


def goal(value: float, text: str, met: bool) -> dict[str, Any]:
    return {"value": value, "goal": text, "met": met}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="12 documents instead of 100")
    parser.add_argument("--documents", type=int, help="dev documents (default 100, --quick 12)")
    parser.add_argument("--config", type=Path, default=Path("configs/pipelines/default.yaml"))
    parser.add_argument("--variants", default="old,new", help="comma-separated, of: old, new")
    parser.add_argument("--model", help="base model for every variant (default: the config's)")
    parser.add_argument("--adapter", help="adapter folder for every adapter name (default: the configs')")
    parser.add_argument("--keep", type=Path, help="keep the build folders here")
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench_embedded.json"))
    args = parser.parse_args()

    documents = args.documents or (12 if args.quick else 100)
    docs = dev_sample(documents)
    base = load_config(args.config)
    configs = variant_configs(base, model=args.model, adapter=args.adapter)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = sorted(set(names) - set(configs))
    if unknown:
        raise SystemExit(f"--variants: unknown {unknown}; choose from {sorted(configs)}")
    result: dict[str, Any] = {
        "benchmark": "bench_embedded", "config": str(args.config), "documents": len(docs),
        "data": "dev split, eval part (eval/_data.py dev_sample, seed 0)", "document_ids": [d.id for d in docs],
        "settings": {"response_cache": "off", "output_folder": "fresh", "model_store": "converted before the run",
                     "store": "networkx.v1 (in memory)"},
        "machine": {"cores": os.cpu_count(), "load_start": os.getloadavg(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "variants": {},
    }
    work = Path(tempfile.mkdtemp(prefix="bench-embedded-")) if args.keep is None else args.keep
    for name in names:
        config = configs[name]
        slot = config.backends["default"]
        started = time.perf_counter()
        backend = build_backend(slot)
        load_seconds = round(time.perf_counter() - started, 1)
        run_build(config, docs, work / name, backends={"default": backend})
        del backend
        scores = score_build(work / name, docs)
        wall = scores["wall_seconds"]
        extract = scores["usage"].get("extract", {})
        entry = {
            "model": slot.model, "adapters": dict(slot.adapters),
            "judge": None if config.judge is None else {
                k: getattr(config.judge, k, None)
                for k in ("type", "adapter", "context", "max_document_chars", "threshold", "require_in_context")},
            "min_triples": config.pipeline.extract.min_triples,
            "relations": len(config.pipeline.extract.relations or []) or None,
            "denoise": config.pipeline.denoise.enabled,
            "load_seconds": load_seconds,
            "documents_per_minute": round(60 * len(docs) / wall, 2) if wall else None,
            "documents_per_minute_with_load": round(60 * len(docs) / (wall + load_seconds), 2) if wall else None,
            "output_tokens_per_s": scores.get("extract_output_tokens_per_s"),
            "output_tokens": extract.get("completion_tokens", 0),
            "stage_seconds": stage_seconds(scores, config),
            **{k: scores[k] for k in ("chunks", "wall_seconds", "seconds_per_document", "unusable_replies",
                                      "repaired_replies", "before_judge", "after_judge")},
        }
        result["variants"][name] = entry
        before, after = entry["before_judge"], entry["after_judge"] or entry["before_judge"]
        print(f"{name}: {entry['documents_per_minute']} documents/min ({wall:.0f} s for {len(docs)}, load "
              f"{load_seconds} s); {entry['output_tokens_per_s']} output tokens/s; stages {entry['stage_seconds']}; "
              f"unusable {entry['unusable_replies']} of {entry['chunks']} chunks; exact P/R/F1 "
              f"{before['exact']['precision']:.3f}/{before['exact']['recall']:.3f}/{before['exact']['f1']:.3f} -> "
              f"{after['exact']['precision']:.3f}/{after['exact']['recall']:.3f}/{after['exact']['f1']:.3f} "
              f"after the judge; G-BLEU F1 {before['g_bleu']['f1']:.3f} -> {after['g_bleu']['f1']:.3f}", flush=True)
    result["machine"]["load_end"] = os.getloadavg()
    if "new" in result["variants"]:
        new = result["variants"]["new"]
        f1 = (new["after_judge"] or new["before_judge"])["exact"]["f1"]
        rate = new["documents_per_minute"] or 0.0
        result["goals"] = {
            "documents_per_minute": goal(rate, f">= {GOAL_DOCS_PER_MINUTE:g} (extraction and judging, 2 cores)",
                                         rate >= GOAL_DOCS_PER_MINUTE and new["judge"] is not None),
            "unusable_extraction_replies": goal(new["unusable_replies"], "== 0", new["unusable_replies"] == GOAL_UNUSABLE),
            "exact_f1_after_judge": goal(f1, f">= {2 * FIRST_PUBLISHED_F1:g} (double {FIRST_PUBLISHED_F1})",
                                         f1 >= 2 * FIRST_PUBLISHED_F1),
        }
        if "old" in result["variants"]:
            old = result["variants"]["old"]
            result["new_over_old"] = {
                "exact_f1_after_judge": [(old["after_judge"] or old["before_judge"])["exact"]["f1"], f1],
                "documents_per_minute": [old["documents_per_minute"], rate],
            }
        for key, g in result["goals"].items():
            print(f"goal {key}: {g['value']} ({g['goal']}): {'met' if g['met'] else 'NOT met'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
