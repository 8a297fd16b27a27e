"""Extractor quality on held-out documents: the tuned adapter against the untuned model.

Test-split documents of the adapter's own training corpora (split by its seed and fractions),
texts cut as in training. Reports how many replies parse as a JSON array of triples and
exact-match triple precision, recall and F1 (case- and whitespace-insensitive).

    python eval/extractor_quality.py --documents 16
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from kgjudge.judges import extract_triples, extraction_scores, load_train_config, read_metadata
from kgjudge.judges.kasft._training import build_examples
from kgjudge.llm import LLM, HFBackend, HFConfig, resolve_adapter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--adapter", default="packaged:smollm2-extractor.v1")
    parser.add_argument("--documents", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--out", type=Path, default=Path("eval/results/extractor_quality.json"))
    args = parser.parse_args()

    folder = resolve_adapter(args.adapter)
    meta = read_metadata(folder)
    config = load_train_config(Path(folder) / "train.yaml")
    examples, _ = build_examples("extractor", config)
    test = [e for e in examples if e.split == "test"]
    test = [test[i] for i in sorted(random.Random(1).sample(range(len(test)), min(args.documents, len(test))))]

    backend = HFBackend(HFConfig(model=args.model, adapters={"extractor": folder}, threads=args.threads, dtype=args.dtype, batch_size=8))
    llm = LLM(backend, cache=None)
    result: dict = {"benchmark": "extractor_quality", "model": backend.model_id, "adapter": args.adapter,
                    "documents": len(test), "max_tokens": args.max_tokens}
    for name, adapter in (("untuned", None), ("tuned", "extractor")):
        started = time.perf_counter()
        predicted = extract_triples(llm, [(e.text, e.entities) for e in test], adapter=adapter, prompt=meta.prompt,
                                    max_document_chars=meta.max_document_chars, max_tokens=args.max_tokens)
        scores = extraction_scores([e.triples for e in test], predicted)
        result[name] = {**scores.model_dump(), "seconds": round(time.perf_counter() - started, 1),
                        "sample_reply": predicted[0].raw[:300]}
        print(f"{name}: parsed {scores.parsed}/{scores.documents}, precision {scores.precision:.3f}, "
              f"recall {scores.recall:.3f}, F1 {scores.f1:.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")
    llm.close()


if __name__ == "__main__":
    main()
