"""``kgjudge filter``: judge instruction-tuning examples and keep the good ones, losing nothing.

A run reads the inputs (see :mod:`kgjudge.judges.filter._inputs`), then judges the examples in
``rounds``. Round 0 judges every example; round r > 0 judges the examples round r-1 kept, after
refreshing from round r-1's decisions:

- ``refresh.references: n``: Meta Ranking gets the n best-scored kept examples of the previous
  round as correct references and its n worst-scored rejected ones as incorrect references (in
  addition to the configured ones), as self-labelled data filtering does;
- ``refresh.keep_rate: q``: the combined threshold becomes the score that q of the previous
  round's kept examples reach (never lower than ``combine.threshold``).

Combination rule (``combine.rule``): ``weighted_mean`` keeps an example when the weighted mean of
its judges' scores reaches the round's threshold; ``all_pass`` keeps it when every judge's score
reaches that judge's own threshold (its combined score is then the minimum score). After the last
round, the optional ``select`` step drops near-duplicates and keeps at most ``budget`` examples,
trading score against novelty (embeddings of the packaged all-MiniLM-L6-v2); its decisions carry
the round number ``rounds``.

Outputs in ``out``: ``kept.jsonl`` and ``rejected.jsonl`` (each example in its source shape plus
a ``kgjudge_filter`` field with its score, judge versions and reasons), ``kept.parquet`` and
``rejected.parquet`` (``datasets.load_dataset("parquet", data_files=...)``), ``decisions.jsonl``
(every :class:`~kgjudge.FilterDecision` of every round), ``rejects.jsonl`` (unreadable input
records with file, line and reason), ``report.json``, ``report.md``, ``scores.png``,
``progress.jsonl`` and ``manifest.json``. Always: kept + rejected + rejects = input records.

Resumption follows ``kgjudge build``: a batch's decisions are appended (and fsynced) before one
line naming its round and examples goes to ``progress.jsonl``; decisions without that line are
dropped and redone on the next run. Model replies go through the response cache, so a re-run
over the same inputs and config makes no model calls. A run holds the output folder's lock:
a second run on the same folder fails at once, naming the first one's process.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from kgjudge._config import KGJudgeConfig, load_filter_config
from kgjudge._errors import KGJudgeError
from kgjudge._filter_config import FilterConfig
from kgjudge._extras import require
from kgjudge._jsonl import iter_jsonl, write_jsonl
from kgjudge._progress import Progress
from kgjudge._records import FilterDecision, InstructionExample, Judgement
from kgjudge._run_folder import ResumableRun, RunFolder
from kgjudge.llm import LLM, LLMBackend, Usage, build_backend, build_cache
from kgjudge.judges.filter._inputs import LoadedExamples, load_examples, query_of, response_of
from kgjudge.judges.filter._judges import FilterJudge, MetaRankingFilter, build_filter_judge
from kgjudge.judges.triples._meta_ranking import Embedder, QAPair

FIELD = "kgjudge_filter"
DECISIONS = "decisions.jsonl"


class RoundStats(BaseModel):
    """Counts of one round (round ``rounds`` is the selection step)."""

    round: int
    candidates: int
    kept: int
    rejected: int
    threshold: float | None = None
    references_added: int = 0
    judges: dict[str, dict[str, float]] = Field(default_factory=dict, description="per judge: judged, passed, mean_score")
    seconds: float = Field(default=0.0, description="model and judging time, summed over the runs that did it")


class FilterSummary(BaseModel):
    """What a filter run produced (``report.json``)."""

    out: str
    inputs: int
    malformed: int
    examples: int
    kept: int
    rejected: int
    rounds: list[RoundStats]
    formats: dict[str, int]
    judges: list[str]
    combine: dict[str, Any]
    usage: Usage
    this_run: Usage
    wall_seconds: float
    files: dict[str, str]


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _quantile_threshold(scores: Sequence[float], keep_rate: float) -> float:
    """The score that ``keep_rate`` of ``scores`` reach."""
    ordered = sorted(scores, reverse=True)
    return ordered[max(0, min(len(ordered), round(keep_rate * len(ordered))) - 1)] if ordered else 0.0


class Filter(ResumableRun):
    """A resumable filter run over one output folder.

    Args:
        base: the backends and cache part of the config.
        config: the :class:`FilterConfig`.
        out: the output folder (resumed when it holds an unfinished run of the same inputs and config).
        restart: discard what ``out`` holds.
        progress: show progress on stderr when it is a terminal (examples, and the model requests).
        backends: already-built backends by name, used instead of building the config's.
        embedder: the embedding model of the ``select`` step (default: its configured model).

    Example:
        >>> base, config = load_filter_config("configs/filter/default.yaml")
        >>> summary = Filter(base, config, "out/").run(["data.jsonl"])
    """

    def __init__(
        self,
        base: KGJudgeConfig,
        config: FilterConfig,
        out: str | os.PathLike[str],
        *,
        restart: bool = False,
        progress: bool = True,
        backends: dict[str, LLMBackend] | None = None,
        embedder: Any = None,
    ) -> None:
        super().__init__(RunFolder(Path(out), "filter run"), restart=restart)
        self.base = base
        self.config = config
        self.progress = progress
        self.given_backends = backends or {}
        self.embedder = embedder
        self._judges: list[FilterJudge] | None = None
        self._llms: dict[str, LLM] = {}
        self._pending_refs: list[QAPair] = []

    # -- judges, built only when there is work -----------------------------------------------

    def judges(self) -> list[FilterJudge]:
        if self._judges is None:
            cache = build_cache(self.base.cache)
            names = sorted({j.backend for j in self.config.judges})  # type: ignore[attr-defined]
            self._llms = {
                n: LLM(self.given_backends.get(n) or build_backend(self.base.backends[n], file=self.base.source_file, key=f"backends.{n}"), cache)
                for n in names
            }
            self._judges = [
                build_filter_judge(slot, self._llms, file=self.base.source_file, key=f"filter.judges[{i}]") for i, slot in enumerate(self.config.judges)
            ]
        return self._judges

    def usage(self) -> Usage:
        total = Usage()
        for llm in self._llms.values():
            total.add(llm.usage)
        return total

    # -- the resumable run ---------------------------------------------------------------------

    outputs = (DECISIONS,)

    def config_hash(self) -> str:
        backends = {b: self.base.backends[b].model_dump(mode="json") for b in sorted({j.backend for j in self.config.judges})}  # type: ignore[attr-defined]
        return _hash({"filter": self.config.model_dump(mode="json"), "backends": backends})

    def describe(self) -> dict[str, Any]:
        return {"filter": self.config.model_dump(mode="json")}

    def committed_keys(self, line: dict[str, Any]) -> Iterable[Hashable]:
        return [(line["round"], e) for e in line["examples"]]

    def record_key(self, file: str, record: dict[str, Any]) -> Hashable:
        return record.get("round"), record.get("example_id")

    def _decisions(self) -> dict[int, dict[str, FilterDecision]]:
        by_round: dict[int, dict[str, FilterDecision]] = defaultdict(dict)
        path = self.out / DECISIONS
        if path.is_file():
            for d in iter_jsonl(path, FilterDecision):
                by_round[d.round][d.example_id] = d  # type: ignore[union-attr]
        return by_round

    # -- judging -------------------------------------------------------------------------------

    def _combine(self, example: InstructionExample, judgements: list[Judgement], r: int, threshold: float) -> FilterDecision:
        failing = [reason for j in judgements if not j.label for reason in j.reasons]
        if self.config.combine.rule == "all_pass":
            score = min(j.score for j in judgements)
            kept = all(j.label for j in judgements)
            head = f"all_pass: {'every judge passed' if kept else 'a judge failed'} (lowest score {score:.3f})"
        else:
            weights = {j.name: j.weight for j in self.judges()}
            total = sum(weights[j.judge] for j in judgements)
            score = sum(weights[j.judge] * j.score for j in judgements) / total
            kept = score >= threshold
            parts = ", ".join(f"{j.judge} {j.score:.3f}x{weights[j.judge]:g}" for j in judgements)
            head = f"weighted mean {score:.3f} {'>=' if kept else '<'} threshold {threshold:.3f} ({parts})"
        return FilterDecision(example_id=example.id, round=r, kept=kept, score=min(1.0, max(0.0, score)),
                              judgements=judgements, reasons=[head, *failing])

    def _judge_batch(self, batch: list[InstructionExample], r: int, threshold: float) -> list[FilterDecision]:
        per_judge = [judge.judge_sync(batch) for judge in self.judges()]
        return [self._combine(ex, [js[i] for js in per_judge], r, threshold) for i, ex in enumerate(batch)]

    def _refresh(self, r: int, previous: dict[str, FilterDecision], examples: dict[str, InstructionExample]) -> tuple[float, int]:
        """The threshold of round ``r`` and the references added, from round r-1's decisions."""
        threshold = self.config.combine.threshold
        refresh = self.config.refresh
        kept = sorted((d for d in previous.values() if d.kept), key=lambda d: (-(d.score or 0.0), d.example_id))
        if refresh.keep_rate is not None and kept:
            threshold = max(threshold, _quantile_threshold([d.score or 0.0 for d in kept], refresh.keep_rate))
        added: list[QAPair] = []
        if refresh.references:
            rejected = sorted((d for d in previous.values() if not d.kept), key=lambda d: (d.score or 0.0, d.example_id))
            for d, correct in [(d, True) for d in kept[: refresh.references]] + [(d, False) for d in rejected[: refresh.references]]:
                ex = examples[d.example_id]
                added.append(QAPair(id=f"round{r - 1}:{ex.id}", query=query_of(ex), response=response_of(ex), correct=correct))
        self._pending_refs = added
        return threshold, len(added)

    def _apply_refs(self) -> None:
        for judge in self.judges():
            if isinstance(judge, MetaRankingFilter):
                judge.add_references(self._pending_refs)

    def _select(self, candidates: list[FilterDecision], examples: dict[str, InstructionExample], r: int) -> list[FilterDecision]:
        """De-duplicate and pick a budget: greedy by score + diversity * novelty."""
        sel = self.config.select
        assert sel is not None
        order = sorted(candidates, key=lambda d: (-(d.score or 0.0), d.example_id))
        if not order:
            return []
        embed = self.embedder or Embedder(sel.embedding_model)
        vectors = embed.encode([f"{query_of(examples[d.example_id])}\n{response_of(examples[d.example_id])}" for d in order])
        sims = vectors @ vectors.T
        reasons: dict[int, str] = {}
        # Pass 1, by score: an example too similar to a better one already kept is a duplicate.
        survivors: list[int] = []
        for i in range(len(order)):
            twin = max(survivors, key=lambda j: float(sims[i, j]), default=None)
            if sel.dedup_threshold is not None and twin is not None and float(sims[i, twin]) >= sel.dedup_threshold:
                reasons[i] = f"near-duplicate of {order[twin].example_id} (cosine {float(sims[i, twin]):.3f} >= {sel.dedup_threshold})"
            else:
                survivors.append(i)
        # Pass 2: fill the budget greedily by score and novelty (distance to those chosen).
        chosen: list[int] = []
        budget = sel.budget or len(survivors)
        while survivors and len(chosen) < budget:
            best = max(survivors, key=lambda i: (1 - sel.diversity) * (order[i].score or 0.0)
                       + sel.diversity * (1.0 - max((float(sims[i, j]) for j in chosen), default=0.0)))
            chosen.append(best)
            survivors.remove(best)
        for i in survivors:
            reasons[i] = f"outside the budget of {budget} examples"
        out = []
        for i, d in enumerate(order):
            why = reasons.get(i) or "selected"
            out.append(FilterDecision(example_id=d.example_id, round=r, kept=i in chosen, score=d.score,
                                      judgements=d.judgements, reasons=[f"select: {why}"]))
        return sorted(out, key=lambda d: d.example_id)

    def _commit(self, decisions: list[FilterDecision], r: int, seconds: float, usage: Usage) -> None:
        line = {"round": r, "examples": [d.example_id for d in decisions], "seconds": seconds, "usage": usage.model_dump()}
        self.commit_batch({DECISIONS: decisions}, line, [(r, d.example_id) for d in decisions])

    # -- run -----------------------------------------------------------------------------------

    def run(self, inputs: Sequence[str | os.PathLike[str]]) -> FilterSummary:
        """Filter (or resume filtering) ``inputs``; returns the summary also written to report.json.

        Raises:
            FolderBusyError: another command is writing the output folder.
        """
        started = time.perf_counter()
        loaded = load_examples(list(inputs), self.config.input.format)
        input_hash = _hash([[e.id, [m.model_dump() for m in e.messages]] for e in loaded.examples])
        with self.folder.lock():
            return self._run(loaded, input_hash, started)

    def _run(self, loaded: LoadedExamples, input_hash: str, started: float) -> FilterSummary:
        done = self.start(input_hash)
        write_jsonl(self.out / "rejects.jsonl", loaded.rejects)
        seconds: dict[int, float] = defaultdict(float)
        for line in self.folder.committed():
            seconds[line["round"]] += line.get("seconds", 0.0)
        examples = {e.id: e for e in loaded.examples}
        decisions = self._decisions()
        thresholds: dict[int, float] = {}
        added: dict[int, int] = {}
        bar = Progress("filter", "examples", 0, enabled=self.progress).start()
        try:
            candidates = [e.id for e in loaded.examples]
            for r in range(self.config.rounds):
                if r:
                    thresholds[r], added[r] = self._refresh(r, decisions[r - 1], examples)
                    candidates = [i for i in candidates if decisions[r - 1][i].kept]
                else:
                    thresholds[r], added[r] = self.config.combine.threshold, 0
                todo = [i for i in candidates if (r, i) not in done]
                bar.add_total(len(candidates))
                bar.advance(len(candidates) - len(todo))
                if todo:
                    self.judges()
                    self._apply_refs()
                for start in range(0, len(todo), self.config.batch_size):
                    batch = [examples[i] for i in todo[start : start + self.config.batch_size]]
                    before, t0 = self.usage(), time.perf_counter()
                    made = self._judge_batch(batch, r, thresholds[r])
                    spent = time.perf_counter() - t0
                    self._commit(made, r, spent, self.usage().since(before))
                    seconds[r] += spent
                    decisions[r].update({d.example_id: d for d in made})
                    bar.advance(len(batch))
            last = self.config.rounds - 1
            final = {i: decisions[last][i] for i in candidates}
            if self.config.select is not None:
                r = self.config.rounds
                if any((r, i) not in done for i in candidates if final[i].kept):
                    t0 = time.perf_counter()
                    made = self._select([final[i] for i in candidates if final[i].kept], examples, r)
                    self._commit(made, r, time.perf_counter() - t0, Usage())
                    seconds[r] += time.perf_counter() - t0
                    decisions[r].update({d.example_id: d for d in made})
        finally:
            bar.close()
        summary = self._finish(loaded, decisions, thresholds, added, seconds, time.perf_counter() - started)
        self.write_manifest(finished=True)
        for judge in self._judges or []:
            if hasattr(judge, "close"):
                judge.close()
        for llm in self._llms.values():
            llm.close()
        return summary

    # -- outputs -------------------------------------------------------------------------------

    def _finish(
        self, loaded: LoadedExamples, decisions: dict[int, dict[str, FilterDecision]], thresholds: dict[int, float],
        added: dict[int, int], seconds: dict[int, float], wall: float,
    ) -> FilterSummary:
        final: dict[str, FilterDecision] = {}
        for r in sorted(decisions):
            final.update(decisions[r])
        kept_rows, rejected_rows = [], []
        for ex in loaded.examples:
            d = final.get(ex.id)
            if d is None:
                raise KGJudgeError(f"example '{ex.id}' has no decision; the run did not finish")
            (kept_rows if d.kept else rejected_rows).append(self._row(ex, d))
        if len(kept_rows) + len(rejected_rows) + len(loaded.rejects) != loaded.total:
            raise KGJudgeError("kept + rejected + rejects differs from the input count")
        write_jsonl(self.out / "kept.jsonl", kept_rows)
        write_jsonl(self.out / "rejected.jsonl", rejected_rows)
        examples = {e.id: e for e in loaded.examples}
        self._write_parquet("kept.parquet", [(examples[r[FIELD]["id"]], r) for r in kept_rows])
        self._write_parquet("rejected.parquet", [(examples[r[FIELD]["id"]], r) for r in rejected_rows])
        rounds = [self._round_stats(r, decisions[r], thresholds.get(r), added.get(r, 0), seconds.get(r, 0.0)) for r in sorted(decisions)]
        usage = Usage()
        for line in self.folder.committed():
            usage.add(Usage.model_validate(line.get("usage", {})))
        summary = FilterSummary(
            out=str(self.out), inputs=loaded.total, malformed=len(loaded.rejects), examples=len(loaded.examples),
            kept=len(kept_rows), rejected=len(rejected_rows), rounds=rounds,
            formats=dict(Counter(e.source_format for e in loaded.examples)),
            judges=[j.type for j in self.config.judges], combine=self.config.combine.model_dump(),
            usage=usage, this_run=self.usage(), wall_seconds=wall,
            files={name: str(self.out / name) for name in (
                "kept.jsonl", "rejected.jsonl", "kept.parquet", "rejected.parquet", "decisions.jsonl",
                "rejects.jsonl", "report.json", "report.md", "scores.png")},
        )
        (self.out / "report.json").write_text(summary.model_dump_json(indent=2))
        (self.out / "report.md").write_text(format_report(summary))
        self._histogram(final)
        return summary

    def _row(self, ex: InstructionExample, d: FilterDecision) -> dict[str, Any]:
        record = dict(ex.metadata.get("record", {}))
        record[FIELD] = {
            "id": ex.id, "kept": d.kept, "round": d.round, "score": d.score, "source": ex.source, "line": ex.line,
            "judges": {j.judge: {"score": j.score, "label": j.label, "threshold": j.threshold,
                                 "model": j.model.model_dump() if j.model else None} for j in d.judgements},
            "reasons": d.reasons,
        }
        return record

    def _write_parquet(self, name: str, rows: list[tuple[InstructionExample, dict[str, Any]]]) -> None:
        pa = require("pyarrow", "filter")
        pq = require("pyarrow.parquet", "filter")
        message = pa.struct([("role", pa.string()), ("content", pa.string())])
        schema = pa.schema([
            ("id", pa.string()), ("source_format", pa.string()), ("messages", pa.list_(message)),
            ("record", pa.string()), ("kept", pa.bool_()), ("round", pa.int64()), ("score", pa.float64()),
            ("judges", pa.string()), ("reasons", pa.list_(pa.string())),
        ])
        table = pa.Table.from_pylist([
            {"id": ex.id, "source_format": ex.source_format, "messages": [m.model_dump() for m in ex.messages],
             "record": json.dumps({k: v for k, v in row.items() if k != FIELD}, ensure_ascii=False),
             "kept": row[FIELD]["kept"], "round": row[FIELD]["round"], "score": row[FIELD]["score"],
             "judges": json.dumps(row[FIELD]["judges"]), "reasons": row[FIELD]["reasons"]}
            for ex, row in rows
        ], schema=schema)
        pq.write_table(table, self.out / name)

    def _round_stats(self, r: int, made: dict[str, FilterDecision], threshold: float | None, added: int, seconds: float) -> RoundStats:
        per: dict[str, list[Judgement]] = defaultdict(list)
        for d in made.values():
            for j in d.judgements:
                per[j.judge].append(j)
        is_select = r == self.config.rounds
        return RoundStats(
            round=r, candidates=len(made), kept=sum(d.kept for d in made.values()),
            rejected=sum(not d.kept for d in made.values()), threshold=None if is_select else threshold,
            references_added=added, seconds=seconds,
            judges={} if is_select else {
                name: {"judged": len(js), "passed": sum(j.label for j in js), "mean_score": sum(j.score for j in js) / len(js)}
                for name, js in sorted(per.items())
            },
        )

    def _histogram(self, final: dict[str, FilterDecision]) -> None:
        require("matplotlib", "filter")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        series: dict[str, list[float]] = {"combined": []}
        for d in final.values():
            series["combined"].append(d.score or 0.0)
            for j in d.judgements:
                series.setdefault(j.judge, []).append(j.score)
        fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3), squeeze=False)
        for ax, (name, values) in zip(axes[0], series.items()):
            ax.hist(values, bins=20, range=(0, 1))
            ax.set_title(name)
            ax.set_xlabel("score")
        axes[0][0].set_ylabel("examples")
        fig.tight_layout()
        fig.savefig(self.out / "scores.png", dpi=80)
        plt.close(fig)


def format_report(s: FilterSummary) -> str:
    """The Markdown report of a run."""
    lines = [
        "# Filter report", "",
        f"Inputs: {s.inputs} records: {s.examples} examples ({', '.join(f'{k} {v}' for k, v in sorted(s.formats.items()))}), "
        f"{s.malformed} malformed (rejects.jsonl).", "",
        f"**Kept {s.kept}**, rejected {s.rejected}. Judges: {', '.join(s.judges)}; combination: {s.combine['rule']}.", "",
        "| round | candidates | kept | rejected | threshold | references added | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in s.rounds:
        threshold = "select" if r.threshold is None else f"{r.threshold:.3f}"
        lines.append(f"| {r.round} | {r.candidates} | {r.kept} | {r.rejected} | {threshold} | {r.references_added} | {r.seconds:.1f} |")
    lines += ["", "| round | judge | judged | passed | mean score |", "|---|---|---|---|---|"]
    for r in s.rounds:
        for name, st in r.judges.items():
            lines.append(f"| {r.round} | {name} | {st['judged']:.0f} | {st['passed']:.0f} | {st['mean_score']:.3f} |")
    u, t = s.usage, s.this_run
    lines += [
        "", f"Model requests over all runs: {u.requests} ({u.model_calls} model calls, {u.cache_hits} cache hits, "
        f"{u.model_seconds:.1f} s in the model).",
        f"This run: {t.model_calls} model calls, {t.cache_hits}/{t.requests} cache hits, wall {s.wall_seconds:.1f} s.",
        "", "![scores](scores.png)", "",
    ]
    return "\n".join(lines)


def filter_examples(inputs: Sequence[str | os.PathLike[str]], config_path: str | os.PathLike[str], out: str | os.PathLike[str], **kwargs: Any) -> FilterSummary:
    """Run the filter of a config file over ``inputs`` into ``out``; see :class:`Filter`."""
    base, config = load_filter_config(config_path)
    return Filter(base, config, out, **kwargs).run(inputs)
