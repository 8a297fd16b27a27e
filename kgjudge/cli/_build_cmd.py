"""``kgjudge build``: documents to a knowledge graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from kgjudge.cli._app import app, echo, get_config, handles_errors
from kgjudge.cli._output import ProgressOption, VerboseOption


def format_summary(summary: object) -> str:
    """A short human-readable account of a build."""
    s = summary  # BuildSummary
    lines = [
        f"graph in {s.out}: {s.triples} triples, {s.entities} entities, {s.relations} relations "  # type: ignore[attr-defined]
        f"from {s.documents} documents ({s.chunks} chunks)",  # type: ignore[attr-defined]
    ]
    if s.judged:  # type: ignore[attr-defined]
        lines.append(f"judged {s.judged} triples: kept {s.judged - s.rejected_triples}, rejected {s.rejected_triples} (rejected.jsonl)")  # type: ignore[attr-defined]
    if s.top_relations:  # type: ignore[attr-defined]
        lines.append("top relations: " + ", ".join(f"{r} ({n})" for r, n in s.top_relations))  # type: ignore[attr-defined]
    if s.top_entities:  # type: ignore[attr-defined]
        lines.append("top entities: " + ", ".join(f"{e} ({n})" for e, n in s.top_entities))  # type: ignore[attr-defined]
    failures = ", ".join(f"{k}: {v}" for k, v in sorted(s.failures.items())) or "none"  # type: ignore[attr-defined]
    lines.append(f"rejected inputs: {s.rejected}; unusable model replies: {failures}")  # type: ignore[attr-defined]
    if s.gold_triples or s.malformed_gold:  # type: ignore[attr-defined]
        lines.append(f"gold triples: {s.gold_triples} (malformed, skipped: {s.malformed_gold})")  # type: ignore[attr-defined]
    if s.added or s.changed or s.removed or s.unchanged:  # type: ignore[attr-defined]
        lines.append(f"documents this run: {s.added} added, {s.changed} changed, {s.removed} removed, "  # type: ignore[attr-defined]
                     f"{s.unchanged} unchanged")  # type: ignore[attr-defined]
    if s.store:  # type: ignore[attr-defined]
        st = s.store_stats  # type: ignore[attr-defined]
        lines.append(f"store {s.store}: {st.get('triples', 0)} triples, {st.get('entities', 0)} entities")  # type: ignore[attr-defined]
    u = s.this_run  # type: ignore[attr-defined]
    lines.append(
        f"this run: {s.batches_run} batches, {u.model_calls} model calls, cache hits {u.cache_hits}/{u.requests}, "  # type: ignore[attr-defined]
        f"tokens in {u.prompt_tokens} out {u.completion_tokens}, {s.wall_seconds:.1f} s"  # type: ignore[attr-defined]
    )
    return "\n".join(lines)


def example_facts(out: Path, n: int = 3, width: int = 160) -> str:
    """Up to ``n`` kept triples of the build in ``out``, each with the evidence it rests on: the
    judge's most confident first, one per document while documents last."""
    from kgjudge._build_folder import BuildFolder

    folder = BuildFolder(out)
    triples = [t for t in folder.triples() if t.evidence is not None]
    scores = {j.target_id: j.score for j in folder.judgements()}
    triples.sort(key=lambda t: -scores.get(t.id, 0.0))
    firsts: dict[str | None, Any] = {}  # document -> its most confident triple
    for t in triples:
        firsts.setdefault(t.document_id, t)
    picked = {t.id for t in firsts.values()}
    chosen = ([*firsts.values()] + [t for t in triples if t.id not in picked])[:n]
    lines = []
    for t in chosen:
        score = f", judge {scores[t.id]:.2f}" if t.id in scores else ""
        evidence = " ".join(t.evidence.text.split())  # type: ignore[union-attr]
        if len(evidence) > width:
            evidence = evidence[: width - 3] + "..."
        lines += [f"  {t.head} | {t.relation} | {t.tail}   ({t.document_id}{score})", f'    "{evidence}"']
    return "example facts:\n" + "\n".join(lines) if lines else ""


@app.command("build")
@handles_errors
def build_command(
    inputs: list[Path] = typer.Argument(..., help="text/Markdown files or folders, JSONL, or *.target files"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder (resumed, or grown by new and changed documents, "
                             "if it holds a build)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="config file; if omitted, the config of the "
                                          "build in --out, else the embedded default"),
    engine: str = typer.Option("local", help="local, or ray to spread batches over Ray workers"),
    workers: int = typer.Option(2, min=1, help="Ray workers"),
    restart: bool = typer.Option(False, "--restart", help="discard what --out holds and start again"),
    sync: bool = typer.Option(False, "--sync", help="also remove the documents of --out that the inputs no longer hold"),
    progress: bool = ProgressOption,
    verbose: bool = VerboseOption,
) -> None:
    """Turn documents into triples with provenance: chunk, denoise, extract (resumable, cached).

    Into a folder that holds a build of the same config, only new documents are processed and
    changed ones processed again (their old triples, judgements and evidence replaced);
    unchanged ones cost nothing. Another judge: kgjudge rejudge. Another extraction: --restart.
    """
    from kgjudge._errors import ConfigError
    from kgjudge.pipeline import BuildFolder, build
    from kgjudge.pipeline._folder_run import folder_config

    if engine not in ("local", "ray"):
        raise ConfigError(f"unknown engine '{engine}'", key="--engine", choices=["local", "ray"])
    folder = BuildFolder(out)
    if config is None and not restart and folder.manifest() is not None:
        chosen = folder_config(folder)
    else:
        chosen = get_config(config)
    summary = build(inputs, chosen, out, engine=engine, workers=workers, restart=restart, sync=sync, progress=progress)
    echo(format_summary(summary))
    examples = example_facts(out)
    if examples:
        echo(examples)
    for warning in summary.warnings:
        echo(f"warning: {warning}", err=True)
