"""Input formats, pairing, and the errors bad input gets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kgjudge import InputError, Triple, write_jsonl
from kgjudge.metrics import evaluate_graphs, read_graphs

WriteSource = Callable[[str, list], Path]


@pytest.mark.parametrize("short", ["pred", "gold"])
def test_line_counts_must_match_and_the_error_names_the_short_file(
    write_source: WriteSource, gold_graphs: list, short: str
) -> None:
    files = {"pred": gold_graphs, "gold": gold_graphs}
    files[short] = gold_graphs[:2]
    pred = write_source("pred.source", files["pred"])
    gold = write_source("gold.source", files["gold"])
    with pytest.raises(InputError) as info:
        evaluate_graphs(pred, gold)
    short_path = pred if short == "pred" else gold
    assert info.value.file == str(short_path)
    assert "short by 1 line" in str(info.value)


def test_an_unparseable_gold_line_is_an_error_naming_file_and_line(
    write_source: WriteSource, gold_graphs: list
) -> None:
    gold = write_source("gold.source", [gold_graphs[0], "[['a', 'b', 'c']"])
    with pytest.raises(InputError) as info:
        evaluate_graphs(gold, gold)
    assert (info.value.file, info.value.line) == (str(gold), 2)


def test_jsonl_graphs_pair_by_document_id(tmp_path: Path, gold_graphs: list) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"id": f"d{k}", "triples": g}) + "\n" for k, g in enumerate(gold_graphs)),
                    encoding="utf-8")
    pred = tmp_path / "pred.jsonl"
    lines = [
        json.dumps({"document_id": "d2",
                    "triples": [{"head": "Danube", "relation": "flows through", "tail": "Vienna"}]}),
        "{not json",
        json.dumps({"id": "d0", "triples": gold_graphs[0]}),
        json.dumps({"id": "elsewhere", "triples": []}),
    ]
    pred.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = evaluate_graphs(pred, gold)
    assert [(r.id, r.pred_status, r.triple_f1) for r in report.graphs] == [
        ("d0", "ok", 1.0), ("d1", "missing", 0.0), ("d2", "ok", 1.0)]
    assert report.counts["pred_missing"] == 1
    assert report.counts["pred_unreadable_lines"] == 1
    assert report.counts["pred_unmatched_ids"] == 1


def test_a_build_directory_against_a_source_file(tmp_path: Path, write_source: WriteSource, gold_graphs: list) -> None:
    gold = write_source("val.source", gold_graphs)
    build = tmp_path / "build"
    triples = [Triple(head=h, relation=r, tail=t, document_id=f"val.target:{line}")
               for line, graph in ((1, gold_graphs[0]), (3, gold_graphs[2])) for h, r, t in graph]
    write_jsonl(build / "triples.jsonl", triples)
    graphs, kind = read_graphs(build, "pred")
    assert kind == "keyed" and [g.id for g in graphs] == ["val.target:1", "val.target:3"]
    report = evaluate_graphs(build, gold)
    assert [r.pred_status for r in report.graphs] == ["ok", "missing", "ok"]
    assert report.aggregates["triple_exact"]["micro"] == pytest.approx(
        {"precision": 1.0, "recall": 3 / 5, "f1": 0.75})


def test_a_build_directory_needs_triples_jsonl(tmp_path: Path, write_source: WriteSource, gold_graphs: list) -> None:
    (tmp_path / "empty-build").mkdir()
    with pytest.raises(InputError, match="triples.jsonl"):
        evaluate_graphs(tmp_path / "empty-build", write_source("gold.source", gold_graphs))


def test_a_malformed_gold_jsonl_line_is_an_error(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "d0", "triples": []}\n{"id": "d1"}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        evaluate_graphs(gold, gold)
    assert info.value.line == 2


def test_gold_with_malformed_triples_in_compat_mode(write_source: WriteSource) -> None:
    gold = write_source("gold.source", [[["Paris", "France"], ["Paris", "in", "France", "Europe"], ["a", "b", "c"]]])
    pred = write_source("pred.source", [[["a", "b", "c"]]])
    report = evaluate_graphs(pred, gold, mode="graphjudger")
    assert report.counts["gold_malformed_triples"] == 2
    # the published script keeps them as (unmatchable) gold items: recall 1/3
    assert report.aggregates["triple_match"]["micro"]["recall"] == pytest.approx(1 / 3)
