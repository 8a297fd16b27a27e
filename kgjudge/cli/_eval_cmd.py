"""``kgjudge eval``: score predicted graphs against gold graphs, and a judge against gold labels."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kgjudge._errors import ConfigError
from kgjudge.cli._app import app, check_out_folder, echo, handles_errors

eval_app = typer.Typer(help="Evaluate graphs against gold graphs, or a judge against gold labels.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "n/a" if value is None else str(value)


@eval_app.command("graphs")
@handles_errors
def graphs_command(
    pred: Path = typer.Argument(..., help="predictions: a .source file, a JSONL file or a build output directory"),
    gold: Path = typer.Argument(..., help="gold graphs, in any of the same formats"),
    out: Path = typer.Option(Path("eval-report"), "--out", "-o", help="folder for report.json, per_graph.csv, PNG"),
    compat: Optional[str] = typer.Option(
        None, "--compat", help="'graphjudger': reproduce the published GraphJudger evaluation, quirks included"
    ),
    bertscore_model: Optional[str] = typer.Option(
        None, "--bertscore-model",
        help="local encoder directory for G-BERTScore, or 'all-MiniLM-L6-v2' for the packaged one "
             "(--compat graphjudger needs bert-base-uncased)",
    ),
    bertscore_layers: Optional[int] = typer.Option(None, "--bertscore-layers", min=1,
                                                   help="encoder layer (default: the last)"),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir",
                                             help="cache BERTScore pair scores on disk here"),
    ged: bool = typer.Option(False, "--ged", help="also compute graph edit distance (word-level mode)"),
    ged_timeout: float = typer.Option(2.0, "--ged-timeout", min=0.01, help="seconds per graph for --ged"),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="processes (default: all cores)"),
    engine: str = typer.Option("fast", "--engine", help="'fast' or 'reference' (one pair at a time)"),
) -> None:
    """Score predicted graphs against gold graphs (triple P/R/F1, G-BLEU, G-ROUGE, G-BERTScore,
    graph match) and write report.json, per_graph.csv and f1_histograms.png."""
    from kgjudge.metrics import COMPAT_MODES, evaluate_graphs, write_graph_report

    if compat is not None and compat not in COMPAT_MODES:
        raise ConfigError(f"unknown --compat mode '{compat}'", key="compat", choices=COMPAT_MODES)
    check_out_folder(out)
    mode = compat or "word"
    report = evaluate_graphs(
        pred, gold, mode=mode, engine=engine, workers=workers,  # type: ignore[arg-type]
        bertscore_model=bertscore_model, bertscore_layers=bertscore_layers, cache_dir=cache_dir,
        ged=ged, ged_timeout=ged_timeout,
    )
    paths = write_graph_report(report, out)
    agg = report.aggregates
    echo(f"mode: {report.mode}   graphs: {report.counts['graphs']}")
    for name, value in agg.items():
        if isinstance(value, dict) and {"precision", "recall", "f1"} <= value.keys():
            echo(f"{name:<22} P {_fmt(value['precision'])}  R {_fmt(value['recall'])}  F1 {_fmt(value['f1'])}")
        elif isinstance(value, dict):
            for sub, inner in value.items():
                if isinstance(inner, dict):
                    echo(f"{name + ' ' + sub:<22} P {_fmt(inner['precision'])}  R {_fmt(inner['recall'])}  "
                               f"F1 {_fmt(inner['f1'])}")
                else:
                    echo(f"{name + ' ' + sub:<22} {_fmt(inner)}")
        else:
            echo(f"{name:<22} {_fmt(value)}")
    echo(f"G-BERTScore: {report.bertscore}")
    problems = {k: v for k, v in report.counts.items() if v and k not in ("graphs", "pred_ok")}
    if problems:
        echo("counted: " + ", ".join(f"{k}={v}" for k, v in problems.items()))
    echo(f"wrote {paths['report']}, {paths['per_graph']}, {paths['f1_histograms']}")


@eval_app.command("judge")
@handles_errors
def judge_command(
    judgements: Path = typer.Argument(..., help="JSONL of Judgement records"),
    labels: Path = typer.Argument(..., help='JSONL of gold labels: {"target_id": ..., "label": true|false}'),
    out: Path = typer.Option(Path("judge-report"), "--out", "-o", help="folder for report.json and the PNGs"),
    judge: Optional[str] = typer.Option(None, "--judge", help="which judge, when the file holds several"),
    bins: int = typer.Option(10, "--bins", min=2, help="score bins for the expected calibration error"),
) -> None:
    """Score a judge against gold labels (accuracy, P/R/F1, AUROC, ECE) and plot PR and
    calibration curves."""
    from kgjudge.metrics import evaluate_judgements, write_judge_report

    check_out_folder(out)
    report = evaluate_judgements(judgements, labels, judge=judge, n_bins=bins)
    paths = write_judge_report(report, out)
    echo(f"judge: {report.judge}   scored: {report.n} ({report.n_positive} true)")
    for name in ("accuracy", "precision", "recall", "f1", "auroc", "average_precision", "ece"):
        echo(f"{name:<18} {_fmt(getattr(report, name))}")
    problems = {k: v for k, v in report.counts.items() if v and k not in ("judgements", "labels", "scored")}
    if problems:
        echo("counted: " + ", ".join(f"{k}={v}" for k, v in problems.items()))
    echo("wrote " + ", ".join(str(p) for p in paths.values()))
