"""PNG plots (matplotlib figures without pyplot, so no display or global backend is touched)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kgjudge._extras import require


def _figure(ncols: int = 1, width: float = 5.0, height: float = 4.0) -> tuple[Any, Any]:
    figure_mod = require("matplotlib.figure", "eval")
    fig = figure_mod.Figure(figsize=(width * ncols, height), dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def plot_f1_histograms(columns: Mapping[str, Sequence[float]], path: str | os.PathLike[str], *, title: str) -> None:
    """One histogram of per-graph scores in [0, 1] per metric, side by side."""
    fig, axes = _figure(len(columns), width=3.6, height=3.2)
    bins = np.linspace(0.0, 1.0, 21)
    for ax, (name, values) in zip(axes, columns.items()):
        values = np.asarray(values, dtype=float)
        ax.hist(values, bins=bins, color="#4477aa", edgecolor="white")
        ax.set_title(f"{name} (mean {values.mean() if values.size else 0.0:.3f})", fontsize=9)
        ax.set_xlabel("per-graph score")
        ax.set_xlim(0, 1)
    axes[0].set_ylabel("graphs")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path)


def plot_precision_recall(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], float | None]], path: str | os.PathLike[str], *,
    title: str, chance: float | None = None,
) -> None:
    """Precision-recall curves, one per name: (recall, precision, average precision or None),
    with the chance level (the share of positives) when given."""
    fig, (ax,) = _figure()
    for name, (recall, precision, average_precision) in curves.items():
        label = name if average_precision is None else f"{name} (AP {average_precision:.3f})"
        ax.step(recall, precision, where="post", label=label)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", label=f"chance ({chance:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.set_title(title)
    fig.savefig(path)


def plot_calibration(
    mean_score: Sequence[float], frac_positive: Sequence[float], counts: Sequence[int],
    path: str | os.PathLike[str], *, ece: float,
) -> None:
    """Reliability diagram (observed positive rate against mean score per bin) and bin sizes."""
    fig, (ax, ax_hist) = _figure(2, width=4.2)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    ax.plot(mean_score, frac_positive, marker="o", color="#4477aa", label=f"judge (ECE {ece:.3f})")
    ax.set_xlabel("mean score in bin")
    ax.set_ylabel("fraction of true labels")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    ax.set_title("Calibration")
    edges = np.linspace(0, 1, len(counts) + 1)
    ax_hist.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4477aa", edgecolor="white")
    ax_hist.set_xlabel("score")
    ax_hist.set_ylabel("judgements")
    ax_hist.set_title("Scores")
    fig.savefig(path)
