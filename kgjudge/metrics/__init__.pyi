"""The names of kgjudge.metrics (see __init__.py); each is imported from its module on first use."""

from ._bertscore import (
    BertScorer as BertScorer,
    is_bert_base_uncased as is_bert_base_uncased,
    packaged_minilm_dir as packaged_minilm_dir,
    resolve_model_dir as resolve_model_dir,
)
from ._evaluate import (
    BuildEvalReport as BuildEvalReport,
    COMPAT_MODES as COMPAT_MODES,
    evaluate_build as evaluate_build,
    evaluate_graphs as evaluate_graphs,
    evaluate_pairs as evaluate_pairs,
    GraphEvalReport as GraphEvalReport,
    GraphScore as GraphScore,
    judge_effect as judge_effect,
    write_build_report as write_build_report,
    write_graph_report as write_graph_report,
)
from ._graph import (
    compat_graph_match as compat_graph_match,
    graph_edit_distance as graph_edit_distance,
    graph_match as graph_match,
    NULL_GRAPH as NULL_GRAPH,
    prepare_compat as prepare_compat,
    prepare_word as prepare_word,
    Prepared as Prepared,
    triple_counts as triple_counts,
)
from ._io import (
    BuildGraphs as BuildGraphs,
    check_readable as check_readable,
    Graph as Graph,
    GraphPair as GraphPair,
    MAX_UNREADABLE_SHARE as MAX_UNREADABLE_SHARE,
    pair_graphs as pair_graphs,
    read_build as read_build,
    read_graphs as read_graphs,
)
from ._judge import (
    binary_metrics as binary_metrics,
    BinaryMetrics as BinaryMetrics,
    Calibration as Calibration,
    calibrate_threshold as calibrate_threshold,
    calibration_bins as calibration_bins,
    CalibrationBins as CalibrationBins,
    expected_calibration_error as expected_calibration_error,
    plot_pr_curve as plot_pr_curve,
    evaluate_judgements as evaluate_judgements,
    judge_metrics as judge_metrics,
    JudgeEvalReport as JudgeEvalReport,
    write_judge_report as write_judge_report,
)
from ._ngram import (
    count_ngrams as count_ngrams,
    count_token_ids as count_token_ids,
    NgramCounts as NgramCounts,
    rouge_n_pairs as rouge_n_pairs,
    sentence_bleu_pairs as sentence_bleu_pairs,
)
from ._pairs import (
    clear_caches as clear_caches,
    match_scores as match_scores,
    PRF as PRF,
    score_edges as score_edges,
)
from ._parallel import (
    default_workers as default_workers,
)
from ._text import (
    exact_key as exact_key,
    normalise as normalise,
    normalised_key as normalised_key,
    render as render,
    rouge_tokenizer as rouge_tokenizer,
    spacy_semicolon_tokenizer as spacy_semicolon_tokenizer,
    word_tokens as word_tokens,
)
