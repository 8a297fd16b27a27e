"""Development data shared by the evaluation scripts, and the fixed dev split they all use.

The dev split (``kgjudge.judges.dev_part``) is every document of REBEL-Sub val and SciERC train
whose hash ``sha256("0:" + id)`` is below 0.2; no packaged adapter trains on it. Every published
number comes from its ``eval`` part; its ``tune`` part picks training steps and thresholds.
Document ids are ``rebel_sub/val:<line>`` and ``scierc/train:<line>``, as in the training configs.
Set ``KGJUDGE_DEV_DATA`` to read the data from another folder than ``shared/data`` beside the
repository.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from kgjudge.judges import (
    GoldCorpus,
    GoldDocument,
    JudgeExample,
    build_judge_examples,
    dev_documents,
    dev_part,
    load_text_graph_pair,
)

DATA = Path(os.environ.get("KGJUDGE_DEV_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
REBEL_SUB = DATA / "rebel_sub"
"""REBEL-Sub (val.target / val.source), beside the repository in ``shared/data``."""
SCIERC = DATA / "scierc"
CORPORA = {"rebel_sub/val": (REBEL_SUB / "val.target", REBEL_SUB / "val.source"),
           "scierc/train": (SCIERC / "train.target", SCIERC / "train.source")}


DEV_SPLIT_FRACTIONS = {"seed": 0, "dev_fraction": 0.05, "test_fraction": 0.15}
"""``build_judge_examples``/``split_of`` arguments under which ``test`` is the dev split's eval
part, ``dev`` its tune part and ``train`` everything else."""


def load_corpus(name: str) -> list[GoldDocument]:
    """All documents of a development corpus (``rebel_sub/val`` or ``scierc/train``)."""
    text, graph = CORPORA[name]
    return load_text_graph_pair(text, graph, name=name).documents


def available_corpora() -> tuple[str, ...]:
    """The development corpora present under ``DATA``."""
    names = tuple(name for name, (text, _) in CORPORA.items() if text.is_file())
    if not names:
        raise SystemExit(f"no development data under {DATA} (set KGJUDGE_DEV_DATA)")
    return names


def dev_sample(n: int | None, *, part: str | None = "eval", corpora: tuple[str, ...] | None = None,
               seed: int = 0, with_triples: bool = True) -> list[GoldDocument]:
    """A seeded sample of ``n`` documents (all when None) of the dev split's ``part`` over
    ``corpora`` (default: those present), in corpus order; documents without gold triples are
    left out by default."""
    docs = [d for name in corpora or available_corpora()
            for d in dev_documents(load_corpus(name), part)  # type: ignore[arg-type]
            if d.triples or not with_triples]
    if n is None or n >= len(docs):
        return docs
    return [docs[i] for i in sorted(random.Random(seed).sample(range(len(docs)), n))]


def training_relations(corpora: tuple[str, ...] | None = None) -> list[str]:
    """The relations of the gold triples of every training document (outside the dev split) of
    ``corpora`` (default: those present), most frequent first: an ontology for
    ``pipeline.extract.relations`` that no dev document contributed to."""
    counts: dict[str, int] = {}
    for name in corpora or available_corpora():
        for doc in load_corpus(name):
            if dev_part(doc.id) is None:
                for _, relation, _ in doc.triples:
                    key = " ".join(relation.split())
                    counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda r: (-counts[r], r))


def balanced(items: list[Any], n: int, seed: int) -> list[Any]:
    """``n`` items, half with ``label`` true and half false as far as there are, shuffled (seeded)."""
    rng = random.Random(seed)
    pos = [e for e in items if e.label]
    neg = [e for e in items if not e.label]
    picked = rng.sample(pos, min(len(pos), n // 2)) + rng.sample(neg, min(len(neg), n - n // 2))
    rng.shuffle(picked)
    return picked


def val_corpus(data: Path = REBEL_SUB) -> GoldCorpus:
    """REBEL-Sub's validation documents and gold graphs (``val.target`` / ``val.source`` in ``data``)."""
    return load_text_graph_pair(data / "val.target", data / "val.source", name="rebel_sub/val")


def val_judge_examples(data: Path = REBEL_SUB) -> list[JudgeExample]:
    """KASFT judge examples of REBEL-Sub's validation set, split by the fixed dev split: ``test`` is
    its eval part, ``dev`` its tune part, ``train`` the rest."""
    examples, _ = build_judge_examples(val_corpus(data), **DEV_SPLIT_FRACTIONS)
    return examples
