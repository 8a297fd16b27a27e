"""``kgjudge serve`` (the HTTP API and web page) and ``kgjudge export-labels`` (people's
decisions as judge training data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from kgjudge.cli._app import app, echo, handles_errors


@app.command("serve")
@handles_errors
def serve_command(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="a kgjudge build output folder"),
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="config for backends, rag: and judge: (and the store without --out); "
        "the build's own config if omitted"),
    host: str = typer.Option("127.0.0.1", help="address to listen on; any other than loopback needs a token"),
    port: int = typer.Option(8765, min=0, max=65535, help="port (0: any free one)"),
    allow_edit: bool = typer.Option(False, "--allow-edit", help="accept curation decisions (read-only otherwise)"),
    curation_log: Optional[Path] = typer.Option(
        None, "--curation-log", help="where decisions are logged (default: OUT/curation.jsonl)"),
    run: list[Path] = typer.Option([], "--run", help="another build or filter output folder for the runs view"),
    cors_origin: list[str] = typer.Option([], "--cors-origin", help="an origin whose pages may call the API"),
) -> None:
    """Serve the graph: an HTTP API and a web page to explore it, see why each fact is there,
    ask questions and correct the judge.

    The address is printed at start-up. On an address other than 127.0.0.1 every request needs
    a token: $KGJUDGE_SERVE_TOKEN, or one generated and printed with the address.
    """
    from kgjudge.serve import open_explorer, serve

    explorer = open_explorer(out, config, runs=run, allow_edit=allow_edit, curation_log=curation_log)
    try:
        serve(explorer, host=host, port=port, cors_origins=cors_origin, echo=lambda m: echo(m, err=True))
    except BaseException:
        explorer.close()
        raise


@app.command("export-labels")
@handles_errors
def export_labels_command(
    source: Path = typer.Argument(..., help="a build output folder (its curation.jsonl and documents), or a decision log"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSONL of judge examples (default: SOURCE/labels.jsonl)"),
    seed: int = typer.Option(0, help="seed of the document split (as data.seed of a training config)"),
    dev_fraction: float = typer.Option(0.1, min=0.0, max=1.0),
    test_fraction: float = typer.Option(0.2, min=0.0, max=1.0),
) -> None:
    """Write people's decisions (kgjudge serve --allow-edit) as judge training examples, the KASFT
    records `kgjudge train judge` reads from a data source `{examples: FILE}`."""
    from kgjudge._jsonl import write_jsonl
    from kgjudge.serve import ServedFolder, export_labels, read_decisions

    if source.is_dir():
        folder = ServedFolder(source)
        log = folder.curation_log

        def text(document_id: str) -> str | None:
            doc = folder.document(document_id)
            return doc.text if doc is not None else None

        target = out or source / "labels.jsonl"
    else:
        log, target = source, out or source.with_name("labels.jsonl")

        def text(document_id: str) -> str | None:
            return None

    examples, counts = export_labels(read_decisions(log), text, seed=seed, dev_fraction=dev_fraction,
                                     test_fraction=test_fraction)
    write_jsonl(target, examples)
    echo(json.dumps({"examples": len(examples), **counts, "file": str(target),
                           "train_with": {"data": {"sources": [{"examples": str(target)}]}}}, indent=2))
