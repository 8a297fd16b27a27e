"""Extractor builds over training documents (outside the dev split), for judge hard negatives.

Runs ``kgjudge build`` (the pipeline config's chunking and extraction, no judge, no cache) with
an extractor adapter over a seeded sample of REBEL-Sub val and SciERC train documents that are
not in the dev split, with the corpus ids as document ids, so a judge training config can name
the output folder in ``data.hard_negatives``.

    python eval/training_builds.py --adapter packaged:smollm2-extractor.v3 --documents 200 --out out/negatives-v3
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from _data import available_corpora, load_corpus
from _quality import run_build
from extractor_quality import variant_config

from kgjudge import load_config
from kgjudge.judges import dev_part
from kgjudge.llm import HFBackend, HFConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", required=True, help="extractor adapter (folder or packaged:<name>)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--config", type=Path, default=Path("configs/pipelines/default.yaml"))
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    docs = [d for name in available_corpora() for d in load_corpus(name) if d.triples and dev_part(d.id) is None]
    if args.documents < len(docs):
        docs = [docs[i] for i in sorted(random.Random(args.seed).sample(range(len(docs)), args.documents))]
    adapters = {"extractor": args.adapter}
    config = variant_config(load_config(args.config), args.model, adapters, judge=False, denoise=None)
    backend = HFBackend(HFConfig(model=args.model, adapters=adapters, threads=1, batch_size=8))
    summary = run_build(config, docs, args.out, backends={"default": backend})
    print(f"{summary.documents} training documents, {summary.triples} triples extracted into {args.out}")


if __name__ == "__main__":
    main()
