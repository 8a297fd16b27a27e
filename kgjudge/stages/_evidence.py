"""Evidence spans: where in the original document a triple is stated.

A triple's head and tail are fuzzy-matched (rapidfuzz partial ratio, case-insensitive) against
the sentences of its chunk. The evidence is the one sentence that holds both, or else the
contiguous run of sentences from the best match of one to the best match of the other, or else
the sentence that holds the one that matches. Below ``min_score`` (0-100) nothing counts and
the triple has no evidence span: the judge then sees the whole document.
"""

from __future__ import annotations

from kgjudge._extras import require
from kgjudge._records import Span


def evidence_span(
    document_text: str, sentences: list[tuple[int, int]], head: str, tail: str, min_score: float = 80.0
) -> Span | None:
    """The best evidence span for (head, tail) among ``sentences`` (character spans)."""
    fuzz = require("rapidfuzz.fuzz", "nlp")
    if not sentences:
        return None
    texts = [document_text[s:e].casefold() for s, e in sentences]
    h = [fuzz.partial_ratio(head.casefold(), t) for t in texts]
    t_scores = [fuzz.partial_ratio(tail.casefold(), t) for t in texts]
    both = [i for i in range(len(texts)) if h[i] >= min_score and t_scores[i] >= min_score]
    if both:
        best = max(both, key=lambda i: h[i] + t_scores[i])
        lo = hi = best
    else:
        hi_h = max(range(len(texts)), key=h.__getitem__)
        hi_t = max(range(len(texts)), key=t_scores.__getitem__)
        found = [i for i, score in ((hi_h, h[hi_h]), (hi_t, t_scores[hi_t])) if score >= min_score]
        if not found:
            return None
        lo, hi = min(found), max(found)
    start, end = sentences[lo][0], sentences[hi][1]
    return Span(start=start, end=end, text=document_text[start:end])
