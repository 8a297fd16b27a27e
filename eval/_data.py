"""Development data shared by the evaluation scripts."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from kgjudge.judges import GoldCorpus, JudgeExample, build_judge_examples, load_text_graph_pair

REBEL_SUB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rebel_sub"
"""REBEL-Sub (val.target / val.source), beside the repository in ``shared/data``."""


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
    """KASFT judge examples of REBEL-Sub's validation set, split 70/10/20 by document (seed 0)."""
    examples, _ = build_judge_examples(val_corpus(data), seed=0, dev_fraction=0.1, test_fraction=0.2)
    return examples
