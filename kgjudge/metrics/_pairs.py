"""G-BLEU and G-ROUGE: pairwise edge scores, one-to-one matching, per-graph P/R/F1.

Each graph is a list of predicted and a list of gold edge sentences. Every (prediction, gold)
pair gets a BLEU and a ROUGE score; the Hungarian algorithm (``scipy.optimize.
linear_sum_assignment``) picks the one-to-one matching with the largest sum; precision is that
sum over the number of predicted edges, recall over the number of gold edges.

Two engines compute the same numbers:

* ``fast``: each unique sentence is tokenised and counted once, and all pairs of all graphs
  are scored together with sparse matrix operations (:mod:`kgjudge.metrics._ngram`);
* ``reference``: one pair at a time through nltk's ``sentence_bleu`` and rouge-score's
  ``RougeScorer.score``, the way the published GraphJudger script does it. The speed benchmark
  (``eval/bench_metrics.py``) and the tests compare the two.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from kgjudge._extras import require
from kgjudge.metrics._ngram import (
    NgramCounts,
    count_ngrams,
    count_token_ids,
    rouge_n_pairs,
    sentence_bleu_pairs,
)
from kgjudge.metrics._text import normalise, rouge_tokenizer, spacy_semicolon_tokenizer, stem, word_tokens

Engine = Literal["fast", "reference"]


@dataclass
class PRF:
    """Per-graph precision, recall and F1 arrays, and where the published formula gives NaN."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    undefined: np.ndarray  # no predicted or no gold edge: 0/0 in the published script


def match_scores(matrices: Sequence[np.ndarray]) -> PRF:
    """Hungarian one-to-one matching of each ``(n_pred, n_gold)`` score matrix.

    An empty side gives 0 (never NaN) and is flagged in ``undefined``.

    Example:
        >>> match_scores([np.array([[1.0, 0.2], [0.1, 0.0]])]).f1.tolist()
        [0.5]
    """
    lsa = require("scipy.optimize", "eval").linear_sum_assignment
    n = len(matrices)
    precision, recall, f1 = np.zeros(n), np.zeros(n), np.zeros(n)
    undefined = np.zeros(n, dtype=bool)
    for k, matrix in enumerate(matrices):
        n_pred, n_gold = matrix.shape
        if n_pred == 0 or n_gold == 0:
            undefined[k] = True
            continue
        rows, cols = lsa(matrix, maximize=True)
        total = float(matrix[rows, cols].sum())
        p, r = total / n_pred, total / n_gold
        precision[k], recall[k] = p, r
        f1[k] = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return PRF(precision, recall, f1, undefined)


@functools.lru_cache(maxsize=2)
def _tokenizers(compat: bool) -> tuple[object, object]:
    bleu = spacy_semicolon_tokenizer() if compat else None
    return bleu, rouge_tokenizer(compat)


def _bleu_tokens(texts: Sequence[str], compat: bool) -> list[list[str]]:
    spacy_tok, _ = _tokenizers(compat)
    if compat:
        return [[t.text for t in doc] for doc in spacy_tok.pipe(texts)]
    return [word_tokens(t) for t in texts]


def _bleu_counts(texts: Sequence[str], compat: bool) -> NgramCounts:
    if not compat:
        return count_ngrams([word_tokens(t) for t in texts], 4)
    spacy_tok, _ = _tokenizers(compat)
    # ORTH hashes identify token texts without building a Python object per token
    arrays = [doc.to_array("ORTH").reshape(-1) for doc in spacy_tok.pipe(texts)]
    lengths = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
    flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint64)
    return count_token_ids(flat, lengths, 4)


def _split(values: np.ndarray, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    out, start = [], 0
    for n_pred, n_gold in shapes:
        size = n_pred * n_gold
        out.append(values[start : start + size].reshape(n_pred, n_gold))
        start += size
    return out


def _all_pairs(
    pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Sentence ids of every (prediction, gold) pair of every graph, graph by graph, row-major."""
    pred_ids = np.fromiter(map(index.__getitem__, itertools.chain.from_iterable(pred)), dtype=np.int64)
    gold_ids = np.fromiter(map(index.__getitem__, itertools.chain.from_iterable(gold)), dtype=np.int64)
    n_pred = np.fromiter(map(len, pred), dtype=np.int64, count=len(pred))
    n_gold = np.fromiter(map(len, gold), dtype=np.int64, count=len(gold))
    n_pairs = n_pred * n_gold
    # each predicted edge meets every gold edge of its own graph
    hyp = np.repeat(pred_ids, np.repeat(n_gold, n_pred))
    graph = np.repeat(np.arange(len(gold), dtype=np.int64), n_pairs)
    offset = np.arange(hyp.size, dtype=np.int64) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    gold_start = np.cumsum(n_gold) - n_gold
    ref = gold_ids[gold_start[graph] + offset % np.maximum(n_gold[graph], 1)] if hyp.size else hyp
    return hyp, ref, list(zip(n_pred.tolist(), n_gold.tolist()))


def _fast_matrices(
    pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], compat: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    flat = itertools.chain.from_iterable
    texts = list(dict.fromkeys(itertools.chain(flat(pred), flat(gold))))
    index = {text: k for k, text in enumerate(texts)}
    _, rouge_tok = _tokenizers(compat)
    bleu_counts = _bleu_counts(texts, compat)
    rouge_counts = count_ngrams([rouge_tok.tokenize(t) for t in texts], 2)

    hyp, ref, shapes = _all_pairs(pred, gold, index)
    bleu = sentence_bleu_pairs(bleu_counts, hyp, ref, auto_reweigh=not compat)
    r_precision, _, r_fmeasure = rouge_n_pairs(rouge_counts, hyp, ref, 2)
    rouge = r_precision if compat else r_fmeasure
    return _split(bleu, shapes), _split(rouge, shapes)


def _reference_matrices(
    pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], compat: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    bleu_score = require("nltk.translate.bleu_score", "eval")
    rouge_scorer = require("rouge_score.rouge_scorer", "eval")
    _, rouge_tok = _tokenizers(compat)
    scorer = rouge_scorer.RougeScorer(["rouge2"], tokenizer=rouge_tok)
    smoothing = bleu_score.SmoothingFunction().method1
    bleu_out, rouge_out = [], []
    with warnings.catch_warnings():
        # nltk warns about every hypothesis without 4-gram matches; method1 smoothing handles it
        warnings.simplefilter("ignore")
        for p_edges, g_edges in zip(pred, gold):
            bleu, rouge = _reference_graph(p_edges, g_edges, compat, scorer, smoothing, bleu_score)
            bleu_out.append(bleu)
            rouge_out.append(rouge)
    return bleu_out, rouge_out


def _reference_graph(
    p_edges: Sequence[str], g_edges: Sequence[str], compat: bool, scorer: Any, smoothing: Any, bleu_score: Any
) -> tuple[np.ndarray, np.ndarray]:
    """One graph's score matrices, one ``sentence_bleu`` and one ``RougeScorer.score`` per pair."""
    p_tokens, g_tokens = _bleu_tokens(p_edges, compat), _bleu_tokens(g_edges, compat)
    bleu = np.zeros((len(p_edges), len(g_edges)))
    rouge = np.zeros((len(p_edges), len(g_edges)))
    for i, p_text in enumerate(p_edges):
        for j, g_text in enumerate(g_edges):
            bleu[i, j] = bleu_score.sentence_bleu(
                [g_tokens[j]], p_tokens[i], smoothing_function=smoothing, auto_reweigh=not compat
            )
            score = scorer.score(g_text, p_text)["rouge2"]
            rouge[i, j] = score.precision if compat else score.fmeasure
    return bleu, rouge


def score_edges(
    pred: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    *,
    compat: bool,
    engine: Engine = "fast",
) -> tuple[PRF, PRF]:
    """G-BLEU and G-ROUGE per graph for aligned lists of predicted and gold edge sentences.

    Args:
        pred: per graph, the predicted edge sentences.
        gold: per graph, the gold edge sentences.
        compat: GraphJudger scoring (spaCy ``;``-infix tokens, BLEU without re-weighting,
            ROUGE-2 precision) instead of word-level scoring (word tokens, BLEU re-weighted for
            sentences under four tokens, ROUGE-2 F-measure).
        engine: ``fast`` or ``reference`` (see the module docstring).

    Returns:
        ``(bleu, rouge)`` per-graph precision/recall/F1.

    Example:
        >>> bleu, rouge = score_edges([["paris ; capital of ; france"]],
        ...                           [["paris ; capital of ; france"]], compat=False)
        >>> float(bleu.f1[0]), float(rouge.f1[0])
        (1.0, 1.0)
    """
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predicted graphs but {len(gold)} gold graphs")
    build = _fast_matrices if engine == "fast" else _reference_matrices
    bleu, rouge = build(pred, gold, compat)
    return match_scores(bleu), match_scores(rouge)


def warm_tokenizers(compat: bool) -> None:
    """Build a mode's tokenizers now (before worker processes fork, so they inherit them)."""
    _tokenizers(compat)


def clear_caches() -> None:
    """Forget the memoised normalisations and stems (to free memory, or for fair timings)."""
    normalise.cache_clear()
    stem.cache_clear()
