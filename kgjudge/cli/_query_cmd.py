"""``kgjudge query`` and ``kgjudge communities``: GraphRAG over a build output or a store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from kgjudge.cli._app import app, echo, fail, get_config, handles_errors
from kgjudge.cli._output import ProgressOption, VerboseOption

if TYPE_CHECKING:
    from kgjudge.graph import Answer, GraphRAG, RetrievedContext

OUT_HELP = "a kgjudge build output folder (its store, documents and config)"
CONFIG_HELP = "config for backends and rag: (and the store without --out); the build's own config if omitted"


def _open(out: Optional[Path], config: Optional[Path], *, with_llm: bool, overrides: dict[str, object]) -> GraphRAG:
    from kgjudge.graph import open_graphrag

    cfg = get_config(config) if config or out is None else None
    return open_graphrag(out, cfg, file=str(config) if config else None, with_llm=with_llm, rag_overrides=overrides)


def _context_lines(context: RetrievedContext) -> list[str]:
    lines = []
    if context.linked:
        lines.append("linked: " + ", ".join(f"{x.name} ({x.method} {x.score:.2f} from '{x.mention}')" for x in context.linked))
    for c in context.communities:
        lines.append(f"community {c.id} ({len(c.triple_ids)} triples): {c.summary}")
    lines.extend(f.line() for f in context.facts)
    lines.append(f"{len(context.facts)} facts, {context.tokens} tokens, {context.dropped} left out by the budget, "
                 f"retrieved in {context.seconds * 1000:.1f} ms")
    return lines


def _answer_lines(answer: Answer) -> list[str]:
    lines = [answer.answer]
    for c in answer.citations:
        where = c.document_id or "no document"
        if c.document_source and c.document_source != c.document_id:
            where += f" ({c.document_source})"
        if c.evidence is not None:
            where += f", characters {c.evidence.start}-{c.evidence.end}: {c.evidence.text!r}"
        lines.append(f"  [{c.key}] {c.head} | {c.relation} | {c.tail}  <- {where}; confidence {c.confidence:.2f}; "
                     f"{c.source}; triple {c.triple_id}")
    if answer.invalid_citations:
        lines.append("  labels the model gave that are not in the context (ignored): " + ", ".join(answer.invalid_citations))
    if answer.found and not answer.citations:
        lines.append("  (the answer cites no retrieved fact)")
    return lines


@app.command("query")
@handles_errors
def query_command(
    question: str = typer.Argument(..., help="the question"),
    mode: str = typer.Option("local", "--mode", "-m", help="local: around the question's entities; global: community summaries"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help=OUT_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the answer, context and citations as JSON"),
    retrieve_only: bool = typer.Option(False, "--retrieve-only", help="print the context; no model call"),
    show_context: bool = typer.Option(False, "--show-context", help="print the context before the answer"),
    hops: Optional[int] = typer.Option(None, min=0, max=3, help="local search hops (config rag.hops if omitted)"),
    budget: Optional[int] = typer.Option(None, min=16, help="context token budget (config rag.token_budget if omitted)"),
    progress: bool = ProgressOption,
    verbose: bool = VerboseOption,
) -> None:
    """Answer a question from the graph, citing the triples (and their documents) it used.

    Exit status 0 when an answer was found, 1 when nothing was found, 2 on errors.
    """
    if mode not in ("local", "global"):
        fail(f"--mode must be local or global, not {mode!r}")
    overrides: dict[str, object] = {}
    if hops is not None:
        overrides["hops"] = hops
    if budget is not None:
        overrides["token_budget"] = budget
    # Global search may have to summarise communities first, which needs the model.
    rag = _open(out, config, with_llm=not retrieve_only or mode == "global", overrides=overrides)
    with rag:
        if retrieve_only:
            context = rag.retrieve(question, mode)  # type: ignore[arg-type]
            echo(context.model_dump_json(indent=2) if as_json else "\n".join(_context_lines(context)))
            found = not context.nothing_found
            if not found and not as_json:
                echo(f"nothing found: {context.nothing_found}")
        else:
            answer = rag.query(question, mode)  # type: ignore[arg-type]
            if as_json:
                echo(answer.model_dump_json(indent=2))
            else:
                if show_context:
                    echo("\n".join(_context_lines(answer.context)) + "\n")
                echo("\n".join(_answer_lines(answer)))
            found = answer.found
    if not found:
        raise typer.Exit(1)


@app.command("communities")
@handles_errors
def communities_command(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help=OUT_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    force: bool = typer.Option(False, "--force", help="recompute the partition even if the store did not change"),
    as_json: bool = typer.Option(False, "--json"),
    progress: bool = ProgressOption,
    verbose: bool = VerboseOption,
) -> None:
    """Compute the graph's communities and summarise those that changed (for global search)."""
    with _open(out, config, with_llm=True, overrides={}) as rag:
        report = rag.update_communities(force=force)
        where = rag.index_dir
        count = len(rag.communities.communities)
    if as_json:
        echo(json.dumps({"index_dir": str(where), "up_to_date": report is None,
                               "report": report.model_dump() if report else None, "communities": count}))
    elif report is None:
        echo(f"{count} communities in {where} are up to date with the store")
    else:
        echo(f"{report.communities} communities in {where}: {report.summarised} summarised, {report.reused} kept, "
                   f"{report.from_facts} described by their facts, {report.removed} removed ({report.seconds:.1f} s)")
        for failure in report.failures:
            echo(f"warning: {failure}", err=True)
