"""``kgjudge eval``: score predicted graphs against gold graphs, and a judge against gold labels."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kgjudge._errors import ConfigError, InputError
from kgjudge.cli._app import app, check_out_folder, echo, handles_errors
from kgjudge.cli._output import ProgressOption, VerboseOption

eval_app = typer.Typer(help="Evaluate graphs against gold graphs, or a judge against gold labels.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "n/a" if value is None else str(value)


@eval_app.command("graphs")
@handles_errors
def graphs_command(
    pred: Path = typer.Argument(..., help="predictions: a .source file, a JSONL file, or a build output folder "
                                "(scored before and after its judge)"),
    gold: Optional[Path] = typer.Argument(None, help="gold graphs, in any of the same formats; may be left out "
                                          "for a build folder that keeps its gold (gold.jsonl)"),
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
    progress: bool = ProgressOption,
    verbose: bool = VerboseOption,
) -> None:
    """Score predicted graphs against gold graphs (triple P/R/F1, G-BLEU, G-ROUGE, G-BERTScore,
    graph match) and write report.json, per_graph.csv and f1_histograms.png.

    A build folder is scored twice, on what it extracted (before the judge) and on what it kept,
    with the change the judge made; its own gold is used when GOLD is left out."""
    from kgjudge._run_folder import MANIFEST
    from kgjudge.metrics import (
        COMPAT_MODES,
        MAX_UNREADABLE_SHARE,
        evaluate_build,
        evaluate_graphs,
        write_build_report,
        write_graph_report,
    )

    if compat is not None and compat not in COMPAT_MODES:
        raise ConfigError(f"unknown --compat mode '{compat}'", key="compat", choices=COMPAT_MODES)
    check_out_folder(out)
    options = {"mode": compat or "word", "engine": engine, "workers": workers, "bertscore_model": bertscore_model,
               "bertscore_layers": bertscore_layers, "cache_dir": cache_dir, "ged": ged, "ged_timeout": ged_timeout}
    if (pred / MANIFEST).is_file():  # a build folder; a folder of triples.jsonl alone is scored as one set
        build = evaluate_build(pred, gold, **options)  # type: ignore[arg-type]
        paths = write_build_report(build, out)
        echo("\n".join(_build_lines(build)))
        echo("wrote " + ", ".join(str(p) for k, p in paths.items() if k == "report" or k.endswith("_per_graph")))
        return
    if gold is None:
        raise InputError("give the gold graphs after the predictions; only a build folder keeps its own gold",
                         file=str(pred))
    report = evaluate_graphs(pred, gold, max_unreadable_share=MAX_UNREADABLE_SHARE, **options)  # type: ignore[arg-type]
    paths = write_graph_report(report, out)
    echo(f"mode: {report.mode}   graphs: {report.counts['graphs']}")
    for label, value in _score_lines(report.aggregates):
        echo(f"{label:<24} {value}")
    echo(f"G-BERTScore: {report.bertscore}")
    problems = _problems(report.counts)
    if problems:
        echo("counted: " + problems)
    echo(f"wrote {paths['report']}, {paths['per_graph']}, {paths['f1_histograms']}")


def _prf_text(value: dict) -> str:
    return f"P {_fmt(value['precision'])}  R {_fmt(value['recall'])}  F1 {_fmt(value['f1'])}"


def _score_lines(aggregates: dict) -> list[tuple[str, str]]:
    """(label, figures) per aggregate, one line each."""
    lines = []
    for name, value in aggregates.items():
        if isinstance(value, dict) and {"precision", "recall", "f1"} <= value.keys():
            lines.append((name, _prf_text(value)))
        elif isinstance(value, dict):
            for sub, inner in value.items():
                lines.append((f"{name} {sub}", _prf_text(inner) if isinstance(inner, dict) else _fmt(inner)))
        else:
            lines.append((name, _fmt(value)))
    return lines


def _problems(counts: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in counts.items() if v and k not in ("graphs", "pred_ok"))


def _change(value: float) -> str:
    return f"{value:+.4f}"


def _build_lines(report: object) -> list[str]:
    """Both sets of a build side by side, and what the judge changed."""
    r = report  # BuildEvalReport
    extracted, kept = r.extracted, r.kept  # type: ignore[attr-defined]
    lines = [f"build: {r.build}   gold: {r.gold}   mode: {extracted.mode}   "  # type: ignore[attr-defined]
             f"graphs: {extracted.counts['graphs']} (of {r.documents} documents)"]  # type: ignore[attr-defined]
    if not r.finished:  # type: ignore[attr-defined]
        lines.append("note: the build did not finish; its documents so far are scored")
    if kept is None:
        lines.append("no judge in this build: the extracted triples are the kept ones")
        lines.extend(f"{label:<24} {value}" for label, value in _score_lines(extracted.aggregates))
    else:
        after = dict(_score_lines(kept.aggregates))
        lines.append(f"{'':<24} {'extracted (before the judge)':<36} kept (after the judge)")
        lines.extend(f"{label:<24} {value:<36} {after.get(label, '')}" for label, value in _score_lines(extracted.aggregates))
        effect = r.judge_effect or {}  # type: ignore[attr-defined]
        main = "triple_exact" if "triple_exact" in effect else "triple_match"
        if main in effect:
            e, t = effect[main], effect["triples"]
            lines.append(
                f"the judge changed precision by {_change(e['precision']['change'])}, recall by "
                f"{_change(e['recall']['change'])}, F1 by {_change(e['f1']['change'])} ({main}, micro); it rejected "
                f"{t['rejected']} of {t['extracted']} extracted triples: {t['rejected_in_gold']} in the gold, "
                f"{t['rejected_not_in_gold']} not")
    lines.append(f"G-BERTScore: {extracted.bertscore}")
    for name, part in (("extracted", extracted), ("kept", kept)):
        problems = _problems(part.counts) if part is not None else ""
        if problems:
            lines.append(f"counted ({name}): {problems}")
    return lines


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
