"""What the API answers, without HTTP: search, capped neighbourhoods, facts, documents,
questions, judging, curation and the runs view, over one :class:`ServedFolder`.

Nothing here reads a whole graph: entity pages come from :meth:`GraphStore.triples_of`, every
list has a cap, and only the entity names are held in memory (for search, as GraphRAG's linking
holds them).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from kgjudge import __version__
from kgjudge._errors import ConfigError, InputError, KGJudgeError
from kgjudge._inputs import Reject
from kgjudge._records import CurationDecision, FilterDecision, Judgement, Triple
from kgjudge._rag_config import LinkingConfig
from kgjudge.graph import (
    Answer,
    EntityIndex,
    GraphStore,
    StoredTriple,
    StoreStats,
    build_store,
    confidence,
    normalise_name,
)
from kgjudge.llm import LLM, Usage, llm_from_config
from kgjudge.serve._curation import CurationLog, decide
from kgjudge.serve._folder import LineIndex, RunFiles, ServedFolder, output_folder_lock, read_run
from kgjudge.serve._models import (
    CurationRequest,
    CurationResult,
    DocumentInfo,
    DocumentView,
    EntityMatch,
    EntitySearch,
    Fact,
    FactDetail,
    HistogramBin,
    JudgeRequest,
    Limits,
    Neighbourhood,
    RejectedInput,
    RejectedInputs,
    RejectedPage,
    RunInfo,
    RunSummary,
    ServerInfo,
)

HISTOGRAM_BINS = 20
Source = Literal["store", "build_rejected"]


class NotFoundError(KGJudgeError):
    """A triple, entity, document or run that does not exist (HTTP 404)."""


class ForbiddenError(KGJudgeError):
    """A write to a server started read-only (HTTP 403)."""


WRITES = frozenset({"upsert", "upsert_entities", "set_embeddings", "delete_document", "delete_triples", "clear", "close",
                    "reload", "flush", "prune"})


class LockedStore:
    """A store shared by the server's threads: writes hold one lock, and so do reads unless the
    store allows concurrent reads (:attr:`GraphStore.concurrent_reads`; the networkx store is
    plain Python and does not). An iterator returned under the lock is read whole before the
    lock is let go. Model calls never hold it, so a slow question blocks no other request.
    """

    def __init__(self, store: GraphStore, lock: threading.RLock) -> None:
        self._store = store
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value) or (self._store.concurrent_reads and name not in WRITES):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                result = value(*args, **kwargs)
                return iter(list(result)) if isinstance(result, Iterator) else result

        return call


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def to_fact(st: StoredTriple, unjudged: float, source: Source = "store") -> Fact:
    """The explorer's view of a stored triple."""
    return Fact(triple=st.triple, judgements=st.judgements, confidence=round(confidence(st, unjudged), 4),
                rejected=st.rejected(), curated=st.curation() is not None, source=source)


def histogram(scores: Sequence[float], bins: int = HISTOGRAM_BINS) -> list[HistogramBin]:
    """Counts of ``scores`` in ``bins`` equal bins over [0, 1]."""
    counts = [0] * bins
    for s in scores:
        counts[min(bins - 1, max(0, int(s * bins)))] += 1
    return [HistogramBin(start=round(i / bins, 4), end=round((i + 1) / bins, 4), count=c) for i, c in enumerate(counts)]


class Explorer:
    """The server's state: the store (behind one lock), the name index for search, the model
    clients (built on first use), the decision log and the run folders.

    Args:
        folder: what is shown.
        runs: more run folders for the runs view (the build itself comes first).
        allow_edit: accept curation decisions.
        limits: the caps.
    """

    def __init__(self, folder: ServedFolder, runs: Sequence[RunFiles] = (), *, allow_edit: bool = False,
                 limits: Limits) -> None:
        self.folder = folder
        self.allow_edit = allow_edit
        self.limits = limits
        self.runs = ([folder.run] if folder.run is not None else []) + list(runs)
        self.rag = folder.open_rag(read_only=not allow_edit)
        self._store_lock = threading.RLock()
        self.store = LockedStore(self.rag.store, self._store_lock)
        self.rag.store = self.store  # type: ignore[assignment]
        self.unjudged = self.rag.config.ranking.unjudged_confidence
        self.log = CurationLog(folder.curation_log) if folder.curation_log is not None else None
        self._write_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._names: EntityIndex | None = None
        self._stats: StoreStats | None = None
        self._rejected: GraphStore | None = None
        self._llms: dict[str, LLM] = {}
        self._judge: Any = None
        self._files: dict[str, LineIndex] = {}
        self._summaries: dict[int, tuple[tuple[Any, ...], RunSummary]] = {}
        self._revision = folder.revision()

    def close(self) -> None:
        """Close the store and every model client."""
        for llm in self._llms.values():
            llm.close()
        self.rag.use_llm(None)
        self.rag.close()
        if self._rejected is not None:
            self._rejected.close()

    def follow(self) -> bool:
        """Take in what another command (a build that grew the folder, a removal, a new judge)
        committed since the last request: the store reads its file again where it keeps a copy,
        and counts, the name index, the rejected triples and GraphRAG's indexes are read anew.
        Costs one ``stat`` when nothing changed. Returns whether something had."""
        revision = self.folder.revision()
        if revision == self._revision:
            return False
        with self._write_lock:
            if revision == self._revision:
                return False
            self.store.reload()
            self._stats = None
            with self._index_lock:
                self._names = None
                rejected, self._rejected = self._rejected, None
            if rejected is not None:
                rejected.close()
            self.rag.refresh()
            self.folder.reread_config()
            self._judge = None
            self._revision = revision
        return True

    # -- info and statistics -------------------------------------------------------------------

    def info(self) -> ServerInfo:
        config = self.folder.config
        judge = config.judge
        backend = config.backends.get(self.rag.config.backend)
        store = getattr(self.rag.store, "name", "store")
        return ServerInfo(
            version=__version__, source="build" if self.folder.out is not None else "store", name=self.folder.name,
            store=store, allow_edit=self.allow_edit, documents=self.folder.documents is not None,
            judge=getattr(judge, "type", None), model=getattr(backend, "type", None),
            curation_log=self.log is not None,
            runs=[RunInfo(index=i, kind=r.kind, folder=str(r.path)) for i, r in enumerate(self.runs)],
            limits=self.limits,
        )

    def stats(self) -> StoreStats:
        """The store's counts (cached until the next curation write)."""
        if self._stats is None:
            self._stats = self.store.stats()
        return self._stats

    # -- search --------------------------------------------------------------------------------

    def _index(self) -> EntityIndex:
        with self._index_lock:
            if self._names is None:
                # GraphRAG's linking by spelling (names, aliases, misspellings); embeddings are
                # for questions, a search box matches what was typed.
                linking = LinkingConfig.model_validate({**self.rag.config.linking.model_dump(), "embeddings": False,
                                                        "max_entities": self.limits.max_search})
                self._names = EntityIndex(self.store.iter_entities(), linking)
            return self._names

    def search(self, query: str, limit: int) -> EntitySearch:
        """Entities for a search box: linked as ``kgjudge query`` links a question (exact names,
        aliases, misspellings), then names that start with or contain the query."""
        index = self._index()
        found: dict[str, EntityMatch] = {}
        for link in index.link(query):
            found.setdefault(link.name, EntityMatch(name=link.name, matched=link.matched, method=link.method,
                                                    score=round(link.score, 4), degree=0))
        key = normalise_name(query)
        if key:
            keys = index.keys
            prefixed = []
            for i in range(bisect.bisect_left(keys, key), len(keys)):
                if not keys[i].startswith(key) or len(prefixed) >= limit * 4:
                    break
                prefixed.append(keys[i])
            contained = list(islice((k for k in keys if key in k and not k.startswith(key)), limit * 4))
            for k, method, score in [*((k, "prefix", 0.75) for k in prefixed), *((k, "substring", 0.5) for k in contained)]:
                for name, surface, _alias in index.by_key[k]:
                    found.setdefault(name, EntityMatch(name=name, matched=surface, method=method, score=score, degree=0))
        ranked = sorted(found.values(), key=lambda m: (-m.score, len(m.name), m.name))[:limit]
        return EntitySearch(query=query, hits=[m.model_copy(update={"degree": self.store.degree(m.name)}) for m in ranked])

    # -- graph ---------------------------------------------------------------------------------

    def _rejected_store(self) -> GraphStore | None:
        """The triples the build's judge rejected (``rejected.jsonl``), in an in-memory store
        read on first use; None without a build folder."""
        path = self.folder.build_file("rejected")
        if path is None or not path.is_file():
            return None
        with self._index_lock:
            if self._rejected is None:
                from kgjudge.stages import JudgedTriple

                store = build_store({"type": "rdf.v1", "path": None})
                batch: list[JudgedTriple] = []
                for value in self._file(path).scan():
                    try:
                        batch.append(JudgedTriple.model_validate(value))
                    except ValueError:
                        continue
                store.upsert([j.triple for j in batch], [j.judgement for j in batch])
                self._rejected = LockedStore(store, threading.RLock())  # type: ignore[assignment]
            return self._rejected

    def _facts(self, found: Sequence[StoredTriple], source: Source = "store") -> list[Fact]:
        return [to_fact(st, self.unjudged, source) for st in found]

    def neighbourhood(self, name: str, *, hops: int, limit: int, offset: int = 0, rejected: bool = False) -> Neighbourhood:
        """The facts within ``hops`` of ``name``, at most ``limit`` of them.

        The entity's own page (from ``offset``) comes first; every entity reached shares what
        is left of the cap. ``more`` counts the triples of each expanded entity not shown.

        Raises:
            NotFoundError: no such entity.
        """
        side = self._rejected_store() if rejected else None
        if self.store.get_entity(name) is None and (side is None or side.get_entity(name) is None):
            raise NotFoundError(f"no entity named {name!r}")
        facts: dict[str, Fact] = {}
        more: dict[str, int] = {}
        seen = {name}
        frontier = [name]
        hidden = 0
        truncated = False
        for hop in range(hops):
            reached: list[str] = []
            for i, node in enumerate(frontier):
                left = limit - len(facts)
                if left <= 0:
                    truncated = True
                    break
                # The first entity may fill the page when alone; the others share what is left.
                share = left if hop == 0 else max(3, left // (len(frontier) - i))
                start = offset if hop == 0 else 0
                page = self.store.triples_of(node, offset=start, limit=share)
                remaining = self.store.degree(node) - start - len(page)
                if remaining > 0:
                    more[node] = remaining
                found = self._facts(page)
                if side is not None:
                    extra = side.triples_of(node, limit=share)
                    kept = {st.triple.id for st in self.store.get_triples([st.triple.id for st in extra])}
                    found += self._facts([st for st in extra if st.triple.id not in kept], "build_rejected")
                for fact in found:
                    if fact.rejected and not rejected:
                        hidden += 1
                        continue
                    facts.setdefault(fact.triple.id, fact)
                    for end in (fact.triple.head, fact.triple.tail):
                        if end not in seen:
                            seen.add(end)
                            reached.append(end)
            frontier = reached
            if truncated or not frontier:
                break
        names = sorted({name} | {e for f in facts.values() for e in (f.triple.head, f.triple.tail)})
        entities = {e.name: e for e in self.store.get_entities(names)}
        if side is not None:
            missing = [n for n in names if n not in entities]
            entities.update({e.name: e for e in side.get_entities(missing)})
        ordered = sorted(facts.values(), key=lambda f: f.triple.id)
        return Neighbourhood(entity=name, hops=hops, offset=offset, entities=[entities[n] for n in names if n in entities],
                             facts=ordered, more=more, truncated=truncated, hidden_rejected=hidden)

    def _stored(self, triple_id: str) -> tuple[StoredTriple, Source] | None:
        found = self.store.get_triples([triple_id])
        if found:
            return found[0], "store"
        side = self._rejected_store()
        if side is not None:
            found = side.get_triples([triple_id])
            if found:
                return found[0], "build_rejected"
        return None

    def fact(self, triple_id: str) -> FactDetail:
        """A triple with its judgements, document and decisions.

        Raises:
            NotFoundError: no such triple.
        """
        stored = self._stored(triple_id)
        if stored is None:
            raise NotFoundError(f"no triple with id {triple_id!r}")
        st, source = stored
        document = None
        if st.triple.document_id is not None:
            doc = self.folder.document(st.triple.document_id)
            if doc is not None:
                document = DocumentInfo(id=doc.id, source=doc.source, line=doc.line, length=len(doc.text))
        decisions = self.log.about(triple_id) if self.log is not None else []
        return FactDetail(fact=to_fact(st, self.unjudged, source), document=document, decisions=decisions)

    def document(self, document_id: str, *, offset: int, length: int) -> DocumentView:
        """A window of a document and the facts whose evidence lies in it.

        Raises:
            NotFoundError: no such document (or no documents: a config's store has none).
        """
        if self.folder.documents is None:
            raise NotFoundError("no documents: the server shows a store, not a build output folder")
        doc = self.folder.document(document_id)
        if doc is None:
            raise NotFoundError(f"no document with id {document_id!r}")
        offset = min(offset, len(doc.text))
        text = doc.text[offset : offset + length]
        end = offset + len(text)
        cap = self.limits.max_facts
        page = list(islice(self.store.iter_triples(document_id), cap + 1))
        inside = [st for st in page[:cap] if st.triple.evidence is None
                  or (st.triple.evidence.end >= offset and st.triple.evidence.start <= end)]
        return DocumentView(document=DocumentInfo(id=doc.id, source=doc.source, line=doc.line, length=len(doc.text)),
                            offset=offset, text=text, facts=self._facts(inside), more_facts=len(page) > cap)

    # -- models --------------------------------------------------------------------------------

    def _llm(self, backend: str) -> LLM:
        if backend not in self._llms:
            self._llms[backend] = llm_from_config(self.folder.config, backend)
        return self._llms[backend]

    def query(self, question: str, mode: str) -> Answer:
        """Answer a question with GraphRAG (a model call: run it off the event loop)."""
        if self.rag.llm is None:
            self.rag.use_llm(self._llm(self.rag.config.backend))
        return self.rag.query(question, mode)  # type: ignore[arg-type]

    def judge(self, request: JudgeRequest) -> Judgement:
        """Judge one triple against a document with the configured judge (a model call).

        Raises:
            ConfigError: the config has no ``judge:`` section.
            NotFoundError: an unknown triple or document id.
            InputError: neither a triple id nor head, relation and tail; or no text to judge against.
        """
        slot = self.folder.config.judge
        if slot is None:
            raise ConfigError("the config has no judge: section, so nothing can be judged here", key="judge")
        if request.triple_id is not None:
            stored = self._stored(request.triple_id)
            if stored is None:
                raise NotFoundError(f"no triple with id {request.triple_id!r}")
            triple = stored[0].triple
        elif request.head and request.relation and request.tail:
            triple = Triple(head=request.head, relation=request.relation, tail=request.tail,
                            document_id=request.document_id)
        else:
            raise InputError("give triple_id, or head, relation and tail")
        doc_id = request.document_id or triple.document_id
        text = request.text
        if text is None and doc_id is not None:
            doc = self.folder.document(doc_id)
            if doc is None:
                raise NotFoundError(f"no document with id {doc_id!r}")
            text = doc.text
        if text is None:
            raise InputError("no document to judge against: give text, or a document_id of the build")
        key = doc_id or "given text"
        if self._judge is None:
            from kgjudge.judges import build_judge

            self._judge = build_judge(slot, self._llm(slot.backend))  # type: ignore[attr-defined]
        [judgement] = self._judge.judge_sync([triple.model_copy(update={"document_id": key})], {key: text})
        return judgement.model_copy(update={"target_id": triple.id})

    # -- curation ------------------------------------------------------------------------------

    def curate(self, triple_id: str, request: CurationRequest) -> CurationResult:
        """Apply a person's decision to the store and log it.

        Raises:
            ForbiddenError: the server is read-only, or has nowhere to log decisions.
            NotFoundError: no such triple.
            InputError: a correction that changes nothing.
        """
        if not self.allow_edit:
            raise ForbiddenError("the server is read-only: start it with --allow-edit to curate")
        if self.log is None:
            raise ForbiddenError("no decision log: start the server with --curation-log FILE to curate a config's store")
        with self._write_lock, output_folder_lock(self.folder):
            stored = self._stored(triple_id)
            if stored is None:
                raise NotFoundError(f"no triple with id {triple_id!r}")
            decision, triples, judgements = decide(stored[0], request)
            self.store.upsert(triples, judgements)
            self.log.append(decision)
            self._stats = None
            with self._index_lock:
                self._names = None
            self.rag.refresh()
        changed = self.store.get_triples([t.id for t in triples])
        return CurationResult(decision=decision, facts=self._facts(changed))

    # -- runs ----------------------------------------------------------------------------------

    def _run(self, index: int) -> RunFiles:
        if not 0 <= index < len(self.runs):
            raise NotFoundError(f"no run number {index} (there are {len(self.runs)})")
        return self.runs[index]

    def _file(self, path: Any) -> LineIndex:
        key = str(path)
        if key not in self._files:
            self._files[key] = LineIndex(path)
        return self._files[key]

    def run_summary(self, index: int) -> RunSummary:
        """Counts, usage and score histograms of a run (from its manifest and files; read again
        only when one of them changed)."""
        run = self._run(index)
        stamp = tuple(_stamp(run.file(n)) for n in ("manifest", "progress", "judgements", "decisions", "rejected", "rejects"))
        cached = self._summaries.get(index)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        summary = self._summarise(index, run)
        self._summaries[index] = (stamp, summary)
        return summary

    def _summarise(self, index: int, run: RunFiles) -> RunSummary:
        manifest = run.current_manifest()
        usage: dict[str, Usage] = {}
        scores: dict[str, list[float]] = {}
        if run.kind == "build":
            summary = manifest.get("summary") or {}
            counts = {k: v for k, v in summary.items() if not isinstance(v, dict)}
            for line in run.progress():
                for stage, found in (line.get("usage") or {}).items():
                    usage.setdefault(stage, Usage()).add(Usage.model_validate(found))
            for row in self._file(run.file("judgements")).scan():
                judgement = row.get("judgement") if isinstance(row, dict) else None
                if isinstance(judgement, dict) and isinstance(judgement.get("score"), (int, float)):
                    scores.setdefault(str(judgement.get("judge")), []).append(float(judgement["score"]))
            rejected = len(self._file(run.file("rejected")))
            prompts = manifest.get("prompt_versions") or {}
        else:
            report = run.report() or {}
            counts = {k: v for k, v in report.items() if not isinstance(v, (dict, list))}
            if isinstance(report.get("usage"), dict):
                usage["filter"] = Usage.model_validate(report["usage"])
            final = self._final_decisions(run)
            for d in final.values():
                scores.setdefault("combined", []).append(d.score or 0.0)
                for j in d.judgements:
                    scores.setdefault(j.judge, []).append(j.score)
            rejected = sum(not d.kept for d in final.values())
            prompts = {}
        return RunSummary(
            index=index, kind=run.kind, folder=str(run.path), finished=bool(manifest.get("finished")), counts=counts,
            usage=usage, prompt_versions=prompts, histograms={k: histogram(v) for k, v in sorted(scores.items())},
            rejected_inputs=len(self._file(run.file("rejects"))), rejected=rejected,
        )

    def _final_decisions(self, run: RunFiles) -> dict[str, FilterDecision]:
        final: dict[str, FilterDecision] = {}
        for value in self._file(run.file("decisions")).scan():
            try:
                d = FilterDecision.model_validate(value)
            except ValueError:
                continue
            if d.example_id not in final or d.round >= final[d.example_id].round:
                final[d.example_id] = d
        return final

    def rejected_inputs(self, index: int, *, offset: int, limit: int) -> RejectedInputs:
        """A page of the inputs a run could not read (rejects.jsonl), each with its reason."""
        lines = self._file(self._run(index).file("rejects"))
        items = []
        for n, value in lines.page(offset, limit):
            try:
                items.append(RejectedInput(index=n, reject=Reject.model_validate(value)))
            except ValueError:
                continue
        return RejectedInputs(total=len(lines), offset=offset, items=items)

    def rejected(self, index: int, *, offset: int, limit: int) -> RejectedPage:
        """A page of what a run's judges rejected: triples (build) or example decisions (filter)."""
        run = self._run(index)
        if run.kind == "build":
            from kgjudge.stages import JudgedTriple

            lines = self._file(run.file("rejected"))
            facts = []
            for _, value in lines.page(offset, limit):
                try:
                    jt = JudgedTriple.model_validate(value)
                except ValueError:
                    continue
                facts.append(to_fact(StoredTriple(triple=jt.triple, judgements=[jt.judgement]), self.unjudged,
                                     "build_rejected"))
            return RejectedPage(total=len(lines), offset=offset, facts=facts)
        refused = sorted((d for d in self._final_decisions(run).values() if not d.kept), key=lambda d: d.example_id)
        return RejectedPage(total=len(refused), offset=offset, decisions=refused[offset : offset + limit])


DEFAULT_LIMITS = Limits(max_hops=3, max_facts=500, max_search=50, max_text=100_000, max_body=64 * 1024)


def open_explorer(
    out: str | Path | None,
    config: str | Path | None = None,
    *,
    runs: Sequence[str | Path] = (),
    allow_edit: bool = False,
    curation_log: str | Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Explorer:
    """The server state for a build output folder (``out``) or a config's store (``config``).

    Raises:
        ConfigError: neither was given.
        InputError: ``out`` or a run folder is not a kgjudge output.
    """
    if out is None and config is None:
        raise ConfigError("give a build output folder (--out) or a config with a store (--config)")
    folder = ServedFolder(out, config, curation_log)
    return Explorer(folder, [read_run(r) for r in runs], allow_edit=allow_edit, limits=limits)
