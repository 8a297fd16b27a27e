"""Evaluation against gold knowledge graphs, and of judges against gold labels.

Graph metrics (per graph and aggregated): triple precision/recall/F1 (exact and normalised),
G-BLEU, G-ROUGE and G-BERTScore with one-to-one Hungarian matching, graph match (isomorphism
that compares entity names and relation labels) and optional graph edit distance; a
``graphjudger`` mode reproduces the published GraphJudger evaluation, quirks included. Judge
metrics: accuracy, precision, recall, F1, AUROC, expected calibration error, PR and calibration
plots. Needs ``pip install 'kgjudge[eval]'`` (plus ``nlp`` for the GraphJudger tokenizer and
``bertscore`` for G-BERTScore). See ``docs/evaluation.md``.
"""

from kgjudge._extras import require
from kgjudge._faces import lazy_face

require("numpy", "eval")

__getattr__, __dir__, __all__ = lazy_face(__name__, __file__)
