"""Reading gold and predicted graphs, and pairing them.

Three formats, detected from the path:

* a ``.source`` file (or any other text file): one graph per line, a Python literal list of
  ``[head, relation, tail]`` lists, parsed with ``ast.literal_eval``; graph ids are the 1-based
  line numbers ("1", "2", ...);
* a ``.jsonl`` file: either one graph per line, ``{"id": ..., "triples": [[h, r, t], ...]}``
  (``document_id`` may stand for ``id``; a triple may also be ``{"head", "relation", "tail"}``),
  or one triple per line with ``document_id``, ``head``, ``relation`` and ``tail`` (a kgjudge
  :class:`~kgjudge.Triple` record), or one judged triple per line (``{"document_id", "triple":
  {...}, "judgement": {...}}``, the lines of a build's ``judgements.jsonl`` and
  ``rejected.jsonl``), grouped by document id;
* a ``kgjudge build`` output directory: its ``triples.jsonl`` of Triple records.

A line that cannot be read is an error in a gold file; in a prediction file it becomes an
unparseable (empty) prediction that scores 0 and is counted. :func:`check_readable` turns a
prediction file that is mostly unreadable (documents given instead of graphs) into an error.

:func:`read_build` reads a build folder as the evaluation of a build needs it: its gold graphs
(``gold.jsonl``, kept when the build read ``.target`` files with aligned ``.source`` files), the
triples extracted before the judge and those kept after it.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kgjudge._build_folder import GOLD, REJECTS, BuildFolder
from kgjudge._errors import InputError
from kgjudge._jsonl import loads_checked
from kgjudge._records import Record

Role = Literal["pred", "gold"]
PredStatus = Literal["ok", "empty", "unparseable", "missing"]

_LINE_SUFFIX = re.compile(r"[:#](\d+)$")


class Graph(Record):
    """One graph as read: its id, its items as parsed, and where it came from.

    ``items`` keeps each triple as the file had it (a list, a tuple, or whatever a literal held),
    because GraphJudger-compatible scoring depends on the exact Python representation.

    Example:
        >>> Graph(id="1", items=[["Paris", "capital of", "France"]])
    """

    id: str = Field(min_length=1)
    items: list[Any] = Field(default_factory=list)
    source: str | None = None
    line: int | None = None
    error: str | None = None


class GraphPair(Record):
    """A gold graph and the prediction scored against it (``pred`` is None when missing)."""

    gold: Graph
    pred: Graph | None


def _read_lines(path: Path) -> list[str]:
    try:
        # text mode with universal newlines, like the published script's readlines()
        with path.open(encoding="utf-8") as handle:
            return handle.readlines()
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 ({exc.reason})", file=str(path)) from exc


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text.strip())
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        return exc


def _read_source(path: Path, role: Role) -> list[Graph]:
    graphs = []
    for lineno, line in enumerate(_read_lines(path), start=1):
        value = _literal(line)
        error = None
        if isinstance(value, Exception):
            error = f"not a Python literal ({type(value).__name__}: {value})"
        elif not isinstance(value, (list, tuple)):
            error = f"expected a list of triples, got {type(value).__name__}"
        if error is not None:
            if role == "gold":
                raise InputError(error, file=str(path), line=lineno)
            graphs.append(Graph(id=str(lineno), source=str(path), line=lineno, error=error))
            continue
        graphs.append(Graph(id=str(lineno), items=list(value), source=str(path), line=lineno))
    return graphs


def _triple_item(item: Any) -> Any:
    if isinstance(item, dict) and {"head", "relation", "tail"} <= item.keys():
        return [item["head"], item["relation"], item["tail"]]
    return item


def _unwrap(data: dict[str, Any]) -> dict[str, Any]:
    """A judged triple (``{"document_id", "triple": {...}, "judgement": ...}``) as its triple
    record, with the wrapper's document id when the triple has none."""
    inner = data.get("triple")
    if "triples" in data or not isinstance(inner, dict):
        return data
    return {**inner, "document_id": inner.get("document_id") or data.get("document_id")}


def _read_jsonl(path: Path, role: Role, unreadable: list[InputError]) -> list[Graph]:
    graphs: dict[str, Graph] = {}
    grouped: dict[str, list[Any]] = {}
    where: dict[str, int] = {}
    for lineno, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            data = loads_checked(line)  # strict: no line, however hostile, crashes the evaluation
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
            data = _unwrap(data)
            if "triples" not in data and not {"head", "relation", "tail"} <= data.keys():
                raise ValueError("expected 'triples', 'head'/'relation'/'tail' or 'triple' fields")
            doc = data.get("id", data.get("document_id")) if "triples" in data else data.get("document_id")
            if not isinstance(doc, (str, int)) or str(doc) == "":
                raise ValueError("no document id ('id' or 'document_id')")
            doc = str(doc)
            if "triples" in data:
                triples = data["triples"]
                if not isinstance(triples, list):
                    raise ValueError(f"'triples' must be a list, got {type(triples).__name__}")
                if doc in graphs or doc in grouped:
                    raise ValueError(f"document id {doc!r} appears twice")
                graphs[doc] = Graph(id=doc, items=[_triple_item(t) for t in triples], source=str(path),
                                    line=lineno)
            else:
                if doc in graphs:
                    raise ValueError(f"document id {doc!r} appears twice")
                grouped.setdefault(doc, []).append(_triple_item(data))
                where.setdefault(doc, lineno)
        except ValueError as exc:
            err = InputError(str(exc), file=str(path), line=lineno)
            if role == "gold":
                raise err from exc
            unreadable.append(err)
    for doc, items in grouped.items():
        graphs[doc] = Graph(id=doc, items=items, source=str(path), line=where[doc])
    return list(graphs.values())


def read_graphs(
    path: str | os.PathLike[str], role: Role = "gold", unreadable: list[InputError] | None = None
) -> tuple[list[Graph], Literal["lines", "keyed"]]:
    """Read every graph of ``path`` (a ``.source``/text file, a JSONL file or a build directory).

    Args:
        path: the file or directory.
        role: ``gold`` raises on a bad line; ``pred`` keeps an unparseable ``.source`` line as a
            graph with ``error`` set, and appends an unreadable JSONL line to ``unreadable``.
        unreadable: collects the prediction lines that could not be attributed to a document.

    Returns:
        The graphs, and whether they are positional (``lines``) or keyed by document id.

    Raises:
        InputError: naming the file (and line) that cannot be read.
    """
    path = Path(path)
    unreadable = [] if unreadable is None else unreadable
    if path.is_dir():
        triples = path / "triples.jsonl"
        if not triples.is_file():
            raise InputError("a build output directory must contain triples.jsonl", file=str(path))
        return _read_jsonl(triples, role, unreadable), "keyed"
    if not path.exists():
        raise InputError("no such file or directory", file=str(path))
    if path.suffix.lower() in {".jsonl", ".json"}:
        return _read_jsonl(path, role, unreadable), "keyed"
    return _read_source(path, role), "lines"


def _line_key(doc_id: str) -> str | None:
    match = _LINE_SUFFIX.search(doc_id)
    return str(int(match.group(1))) if match else None


def pair_graphs(
    pred: Sequence[Graph],
    pred_kind: str,
    gold: Sequence[Graph],
    gold_kind: str,
    *,
    pred_path: str,
    gold_path: str,
) -> tuple[list[GraphPair], list[str]]:
    """Pair every gold graph with its prediction; returns the pairs and the unused prediction ids.

    Two line-based files pair by line and must have the same number of lines. Otherwise graphs
    pair by id; a line-based side's ids are its line numbers, and a keyed id ending in ``:N`` or
    ``#N`` (such as ``val.target:12``) also matches line ``N`` when no id matches exactly. A gold
    graph without a prediction is scored as an empty, ``missing`` prediction.

    Raises:
        InputError: when two line-based files differ in length, naming the short one.
    """
    if pred_kind == "lines" and gold_kind == "lines":
        if len(pred) != len(gold):
            short, long_ = (pred_path, gold_path) if len(pred) < len(gold) else (gold_path, pred_path)
            n_short, n_long = sorted((len(pred), len(gold)))
            raise InputError(
                f"has {n_short} lines but {long_} has {n_long}: this file is short by "
                f"{n_long - n_short} line(s); predictions and gold must be aligned line by line",
                file=short,
            )
        return [GraphPair(gold=g, pred=p) for g, p in zip(gold, pred)], []
    by_id = {g.id: g for g in pred}
    if not any(g.id in by_id for g in gold):
        # ids of one side may be "<file>:<line>" while the other side is positional
        if pred_kind == "keyed" and gold_kind == "lines":
            by_id = {k: g for g in pred if (k := _line_key(g.id)) is not None}
        elif gold_kind == "keyed" and pred_kind == "lines":
            wanted = {_line_key(g.id): g.id for g in gold}
            by_id = {wanted[g.id]: g for g in pred if g.id in wanted}
    pairs = [GraphPair(gold=g, pred=by_id.get(g.id)) for g in gold]
    used = {id(p.pred) for p in pairs if p.pred is not None}
    unused = [g.id for g in pred if id(g) not in used]
    return pairs, unused


MAX_UNREADABLE_SHARE = 0.5
"""A prediction file with more unreadable lines than this share is refused by
:func:`check_readable`: it is most likely not a file of graphs at all."""

EXPECTED = (
    "expected one graph per line: a Python list of [head, relation, tail] lists (a .source file), "
    "JSONL of {\"id\", \"triples\"} graphs, of triple records or of judged triples, or a kgjudge build folder"
)


def check_readable(
    path: str | os.PathLike[str],
    graphs: Sequence[Graph],
    unreadable: Sequence[InputError],
    *,
    max_share: float = MAX_UNREADABLE_SHARE,
) -> None:
    """Refuse a prediction file when more than ``max_share`` of its lines could not be read
    (documents passed instead of graphs, say), naming what was expected and the first bad line.

    Args:
        path: the prediction file, as given to :func:`read_graphs`.
        graphs: what :func:`read_graphs` returned for it.
        unreadable: the unreadable JSONL lines :func:`read_graphs` collected.

    Raises:
        InputError: naming the file, the first bad line and its text.
    """
    path = Path(path)
    bad = sorted((g.line or 0, g.error or "") for g in graphs if g.error is not None)
    bad += sorted((e.line or 0, str(e).split(": ", 1)[-1]) for e in unreadable)
    if not bad or path.is_dir():
        return
    lines = _read_lines(path)
    total = sum(1 for line in lines if line.strip()) or len(lines)
    if len(bad) <= max_share * total:
        return
    lineno, reason = min(bad)
    text = lines[lineno - 1].rstrip("\r\n") if 0 < lineno <= len(lines) else ""
    shown = repr(text if len(text) <= 120 else text[:120] + "...")
    raise InputError(
        f"{len(bad)} of {total} prediction lines are not graphs, so there is nothing to score; {EXPECTED}. "
        f"First bad line {lineno}: {shown} ({reason})",
        file=str(path), line=lineno,
    )


class BuildGraphs(Record):
    """What a build folder holds for evaluation, one graph per document with gold.

    Attributes:
        gold: the gold graph of every document whose input came with gold.
        extracted: every triple extracted, per document (kept and rejected), before the judge.
        kept: the triples kept after the judge (the same as ``extracted`` without a judge).
        judged: whether the build ran a judge.
        finished: whether the build finished (an unfinished one is scored as far as it got).
        documents: the documents of the build; those without gold are not scored.
    """

    gold: list[Graph]
    extracted: list[Graph]
    kept: list[Graph]
    judged: bool
    finished: bool
    documents: int


def _stem(file: str) -> str:
    return file.removesuffix(".jsonl")


def _by_document(records: Sequence[dict[str, Any]], ids: Sequence[str], where: str) -> list[Graph]:
    items: dict[str, list[Any]] = {i: [] for i in ids}
    for record in records:
        doc = record.get("document_id")
        if doc in items:
            items[doc].append(_triple_item(record))
    return [Graph(id=i, items=items[i], source=where) for i in ids]


def read_build(path: str | os.PathLike[str], *, gold: bool = True) -> BuildGraphs:
    """Read a build folder's gold graphs and its triples before and after the judge.

    A document has a gold graph when its input file came with aligned gold (a ``.target`` file
    beside its ``.source``) and its gold line was readable; its graph may be empty. Every such
    document has a prediction, empty when nothing was extracted from it.

    Args:
        path: the build folder.
        gold: read the folder's gold and keep only the documents that have some; False reads
            the predictions of every document (to score them against another gold file).

    Raises:
        InputError: ``path`` is not a build folder, or it holds no gold (naming what to do).
    """
    folder = BuildFolder(path)
    manifest = folder.manifest()
    if manifest is None:
        raise InputError("not a kgjudge build output (manifest.json is missing)", file=str(folder.out))
    documents = [d for d in folder.records("documents") if d.get("id") is not None]
    gold_records: list[dict[str, Any]] = []
    ids = [str(d["id"]) for d in documents]
    if gold:
        gold_records = folder.records(_stem(GOLD))
        with_gold = {r.get("document_id") for r in gold_records}
        sources = {d.get("source") for d in documents if d["id"] in with_gold}
        # A gold line that could not be read is a reject naming the .source file and the document.
        unreadable = {
            r.get("document_id") for r in folder.records(_stem(REJECTS))
            if r.get("document_id") and str(r.get("file", "")).endswith(".source")
        }
        ids = [str(d["id"]) for d in documents if d.get("source") in sources and d["id"] not in unreadable]
        if not ids:
            raise InputError(
                "this build has no gold graphs (gold.jsonl): build from .target files with aligned .source "
                "files, or name a gold file after the build folder", file=str(folder.out))
    kept_records = folder.records("triples")
    rejected = [_unwrap(r) for r in folder.records("rejected")]
    config = manifest.get("config") or {}
    judged = bool(config.get("judge")) or bool(folder.records("judgements"))
    return BuildGraphs(
        gold=_by_document(gold_records, ids, str(folder.out / GOLD)),
        extracted=_by_document([*kept_records, *rejected], ids, str(folder.out)),
        kept=_by_document(kept_records, ids, str(folder.out / "triples.jsonl")),
        judged=judged,
        finished=bool(manifest.get("finished")),
        documents=len(documents),
    )
