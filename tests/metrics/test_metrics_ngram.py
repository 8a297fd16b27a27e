"""The vectorised BLEU/ROUGE kernels agree with nltk and rouge-score pair by pair."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_score import rouge_scorer

from kgjudge.metrics import count_ngrams, rouge_n_pairs, sentence_bleu_pairs


def _random_sequences(rnd: random.Random, n: int) -> list[list[str]]:
    vocab = ["a", "b", "c", "d", ";", "e"]
    # lengths 0..9 cover empty sentences and the shorter-than-4-grams cases
    return [[rnd.choice(vocab) for _ in range(rnd.randrange(10))] for _ in range(n)]


@pytest.mark.parametrize("auto_reweigh", [False, True])
def test_bleu_kernel_matches_nltk(auto_reweigh: bool) -> None:
    rnd = random.Random(7)
    seqs = _random_sequences(rnd, 60)
    counts = count_ngrams(seqs, 4)
    hyp = np.array([rnd.randrange(60) for _ in range(400)])
    ref = np.array([rnd.randrange(60) for _ in range(400)])
    fast = sentence_bleu_pairs(counts, hyp, ref, auto_reweigh=auto_reweigh)
    smoothing = SmoothingFunction().method1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [
            sentence_bleu([seqs[r]], seqs[h], smoothing_function=smoothing, auto_reweigh=auto_reweigh)
            for h, r in zip(hyp, ref)
        ]
    assert np.abs(fast - np.array(expected)).max() < 1e-12
    assert 0 < (fast > 0).sum() < len(fast)  # the sample has both zero and non-zero scores


def test_rouge_kernel_matches_rouge_score() -> None:
    rnd = random.Random(11)
    seqs = _random_sequences(rnd, 50)
    texts = [" ".join(s) for s in seqs]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2"])
    tokens = [scorer._tokenizer.tokenize(t) for t in texts]
    counts = count_ngrams(tokens, 2)
    hyp = np.array([rnd.randrange(50) for _ in range(300)])
    ref = np.array([rnd.randrange(50) for _ in range(300)])
    for n in (1, 2):
        p, r, f = rouge_n_pairs(counts, hyp, ref, n)
        for k, (h, g) in enumerate(zip(hyp, ref)):
            score = scorer.score(texts[g], texts[h])[f"rouge{n}"]
            assert (p[k], r[k], f[k]) == pytest.approx((score.precision, score.recall, score.fmeasure), abs=1e-12)


def test_identical_short_sentences_score_one_with_reweighing() -> None:
    counts = count_ngrams([["paris", "capital", "france"]], 4)
    pair = np.array([0])
    assert sentence_bleu_pairs(counts, pair, pair, auto_reweigh=True)[0] == pytest.approx(1.0)
    # plain 4-gram BLEU cannot reach 1 on a three-token sentence: that is nltk's rule too
    assert sentence_bleu_pairs(counts, pair, pair)[0] == pytest.approx(0.1 ** 0.25)
