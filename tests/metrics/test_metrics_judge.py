"""Judge metrics against hand-computed values, joins by id, and the plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgjudge import ConfigError, InputError, Judgement, write_jsonl
from kgjudge.metrics import evaluate_judgements, judge_metrics, write_judge_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_metrics_by_hand() -> None:
    scores = [0.9, 0.8, 0.3, 0.6, 0.1]
    predicted = [True, True, False, True, False]
    gold = [True, False, False, True, True]
    report = judge_metrics(scores, predicted, gold, n_bins=2)
    # TP 2 (0, 3), FP 1 (1), FN 1 (4), TN 1 (2)
    assert report.accuracy == pytest.approx(3 / 5)
    assert (report.precision, report.recall, report.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    # positives 0.9, 0.6, 0.1 against negatives 0.8, 0.3: 0.9 > both, 0.6 > 0.3; 3 of 6 pairs
    assert report.auroc == pytest.approx(3 / 6)
    # bins [0, 0.5]: scores 0.3, 0.1 (mean 0.2, 1 of 2 true); (0.5, 1]: 0.9, 0.8, 0.6 (mean 0.7667, 2 of 3)
    ece = 2 / 5 * abs(0.5 - 0.2) + 3 / 5 * abs(2 / 3 - (0.9 + 0.8 + 0.6) / 3)
    assert report.ece == pytest.approx(ece)


def test_one_class_gives_no_auroc_and_no_nan() -> None:
    report = judge_metrics([0.2, 0.7], [False, True], [True, True])
    assert report.auroc is None and report.average_precision is None
    assert report.accuracy == 0.5 and report.recall == 0.5 and report.precision == 1.0
    empty = judge_metrics([], [], [])
    assert (empty.n, empty.accuracy, empty.ece) == (0, 0.0, 0.0)


def _judgement(target: str, score: float, judge: str = "graphjudger.v1") -> Judgement:
    return Judgement(target_id=target, judge=judge, score=score, label=score >= 0.5, threshold=0.5)


def test_evaluate_judgements_joins_by_id_and_plots(tmp_path: Path) -> None:
    judgements = tmp_path / "judgements.jsonl"
    write_jsonl(judgements, [_judgement("t1", 0.9), _judgement("t2", 0.2), _judgement("t3", 0.7),
                             _judgement("t1", 0.1), _judgement("t9", 0.5)])
    with judgements.open("a", encoding="utf-8") as handle:
        handle.write("{broken\n")
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(json.dumps(x) for x in [
        {"target_id": "t1", "label": True}, {"target_id": "t2", "label": False},
        {"id": "t3", "label": 0}, {"target_id": "t4", "label": True},
    ]) + "\n", encoding="utf-8")
    report = evaluate_judgements(judgements, labels)
    assert report.judge == "graphjudger.v1" and report.n == 3
    assert report.counts == {
        "judgements": 4, "labels": 4, "scored": 3, "judgements_without_label": 1,
        "labels_without_judgement": 1, "unreadable_judgement_lines": 1, "duplicate_judgements": 1,
        "other_judges": 0,
    }
    assert report.accuracy == pytest.approx(2 / 3)  # t3 is judged true but is false
    paths = write_judge_report(report, tmp_path / "out")
    for key in ("pr_curve", "calibration"):
        assert paths[key].read_bytes().startswith(PNG_MAGIC)
    saved = json.loads(paths["report"].read_text(encoding="utf-8"))
    assert saved["accuracy"] == report.accuracy and "curves" not in saved


def test_several_judges_need_a_choice(tmp_path: Path) -> None:
    judgements = tmp_path / "j.jsonl"
    write_jsonl(judgements, [_judgement("t1", 0.9), _judgement("t1", 0.4, judge="metarank.v1")])
    labels = tmp_path / "l.jsonl"
    labels.write_text('{"target_id": "t1", "label": true}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="metarank.v1"):
        evaluate_judgements(judgements, labels)
    assert evaluate_judgements(judgements, labels, judge="metarank.v1").accuracy == 0.0


def test_a_bad_gold_label_names_file_and_line(tmp_path: Path) -> None:
    labels = tmp_path / "l.jsonl"
    labels.write_text('{"target_id": "t1", "label": true}\n\n{"target_id": "t2", "label": "yes"}\n', encoding="utf-8")
    judgements = tmp_path / "j.jsonl"
    write_jsonl(judgements, [_judgement("t1", 0.9)])
    with pytest.raises(InputError) as info:
        evaluate_judgements(judgements, labels)
    assert (info.value.file, info.value.line) == (str(labels), 3)


def test_a_score_on_a_bin_edge_counts_in_the_lower_bin_everywhere() -> None:
    """Bins are closed on the right, (k/n, (k+1)/n], the first one [0, 1/n]; the judges' and the
    evaluation's calibration error are one function, so they agree on every edge."""
    from kgjudge.judges import binary_metrics, expected_calibration_error
    from kgjudge.metrics import calibration_bins

    # 0.5 alone in [0, 0.5] and 0.7 alone in (0.5, 1]: 0.5 * |1 - 0.5| + 0.5 * |0 - 0.7|
    assert expected_calibration_error([True, False], [0.5, 0.7], bins=2) == pytest.approx(0.6)
    # 0.3 meets the edge 3/10 exactly (no floating-point drift): bin 2, 0.35 bin 3
    assert calibration_bins([0.3, 0.35], [True, False], bins=10).counts == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert calibration_bins([0.0, 0.1, 1.0], [True, True, True], bins=10).counts == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    for scores, labels in (([0.3, 0.35], [True, False]), ([0.1, 0.2, 0.7, 0.9], [False, True, True, False])):
        ece = expected_calibration_error(labels, scores)
        assert judge_metrics(scores, [s >= 0.5 for s in scores], labels).ece == pytest.approx(ece)
        assert binary_metrics(labels, scores).ece == pytest.approx(ece)
    assert expected_calibration_error([True, False], [0.3, 0.35]) == pytest.approx(0.5 * 0.7 + 0.5 * 0.35)
