"""Judge metrics and threshold calibration (scikit-learn), and the precision-recall plot
(matplotlib). "Positive" is the judge's keep decision: a score at or above the threshold."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from kgjudge._errors import InputError
from kgjudge._extras import require
from kgjudge._records import Record


class BinaryMetrics(Record):
    """Decision and ranking quality of a judge on labelled data.

    ``ece`` is the expected calibration error: the gap between mean score and share of positives
    in ``bins`` equal-width score bins, weighted by bin size. ``auroc`` is None when only one
    class is present.
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


def _check(labels: Sequence[bool], scores: Sequence[float]) -> None:
    if len(labels) != len(scores):
        raise InputError(f"{len(labels)} labels but {len(scores)} scores")
    if not labels:
        raise InputError("no labelled examples")


def expected_calibration_error(labels: Sequence[bool], scores: Sequence[float], bins: int = 10) -> float:
    """Size-weighted mean |share of positives - mean score| over equal-width score bins."""
    _check(labels, scores)
    total, n = 0.0, len(scores)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, s in enumerate(scores) if lo <= s < hi or (b == bins - 1 and s == 1.0)]
        if idx:
            share = sum(labels[i] for i in idx) / len(idx)
            mean = sum(scores[i] for i in idx) / len(idx)
            total += len(idx) / n * abs(share - mean)
    return total


def binary_metrics(labels: Sequence[bool], scores: Sequence[float], threshold: float = 0.5, bins: int = 10) -> BinaryMetrics:
    """Accuracy, precision, recall, F1 (at ``threshold``), AUROC and calibration error.

    Example:
        >>> binary_metrics([True, False], [0.9, 0.2]).accuracy
        1.0
    """
    _check(labels, scores)
    sk = require("sklearn.metrics", "judges")
    y = [bool(v) for v in labels]
    pred = [s >= threshold for s in scores]
    p, r, f, _ = sk.precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    auroc = float(sk.roc_auc_score(y, list(scores))) if len(set(y)) == 2 else None
    return BinaryMetrics(
        n=len(y),
        positives=sum(y),
        threshold=threshold,
        accuracy=float(sk.accuracy_score(y, pred)),
        precision=float(p),
        recall=float(r),
        f1=float(f),
        auroc=auroc,
        ece=expected_calibration_error(y, scores, bins),
        bins=bins,
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
    sk = require("sklearn.metrics", "judges")
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
    curves: dict[str, tuple[Sequence[bool], Sequence[float]]], path: str | Path, *, title: str = "Precision-recall"
) -> Path:
    """Write a PNG with one precision-recall curve per named (labels, scores) pair."""
    matplotlib = require("matplotlib", "judges")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "judges")
    sk = require("sklearn.metrics", "judges")
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    for name, (labels, scores) in curves.items():
        precision, recall, _ = sk.precision_recall_curve([bool(v) for v in labels], list(scores))
        ap = sk.average_precision_score([bool(v) for v in labels], list(scores))
        ax.plot(recall, precision, label=f"{name} (AP {ap:.2f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
