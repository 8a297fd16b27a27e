"""Word-level graph metrics: identical, unrelated, renamed, duplicated, empty and bad inputs."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from kgjudge.metrics import (
    Graph,
    GraphPair,
    _parallel,
    evaluate_graphs,
    evaluate_pairs,
    graph_match,
    prepare_word,
)


def all_finite(report) -> bool:  # noqa: ANN001
    def walk(value) -> bool:  # noqa: ANN001
        if isinstance(value, float):
            return math.isfinite(value)
        if isinstance(value, dict):
            return all(walk(v) for v in value.values())
        return True

    rows = [r.model_dump() for r in report.graphs]
    return walk(report.aggregates) and all(walk(row) for row in rows)

WriteSource = Callable[[str, list], Path]


def test_identical_graphs_score_one(write_source: WriteSource, gold_graphs: list) -> None:
    gold = write_source("gold.source", gold_graphs)
    report = evaluate_graphs(gold, gold)
    agg = report.aggregates
    for name in ("triple_exact", "triple_normalised"):
        for avg in ("micro", "macro"):
            assert agg[name][avg] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    for name in ("g_bleu", "g_rouge"):
        assert agg[name] == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0})
    assert agg["graph_match_accuracy"] == 1.0
    assert agg["g_bertscore"] is None and report.bertscore == "not requested"


def test_unrelated_graphs_score_near_zero(write_source: WriteSource, gold_graphs: list, unrelated_graphs: list) -> None:
    gold = write_source("gold.source", gold_graphs)
    pred = write_source("pred.source", unrelated_graphs)
    agg = evaluate_graphs(pred, gold).aggregates
    assert agg["triple_exact"]["micro"]["f1"] == 0.0
    assert agg["graph_match_accuracy"] == 0.0
    assert agg["g_bleu"]["f1"] < 0.05
    assert agg["g_rouge"]["f1"] < 0.05


def test_renamed_entities_are_not_a_graph_match() -> None:
    gold = [("paris", "capital of", "france"), ("france", "member of", "eu")]
    renamed = [("rome", "capital of", "italy"), ("italy", "member of", "eu")]
    assert graph_match(gold, gold)
    assert not graph_match(renamed, gold)
    # same triples in another order are still the same graph
    assert graph_match(list(reversed(gold)), gold)


def test_duplicates_do_not_raise_scores(write_source: WriteSource, gold_graphs: list) -> None:
    gold = write_source("gold.source", gold_graphs[:1])
    once = [[["Paris", "capital of", "France"], ["Paris", "twinned with", "Rome"]]]
    twice = [[["Paris", "capital of", "France"], ["paris ", "Capital of", "France"],
              ["Paris", "capital of", "France"], ["Paris", "twinned with", "Rome"]]]
    a = evaluate_graphs(write_source("once.source", once), gold)
    b = evaluate_graphs(write_source("twice.source", twice), gold)
    assert b.aggregates == a.aggregates
    assert a.aggregates["triple_exact"]["micro"]["f1"] == pytest.approx(0.5)
    assert b.counts["pred_duplicate_triples"] == 2 and a.counts["pred_duplicate_triples"] == 0


def test_empty_and_unparseable_predictions_score_zero_and_are_counted(
    write_source: WriteSource, gold_graphs: list
) -> None:
    gold = write_source("gold.source", gold_graphs)
    pred = write_source("pred.source", ["[]", "", "[['broken'"])
    report = evaluate_graphs(pred, gold)
    assert report.counts["pred_empty"] == 1
    assert report.counts["pred_unparseable"] == 2
    assert [r.pred_status for r in report.graphs] == ["empty", "unparseable", "unparseable"]
    for row in report.graphs:
        assert row.triple_f1 == row.bleu_f1 == row.rouge_f1 == 0.0 and not row.graph_match
    assert report.aggregates["triple_exact"]["micro"]["f1"] == 0.0
    assert all_finite(report)


def test_malformed_triples_are_counted_not_crashed_on(write_source: WriteSource) -> None:
    gold = write_source("gold.source", [
        [["Paris", "capital of", "France"], ["Paris", "France"], ["Paris", "in", "France", "Europe"]],
    ])
    pred = write_source("pred.source", [[["Paris", "capital of", "France"], ["x"], [1, None, 3]]])
    report = evaluate_graphs(pred, gold)
    assert report.counts["gold_malformed_triples"] == 2
    assert report.counts["pred_malformed_triples"] == 2
    # malformed gold triples are left out, so the one well-formed triple is matched exactly
    assert report.aggregates["triple_exact"]["micro"]["f1"] == 1.0
    row = report.graphs[0]
    assert (row.n_pred, row.n_gold, row.gold_malformed) == (1, 1, 2)


def test_normalised_matching_ignores_punctuation_and_unicode_form(write_source: WriteSource) -> None:
    gold = write_source("gold.source", [[["The Beatles", "genre", "rock & roll"]]])
    pred = write_source("pred.source", [[["the beatles!", "GENRE", "rock  roll"]]])
    agg = evaluate_graphs(pred, gold).aggregates
    assert agg["triple_exact"]["micro"]["f1"] == 0.0
    assert agg["triple_normalised"]["micro"]["f1"] == 1.0


def test_fast_engine_equals_reference_engine(write_source: WriteSource, gold_graphs: list) -> None:
    gold = write_source("gold.source", gold_graphs)
    pred = write_source("pred.source", [
        [["Paris", "capital of", "France"], ["Paris", "located in", "Europe"]],
        [["Alan Turing", "born in", "London, England"]],
        [["Danube", "flows through", "Budapest"], ["Danube", "flows into", "Black Sea"]],
    ])
    for mode in ("word", "graphjudger"):
        fast = evaluate_graphs(pred, gold, mode=mode, engine="fast")
        ref = evaluate_graphs(pred, gold, mode=mode, engine="reference")
        for a, b in zip(fast.graphs, ref.graphs):
            assert a.model_dump() == pytest.approx(b.model_dump(), abs=1e-12)
        assert 0 < fast.aggregates["g_bleu"]["f1"] < 1


@pytest.mark.parametrize("mode", ["word", "graphjudger"])
def test_several_processes_give_the_same_scores(
    monkeypatch: pytest.MonkeyPatch, gold_graphs: list, unrelated_graphs: list, mode: str
) -> None:
    monkeypatch.setitem(_parallel.MIN_GRAPHS_PER_WORKER, "word", 2)
    monkeypatch.setitem(_parallel.MIN_GRAPHS_PER_WORKER, "compat", 2)
    pairs = [
        GraphPair(gold=Graph(id=str(k), items=g), pred=Graph(id=str(k), items=p))
        for k, (g, p) in enumerate(zip(gold_graphs * 3, unrelated_graphs + gold_graphs + gold_graphs[::-1]))
    ]
    single = evaluate_pairs(pairs, mode=mode, workers=1)
    double = evaluate_pairs(pairs, mode=mode, workers=2)
    assert double[4]["workers"] == 2.0 and single[4]["workers"] == 1.0
    assert [r.model_dump() for r in double[0]] == [r.model_dump() for r in single[0]]
    assert double[1] == single[1]


def test_graph_edit_distance(write_source: WriteSource, gold_graphs: list) -> None:
    gold = write_source("gold.source", gold_graphs[:1])
    pred = write_source("pred.source", [[["Paris", "capital of", "France"]]])
    report = evaluate_graphs(pred, gold, ged=True)
    row = report.graphs[0]
    # one edge and one node ("european union") to insert
    assert row.ged == 2.0 and row.ged_exact
    assert row.ged_normalised == pytest.approx(2.0 / (2 + 1 + 3 + 2))
    assert report.aggregates["ged"]["mean"] == 2.0


def test_prepare_word_counts_and_renders() -> None:
    gold = Graph(id="g", items=[["A", "r", "B"]])
    prepared = prepare_word(gold, Graph(id="g", items=[[" A ", "R", "B"], ["A", "r", "b"]]))
    assert prepared.pred_duplicates == 1
    assert prepared.pred_edges == ["a ; r ; b"]
