"""Judge metrics, in one place: accuracy, precision, recall, F1, AUROC, expected calibration
error, threshold calibration, and the plots.

A judge's :class:`~kgjudge.Judgement` records (``score`` = probability that the target is true,
``label`` = its decision) are joined by ``target_id`` with gold labels, one JSON object per line:
``{"target_id": "...", "label": true}`` (``id`` may stand for ``target_id``; labels are booleans
or 0/1). The positive class is "true / keep": a score at or above the threshold.

Calibration bins: ``bins`` equal-width bins of [0, 1], each closed on the right,
(k/bins, (k+1)/bins], the first one [0, 1/bins] (as Guo et al., 2017, and scikit-learn's
``calibration_curve``), so a score on an edge counts in the lower bin. Edges are computed as
``k / bins``, so a score written as 0.3 meets the edge 3/10 exactly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from kgjudge._errors import ConfigError, InputError
from kgjudge._extras import require
from kgjudge._jsonl import iter_jsonl, loads_checked
from kgjudge._records import Judgement, Record


class BinaryMetrics(Record):
    """Decision and ranking quality of a judge on labelled data (see :func:`binary_metrics`).

    ``ece`` is the expected calibration error over ``bins`` bins; ``auroc`` is None when only
    one class is present.
    """

    n: int
    positives: int
    threshold: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    auroc: float | None
    ece: float
    bins: int = 10


class Calibration(Record):
    """A threshold chosen on labelled data, and what it gives there."""

    objective: Literal["f1", "precision"]
    target_precision: float | None = None
    threshold: float = Field(ge=0.0, le=1.0)
    precision: float
    recall: float
    f1: float
    n: int
    reached: bool = True


class JudgeEvalReport(Record):
    """Judge metrics (``report.json`` of ``kgjudge eval judge``).

    ``auroc`` and ``average_precision`` are None when the gold labels hold only one class (they
    are undefined then), never NaN. ``ece`` is over ``ece_bins`` bins (see the module docstring).

    Example:
        >>> judge_metrics([0.9, 0.2], [True, False], [True, False]).accuracy
        1.0
    """

    n: int
    n_positive: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    auroc: float | None
    average_precision: float | None
    ece: float
    ece_bins: int
    counts: dict[str, int] = Field(default_factory=dict)
    judge: str | None = None
    curves: dict[str, Any] = Field(default_factory=dict, exclude=True)


class CalibrationBins(Record):
    """Scores and labels per calibration bin (see the module docstring), and the ECE."""

    counts: list[int]
    mean_score: list[float] = Field(description="of the bins that hold a score")
    frac_positive: list[float] = Field(description="of the bins that hold a score")
    ece: float


def calibration_bins(scores: Sequence[float], labels: Sequence[bool], bins: int = 10) -> CalibrationBins:
    """Bin sizes, mean score and share of positives per bin, and the expected calibration error:
    the size-weighted mean of ``|share of positives - mean score|`` over the bins."""
    y_score = np.asarray(scores, dtype=float)
    y_true = np.asarray(labels, dtype=float)
    edges = np.array([k / bins for k in range(1, bins)])
    which = np.clip(np.digitize(y_score, edges, right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    filled = counts > 0
    mean_score = np.bincount(which, weights=y_score, minlength=bins)[filled] / counts[filled]
    frac_true = np.bincount(which, weights=y_true, minlength=bins)[filled] / counts[filled]
    ece = float(np.sum(counts[filled] / max(y_score.size, 1) * np.abs(frac_true - mean_score)))
    return CalibrationBins(counts=counts.tolist(), mean_score=mean_score.tolist(), frac_positive=frac_true.tolist(), ece=ece)


def _check(labels: Sequence[bool], scores: Sequence[float]) -> None:
    if len(labels) != len(scores):
        raise InputError(f"{len(labels)} labels but {len(scores)} scores")
    if not labels:
        raise InputError("no labelled examples")


def expected_calibration_error(labels: Sequence[bool], scores: Sequence[float], bins: int = 10) -> float:
    """The expected calibration error of ``scores`` against ``labels`` (see the module docstring).

    Example:
        >>> expected_calibration_error([True, False], [0.5, 0.7], bins=2)  # 0.5 is in [0, 0.5]
        0.6
    """
    _check(labels, scores)
    return calibration_bins(scores, labels, bins).ece


def judge_metrics(
    scores: Sequence[float], predicted: Sequence[bool], gold: Sequence[bool], *, n_bins: int = 10
) -> JudgeEvalReport:
    """Metrics of a judge's scores and decisions against gold labels (ECE over ``n_bins`` bins,
    see the module docstring)."""
    skm = require("sklearn.metrics", "eval")
    y_score = np.asarray(scores, dtype=float)
    y_pred = np.asarray(predicted, dtype=bool)
    y_true = np.asarray(gold, dtype=bool)
    n = int(y_true.size)
    if not (y_score.size == y_pred.size == n):
        raise ValueError("scores, predictions and gold labels differ in length")
    if n == 0:
        return JudgeEvalReport(n=0, n_positive=0, accuracy=0.0, precision=0.0, recall=0.0, f1=0.0,
                               auroc=None, average_precision=None, ece=0.0, ece_bins=n_bins)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, average="binary", zero_division=0
    )
    both_classes = 0 < y_true.sum() < n
    auroc = float(skm.roc_auc_score(y_true, y_score)) if both_classes else None
    ap = float(skm.average_precision_score(y_true, y_score)) if both_classes else None
    binned = calibration_bins(y_score.tolist(), y_true.tolist(), n_bins)
    curves: dict[str, Any] = {
        "calibration": {"mean_score": binned.mean_score, "frac_positive": binned.frac_positive, "counts": binned.counts},
    }
    if both_classes:
        pr_p, pr_r, _ = skm.precision_recall_curve(y_true, y_score)
        curves["pr"] = {"precision": pr_p.tolist(), "recall": pr_r.tolist()}
    return JudgeEvalReport(
        n=n, n_positive=int(y_true.sum()), accuracy=float((y_pred == y_true).mean()),
        precision=float(precision), recall=float(recall), f1=float(f1), auroc=auroc,
        average_precision=ap, ece=binned.ece, ece_bins=n_bins, curves=curves,
    )


def binary_metrics(labels: Sequence[bool], scores: Sequence[float], threshold: float = 0.5, bins: int = 10) -> BinaryMetrics:
    """Accuracy, precision, recall, F1 (keeping scores >= ``threshold``), AUROC and calibration
    error of scores against labels.

    Example:
        >>> binary_metrics([True, False], [0.9, 0.2]).accuracy
        1.0
    """
    _check(labels, scores)
    report = judge_metrics(scores, [s >= threshold for s in scores], [bool(v) for v in labels], n_bins=bins)
    return BinaryMetrics(
        n=report.n, positives=report.n_positive, threshold=threshold, accuracy=report.accuracy,
        precision=report.precision, recall=report.recall, f1=report.f1, auroc=report.auroc, ece=report.ece, bins=bins,
    )


def calibrate_threshold(
    labels: Sequence[bool],
    scores: Sequence[float],
    *,
    objective: Literal["f1", "precision"] = "f1",
    target_precision: float = 0.9,
) -> Calibration:
    """The threshold with the best F1, or the one with the highest recall whose precision is at
    least ``target_precision`` (if none reaches it: the most precise one, ``reached=False``).

    Thresholds are the observed scores, so "keep when score >= threshold" reproduces the
    precision and recall reported here on the same data.

    Example:
        >>> calibrate_threshold([True, True, False], [0.9, 0.6, 0.3]).threshold
        0.6
    """
    _check(labels, scores)
    sk = require("sklearn.metrics", "eval")
    y = [bool(v) for v in labels]
    if not any(y):
        raise InputError("calibration needs at least one positive (supported) example")
    precision, recall, thresholds = sk.precision_recall_curve(y, list(scores))
    # The last precision/recall pair has no threshold (recall 0 by convention).
    rows = [(float(t), float(p), float(r)) for t, p, r in zip(thresholds, precision[:-1], recall[:-1])]

    def f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r else 0.0

    reached = True
    if objective == "f1":
        t, p, r = max(rows, key=lambda x: (f1(x[1], x[2]), x[0]))
    else:
        ok = [row for row in rows if row[1] >= target_precision]
        if ok:
            t, p, r = max(ok, key=lambda x: (x[2], -x[0]))
        else:
            reached = False
            t, p, r = max(rows, key=lambda x: (x[1], x[2]))
    return Calibration(
        objective=objective,
        target_precision=target_precision if objective == "precision" else None,
        threshold=min(1.0, max(0.0, t)),
        precision=p,
        recall=r,
        f1=f1(p, r),
        n=len(y),
        reached=reached,
    )


def plot_pr_curve(
    curves: Mapping[str, tuple[Sequence[bool], Sequence[float]]], path: str | os.PathLike[str], *,
    title: str = "Precision-recall",
) -> Path:
    """Write a PNG with one precision-recall curve per named (labels, scores) pair."""
    from kgjudge.metrics._plots import plot_precision_recall

    sk = require("sklearn.metrics", "eval")
    drawn = {}
    for name, (labels, scores) in curves.items():
        y = [bool(v) for v in labels]
        precision, recall, _ = sk.precision_recall_curve(y, list(scores))
        drawn[name] = (recall.tolist(), precision.tolist(), float(sk.average_precision_score(y, list(scores))))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_precision_recall(drawn, path, title=title)
    return path


def _read_labels(path: Path) -> dict[str, bool]:
    labels: dict[str, bool] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read gold labels: {exc}", file=str(path)) from exc
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = loads_checked(line)
        except ValueError as exc:
            raise InputError(str(exc), file=str(path), line=lineno) from exc
        if not isinstance(data, dict):
            raise InputError("expected a JSON object", file=str(path), line=lineno)
        target = data.get("target_id", data.get("id"))
        label = data.get("label")
        if not isinstance(target, str) or not target:
            raise InputError("no 'target_id' (or 'id') string", file=str(path), line=lineno)
        if isinstance(label, bool) or (isinstance(label, int) and label in (0, 1)):
            labels[target] = bool(label)
        else:
            raise InputError(f"'label' must be true/false or 0/1, got {label!r}", file=str(path), line=lineno)
    return labels


def evaluate_judgements(
    judgements: str | os.PathLike[str], labels: str | os.PathLike[str], *,
    judge: str | None = None, n_bins: int = 10,
) -> JudgeEvalReport:
    """Judge metrics of a JSONL of Judgement records against a JSONL of gold labels.

    Judgements without a gold label, gold labels without a judgement, unreadable judgement
    lines and repeated judgements of one target are left out of the metrics and counted.

    Raises:
        InputError: a gold label line is malformed (naming file and line).
        ConfigError: the file holds several judges and ``judge`` does not pick one.
    """
    gold = _read_labels(Path(labels))
    errors: list[InputError] = []
    records = [j for j in iter_jsonl(judgements, Judgement, errors=errors)]
    names = sorted({j.judge for j in records})
    if judge is None and len(names) > 1:
        raise ConfigError("judgements from several judges; choose one with --judge", key="judge",
                          choices=names)
    chosen = judge or (names[0] if names else None)
    seen: dict[str, Judgement] = {}
    duplicates = 0
    for j in records:
        if j.judge != chosen:
            continue
        if j.target_id in seen:
            duplicates += 1
        else:
            seen[j.target_id] = j
    joined = [(seen[t], gold[t]) for t in seen if t in gold]
    report = judge_metrics([j.score for j, _ in joined], [j.label for j, _ in joined],
                           [g for _, g in joined], n_bins=n_bins)
    counts = {
        "judgements": len(seen),
        "labels": len(gold),
        "scored": len(joined),
        "judgements_without_label": sum(1 for t in seen if t not in gold),
        "labels_without_judgement": sum(1 for t in gold if t not in seen),
        "unreadable_judgement_lines": len(errors),
        "duplicate_judgements": duplicates,
        "other_judges": sum(1 for j in records if j.judge != chosen),
    }
    return report.model_copy(update={"counts": counts, "judge": chosen})


def write_judge_report(report: JudgeEvalReport, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``report.json``, ``pr_curve.png`` and ``calibration.png`` to ``out_dir``."""
    from kgjudge.metrics._plots import plot_calibration, plot_precision_recall

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"report": out / "report.json", "calibration": out / "calibration.png"}
    cal = report.curves.get("calibration", {"mean_score": [], "frac_positive": [], "counts": [0] * report.ece_bins})
    plot_calibration(cal["mean_score"], cal["frac_positive"], cal["counts"], paths["calibration"], ece=report.ece)
    if "pr" in report.curves:
        paths["pr_curve"] = out / "pr_curve.png"
        pr = report.curves["pr"]
        plot_precision_recall({"judge": (pr["recall"], pr["precision"], report.average_precision)}, paths["pr_curve"],
                              title="Precision-recall", chance=report.n_positive / max(report.n, 1))
    payload = report.model_dump(mode="json")
    payload["files"] = {k: p.name for k, p in paths.items() if k != "report"}
    paths["report"].write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return paths
