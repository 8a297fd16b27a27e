"""Judge metrics: accuracy, precision, recall, F1, AUROC, expected calibration error, plots.

A judge's :class:`~kgjudge.Judgement` records (``score`` = probability that the target is true,
``label`` = its decision) are joined by ``target_id`` with gold labels, one JSON object per line:
``{"target_id": "...", "label": true}`` (``id`` may stand for ``target_id``; labels are booleans
or 0/1). The positive class is "true / keep".
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from kgjudge._errors import ConfigError, InputError
from kgjudge._extras import require
from kgjudge._jsonl import iter_jsonl
from kgjudge._records import Judgement, Record


class JudgeEvalReport(Record):
    """Judge metrics (``report.json`` of ``kgjudge eval judge``).

    ``auroc`` and ``average_precision`` are None when the gold labels hold only one class (they
    are undefined then), never NaN.

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


def judge_metrics(
    scores: Sequence[float], predicted: Sequence[bool], gold: Sequence[bool], *, n_bins: int = 10
) -> JudgeEvalReport:
    """Metrics of a judge's scores and decisions against gold labels.

    ECE uses ``n_bins`` equal-width score bins: the mean over bins, weighted by bin size, of
    ``|fraction of true gold labels - mean score|``.
    """
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

    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(y_score, edges[1:-1], right=True), 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    score_sum = np.bincount(which, weights=y_score, minlength=n_bins)
    true_sum = np.bincount(which, weights=y_true.astype(float), minlength=n_bins)
    filled = counts > 0
    mean_score = score_sum[filled] / counts[filled]
    frac_true = true_sum[filled] / counts[filled]
    ece = float(np.sum(counts[filled] / n * np.abs(frac_true - mean_score)))

    curves: dict[str, Any] = {
        "calibration": {"mean_score": mean_score.tolist(), "frac_positive": frac_true.tolist(),
                        "counts": counts.tolist()},
    }
    if both_classes:
        pr_p, pr_r, _ = skm.precision_recall_curve(y_true, y_score)
        curves["pr"] = {"precision": pr_p.tolist(), "recall": pr_r.tolist()}
    return JudgeEvalReport(
        n=n, n_positive=int(y_true.sum()), accuracy=float((y_pred == y_true).mean()),
        precision=float(precision), recall=float(recall), f1=float(f1), auroc=auroc,
        average_precision=ap, ece=ece, ece_bins=n_bins, curves=curves,
    )


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
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON ({exc.msg})", file=str(path), line=lineno) from exc
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
        plot_precision_recall(report.curves["pr"]["recall"], report.curves["pr"]["precision"], paths["pr_curve"],
                              average_precision=report.average_precision,
                              positive_rate=report.n_positive / max(report.n, 1))
    payload = report.model_dump(mode="json")
    payload["files"] = {k: p.name for k, p in paths.items() if k != "report"}
    paths["report"].write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return paths
