"""Vectorised n-gram overlap for many (prediction, reference) pairs at once.

Every unique sentence is counted once into sparse n-gram count matrices; the clipped overlaps
``sum_g min(count_a(g), count_b(g))`` of all pairs come from one element-wise sparse minimum.
On top of that, :func:`sentence_bleu_pairs` and :func:`rouge_n_pairs` reproduce nltk's
``sentence_bleu`` (uniform 4-gram weights, ``SmoothingFunction().method1``) and rouge-score's
ROUGE-N to floating-point rounding; the tests check both against the libraries on random pairs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kgjudge._extras import require


@dataclass(frozen=True)
class NgramCounts:
    """Sparse n-gram counts of a list of token sequences.

    Attributes:
        matrices: one CSR matrix per order ``n = 1..max_n``: rows are sequences, columns n-grams.
        totals: per order, the number of n-grams of each sequence (``len - n + 1``, at least 0).
        lengths: the number of tokens of each sequence.
    """

    matrices: list
    totals: list[np.ndarray]
    lengths: np.ndarray


def count_ngrams(sequences: Sequence[Sequence[str]], max_n: int) -> NgramCounts:
    """Count the n-grams of orders ``1..max_n`` of every token sequence.

    Example:
        >>> counts = count_ngrams([["a", "b", "a"], ["a", "b"]], 2)
        >>> counts.totals[1].tolist(), counts.matrices[1].nnz  # bigrams: "a b", "b a" | "a b"
        ([2, 1], 3)
    """
    tokens = list(itertools.chain.from_iterable(sequences))
    vocab = {tok: k for k, tok in enumerate(dict.fromkeys(tokens))}
    flat = np.fromiter(map(vocab.__getitem__, tokens), dtype=np.int64, count=len(tokens))
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    return count_token_ids(flat, lengths, max_n)


# Keys are built as int64 products; above this they are first compressed to dense ids.
_KEY_LIMIT = 2**62


def _compress(values: np.ndarray) -> tuple[np.ndarray, int]:
    _, dense = np.unique(values, return_inverse=True)
    dense = dense.astype(np.int64, copy=False).ravel()
    return dense, int(dense.max()) + 1 if dense.size else 1


def count_token_ids(flat: np.ndarray, lengths: np.ndarray, max_n: int) -> NgramCounts:
    """:func:`count_ngrams` for sequences given as token ids, concatenated in ``flat``.

    Token ids may be any integers (spaCy's 64-bit ORTH hashes, for instance). An n-gram's
    column is the (n-1)-gram's column times the vocabulary size plus the next token, compressed
    with ``np.unique`` only when it would overflow, so no Python object is made per n-gram.
    """
    sparse = require("scipy.sparse", "eval")
    tokens, n_tokens = _compress(np.asarray(flat))
    lengths = np.asarray(lengths, dtype=np.int64)
    rows = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(tokens.size, dtype=np.int64) - np.repeat(starts, lengths)
    remaining = np.repeat(lengths, lengths) - pos  # tokens from here to the end of the sequence

    matrices, totals = [], []
    gram, span = tokens, max(n_tokens, 1)  # gram values lie in [0, span)
    for n in range(1, max_n + 1):
        if n > 1:
            # gram[i] identifies the (n-1)-gram starting at i; extend it by token i + n - 1.
            # Positions whose n-gram would cross into the next sequence are dropped below.
            if span * (n_tokens + 1) >= _KEY_LIMIT:
                gram, span = _compress(gram)
            nxt = np.zeros_like(tokens)
            nxt[: max(tokens.size - (n - 1), 0)] = tokens[n - 1 :]
            gram, span = gram * (n_tokens + 1) + nxt, span * (n_tokens + 1)
        valid = remaining >= n
        cols = gram[valid]
        if span * max(lengths.size, 1) >= _KEY_LIMIT:
            cols, span = _compress(cols)
        # one sort gives the canonical CSR layout: rows in order, columns sorted, duplicates counted
        cells, counts = np.unique(rows[valid] * span + cols, return_counts=True)
        indptr = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(cells // span, minlength=lengths.size), out=indptr[1:])
        matrix = sparse.csr_matrix((counts.astype(np.float64), cells % span, indptr), shape=(lengths.size, span))
        matrix.has_canonical_format = True
        matrices.append(matrix)
        totals.append(np.maximum(lengths - n + 1, 0))
    return NgramCounts(matrices=matrices, totals=totals, lengths=lengths)


def clipped_overlap(counts: NgramCounts, hyp: np.ndarray, ref: np.ndarray) -> list[np.ndarray]:
    """Per order, ``sum_g min(count_hyp(g), count_ref(g))`` for each pair ``(hyp[k], ref[k])``."""
    out = []
    for matrix in counts.matrices:
        if hyp.size == 0:
            out.append(np.zeros(0))
            continue
        common = matrix[hyp].minimum(matrix[ref])
        # row sums straight from the CSR arrays: .sum(axis=1) would allocate a dense column
        # vector as long as the (possibly huge) number of columns
        rows = np.repeat(np.arange(hyp.size), np.diff(common.indptr))
        out.append(np.bincount(rows, weights=common.data, minlength=hyp.size))
    return out


def sentence_bleu_pairs(
    counts: NgramCounts, hyp: np.ndarray, ref: np.ndarray, *, auto_reweigh: bool = False
) -> np.ndarray:
    """nltk ``sentence_bleu([ref], hyp, smoothing_function=SmoothingFunction().method1)`` per pair.

    ``counts`` must hold orders 1..4. Matches nltk's rules: modified precisions with a
    denominator of at least 1, zero n-gram matches replaced by 0.1 (method1), score 0 when no
    unigram matches, brevity penalty from the single reference's length. With
    ``auto_reweigh`` (nltk's option of that name) a hypothesis of k < 4 tokens weighs only
    orders 1..k, each by 1/k, so two identical short sentences score 1.
    """
    overlaps = clipped_overlap(counts, hyp, ref)
    hyp_len = counts.lengths[hyp].astype(np.float64)
    ref_len = counts.lengths[ref].astype(np.float64)
    log_sum = np.zeros(hyp.size)
    orders = np.where((hyp_len > 0) & (hyp_len < 4), hyp_len, 4.0) if auto_reweigh else np.full(hyp.size, 4.0)
    for n, overlap in enumerate(overlaps):
        denom = np.maximum(counts.totals[n][hyp], 1).astype(np.float64)
        numer = np.where(overlap == 0, 0.1, overlap)
        weight = np.where(n < orders, 1.0 / orders, 0.0)
        log_sum += weight * np.log(numer / denom)
    with np.errstate(divide="ignore"):
        bp = np.where(
            hyp_len > ref_len, 1.0, np.exp(1.0 - ref_len / np.where(hyp_len == 0, 1.0, hyp_len))
        )
    bp = np.where(hyp_len == 0, 0.0, bp)
    return np.where(overlaps[0] == 0, 0.0, bp * np.exp(log_sum))


def rouge_n_pairs(counts: NgramCounts, hyp: np.ndarray, ref: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """rouge-score's ROUGE-N ``(precision, recall, fmeasure)`` per pair (prediction ``hyp``)."""
    overlap = clipped_overlap(counts, hyp, ref)[n - 1]
    precision = overlap / np.maximum(counts.totals[n - 1][hyp], 1)
    recall = overlap / np.maximum(counts.totals[n - 1][ref], 1)
    total = precision + recall
    fmeasure = np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1.0), 0.0)
    return precision, recall, fmeasure
