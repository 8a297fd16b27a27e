"""Threshold calibration, metrics, and writing the threshold into a config file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kgjudge import InputError
from kgjudge.cli import app
from kgjudge.judges import (
    JudgeExample,
    binary_metrics,
    calibrate_threshold,
    expected_calibration_error,
    plot_pr_curve,
    write_threshold,
)

pytest.importorskip("sklearn")

LABELS = [True, True, True, False, True, False, False, False]
SCORES = [0.95, 0.9, 0.8, 0.7, 0.6, 0.4, 0.2, 0.1]


def test_best_f1_threshold() -> None:
    cal = calibrate_threshold(LABELS, SCORES)
    # keep >= 0.6: tp 4, fp 1 -> p 0.8, r 1.0, F1 0.889 (better than >= 0.8: p 1, r 0.75, F1 0.857)
    assert cal.threshold == pytest.approx(0.6)
    assert (cal.precision, cal.recall) == pytest.approx((0.8, 1.0))
    assert cal.f1 == pytest.approx(8 / 9)


def test_target_precision_threshold() -> None:
    cal = calibrate_threshold(LABELS, SCORES, objective="precision", target_precision=1.0)
    assert cal.threshold == pytest.approx(0.8) and cal.recall == pytest.approx(0.75) and cal.reached
    impossible = calibrate_threshold([False, True], [0.9, 0.1], objective="precision", target_precision=0.99)
    assert not impossible.reached
    with pytest.raises(InputError):
        calibrate_threshold([False, False], [0.3, 0.2])


def test_metrics_and_calibration_error(tmp_path: Path) -> None:
    m = binary_metrics(LABELS, SCORES, threshold=0.5)
    assert (m.accuracy, m.precision, m.recall) == pytest.approx((7 / 8, 0.8, 1.0))
    assert m.auroc == pytest.approx(15 / 16)
    assert expected_calibration_error([True, False], [1.0, 0.0]) == 0.0
    assert expected_calibration_error([False, False], [0.9, 0.9]) == pytest.approx(0.9)
    png = plot_pr_curve({"judge": (LABELS, SCORES)}, tmp_path / "pr.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_calibrate_command_writes_the_threshold_into_the_config(tmp_path: Path) -> None:
    config = tmp_path / "judge.yaml"
    config.write_text(yaml.safe_dump({
        "backends": {"default": {"type": "fake.v1"}},
        "cache": {"enabled": False},
        "judge": {"type": "graphjudger.v1", "threshold": 0.5},
        "pipeline": {"kept": "as it is"},
    }))
    data = tmp_path / "dev.jsonl"
    rows = [
        JudgeExample(id=f"e{i}", document_id="d", document=f"Document {i}.", head="A", relation="r",
                     tail=f"B{i}", label=i % 2 == 0, split="dev")
        for i in range(12)
    ]
    data.write_text("".join(r.model_dump_json() + "\n" for r in rows))
    result = CliRunner().invoke(app, ["judge", "calibrate", "-c", str(config), "-d", str(data)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    written = yaml.safe_load(config.read_text())
    assert written["judge"]["threshold"] == pytest.approx(printed["threshold"], abs=1e-6)
    assert written["judge"]["calibration"]["objective"] == "f1"
    assert written["pipeline"] == {"kept": "as it is"}
    other = tmp_path / "other.yaml"
    other.write_text("backends: {}\n")
    with pytest.raises(Exception, match="key 'judge'"):
        write_threshold(other, 0.5, {}, section="judge")


def test_calibrating_meta_ranking_on_labelled_pairs(tmp_path: Path) -> None:
    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(json.dumps({"query": f"r{i}?", "response": "x", "correct": i % 2 == 0}) + "\n" for i in range(6)))
    config = tmp_path / "mr.yaml"
    config.write_text(yaml.safe_dump({
        "backends": {"default": {"type": "fake.v1"}}, "cache": {"enabled": False},
        "judge": {"type": "meta_ranking.v1", "references": str(refs), "n_references": 2},
    }))
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"query": f"q{i}?", "response": f"a{i}", "correct": i < 4}) + "\n" for i in range(8)))
    result = CliRunner().invoke(app, ["judge", "calibrate", "-c", str(config), "-d", str(pairs), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["written"] is False and "calibration" not in yaml.safe_load(config.read_text())["judge"]
    pairs.write_text(pairs.read_text() + "\n" + json.dumps({"query": "q?", "response": "a"}) + "\n")
    result = CliRunner().invoke(app, ["judge", "calibrate", "-c", str(config), "-d", str(pairs)])
    assert result.exit_code == 2 and f"{pairs}:10" in result.output and "correct" in result.output
