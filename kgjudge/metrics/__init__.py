"""Evaluation against gold knowledge graphs, and of judges against gold labels.

Graph metrics (per graph and aggregated): triple precision/recall/F1 (exact and normalised),
G-BLEU, G-ROUGE and G-BERTScore with one-to-one Hungarian matching, graph match (isomorphism
that compares entity names and relation labels) and optional graph edit distance; a
``graphjudger`` mode reproduces the published GraphJudger evaluation, quirks included. Judge
metrics: accuracy, precision, recall, F1, AUROC, expected calibration error, PR and calibration
plots. Needs ``pip install 'kgjudge[eval]'`` (plus ``nlp`` for the GraphJudger tokenizer and
``bertscore`` for G-BERTScore). See ``docs/evaluation.md``.
"""

from __future__ import annotations

from kgjudge._extras import require

require("numpy", "eval")

from kgjudge.metrics._bertscore import (  # noqa: E402
    BertScorer,
    is_bert_base_uncased,
    packaged_minilm_dir,
    resolve_model_dir,
)
from kgjudge.metrics._evaluate import (  # noqa: E402
    COMPAT_MODES,
    GraphEvalReport,
    GraphScore,
    evaluate_graphs,
    evaluate_pairs,
    write_graph_report,
)
from kgjudge.metrics._graph import (  # noqa: E402
    NULL_GRAPH,
    Prepared,
    compat_graph_match,
    graph_edit_distance,
    graph_match,
    prepare_compat,
    prepare_word,
    triple_counts,
)
from kgjudge.metrics._io import Graph, GraphPair, pair_graphs, read_graphs  # noqa: E402
from kgjudge.metrics._judge import (  # noqa: E402
    JudgeEvalReport,
    evaluate_judgements,
    judge_metrics,
    write_judge_report,
)
from kgjudge.metrics._ngram import (  # noqa: E402
    NgramCounts,
    count_ngrams,
    count_token_ids,
    rouge_n_pairs,
    sentence_bleu_pairs,
)
from kgjudge.metrics._pairs import PRF, clear_caches, match_scores, score_edges  # noqa: E402
from kgjudge.metrics._parallel import default_workers  # noqa: E402
from kgjudge.metrics._text import (  # noqa: E402
    exact_key,
    normalise,
    normalised_key,
    render,
    rouge_tokenizer,
    spacy_semicolon_tokenizer,
    word_tokens,
)

__all__ = sorted(
    [
        "BertScorer",
        "COMPAT_MODES",
        "Graph",
        "GraphEvalReport",
        "GraphPair",
        "GraphScore",
        "JudgeEvalReport",
        "NULL_GRAPH",
        "NgramCounts",
        "PRF",
        "Prepared",
        "clear_caches",
        "compat_graph_match",
        "count_ngrams",
        "count_token_ids",
        "default_workers",
        "evaluate_graphs",
        "evaluate_judgements",
        "evaluate_pairs",
        "exact_key",
        "graph_edit_distance",
        "graph_match",
        "is_bert_base_uncased",
        "judge_metrics",
        "match_scores",
        "normalise",
        "normalised_key",
        "packaged_minilm_dir",
        "pair_graphs",
        "prepare_compat",
        "prepare_word",
        "read_graphs",
        "render",
        "resolve_model_dir",
        "rouge_n_pairs",
        "rouge_tokenizer",
        "score_edges",
        "sentence_bleu_pairs",
        "spacy_semicolon_tokenizer",
        "triple_counts",
        "word_tokens",
        "write_graph_report",
        "write_judge_report",
    ]
)
