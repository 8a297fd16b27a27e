"""The names of kgjudge.judges (see __init__.py); each is imported from its module on first use."""

from .triples._cascade import (
    Cascade as Cascade,
    CascadeConfig as CascadeConfig,
    CascadeQuery as CascadeQuery,
    CascadeReport as CascadeReport,
    CascadeResult as CascadeResult,
    is_correct as is_correct,
)
from .kasft._extraction import (
    extract_triples as extract_triples,
    Extraction as Extraction,
    extraction_scores as extraction_scores,
    ExtractionScores as ExtractionScores,
    triple_scores as triple_scores,
)
from .triples._factory import (
    build_judge as build_judge,
    Judge as Judge,
    judge_from_file as judge_from_file,
    load_judge_file as load_judge_file,
    write_threshold as write_threshold,
)
from kgjudge._config import (
    load_filter_config as load_filter_config,
    parse_filter_config as parse_filter_config,
)
from kgjudge._filter_config import (
    CombineConfig as CombineConfig,
    FilterConfig as FilterConfig,
    RefreshConfig as RefreshConfig,
    SelectConfig as SelectConfig,
)
from kgjudge._registry import (
    filter_judges as filter_judges,
    judges as registry,
)
from .filter._run import (
    Filter as Filter,
    filter_examples as filter_examples,
    FilterSummary as FilterSummary,
    RoundStats as RoundStats,
)
from .filter._inputs import (
    detect_format as detect_format,
    FilterReject as FilterReject,
    load_examples as load_examples,
    LoadedExamples as LoadedExamples,
    record_messages as record_messages,
)
from .filter._judges import (
    build_filter_judge as build_filter_judge,
    DirectConfig as DirectConfig,
    DirectJudge as DirectJudge,
    FilterJudge as FilterJudge,
    KGGroundedConfig as KGGroundedConfig,
    KGGroundedJudge as KGGroundedJudge,
    MetaRankingFilter as MetaRankingFilter,
    MetaRankingFilterConfig as MetaRankingFilterConfig,
)
from .triples._graphjudger import (
    GraphJudger as GraphJudger,
    GraphJudgerConfig as GraphJudgerConfig,
)
from kgjudge.stages import (
    extract_answer as extract_answer,
    extract_messages as extract_messages,
    EXTRACT_PROMPT as EXTRACT_PROMPT,
    EXTRACT_SCHEMA as EXTRACT_SCHEMA,
)
from .kasft._data import (
    build_extractor_examples as build_extractor_examples,
    build_judge_examples as build_judge_examples,
    chunk_documents as chunk_documents,
    CORRUPTION_KINDS as CORRUPTION_KINDS,
    data_hash as data_hash,
    dev_documents as dev_documents,
    dev_part as dev_part,
    extracted_by_chunk as extracted_by_chunk,
    ExtractorExample as ExtractorExample,
    GoldCorpus as GoldCorpus,
    GoldDocument as GoldDocument,
    HARD_NEGATIVE_KINDS as HARD_NEGATIVE_KINDS,
    hard_negatives as hard_negatives,
    JudgeExample as JudgeExample,
    KasftStats as KasftStats,
    load_gold_jsonl as load_gold_jsonl,
    load_text_graph_pair as load_text_graph_pair,
    split_of as split_of,
    TARGETED_KINDS as TARGETED_KINDS,
    RELATION_TWINS as RELATION_TWINS,
)
from .triples._meta_ranking import (
    aggregate as aggregate,
    Comparison as Comparison,
    Embedder as Embedder,
    load_references as load_references,
    MetaRanker as MetaRanker,
    MetaRankingConfig as MetaRankingConfig,
    prefix_stats as prefix_stats,
    PrefixStats as PrefixStats,
    QAPair as QAPair,
    triple_pair as triple_pair,
)
from kgjudge.metrics._judge import (
    binary_metrics as binary_metrics,
    BinaryMetrics as BinaryMetrics,
    calibrate_threshold as calibrate_threshold,
    Calibration as Calibration,
    expected_calibration_error as expected_calibration_error,
    plot_pr_curve as plot_pr_curve,
)
from .triples._prompting import (
    cut_document as cut_document,
    judge_messages as judge_messages,
    JUDGE_PROMPT as JUDGE_PROMPT,
    judge_request as judge_request,
    META_RANK_PROMPT as META_RANK_PROMPT,
    pair_messages as pair_messages,
    prompt_token_ids as prompt_token_ids,
)
from .kasft._training import (
    AdapterMetadata as AdapterMetadata,
    build_examples as build_examples,
    encode_example as encode_example,
    entity_examples as entity_examples,
    entity_scores as entity_scores,
    example_messages as example_messages,
    load_train_config as load_train_config,
    read_metadata as read_metadata,
    train as train,
    TrainConfig as TrainConfig,
)
