"""``kgjudge filter``: judge instruction-tuning data and keep the good examples."""

from __future__ import annotations

from pathlib import Path

import typer

from kgjudge.cli._app import app, echo, handles_errors
from kgjudge.cli._output import ProgressOption, VerboseOption


@app.command("filter")
@handles_errors
def filter_command(
    inputs: list[Path] = typer.Argument(..., help="JSONL (alpaca, sharegpt, openai messages), Parquet, or a saved datasets folder"),
    config: Path = typer.Option(..., "--config", "-c", help="config file with backends and a filter: section"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder (resumed if it holds an unfinished run)"),
    restart: bool = typer.Option(False, "--restart", help="discard what --out holds and start again"),
    progress: bool = ProgressOption,
    verbose: bool = VerboseOption,
) -> None:
    """Score examples with the configured judges over one or more rounds; write kept and rejected."""
    from kgjudge.judges import filter_examples

    s = filter_examples(inputs, config, out, restart=restart, progress=progress)
    echo(f"kept {s.kept} of {s.examples} examples, rejected {s.rejected}; {s.malformed} malformed records in rejects.jsonl")
    for r in s.rounds:
        label = "select" if r.threshold is None else f"threshold {r.threshold:.3f}"
        echo(f"round {r.round}: {r.candidates} judged, kept {r.kept}, rejected {r.rejected} ({label})")
    u = s.this_run
    echo(f"this run: {u.model_calls} model calls, cache hits {u.cache_hits}/{u.requests}, {s.wall_seconds:.1f} s")
    echo(f"report: {s.files['report.md']}")
