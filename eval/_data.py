"""Development data shared by the evaluation scripts."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

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
