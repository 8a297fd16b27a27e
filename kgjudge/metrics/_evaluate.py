"""Graph evaluation end to end: read, pair, score, aggregate, report."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from kgjudge._build_folder import GOLD
from kgjudge._errors import ConfigError, InputError
from kgjudge._progress import Progress
from kgjudge._records import Record
from kgjudge.metrics._bertscore import (
    BERT_BASE_UNCASED_LAYER,
    BertScorer,
    is_bert_base_uncased,
    resolve_model_dir,
)
from kgjudge.metrics._graph import (
    compat_graph_match,
    graph_edit_distance,
    graph_match,
    prepare_compat,
    prepare_word,
    triple_counts,
)
from kgjudge.metrics._io import GraphPair, check_readable, pair_graphs, read_build, read_graphs
from kgjudge.metrics._pairs import PRF, Engine, match_scores, score_edges, warm_tokenizers
from kgjudge.metrics._parallel import MIN_GRAPHS_PER_WORKER, effective_workers, map_slices, tick

Mode = Literal["word", "graphjudger"]
COMPAT_MODES = ("graphjudger",)
_VERSIONED = ("kgjudge", "numpy", "scipy", "nltk", "rouge-score", "networkx", "spacy", "bert-score",
              "torch", "transformers", "scikit-learn", "matplotlib")


class GraphScore(Record):
    """The scores of one graph (one row of ``per_graph.csv``).

    ``n_pred``/``n_gold`` count what was scored: distinct well-formed triples in word-level mode,
    items as given (duplicates included) in GraphJudger mode. Scores are never NaN; a score the
    published script leaves undefined (0/0) is 0 here and ``published_nan`` is set.
    """

    id: str
    pred_status: Literal["ok", "empty", "unparseable", "missing"]
    n_pred: int
    n_gold: int
    pred_malformed: int = 0
    gold_malformed: int = 0
    pred_duplicates: int = 0
    gold_duplicates: int = 0
    triple_tp: int
    triple_precision: float
    triple_recall: float
    triple_f1: float
    norm_tp: int | None = None
    norm_precision: float | None = None
    norm_recall: float | None = None
    norm_f1: float | None = None
    bleu_precision: float
    bleu_recall: float
    bleu_f1: float
    rouge_precision: float
    rouge_recall: float
    rouge_f1: float
    bertscore_precision: float | None = None
    bertscore_recall: float | None = None
    bertscore_f1: float | None = None
    graph_match: bool
    ged: float | None = None
    ged_normalised: float | None = None
    ged_exact: bool | None = None
    published_nan: bool = False


class GraphEvalReport(Record):
    """Aggregates of one evaluation run (``report.json``); per-graph rows are in ``graphs``.

    Example:
        >>> report = evaluate_graphs("pred.source", "gold.source")
        >>> report.aggregates["triple_exact"]["micro"]["f1"]
    """

    mode: Mode
    pred: str
    gold: str
    config: dict[str, Any]
    versions: dict[str, str | None]
    counts: dict[str, int]
    aggregates: dict[str, Any]
    bertscore: str
    seconds: dict[str, float]
    graphs: list[GraphScore] = Field(default_factory=list, exclude=True)


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def _prf(tp: float, n_pred: float, n_gold: float) -> dict[str, float]:
    p, r = _safe_div(float(tp), float(n_pred)), _safe_div(float(tp), float(n_gold))
    return {"precision": p, "recall": r, "f1": _safe_div(2 * p * r, p + r)}


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _check_finite(value: Any, where: str = "aggregates") -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise AssertionError(f"{where} is {value}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}")


def _bertscore_scorer(
    model: str | os.PathLike[str] | None, compat: bool, layers: int | None, cache_dir: str | os.PathLike[str] | None
) -> tuple[BertScorer | None, str]:
    if model is None:
        if compat:
            return None, "unavailable: needs a local copy of bert-base-uncased (--bertscore-model DIR)"
        return None, "not requested"
    path = resolve_model_dir(model)
    if compat:
        if not is_bert_base_uncased(path):
            return None, (f"unavailable: {path} is not bert-base-uncased, which GraphJudger scores use; "
                          "no other model is substituted")
        layers = BERT_BASE_UNCASED_LAYER
    scorer = BertScorer(path, num_layers=layers, cache_dir=cache_dir)
    return scorer, f"ok: {path} (layer {scorer.num_layers}, {scorer.device})"


def _bertscore_prf(scorer: BertScorer, edges: Sequence[tuple[list[str], list[str]]]) -> PRF:
    pairs = [(p, g) for pred, gold in edges for p in pred for g in gold]
    scores = scorer.f1(pairs)
    matrices, start = [], 0
    for pred, gold in edges:
        size = len(pred) * len(gold)
        matrices.append(scores[start : start + size].reshape(len(pred), len(gold)))
        start += size
    return match_scores(matrices)


@dataclass
class _Job:
    pairs: Sequence[GraphPair]
    compat: bool
    engine: Engine
    graph_matching: bool
    ged: bool
    ged_timeout: float
    keep_edges: bool


@dataclass
class _Slice:
    rows: list[dict[str, Any]]
    exact: list[tuple[int, int, int]]
    norm: list[tuple[int, int, int]] | None
    edges: list[tuple[list[str], list[str]]]
    geds: list[tuple[float, float, bool]] | None


def _evaluate_slice(job: _Job, start: int, stop: int) -> _Slice:
    """Everything but BERTScore for ``job.pairs[start:stop]`` (runs in a worker process)."""
    if job.compat:
        prepared = [prepare_compat(p.gold, p.pred, graphs=job.graph_matching) for p in job.pairs[start:stop]]
    else:
        prepared = [prepare_word(p.gold, p.pred) for p in job.pairs[start:stop]]
    exact = triple_counts(prepared)
    norm = None if job.compat else triple_counts(prepared, normalised=True)
    bleu, rouge = score_edges([p.pred_edges for p in prepared], [p.gold_edges for p in prepared],
                              compat=job.compat, engine=job.engine)
    matcher = compat_graph_match if job.compat else graph_match
    geds = None
    if job.ged:  # the slow part (up to ged_timeout per graph): counted graph by graph
        geds = []
        for p in prepared:
            geds.append(graph_edit_distance(p.pred_graph, p.gold_graph, job.ged_timeout))
            tick()
    rows = []
    for k, item in enumerate(prepared):
        tp, n_p, n_g = exact[k]
        row: dict[str, Any] = {
            "id": item.id, "pred_status": item.status,
            "n_pred": len(item.pred_edges), "n_gold": len(item.gold_edges),
            "pred_malformed": item.pred_malformed, "gold_malformed": item.gold_malformed,
            "pred_duplicates": item.pred_duplicates, "gold_duplicates": item.gold_duplicates,
            "triple_tp": tp, **{f"triple_{m}": v for m, v in _prf(tp, n_p, n_g).items()},
            "bleu_precision": float(bleu.precision[k]), "bleu_recall": float(bleu.recall[k]),
            "bleu_f1": float(bleu.f1[k]),
            "rouge_precision": float(rouge.precision[k]), "rouge_recall": float(rouge.recall[k]),
            "rouge_f1": float(rouge.f1[k]),
            "graph_match": matcher(item.pred_graph, item.gold_graph) if job.graph_matching else False,
            "published_nan": bool(job.compat and bleu.undefined[k]),
        }
        if norm is not None:
            ntp, nn_p, nn_g = norm[k]
            row["norm_tp"] = ntp
            row.update({f"norm_{m}": v for m, v in _prf(ntp, nn_p, nn_g).items()})
        if geds is not None:
            row.update(ged=geds[k][0], ged_normalised=geds[k][1], ged_exact=geds[k][2])
        rows.append(row)
    edges = [(p.pred_edges, p.gold_edges) for p in prepared] if job.keep_edges else []
    if not job.ged:
        tick(len(prepared))
    return _Slice(rows=rows, exact=exact, norm=norm, edges=edges, geds=geds)


def _mean(rows: Sequence[GraphScore], field: str) -> float:
    return _safe_div(sum(getattr(r, field) for r in rows), len(rows))


def _mean_fields(rows: Sequence[GraphScore], prefix: str) -> dict[str, float]:
    return {m: _mean(rows, f"{prefix}_{m}") for m in ("precision", "recall", "f1")}


def evaluate_pairs(
    pairs: Sequence[GraphPair],
    *,
    mode: Mode = "word",
    engine: Engine = "fast",
    workers: int | None = None,
    bertscore_model: str | os.PathLike[str] | None = None,
    bertscore_layers: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    ged: bool = False,
    ged_timeout: float = 2.0,
    graph_matching: bool = True,
) -> tuple[list[GraphScore], dict[str, Any], dict[str, int], str, dict[str, float]]:
    """Score already paired graphs; see :func:`evaluate_graphs` for the arguments.

    ``graph_matching=False`` skips graph isomorphism (every ``graph_match`` is then False and
    the accuracy is None), for timing the text metrics alone.

    Returns:
        per-graph scores, aggregates, counts, the BERTScore status and timings.
    """
    if mode not in ("word", *COMPAT_MODES):
        raise ConfigError(f"unknown mode '{mode}'", key="mode", choices=["word", *COMPAT_MODES])
    if engine not in ("fast", "reference"):
        raise ConfigError(f"unknown engine '{engine}'", key="engine", choices=["fast", "reference"])
    compat = mode != "word"
    if compat and ged:
        raise ConfigError("graph edit distance is not part of the GraphJudger evaluation; drop --ged",
                          key="ged")
    # a missing model is a configuration error: report it before any work is done
    scorer, bert_status = _bertscore_scorer(bertscore_model, compat, bertscore_layers, cache_dir)

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    warm_tokenizers(compat)
    job = _Job(pairs=pairs, compat=compat, engine=engine, graph_matching=graph_matching, ged=ged,
               ged_timeout=ged_timeout, keep_edges=scorer is not None)
    per_worker = MIN_GRAPHS_PER_WORKER["compat" if compat else "word"]
    n_workers = effective_workers(len(pairs), workers, per_worker) if engine == "fast" else 1
    with Progress("score", "graphs", len(pairs)) as progress:
        slices = map_slices(_evaluate_slice, job, len(pairs), n_workers, progress)
    seconds["graphs"] = time.perf_counter() - started
    seconds["workers"] = float(n_workers)

    rows_data = [row for part in slices for row in part.rows]
    exact = [t for part in slices for t in part.exact]
    started = time.perf_counter()
    if scorer is not None:
        bert = _bertscore_prf(scorer, [e for part in slices for e in part.edges])
        for k, row in enumerate(rows_data):
            row.update(bertscore_precision=float(bert.precision[k]), bertscore_recall=float(bert.recall[k]),
                       bertscore_f1=float(bert.f1[k]))
            row["published_nan"] = bool(row["published_nan"] or (compat and bert.undefined[k]))
    seconds["bertscore"] = time.perf_counter() - started
    rows = [GraphScore(**row) for row in rows_data]

    n = len(rows)
    statuses = [r.pred_status for r in rows]
    counts = {
        "graphs": n,
        "pred_ok": statuses.count("ok"),
        "pred_empty": statuses.count("empty"),
        "pred_unparseable": statuses.count("unparseable"),
        "pred_missing": statuses.count("missing"),
        "gold_empty": sum(1 for r in rows if r.n_gold == 0),
        "pred_malformed_triples": sum(r.pred_malformed for r in rows),
        "gold_malformed_triples": sum(r.gold_malformed for r in rows),
        "pred_duplicate_triples": sum(r.pred_duplicates for r in rows),
        "gold_duplicate_triples": sum(r.gold_duplicates for r in rows),
    }
    sums = np.array(exact, dtype=float).sum(axis=0) if exact else np.zeros(3)
    aggregates: dict[str, Any] = {}
    if compat:
        counts["published_nan_graphs"] = sum(1 for r in rows if r.published_nan)
        aggregates["triple_match"] = {"micro": _prf(*sums)}
    else:
        norm = [t for part in slices for t in (part.norm or [])]
        nsums = np.array(norm, dtype=float).sum(axis=0) if norm else np.zeros(3)
        aggregates["triple_exact"] = {"micro": _prf(*sums), "macro": _mean_fields(rows, "triple")}
        aggregates["triple_normalised"] = {"micro": _prf(*nsums), "macro": _mean_fields(rows, "norm")}
    aggregates["graph_match_accuracy"] = _mean(rows, "graph_match") if graph_matching else None
    aggregates["g_bleu"] = _mean_fields(rows, "bleu")
    aggregates["g_rouge"] = _mean_fields(rows, "rouge")
    aggregates["g_bertscore"] = _mean_fields(rows, "bertscore") if scorer is not None else None
    if ged:
        aggregates["ged"] = {"mean": _mean(rows, "ged"), "mean_normalised": _mean(rows, "ged_normalised"),
                             "inexact_graphs": sum(1 for r in rows if r.ged_exact is False)}
    _check_finite(aggregates)
    return rows, aggregates, counts, bert_status, seconds


def _report(pairs: Sequence[GraphPair], pred: str, gold: str, counts_extra: dict[str, int],
            options: dict[str, Any]) -> GraphEvalReport:
    """Score ``pairs`` with ``options`` (the keyword arguments of :func:`evaluate_pairs`)."""
    rows, aggregates, counts, bert_status, seconds = evaluate_pairs(pairs, **options)
    config = {k: v for k, v in options.items() if k != "cache_dir"}
    if config.get("bertscore_model"):
        config["bertscore_model"] = str(config["bertscore_model"])
    return GraphEvalReport(mode=options["mode"], pred=pred, gold=gold, config=config, versions=_versions(),
                           counts={**counts, **counts_extra}, aggregates=aggregates, bertscore=bert_status,
                           seconds=seconds, graphs=rows)


def _read_gold(gold: str | os.PathLike[str]) -> tuple[Any, str]:
    """The gold graphs of ``gold`` and their kind; none at all is an error, since every metric
    would be a meaningless zero (nothing was evaluated)."""
    graphs, kind = read_graphs(gold, "gold")
    if not graphs:
        raise InputError("holds no gold graph: there is nothing to evaluate against", file=str(gold))
    return graphs, kind


def evaluate_graphs(
    pred: str | os.PathLike[str],
    gold: str | os.PathLike[str],
    *,
    mode: Mode = "word",
    engine: Engine = "fast",
    workers: int | None = None,
    bertscore_model: str | os.PathLike[str] | None = None,
    bertscore_layers: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    ged: bool = False,
    ged_timeout: float = 2.0,
    max_unreadable_share: float | None = None,
) -> GraphEvalReport:
    """Evaluate predicted graphs against gold graphs.

    Args:
        pred: predictions: a ``.source`` file, a JSONL file or a build output directory (its
            kept triples; :func:`evaluate_build` scores a build before and after its judge).
        gold: gold graphs in any of the same formats.
        mode: ``word`` (honest word-level metrics) or ``graphjudger`` (the published
            GraphJudger evaluation, quirks included).
        engine: ``fast`` (vectorised, multi-process) or ``reference`` (one pair at a time).
        workers: processes for the fast engine (all cores by default).
        bertscore_model: a local encoder directory, or ``all-MiniLM-L6-v2`` for the packaged
            one; GraphJudger mode accepts only bert-base-uncased. None skips G-BERTScore.
        bertscore_layers: the encoder layer to use (default: the last; 9 for bert-base-uncased
            in GraphJudger mode).
        cache_dir: where BERTScore pair scores are cached on disk (memory only when None).
        ged: also compute graph edit distance (word-level mode only; exponential, so each graph
            gets at most ``ged_timeout`` seconds).
        max_unreadable_share: refuse predictions of which more than this share of lines cannot
            be read (see :func:`~kgjudge.metrics.check_readable`); None scores them as empty
            and counts them.

    Raises:
        InputError: a gold file cannot be read or holds no graph, two line-based files differ in
            length, or the predictions are mostly unreadable (with ``max_unreadable_share``).
        ConfigError: a bad option (unknown mode, missing model directory).
    """
    unreadable: list[InputError] = []
    gold_graphs, gold_kind = _read_gold(gold)
    pred_graphs, pred_kind = read_graphs(pred, "pred", unreadable)
    if max_unreadable_share is not None:
        check_readable(pred, pred_graphs, unreadable, max_share=max_unreadable_share)
    pairs, unused = pair_graphs(pred_graphs, pred_kind, gold_graphs, gold_kind,
                                pred_path=str(pred), gold_path=str(gold))
    options = {"mode": mode, "engine": engine, "workers": workers, "bertscore_model": bertscore_model,
               "bertscore_layers": bertscore_layers, "cache_dir": cache_dir, "ged": ged, "ged_timeout": ged_timeout}
    return _report(pairs, str(pred), str(gold),
                   {"pred_unreadable_lines": len(unreadable), "pred_unmatched_ids": len(unused)}, options)


class BuildEvalReport(Record):
    """A build scored against gold twice: what it extracted (before the judge) and what it kept.

    ``judge_effect`` (with a judge) holds, for each aggregate with precision, recall and F1 (the
    micro figures of triple matching), the value before and after the judge and the change, and
    under ``triples`` how many distinct triples per document were extracted, kept and rejected,
    and how many of the rejected ones the gold holds (exact match).

    Example:
        >>> report = evaluate_build("out/val")
        >>> report.judge_effect["triple_exact"]["precision"]["change"]
    """

    build: str
    gold: str
    judged: bool
    finished: bool
    documents: int
    extracted: GraphEvalReport
    kept: GraphEvalReport | None = None
    judge_effect: dict[str, Any] | None = None


def _prf_of(value: Any) -> dict[str, float] | None:
    if isinstance(value, dict) and "micro" in value:
        value = value["micro"]
    if isinstance(value, dict) and {"precision", "recall", "f1"} <= value.keys():
        return value
    return None


def judge_effect(extracted: GraphEvalReport, kept: GraphEvalReport) -> dict[str, Any]:
    """How the judge moved each score from ``extracted`` to ``kept``; see :class:`BuildEvalReport`."""
    effect: dict[str, Any] = {}
    for name, value in extracted.aggregates.items():
        before, after = _prf_of(value), _prf_of(kept.aggregates.get(name))
        if before is not None and after is not None:
            effect[name] = {m: {"extracted": before[m], "kept": after[m], "change": after[m] - before[m]}
                            for m in ("precision", "recall", "f1")}
    n_before, n_after = (sum(r.n_pred for r in rep.graphs) for rep in (extracted, kept))
    tp_before, tp_after = (sum(r.triple_tp for r in rep.graphs) for rep in (extracted, kept))
    effect["triples"] = {
        "extracted": n_before, "kept": n_after, "rejected": n_before - n_after,
        "rejected_in_gold": tp_before - tp_after,
        "rejected_not_in_gold": (n_before - n_after) - (tp_before - tp_after),
    }
    return effect


def evaluate_build(
    build: str | os.PathLike[str],
    gold: str | os.PathLike[str] | None = None,
    *,
    mode: Mode = "word",
    engine: Engine = "fast",
    workers: int | None = None,
    bertscore_model: str | os.PathLike[str] | None = None,
    bertscore_layers: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    ged: bool = False,
    ged_timeout: float = 2.0,
) -> BuildEvalReport:
    """Score a build's triples before and after its judge against gold, in one report.

    Args:
        build: a ``kgjudge build`` output folder.
        gold: a gold file in any :func:`evaluate_graphs` format; None uses the build's own gold
            (``gold.jsonl``, kept when the build read ``.target`` files with aligned ``.source``
            files) and scores the documents that have gold.
        mode, engine, workers, bertscore_model, bertscore_layers, cache_dir, ged, ged_timeout:
            as for :func:`evaluate_graphs`.

    Raises:
        InputError: not a build folder, no gold in it (without ``gold``), or a gold file that
            cannot be read or holds no graph.
    """
    graphs = read_build(build, gold=gold is None)
    if gold is None:
        gold_graphs, gold_kind, gold_name = graphs.gold, "keyed", str(Path(build) / GOLD)
    else:
        (gold_graphs, gold_kind), gold_name = _read_gold(gold), str(gold)
    options = {"mode": mode, "engine": engine, "workers": workers, "bertscore_model": bertscore_model,
               "bertscore_layers": bertscore_layers, "cache_dir": cache_dir, "ged": ged, "ged_timeout": ged_timeout}
    reports: dict[str, GraphEvalReport] = {}
    sets = {"extracted": graphs.extracted, "kept": graphs.kept} if graphs.judged else {"extracted": graphs.extracted}
    for name, preds in sets.items():
        pairs, unused = pair_graphs(preds, "keyed", gold_graphs, gold_kind, pred_path=str(build), gold_path=gold_name)
        reports[name] = _report(pairs, f"{build} ({name})", gold_name, {"pred_unmatched_ids": len(unused)}, options)
    kept = reports.get("kept")
    return BuildEvalReport(
        build=str(build), gold=gold_name, judged=graphs.judged, finished=graphs.finished,
        documents=graphs.documents, extracted=reports["extracted"], kept=kept,
        judge_effect=judge_effect(reports["extracted"], kept) if kept is not None else None,
    )


def write_build_report(report: BuildEvalReport, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``report.json`` (both sets' aggregates and the judge's effect) to ``out_dir``, and
    each set's own report, CSV and histograms to ``out_dir/extracted`` and ``out_dir/kept``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"report": out / "report.json"}
    payload = report.model_dump(mode="json")
    files: dict[str, str] = {}
    for name in ("extracted", "kept"):
        part = getattr(report, name)
        if part is not None:
            for key, path in write_graph_report(part, out / name).items():
                paths[f"{name}_{key}"] = path
                files[f"{name}_{key}"] = str(path.relative_to(out))
    payload["files"] = files
    paths["report"].write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths


def write_graph_report(report: GraphEvalReport, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``report.json``, ``per_graph.csv`` and PNG histograms of per-graph F1 to ``out_dir``."""
    from kgjudge.metrics._plots import plot_f1_histograms

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"report": out / "report.json", "per_graph": out / "per_graph.csv",
             "f1_histograms": out / "f1_histograms.png"}
    fields = list(GraphScore.model_fields)
    with paths["per_graph"].open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in report.graphs:
            writer.writerow({k: ("" if v is None else v) for k, v in row.model_dump().items()})
    columns = {"triple F1": [r.triple_f1 for r in report.graphs],
               "G-BLEU F1": [r.bleu_f1 for r in report.graphs],
               "G-ROUGE F1": [r.rouge_f1 for r in report.graphs]}
    if report.aggregates.get("g_bertscore") is not None:
        columns["G-BERTScore F1"] = [r.bertscore_f1 or 0.0 for r in report.graphs]
    plot_f1_histograms(columns, paths["f1_histograms"], title=f"{report.mode} mode, {len(report.graphs)} graphs")
    payload = report.model_dump(mode="json")
    payload["files"] = {k: p.name for k, p in paths.items() if k != "report"}
    paths["report"].write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths
