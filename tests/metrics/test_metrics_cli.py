"""``kgjudge eval`` and the speed benchmark, on tiny inputs."""

from __future__ import annotations

import csv
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from kgjudge import Judgement, write_jsonl
from kgjudge.cli import app

REPO = Path(__file__).resolve().parents[2]
WriteSource = Callable[[str, list], Path]


def test_eval_graphs_writes_report_csv_and_plot(tmp_path: Path, write_source: WriteSource, gold_graphs: list) -> None:
    gold = write_source("gold.source", gold_graphs)
    pred = write_source("pred.source", [gold_graphs[0], "garbage", "[]"])
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["eval", "graphs", str(pred), str(gold), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pred_unparseable=1" in result.output and "pred_empty=1" in result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["mode"] == "word" and report["counts"]["graphs"] == 3
    assert report["aggregates"]["triple_exact"]["macro"]["f1"] == 1 / 3
    assert report["versions"]["nltk"] and report["files"]["per_graph"] == "per_graph.csv"
    with (out / "per_graph.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["pred_status"] for r in rows] == ["ok", "unparseable", "empty"]
    assert (out / "f1_histograms.png").read_bytes().startswith(b"\x89PNG")

    compat = CliRunner().invoke(app, ["eval", "graphs", str(pred), str(gold), "--out", str(tmp_path / "c"),
                                      "--compat", "graphjudger"])
    assert compat.exit_code == 0, compat.output
    assert "unavailable" in compat.output


def test_eval_graphs_reports_the_short_file(write_source: WriteSource, gold_graphs: list) -> None:
    gold = write_source("gold.source", gold_graphs)
    pred = write_source("pred.source", gold_graphs[:1])
    result = CliRunner().invoke(app, ["eval", "graphs", str(pred), str(gold)])
    assert result.exit_code == 2
    assert f"error: {pred}: has 1 lines but {gold} has 3" in result.output


def test_eval_graphs_rejects_an_unknown_compat_mode(write_source: WriteSource, gold_graphs: list) -> None:
    gold = write_source("gold.source", gold_graphs)
    result = CliRunner().invoke(app, ["eval", "graphs", str(gold), str(gold), "--compat", "pive"])
    assert result.exit_code == 2
    assert "unknown --compat mode 'pive' (valid choices: graphjudger)" in result.output


def test_eval_judge(tmp_path: Path) -> None:
    judgements = tmp_path / "j.jsonl"
    write_jsonl(judgements, [Judgement(target_id=f"t{k}", judge="graphjudger.v1", score=s, label=s > 0.5,
                                       threshold=0.5) for k, s in enumerate([0.9, 0.2, 0.7, 0.4])])
    labels = tmp_path / "l.jsonl"
    labels.write_text("".join(json.dumps({"target_id": f"t{k}", "label": v}) + "\n"
                              for k, v in enumerate([True, False, False, True])), encoding="utf-8")
    out = tmp_path / "judge"
    result = CliRunner().invoke(app, ["eval", "judge", str(judgements), str(labels), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "accuracy           0.5000" in result.output
    assert {p.name for p in out.iterdir()} == {"report.json", "pr_curve.png", "calibration.png"}


def test_speed_benchmark_runs_on_a_tiny_input(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_metrics", REPO / "eval" / "bench_metrics.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    gold = tmp_path / "gold.source"
    gold.write_text("[['a', 'r', 'b'], ['b', 's', 'c']]\n[['x', 'r', 'y']]\n[['p', 'q', 'r'], ['r', 'q', 'p']]\n",
                    encoding="utf-8")
    out = tmp_path / "bench.json"
    assert bench.main(["--gold", str(gold), "--n", "8", "--workers", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["graphs"] == 8
    for mode in ("word", "graphjudger"):
        entry = result["modes"][mode]
        assert entry["fast_s"] > 0 and entry["reference_s"] > 0
        assert entry["ratio"] == entry["reference_s"] / entry["fast_s"]
        assert entry["max_abs_difference"] <= 1e-9


def test_eval_graphs_of_empty_files_or_into_a_file_is_one_error_line(tmp_path: Path, write_source: WriteSource,
                                                                      gold_graphs: list) -> None:
    for name in ("pred.source", "gold.source", "pred.jsonl", "gold.jsonl"):
        (tmp_path / name).write_text("")
    for pred, gold in (("pred.source", "gold.source"), ("pred.jsonl", "gold.jsonl")):
        result = CliRunner().invoke(app, ["eval", "graphs", str(tmp_path / pred), str(tmp_path / gold),
                                          "--out", str(tmp_path / "r")])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == f"error: {tmp_path / gold}: holds no gold graph: there is nothing to evaluate against"
    assert not (tmp_path / "r").exists()
    gold = write_source("g.source", gold_graphs)
    target = tmp_path / "report.txt"
    target.write_text("mine")
    for args in (["graphs", str(gold), str(gold)], ["judge", str(gold), str(gold)]):
        result = CliRunner().invoke(app, ["eval", *args, "--out", str(target)])
        assert result.exit_code == 2
        assert result.output.strip() == f"error: {target}: is a file, not a folder; give --out a folder"
    assert target.read_text() == "mine"


def test_eval_of_hostile_json_lines_is_one_error_line_or_a_counted_bad_line(tmp_path: Path) -> None:
    deep = "[" * 5000 + "]" * 5000
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "d1", "triples": [["a", "r", "b"]]}) + "\n"
                    + json.dumps({"id": "d2", "triples": [["c", "r", "d"]]}) + "\n")
    pred = tmp_path / "pred.jsonl"
    pred.write_text(json.dumps({"id": "d1", "triples": [["a", "r", "b"]]}) + "\n"
                    + '{"id": "d2", "triples": ' + deep + "}\n")
    result = CliRunner().invoke(app, ["eval", "graphs", str(pred), str(gold), "--out", str(tmp_path / "r")])
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    if result.exit_code == 2:  # mostly unreadable predictions are refused naming the line
        assert f"{pred}" in result.output and "nested more than 100 levels" in result.output
    else:
        assert "pred_unreadable_lines=1" in result.output
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"target_id": "t1", "label": ' + deep + "}\n")
    judged = tmp_path / "judged.jsonl"
    write_jsonl(judged, [Judgement(target_id="t1", judge="graphjudger.v1", label=True, score=0.9, threshold=0.5)])
    result = CliRunner().invoke(app, ["eval", "judge", str(judged), str(labels), "--out", str(tmp_path / "j")])
    assert result.exit_code == 2 and result.output.strip().startswith(f"error: {labels}:1: "), result.output
    assert "nested more than 100 levels" in result.output
