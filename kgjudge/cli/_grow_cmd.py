"""``kgjudge remove`` and ``kgjudge rejudge``: change a build without building it again."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kgjudge.cli._app import app, handles_errors
from kgjudge.cli._output import ProgressOption, VerboseOption


@app.command("remove")
@handles_errors
def remove_command(
    out: Path = typer.Argument(..., help="a kgjudge build output folder"),
    document_ids: list[str] = typer.Argument(..., help="ids of the documents to remove"),
    verbose: bool = VerboseOption,
) -> None:
    """Remove documents from a build, in its files and its store.

    Their triples, judgements, chunks and evidence go, and so do the entities and relations no
    other document names. A document the build does not hold is an error, and then nothing is removed.
    """
    from kgjudge.pipeline import Remove

    s = Remove(out).run(document_ids)
    typer.echo(f"removed {len(s.removed)} document(s) from {s.out}; the build now has {s.documents} documents, "
               f"{s.triples} triples, {s.entities} entities, {s.relations} relations ({s.wall_seconds:.1f} s)")


@app.command("rejudge")
@handles_errors
def rejudge_command(
    out: Path = typer.Argument(..., help="a kgjudge build output folder"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="config file whose judge: section (and the "
                                          "backend it names) replaces the build's judge; the build's own if omitted"),
    progress: bool = ProgressOption,
    verbose: bool = VerboseOption,
) -> None:
    """Judge a build's triples again (a new adapter, threshold or judge) without extracting.

    Kept and rejected triples, judgements and the store are updated. A judge that differs only in its threshold (or another decision setting) decides from the
    stored scores: no model call.
    """
    from kgjudge.pipeline import Rejudge

    s = Rejudge(out, config, progress=progress).run()
    how = "from the stored scores, no model call" if s.scores_kept else (
        f"{s.this_run.model_calls} model calls, cache hits {s.this_run.cache_hits}/{s.this_run.requests}")
    typer.echo(f"rejudged {s.judged} triples of {s.out} with {s.judge} ({how}): kept {s.kept}, rejected {s.rejected}, "
               f"{s.labels_changed} decision(s) changed ({s.wall_seconds:.1f} s)")
