"""Extractor quality on the dev split: real builds of dev documents, one per variant, scored
against the documents' gold graphs.

Each variant is ``name=adapter[@model]`` (an extractor adapter folder or ``packaged:<name>``, on
the packaged SmolLM2 unless a model is given). Every variant runs ``kgjudge build`` with the
given pipeline config (default: configs/pipelines/default.yaml: its chunking, denoising switch,
extraction settings and judge), only the extractor adapter (and model) swapped, the response
cache off; ``--no-judge`` drops the judge, ``--judge`` swaps the judge adapter, ``--denoise
on|off`` overrides the denoising switch. Documents: a seeded sample of the dev split's eval part
(REBEL-Sub val and SciERC train; eval/_data.py), the same for every variant.

Reported per variant (eval/_quality.py): exact-match triple precision/recall/F1 and G-BLEU
before and after the judge, unusable extraction replies, seconds per document, output tokens/s.

    python eval/extractor_quality.py --documents 100 \
        --variant v1=packaged:smollm2-extractor.v1 --variant v2=packaged:smollm2-extractor.v2
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

from _data import dev_sample, training_relations
from _quality import run_build, score_build

import yaml

from kgjudge import dump_config, load_config, parse_config
from kgjudge.llm import HFBackend

DEFAULT_MODEL = "smollm2-135m-instruct"


def parse_variant(text: str) -> tuple[str, str, str]:
    name, _, rest = text.partition("=")
    adapter, _, model = rest.partition("@")
    if not name or not adapter:
        raise SystemExit(f"--variant {text!r}: expected name=adapter[@model]")
    return name, adapter, model or DEFAULT_MODEL


def variant_config(base: Any, model: str, adapters: dict[str, str], *, judge: bool, denoise: bool | None,
                   relations: list[str] | None = None, dtype: str | None = None) -> Any:
    """The config's own pipeline and hf.v1 backend settings (batch size, dtypes), with the
    variant's model and adapters, one torch thread, no cache and an in-memory store."""
    data = yaml.safe_load(dump_config(base))
    if relations is not None:
        data["pipeline"]["extract"]["relations"] = relations
    backend = {k: v for k, v in data["backends"]["default"].items() if v is not None}
    if backend.get("type") != "hf.v1":
        backend = {"type": "hf.v1"}
    backend.update(model=model, threads=1, adapters=adapters)
    backend.pop("gguf_file", None)
    if dtype is not None:
        backend["dtype"] = dtype
    data["backends"] = {"default": backend}
    data["cache"] = {"enabled": False}
    data["store"] = {"type": "networkx.v1"}
    if denoise is not None:
        data["pipeline"]["denoise"]["enabled"] = denoise
    if not judge:
        data["judge"] = None
    return parse_config(data)


def finished(out: Path) -> bool:
    manifest = out / "manifest.json"
    return manifest.is_file() and json.loads(manifest.read_text(encoding="utf-8")).get("finished") is True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True, help="name=adapter[@model]; repeat")
    parser.add_argument("--config", type=Path, default=Path("configs/pipelines/default.yaml"))
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--judge", help="judge adapter (default: the config's)")
    parser.add_argument("--threshold", type=float, help="judge threshold (default: the config's)")
    parser.add_argument("--no-judge", action="store_true")
    parser.add_argument("--denoise", choices=["on", "off"], help="override pipeline.denoise.enabled")
    parser.add_argument("--relations", choices=["train"],
                        help="train: pipeline.extract.relations = the relations of the training documents' gold triples")
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16"],
                        help="the backend's weights dtype for every variant (default: the config's)")
    parser.add_argument("--keep", type=Path, help="keep the build folders here")
    parser.add_argument("--reuse", action="store_true",
                        help="score a finished build folder under --keep instead of building it again")
    parser.add_argument("--out", type=Path, default=Path("eval/results/extractor_quality.json"))
    args = parser.parse_args()

    base = load_config(args.config)
    default_adapters = dict(base.backends["default"].adapters)
    judge_adapter = args.judge or default_adapters.get("judge")
    if args.threshold is not None and base.judge is not None:
        base = base.model_copy(update={"judge": base.judge.model_copy(update={"threshold": args.threshold})})
    docs = dev_sample(args.documents)
    relations = training_relations() if args.relations == "train" else None
    result: dict[str, Any] = {
        "benchmark": "extractor_quality", "config": str(args.config), "documents": len(docs),
        "data": "dev split, eval part (eval/_data.py dev_sample, seed 0)",
        "document_ids": [d.id for d in docs], "judge": None if args.no_judge else judge_adapter,
        "threshold": None if args.no_judge or base.judge is None else base.judge.threshold,
        "backend": base.backends["default"].model_dump(mode="json", include={"batch_size", "dtype", "op_dtypes"}),
        "dtype_override": args.dtype,
        "pipeline_batch_size": base.pipeline.batch_size,
        "denoise": args.denoise or ("on" if base.pipeline.denoise.enabled else "off"),
        "relations": None if relations is None else {"source": args.relations, "count": len(relations)},
        "machine": {"cores": os.cpu_count(), "load_start": os.getloadavg()[0], "python": platform.python_version()},
        "variants": {},
    }
    work = Path(tempfile.mkdtemp(prefix="extractor-quality-")) if args.keep is None else args.keep
    for spec in args.variant:
        name, adapter, model = parse_variant(spec)
        # The config's other adapters (the entity step's, `denoise.adapter`) stay.
        adapters = {**{k: v for k, v in default_adapters.items() if k != "judge"}, "extractor": adapter}
        if judge_adapter and not args.no_judge:
            adapters["judge"] = judge_adapter
        config = variant_config(base, model, adapters, judge=not args.no_judge,
                                denoise=None if args.denoise is None else args.denoise == "on", relations=relations,
                                dtype=args.dtype)
        out = work / name
        load_seconds = None
        if not (args.reuse and finished(out)):
            started = time.perf_counter()
            backend = HFBackend(config.backends["default"])
            load_seconds = round(time.perf_counter() - started, 1)
            run_build(config, docs, out, backends={"default": backend})
            del backend
        scores = score_build(out, docs)
        scores.update(adapter=adapter, model=model, load_seconds=load_seconds)
        result["variants"][name] = scores
        before, after = scores["before_judge"], scores["after_judge"]
        line = (f"{name}: before judge P {before['exact']['precision']:.3f} R {before['exact']['recall']:.3f} "
                f"F1 {before['exact']['f1']:.3f}")
        if after:
            line += (f"; after judge P {after['exact']['precision']:.3f} R {after['exact']['recall']:.3f} "
                     f"F1 {after['exact']['f1']:.3f}")
        print(line + f"; unusable {scores['unusable_replies']}; {scores.get('seconds_per_document')} s/doc; "
              f"{scores.get('extract_output_tokens_per_s')} output tokens/s", flush=True)
    result["machine"]["load_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
