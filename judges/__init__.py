"""Judges that decide whether model output is supported: GraphJudger, Meta Ranking, cascades,
KASFT data and LoRA training. Installed as ``kgjudge.judges``.

The build pipeline calls a judge through :func:`build_judge` and ``judge(triples, documents)``:

    >>> from kgjudge.judges import build_judge
    >>> judge = build_judge({"type": "graphjudger.v1", "adapter": "judge"}, llm)
    >>> judgements = judge.judge_sync(triples, {"d1": "Paris is the capital of France."})

Importing this package needs only the core dependencies; training needs the ``hf`` extra and
metrics, plots and embeddings the ``judges`` extra.
"""

from kgjudge._registry import judges as registry
from kgjudge.judges._cascade import Cascade, CascadeConfig, CascadeQuery, CascadeReport, CascadeResult, is_correct
from kgjudge.judges._extraction import Extraction, ExtractionScores, extract_triples, extraction_scores, parse_triples
from kgjudge.judges._factory import Judge, build_judge, judge_from_file, load_judge_file, write_threshold
from kgjudge.judges._graphjudger import GraphJudger, GraphJudgerConfig
from kgjudge.judges._kasft import (
    CORRUPTION_KINDS,
    ExtractorExample,
    GoldCorpus,
    GoldDocument,
    JudgeExample,
    KasftStats,
    build_extractor_examples,
    build_judge_examples,
    data_hash,
    load_gold_jsonl,
    load_text_graph_pair,
    split_of,
)
from kgjudge.judges._meta_ranking import (
    Comparison,
    Embedder,
    MetaRanker,
    MetaRankingConfig,
    PrefixStats,
    QAPair,
    aggregate,
    load_references,
    prefix_stats,
    triple_pair,
)
from kgjudge.judges._metrics import (
    BinaryMetrics,
    Calibration,
    binary_metrics,
    calibrate_threshold,
    expected_calibration_error,
    plot_pr_curve,
)
from kgjudge.judges._prompting import (
    EXTRACT_PROMPT,
    EXTRACT_SCHEMA,
    JUDGE_PROMPT,
    META_RANK_PROMPT,
    cut_document,
    extract_answer,
    extract_messages,
    judge_messages,
    judge_request,
    pair_messages,
    prompt_token_ids,
)
from kgjudge.judges._training import (
    AdapterMetadata,
    TrainConfig,
    encode_example,
    load_train_config,
    read_metadata,
    train,
)

__all__ = sorted(
    [
        "AdapterMetadata",
        "BinaryMetrics",
        "CORRUPTION_KINDS",
        "Calibration",
        "Cascade",
        "CascadeConfig",
        "CascadeQuery",
        "CascadeReport",
        "CascadeResult",
        "Comparison",
        "EXTRACT_PROMPT",
        "EXTRACT_SCHEMA",
        "Embedder",
        "Extraction",
        "ExtractionScores",
        "ExtractorExample",
        "GoldCorpus",
        "GoldDocument",
        "GraphJudger",
        "GraphJudgerConfig",
        "JUDGE_PROMPT",
        "Judge",
        "JudgeExample",
        "KasftStats",
        "META_RANK_PROMPT",
        "MetaRanker",
        "MetaRankingConfig",
        "PrefixStats",
        "QAPair",
        "TrainConfig",
        "aggregate",
        "binary_metrics",
        "build_extractor_examples",
        "build_judge",
        "build_judge_examples",
        "calibrate_threshold",
        "cut_document",
        "data_hash",
        "encode_example",
        "expected_calibration_error",
        "extract_answer",
        "extract_messages",
        "extract_triples",
        "extraction_scores",
        "is_correct",
        "judge_from_file",
        "judge_messages",
        "judge_request",
        "load_gold_jsonl",
        "load_judge_file",
        "load_references",
        "load_text_graph_pair",
        "load_train_config",
        "pair_messages",
        "parse_triples",
        "plot_pr_curve",
        "prefix_stats",
        "prompt_token_ids",
        "read_metadata",
        "registry",
        "split_of",
        "train",
        "triple_pair",
        "write_threshold",
    ]
)
