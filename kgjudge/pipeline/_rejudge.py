"""``kgjudge rejudge``: judge a build's stored triples again (a new adapter, a new threshold,
another judge) without extracting anything.

The new judge section comes from a config file (its ``judge:`` section and the backend it
names; the build's own judge when none is given). When it differs from the build's judge only
in settings that decide from a score (``threshold``, ``keep_top_k``, ...: each judge config's
``decision_fields``), the stored scores are decided again and no model is called. Otherwise the
judge runs over every extracted triple, document batch by document batch; each batch's
judgements are appended to ``.rejudge.jsonl``, so a run cut off resumes where it stopped. When
every triple is judged, one journalled step replaces the judgements in the files (judgements,
kept triples, rejected triples) and in the store (triples now rejected leave it, triples now
kept enter it; people's decisions still overrule), and the manifest's config takes the new
judge section.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Hashable, Sequence
from typing import Any

from pydantic import BaseModel

from kgjudge._build_folder import REJUDGE
from kgjudge._config import KGJudgeConfig, backend_of, config_to_dict, parse_config, read_yaml
from kgjudge._errors import ConfigError
from kgjudge._jsonl import write_jsonl
from kgjudge._progress import Progress
from kgjudge._records import Judgement, Triple
from kgjudge.judges import build_judge, load_judge_file
from kgjudge.llm import LLM, LLMBackend, Usage, build_backend, build_cache
from kgjudge.pipeline._folder_run import FolderRun, folder_config, read_staged
from kgjudge.pipeline._shape import judge_part, stage_backends
from kgjudge.pipeline._store_view import store_view
from kgjudge.stages import JudgedTriple


class RejudgeSummary(BaseModel):
    """What a rejudge did."""

    out: str
    judge: str
    scores_kept: bool
    judged: int
    kept: int
    rejected: int
    labels_changed: int
    this_run: Usage
    wall_seconds: float


def with_judge(config: KGJudgeConfig, judge_file: str | os.PathLike[str]) -> KGJudgeConfig:
    """``config`` with the ``judge:`` section of ``judge_file`` and the backend it names (its
    ``cache:`` too, when the file has one). A backend of the same name that the extraction
    stages use with other settings is kept for them; the judge's is added as ``<name>-judge``.

    Raises:
        ConfigError: the file has no valid judge section, or it names a backend it lacks.
    """
    base, slot = load_judge_file(judge_file)
    name = slot.backend  # type: ignore[attr-defined]
    wanted = base.backends[name]
    backends = dict(config.backends)
    if name in stage_backends(config) and backends[name].model_dump(mode="json") != wanted.model_dump(mode="json"):
        new_name = f"{name}-judge"
        while new_name in backends and backends[new_name].model_dump(mode="json") != wanted.model_dump(mode="json"):
            new_name += "-judge"
        slot = slot.model_copy(update={"backend": new_name})
        name = new_name
    backends[name] = wanted
    data = config_to_dict(config)
    data["backends"] = {n: s.model_dump(mode="json", exclude_unset=True) for n, s in backends.items()}
    data["judge"] = slot.model_dump(mode="json", exclude_unset=True) | {"type": slot.type, "backend": name}  # type: ignore[attr-defined]
    raw = read_yaml(judge_file)
    if isinstance(raw, dict) and "cache" in raw:
        data["cache"] = base.cache.model_dump(mode="json", exclude_unset=True)
    return parse_config(data, file=str(judge_file))


class Rejudge(FolderRun):
    """Judge a build's extracted triples again with the build's judge or another one.

    Args:
        out: the build output folder.
        judge_file: a config file with a ``judge:`` section; the build's own judge when None.
        progress: show a progress bar on stderr.
        backends: already-built backends by name, used instead of building the config's.

    Example:
        >>> Rejudge("out/demo", "configs/judges/graphjudger-smollm2.yaml").run()
    """

    command = "rejudge"

    def __init__(
        self,
        out: str | os.PathLike[str],
        judge_file: str | os.PathLike[str] | None = None,
        *,
        progress: bool = True,
        backends: dict[str, LLMBackend] | None = None,
    ) -> None:
        super().__init__(None, out)
        # While a judge is being applied the folder's config is already the new one; the judge
        # it is replacing is the manifest's.
        self.old = self.folder.config()
        self.new = with_judge(self.config, judge_file) if judge_file is not None else self.config
        self.key = hashlib.sha256(json.dumps(judge_part(self.new), sort_keys=True).encode()).hexdigest()[:16]
        self.judge_file = str(judge_file) if judge_file is not None else None
        self.progress = progress
        self.given = backends or {}
        self.finished_by_recovery = False

    def recover(self) -> list[Hashable]:
        entry = self.folder.pending()
        undone = super().recover()
        if entry is not None and entry.get("op") == "rejudge" and entry.get("key") == self.key:
            # This very rejudge was cut off while it was applied; applying it was all it had left.
            self.finished_by_recovery = True
        return undone

    def check(self) -> None:
        if self.new.judge is None:
            raise ConfigError("the build has no judge: give a config file with a 'judge:' section",
                              file=self.judge_file, key="judge")

    def run(self) -> RejudgeSummary:
        """Judge again and replace the decisions in the files and the store.

        Raises:
            FolderBusyError: another command is writing the folder.
            ConfigError: no judge section, or an unknown backend.
        """
        started = time.perf_counter()
        return self.execute(lambda: self._run(started))

    def _scores_kept(self, extracted: Sequence[Triple], judged: dict[str, Judgement]) -> bool:
        """Whether the new judge is the old one with other decision settings only, and every
        triple has its stored judgement."""
        old, new = self.old.judge, self.new.judge
        if old is None or new is None or type(old) is not type(new) or not hasattr(new, "redecide"):
            return False
        fields = getattr(type(new), "decision_fields", frozenset())
        a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
        if any(a.get(k) != b.get(k) for k in set(a) | set(b) if k not in fields and k != "backend"):
            return False
        old_backend = backend_of(self.old.backends, old.backend, key="judge.backend").model_dump(mode="json")  # type: ignore[attr-defined]
        new_backend = backend_of(self.new.backends, new.backend, key="judge.backend").model_dump(mode="json")  # type: ignore[attr-defined]
        if old_backend != new_backend or a == b:
            return False
        return all(t.id in judged and judged[t.id].judge == getattr(old, "type", "") for t in extracted)

    def _run(self, started: float) -> RejudgeSummary:
        folder = self.folder
        if self.finished_by_recovery:
            judged = [JudgedTriple.model_validate(r) for r in folder.rows(folder.file("judgements"))]
            kept = sum(1 for j in judged if j.judgement.label)
            return RejudgeSummary(out=str(self.out), judge=getattr(self.new.judge, "type", ""), scores_kept=False,
                                  judged=len(judged), kept=kept, rejected=len(judged) - kept, labels_changed=0,
                                  this_run=Usage(), wall_seconds=time.perf_counter() - started)
        view = store_view(folder)
        by_doc: dict[str, list[Triple]] = {}
        for triple in view.extracted.values():
            by_doc.setdefault(triple.document_id or "", []).append(triple)
        documents = [d for d in self.ledger.documents if d in by_doc]
        scores_kept = self._scores_kept(list(view.extracted.values()), view.judged)
        assert self.new.judge is not None
        new_name = self.new.judge.type  # type: ignore[attr-defined]
        old_name = getattr(self.old.judge, "type", None)
        run = self.begin_run(judge=new_name, previous_judge=old_name, scores_kept=scores_kept)
        header = {"rejudge": self.key, "lines": self.ledger.lines}
        staged = list(folder.rows(REJUDGE))
        if staged and all(staged[0].get(k) == v for k, v in header.items()):
            # The same judge over the same build, cut off: what it staged stands.
            done = {d for line in staged[1:] for d in line.get("documents") or []}
        else:
            write_jsonl(folder.out / REJUDGE, [header])
            done = set()
        todo = [d for d in documents if d not in done]
        this_run = Usage()
        if scores_kept and todo:
            new_judge = self.new.judge
            batch = []
            for doc in todo:
                triples = by_doc[doc]
                for t, j in zip(triples, new_judge.redecide(triples, [view.judged[t.id] for t in triples])):  # type: ignore[attr-defined]
                    batch.append(JudgedTriple(document_id=doc, triple=t, judgement=j))
            write_jsonl(folder.out / REJUDGE, [{"documents": todo, "judged": [j.model_dump(mode="json") for j in batch]}], append=True)
        elif todo:
            this_run = self._judge(todo, by_doc)
        judged = [j for batch in read_staged(folder) for j in batch]
        changed = sum(1 for j in judged if j.triple.id not in view.judged or view.judged[j.triple.id].label != j.judgement.label)
        entry = folder.begin({"op": "rejudge", "key": self.key, "judge": new_name, "replace_judgements": old_name != new_name,
                              "run": run, "usage": {"judge": this_run.model_dump()} if this_run.requests else {},
                              "config": config_to_dict(self.new)})
        self.config = self.new
        self.apply_rejudge(entry, judged, view)
        if this_run.requests:
            self.ledger.runs.setdefault(run, {}).setdefault("judge", Usage()).add(this_run)
            self.ledger.usage.setdefault("judge", Usage()).add(this_run)
        kept = sum(1 for j in judged if j.judgement.label)
        previous: dict[str, Any] = (folder.manifest() or {}).get("summary") or {}
        wall = time.perf_counter() - started
        self.finish_run(wall, summary={**previous, **self.summary_counts()})
        return RejudgeSummary(out=str(self.out), judge=new_name, scores_kept=scores_kept, judged=len(judged), kept=kept,
                              rejected=len(judged) - kept, labels_changed=changed, this_run=this_run, wall_seconds=wall)

    def _judge(self, documents: list[str], by_doc: dict[str, list[Triple]]) -> Usage:
        """Judge the triples of ``documents`` batch by batch, appending each batch to the
        staging file; returns the usage."""
        if not documents:
            return Usage()
        slot = self.new.judge
        assert slot is not None
        backend_name = slot.backend  # type: ignore[attr-defined]
        backend = self.given.get(backend_name) or build_backend(
            backend_of(self.new.backends, backend_name, key="judge.backend"), key=f"backends.{backend_name}")
        llm = LLM(backend, build_cache(self.new.cache))
        judge = build_judge(slot, llm)
        wanted = set(documents)
        texts = {r["id"]: r["text"] for r in self.folder.rows(self.folder.file("documents")) if r.get("id") in wanted}
        size = self.new.pipeline.batch_size
        bar = Progress("rejudge", "documents", len(documents), enabled=self.progress).start()
        try:
            for start in range(0, len(documents), size):
                docs = documents[start : start + size]
                triples = [t for d in docs for t in by_doc[d]]
                judgements = llm.run_sync(judge.judge(triples, {d: texts[d] for d in docs}))
                judged = [JudgedTriple(document_id=t.document_id or "", triple=t, judgement=j)
                          for t, j in zip(triples, judgements)]
                write_jsonl(self.folder.out / REJUDGE, [{"documents": docs, "judged": [j.model_dump(mode="json") for j in judged]}], append=True)
                bar.advance(len(docs))
        finally:
            bar.close()
            llm.close()
        return llm.usage


def rejudge(out: str | os.PathLike[str], judge_file: str | os.PathLike[str] | None = None, **kwargs: Any) -> RejudgeSummary:
    """Judge the triples of the build in ``out`` again; see :class:`Rejudge`."""
    return Rejudge(out, judge_file, **kwargs).run()

