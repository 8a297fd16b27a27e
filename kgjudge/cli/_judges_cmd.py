"""``kgjudge train``, ``kgjudge judge`` and ``kgjudge cascade``: LoRA training, threshold
calibration, judging triples and model cascading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from kgjudge._errors import ConfigError, InputError
from kgjudge.cli._app import app, echo, handles_errors
from kgjudge.cli._llm_cmd import model_app
from kgjudge.cli._output import ProgressOption, VerboseOption

train_app = typer.Typer(help="Build KASFT data and fine-tune LoRA adapters.", no_args_is_help=True)
judge_app = typer.Typer(help="Judge triples and calibrate judge thresholds.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(judge_app, name="judge")

ConfigOpt = typer.Option(..., "--config", "-c", help="YAML config file")


RestartOpt = typer.Option(False, "--restart", help="discard the checkpoints of an earlier run instead of resuming it")


def _train(task: str, config: Path, restart: bool) -> None:
    from kgjudge._progress import write
    from kgjudge.judges import load_train_config, train

    cfg = load_train_config(config)
    meta = train(task, cfg, config_text=config.read_text(encoding="utf-8"), log=write, restart=restart)
    echo(json.dumps({"adapter": cfg.output, "steps": meta.training["steps"],
                           "seconds": meta.training["seconds"], "metrics": meta.metrics}, indent=2))


@train_app.command("judge")
@handles_errors
def train_judge(config: Path = ConfigOpt, restart: bool = RestartOpt, progress: bool = ProgressOption,
                verbose: bool = VerboseOption) -> None:
    """Fine-tune a GraphJudger LoRA adapter (Yes/No on document + triple); resumes an interrupted run."""
    _train("judge", config, restart)


@train_app.command("extractor")
@handles_errors
def train_extractor(config: Path = ConfigOpt, restart: bool = RestartOpt, progress: bool = ProgressOption,
                verbose: bool = VerboseOption) -> None:
    """Fine-tune an extractor LoRA adapter (text -> triples JSON); resumes an interrupted run."""
    _train("extractor", config, restart)


@train_app.command("entities")
@handles_errors
def train_entities(config: Path = ConfigOpt, restart: bool = RestartOpt, progress: bool = ProgressOption,
                   verbose: bool = VerboseOption) -> None:
    """Fine-tune the denoiser's entity step (text -> entities JSON) as a LoRA adapter; resumes an interrupted run."""
    _train("entities", config, restart)


@train_app.command("data")
@handles_errors
def train_data(
    config: Path = ConfigOpt,
    task: str = typer.Option("judge", help="judge, extractor or entities"),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file for the examples (all splits)"),
) -> None:
    """Build the KASFT examples of a training config and print the counts per split and kind."""
    from typing import get_args

    from kgjudge._jsonl import write_jsonl
    from kgjudge.judges import build_examples, load_train_config
    from kgjudge.judges.kasft._training import Task

    if task not in get_args(Task):
        raise ConfigError(f"unknown task '{task}'", key="task", choices=list(get_args(Task)))
    examples, summary = build_examples(task, load_train_config(config))  # type: ignore[arg-type]
    write_jsonl(out, examples)
    echo(json.dumps({"examples": len(examples), "file": str(out), **summary}, indent=2))


@judge_app.command("calibrate")
@handles_errors
def judge_calibrate(
    config: Path = ConfigOpt,
    data: Path = typer.Option(..., "--data", "-d", help="labelled JSONL: judge examples (GraphJudger) or "
                              "{query, response, correct} pairs (Meta Ranking)"),
    objective: str = typer.Option("f1", help="f1 (best F1) or precision (highest recall at --target-precision)"),
    target_precision: float = typer.Option(0.9, min=0.0, max=1.0),
    split: Optional[str] = typer.Option("dev", help="use only examples of this split (judge examples); '' for all"),
    section: str = typer.Option("judge", help="the judge section of the config"),
    limit: Optional[int] = typer.Option(None, min=1, help="use a seeded sample of this many labelled examples"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the threshold without writing it"),
    progress: bool = ProgressOption,
    verbose: bool = VerboseOption,
) -> None:
    """Choose the judge's threshold on labelled data and write it to the config."""
    import random

    from kgjudge._jsonl import read_jsonl
    from kgjudge._progress import Progress
    from kgjudge.judges import GraphJudger, JudgeExample, QAPair, calibrate_threshold, judge_from_file, write_threshold
    from kgjudge.judges.triples._meta_ranking import LabelledPair

    if objective not in ("f1", "precision"):
        raise ConfigError(f"unknown objective '{objective}'", key="objective", choices=["f1", "precision"])
    judge = judge_from_file(config, section)
    if isinstance(judge, GraphJudger):
        examples = [e for e in read_jsonl(data, JudgeExample) if not split or e.split == split]
        if limit and len(examples) > limit:
            examples = [examples[i] for i in sorted(random.Random(0).sample(range(len(examples)), limit))]
        if not examples:
            raise InputError(f"no labelled examples of split '{split}'", file=str(data))
        labels = [e.label for e in examples]
        with Progress("calibrate", "examples", len(examples)) as bar:
            scores = judge.score_examples_sync(examples)
            bar.advance(len(examples))
    else:
        pairs = [QAPair.model_validate(p.model_dump()) for p in read_jsonl(data, LabelledPair)]
        if limit and len(pairs) > limit:
            pairs = [pairs[i] for i in sorted(random.Random(0).sample(range(len(pairs)), limit))]
        labels = [bool(p.correct) for p in pairs]
        with Progress("calibrate", "pairs", len(pairs)) as bar:
            scores = [j.score for j in judge.rank_sync(pairs)]
            bar.advance(len(pairs))
    result = calibrate_threshold(labels, scores, objective=objective, target_precision=target_precision)  # type: ignore[arg-type]
    calibration = {**result.model_dump(), "data": str(data), "split": split or None, "limit": limit}
    if not dry_run:
        write_threshold(config, result.threshold, calibration, section)
    echo(json.dumps({**calibration, "written": not dry_run, "config": str(config)}, indent=2))


@judge_app.command("triples")
@handles_errors
def judge_triples(
    config: Path = ConfigOpt,
    triples: Path = typer.Option(..., "--triples", "-t", help="JSONL of Triple records"),
    documents: Path = typer.Option(..., "--documents", help="JSONL of Document records ({id, text})"),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL of Judgement records"),
    section: str = typer.Option("judge", help="the judge section of the config"),
    progress: bool = ProgressOption,
    verbose: bool = VerboseOption,
) -> None:
    """Judge triples against their documents; writes one Judgement per triple."""
    from kgjudge._jsonl import read_jsonl, write_jsonl
    from kgjudge._progress import Progress
    from kgjudge._records import Document, Triple
    from kgjudge.judges import judge_from_file

    items = read_jsonl(triples, Triple)
    docs = {d.id: d.text for d in read_jsonl(documents, Document)}
    judge = judge_from_file(config, section)
    with Progress("judge", "triples", len(items)) as bar:
        judgements = judge.judge_sync(items, docs)  # type: ignore[arg-type]
        bar.advance(len(items))
    write_jsonl(out, judgements)
    kept = sum(j.label for j in judgements)
    echo(json.dumps({"triples": len(judgements), "kept": kept, "rejected": len(judgements) - kept,
                           "out": str(out)}))


@app.command("cascade")
@handles_errors
def cascade_command(
    config: Path = ConfigOpt,
    queries: Path = typer.Option(..., "--queries", "-q", help="JSONL of {id, query, answers?}"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSONL of per-query results"),
    report: Optional[Path] = typer.Option(None, "--report", help="JSON file for the totals"),
    progress: bool = ProgressOption,
    verbose: bool = VerboseOption,
) -> None:
    """Answer with the weak backend, judge with Meta Ranking, re-answer rejected queries with the
    strong backend; prints tokens per backend and accuracy against the queries' answers."""
    import yaml
    from pydantic import ValidationError

    from kgjudge._config import backend_of, parse_config, validation_error
    from kgjudge._jsonl import read_jsonl, write_jsonl
    from kgjudge._progress import Progress
    from kgjudge.judges import Cascade, CascadeConfig, CascadeQuery, MetaRanker, build_judge
    from kgjudge.llm import llm_from_config

    try:
        raw = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config: {exc}", file=str(config)) from exc
    base = parse_config({k: raw[k] for k in ("backends", "cache") if k in raw}, file=str(config))
    try:
        cfg = CascadeConfig.model_validate(raw.get("cascade") or {})
    except ValidationError as exc:
        raise validation_error(exc, CascadeConfig, file=str(config), prefix="cascade") from exc
    clients: dict = {}
    for name in (cfg.weak, cfg.strong, cfg.judge.get("backend", "default")):
        if name not in clients:
            backend_of(base.backends, name, file=str(config), key="cascade")
            clients[name] = llm_from_config(base, name)
    ranker = build_judge(cfg.judge, clients, file=str(config), key="cascade.judge")
    if not isinstance(ranker, MetaRanker):
        raise ConfigError("the cascade judge must be a meta_ranking judge", file=str(config), key="cascade.judge.type")
    items = read_jsonl(queries, CascadeQuery)
    with Progress("cascade", "queries", len(items)) as bar:
        results, totals = Cascade(clients[cfg.weak], clients[cfg.strong], ranker, cfg).run_sync(items)  # type: ignore[arg-type]
        bar.advance(len(items))
    if out:
        write_jsonl(out, results)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(totals.model_dump_json(indent=2))
    echo(totals.model_dump_json(indent=2))


@model_app.command("adapter")
@handles_errors
def model_adapter(name: str = typer.Argument(..., help="packaged:<name> or a folder")) -> None:
    """Print the folder of a LoRA adapter (for ``vllm serve --lora-modules NAME=PATH``)."""
    from kgjudge.llm import resolve_adapter

    echo(resolve_adapter(name))
