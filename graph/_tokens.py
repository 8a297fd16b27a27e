"""Counting the tokens of a context: the model's own tokenizer when it has one loaded, else an
estimate."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

_PIECES = re.compile(r"\w+|[^\w\s]")


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate of a text's token count (words and punctuation, times 1.3)."""
    return math.ceil(len(_PIECES.findall(text)) * 1.3)


def token_counter(llm: Any) -> Callable[[str], int]:
    """The exact token count of ``llm``'s tokenizer when its backend has one loaded, else
    :func:`approximate_tokens`."""
    tokenizer = getattr(getattr(llm, "backend", None), "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "encode"):
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    return approximate_tokens
