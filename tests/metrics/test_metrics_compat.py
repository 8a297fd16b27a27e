"""GraphJudger-compatible mode reproduces the published evaluation, quirks included.

Expected values are worked out by hand in the comments; sklearn's MultiLabelBinarizer route,
which the published script takes for triple F1, serves as a second oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sklearn import preprocessing
from sklearn.metrics import f1_score

from kgjudge.metrics import (
    Graph,
    compat_graph_match,
    evaluate_graphs,
    prepare_compat,
    spacy_semicolon_tokenizer,
)

GOLD_2 = [
    [["Paris", "capital of", "France"], ["France", "member of", "EU"]],
    [["A", "r", "B"]],
]
PRED_2 = [
    [["paris ", "Capital Of", "france"], ["France", "part of", "EU"], ["France", "part of", "EU"]],
    [["A", "r", "B"], ["X", "y", "Z"]],
]

WriteSource = Callable[[str, list], Path]


def test_triple_f1_is_micro_f1_over_sets_of_list_strings(write_source: WriteSource) -> None:
    report = evaluate_graphs(write_source("p.source", PRED_2), write_source("g.source", GOLD_2),
                             mode="graphjudger")
    # sets: graph 1 has 2 predicted (the duplicate collapses), 2 gold, 1 shared; graph 2: 2, 1, 1
    # micro P = 2/4, R = 2/3, F1 = 2PR/(P+R) = 4/7
    micro = report.aggregates["triple_match"]["micro"]
    assert micro == pytest.approx({"precision": 0.5, "recall": 2 / 3, "f1": 4 / 7})

    # the published route: MultiLabelBinarizer over str(list) classes, sklearn micro F1
    def keys(graph: list) -> list[str]:
        return [str([str(e).lower().strip() for e in t]).lower() for t in graph]

    pred_lists, gold_lists = [keys(g) for g in PRED_2], [keys(g) for g in GOLD_2]
    classes = sorted({k for g in pred_lists + gold_lists for k in g})
    binarizer = preprocessing.MultiLabelBinarizer(classes=classes)
    expected = f1_score(binarizer.fit_transform(gold_lists), binarizer.fit_transform(pred_lists), average="micro")
    assert micro["f1"] == pytest.approx(expected)


def test_edge_sentences_join_the_characters_of_the_repr() -> None:
    prepared = prepare_compat(Graph(id="1", items=[["Paris", "capital of", "France"]]),
                              Graph(id="1", items=[["a", "b"]]))
    assert prepared.gold_edges == ["[;';p;a;r;i;s;';,; ;';c;a;p;i;t;a;l; ;o;f;';,; ;';f;r;a;n;c;e;';]"]
    # graph matching pads the short predicted list in place before the edges are built
    assert prepared.pred_edges == ["[;';a;';,; ;';b;';,; ;';n;u;l;l;';]"]
    assert prepared.pred_malformed == 1


def test_spacy_tokens_of_an_edge_sentence() -> None:
    tokens = [t.text for t in spacy_semicolon_tokenizer()(";';b;';,;")]
    # a leading infix is not split off: spaCy keeps ";'" together
    assert tokens == [";'", ";", "b", ";", "'", ";", ",", ";"]


def test_bleu_and_rouge_of_one_changed_entity(write_source: WriteSource) -> None:
    gold = write_source("g.source", [[["a", "b", "d"]]])
    pred = write_source("p.source", [[["a", "b", "c"]]])
    row = evaluate_graphs(pred, gold, mode="graphjudger").graphs[0]
    # 25 spaCy tokens each: "[;';a;';,;" gives 10, ";';b;';,;" 8 and ";';c;';]" 7; only the
    # n-grams that contain "c" fail: p1 = 24/25, p2 = 22/24, p3 = 20/23, p4 = 18/22, no penalty
    assert row.bleu_f1 == pytest.approx((24 / 25 * 22 / 24 * 20 / 23 * 18 / 22) ** 0.25)
    # rouge-score keeps the letters only: "a b c" against "a b d", ROUGE-2 precision 1/2
    assert (row.rouge_precision, row.rouge_recall, row.rouge_f1) == pytest.approx((0.5, 0.5, 0.5))
    word = evaluate_graphs(pred, gold).graphs[0]
    # word level: [a, b, c] against [a, b, d], re-weighted over 3 orders: (2/3 * 1/2 * 0.1) ** (1/3)
    assert word.bleu_f1 == pytest.approx((2 / 3 * 1 / 2 * 0.1) ** (1 / 3))
    assert word.rouge_f1 == pytest.approx(0.5)


def test_graph_match_ignores_entity_names() -> None:
    gold = [("paris", "capital of", "france")]
    assert compat_graph_match([("rome", "capital of", "italy")], gold)
    assert not compat_graph_match([("rome", "part of", "italy")], gold)
    # a second relation between the same entities overwrites the first edge's label
    assert compat_graph_match([("x", "s", "y")], [("a", "r", "b"), ("a", "s", "b")])


def test_unparseable_line_becomes_the_null_graph(write_source: WriteSource) -> None:
    gold = write_source("g.source", [[["Null", "Null", "Null"]], [["a", "b", "c"]]])
    pred = write_source("p.source", ["this is not a graph", "[]"])
    report = evaluate_graphs(pred, gold, mode="graphjudger")
    first, second = report.graphs
    # the placeholder scores like any graph: here it equals the gold graph
    assert first.pred_status == "unparseable" and first.triple_f1 == 1.0 and first.bleu_f1 == 1.0
    # an empty list parses; the published script divides 0 by 0 for it, here it scores 0
    assert second.pred_status == "empty" and second.published_nan and second.bleu_precision == 0.0
    assert report.counts["published_nan_graphs"] == 1 and report.counts["pred_unparseable"] == 1


def test_quirks_inflate_unrelated_graphs(write_source: WriteSource, gold_graphs: list, unrelated_graphs: list) -> None:
    gold = write_source("g.source", gold_graphs)
    pred = write_source("p.source", unrelated_graphs)
    compat = evaluate_graphs(pred, gold, mode="graphjudger").aggregates
    word = evaluate_graphs(pred, gold).aggregates
    assert compat["triple_match"]["micro"]["f1"] == word["triple_exact"]["micro"]["f1"] == 0.0
    assert compat["g_bleu"]["f1"] > 0.3 > 0.05 > word["g_bleu"]["f1"]
    assert compat["g_rouge"]["f1"] > 0.1 > word["g_rouge"]["f1"]


def test_bertscore_is_unavailable_without_bert_base_uncased(write_source: WriteSource, gold_graphs: list) -> None:
    gold = write_source("g.source", gold_graphs[:1])
    report = evaluate_graphs(gold, gold, mode="graphjudger")
    assert report.aggregates["g_bertscore"] is None
    assert report.bertscore.startswith("unavailable")


def test_ged_is_refused_in_compat_mode(write_source: WriteSource, gold_graphs: list) -> None:
    from kgjudge import ConfigError

    gold = write_source("g.source", gold_graphs[:1])
    with pytest.raises(ConfigError, match="graph edit distance"):
        evaluate_graphs(gold, gold, mode="graphjudger", ged=True)
