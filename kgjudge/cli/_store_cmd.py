"""``kgjudge load``, ``kgjudge stats`` and ``kgjudge export``: the graph store from the command line.

Each command opens the store of a config's ``store:`` section (the embedded RDF store when the
config has none, or without ``--config``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from kgjudge._errors import InputError, KGJudgeError
from kgjudge.cli._app import app, echo, get_config, handles_errors

if TYPE_CHECKING:
    from kgjudge.graph import GraphStore

CONFIG_HELP = "config file whose store: section names the store; the embedded RDF store if omitted"


def _open(config: Optional[Path], *, read_only: bool = False) -> GraphStore:
    from kgjudge.graph import open_store

    return open_store(get_config(config), file=str(config) if config else None, read_only=read_only)


def _open_source(config: Optional[Path], out: Optional[Path]) -> GraphStore:
    """The store to read: a build output folder's (``--out``, the store the build wrote) or a
    config's (``--config``; the default config's without either). Never created."""
    if out is None:
        return _open(config, read_only=True)
    if config is not None:
        raise KGJudgeError("give either --config or --out")
    from kgjudge.graph import open_store
    from kgjudge.pipeline import BuildFolder

    return open_store(BuildFolder(out).store_slot(), file=str(out / "manifest.json"), read_only=True)


@app.command("load")
@handles_errors
def load_command(
    triples: Path = typer.Argument(..., help="JSONL file of Triple records"),
    judgements: Optional[Path] = typer.Option(None, "--judgements", "-j", help="JSONL file of Judgement records"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    curated: bool = typer.Option(False, "--curated", help="mark the triples as curated (exempt from judging)"),
    batch_size: Optional[int] = typer.Option(None, min=1, help="triples per store call (store default if omitted)"),
) -> None:
    """Write triples (and judgements) from JSONL files into the store.

    Bad lines are reported with file and line and skipped; every good line is still written,
    and the exit status is 1 when any line was bad. Loading is idempotent: running it again
    after a failure resumes without duplicating anything.
    """
    from kgjudge.graph import load_triples

    errors: list[InputError] = []
    with _open(config) as store:
        result = load_triples(store, triples, judgements, origin="curated" if curated else None,
                              batch_size=batch_size, errors=errors)
        stats = store.stats()
    for message in result.errors:
        echo(f"error: {message}", err=True)
    echo(
        f"loaded {result.triples} triple(s) and {result.judgements} judgement(s) into {store.name}; "
        f"the store now has {stats.triples} triple(s), {stats.entities} entities"
    )
    if result.errors:
        raise typer.Exit(1)


@app.command("stats")
@handles_errors
def stats_command(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="a kgjudge build output folder: its store"),
    verify: bool = typer.Option(False, "--verify", help="with --out: compare the store with the build's files and "
                                "repair what differs, saying what was repaired"),
    as_json: bool = typer.Option(False, "--json", help="print the statistics as JSON"),
) -> None:
    """Print counts of entities, triples, judgements, relations, documents and origins.

    The store must exist: a mistyped path is an error (exit status 2), never a new empty store.
    With --out --verify, compare a build's store with its files and repair what differs.
    """
    if verify:
        if out is None:
            raise KGJudgeError("--verify needs --out: the build output folder to check")
        from kgjudge.pipeline import Verify

        report = Verify(out).run()
        if as_json:
            echo(json.dumps({**report.model_dump(), "repaired": report.repaired, "lines": report.lines()}))
        else:
            for line in report.lines():
                echo(line)
        return
    with _open_source(config, out) as store:
        stats = store.stats()
        features = store.features
    if as_json:
        echo(json.dumps({"store": store.name, **stats.model_dump(), "features": features.model_dump()}))
        return
    echo(f"store: {store.name}")
    for key, value in stats.model_dump().items():
        echo(f"{key}: {value}")
    echo("features: " + (", ".join(k for k, v in features.model_dump().items() if v) or "none"))


@app.command("export")
@handles_errors
def export_command(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    out: Optional[Path] = typer.Option(None, "--out", help="a kgjudge build output folder: export the store it wrote"),
    to_config: Optional[Path] = typer.Option(None, "--to-config", help="copy into the store of this config"),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="file format: graphml, json, jsonl, jsonld, "
                                      "nquads, nt, trig, turtle"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="file to write with --format"),
    judgements_output: Optional[Path] = typer.Option(None, "--judgements-output",
                                                     help="with --format jsonl: also write judgements here"),
) -> None:
    """Copy a store into another store (--to-config) or write it to a file (--format, --output).

    The store is a build's (--out DIR) or a config's (--config); it is only read.
    """
    from kgjudge.graph import copy_store, export_jsonl, export_store, open_store

    if (to_config is None) == (fmt is None):
        raise KGJudgeError("give either --to-config or --format with --output")
    if fmt is not None and output is None:
        raise KGJudgeError("--format needs --output")
    with _open_source(config, out) as source:
        if to_config is not None:
            with open_store(get_config(to_config), file=str(to_config)) as target:
                count = copy_store(source, target)
                echo(f"copied {count} triple(s) from {source.name} to {target.name}")
            return
        assert fmt is not None and output is not None
        if fmt == "jsonl":
            count, judged = export_jsonl(source, output, judgements_output)
            echo(f"wrote {count} triple(s) to {output}" + (f" and {judged} judgement(s) to {judgements_output}"
                                                                 if judgements_output else ""))
        else:
            path = export_store(source, output, fmt)
            echo(f"wrote {fmt} to {path}")
