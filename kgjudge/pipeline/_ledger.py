"""What a build folder holds, known without reading its record files: the documents (by id and
a hash of their text, from the progress lines) and running counts (``counts.json``).

A run that adds one document to a large build reads these two small files, not every record
file: which documents are new, changed or unchanged comes from the progress lines, and the
summary's counts are the old ones plus the new batch (minus what was removed). The counts say
how many progress lines they include; when that is not the number of lines the folder has (a
run was killed before it saved them, or the folder is older than them), they are counted
again from the files once.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from kgjudge._build_folder import COUNTS, GOLD, BuildFolder
from kgjudge.llm import Usage


def text_hash(text: str) -> str:
    """The hash a document's text is known by (a changed text is a changed document)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class Ledger:
    """The documents a build folder holds and the totals of its progress lines.

    Attributes:
        documents: document id -> text hash, in the order they were committed (None for a
            document committed by a version that did not record hashes).
        lines: how many progress lines there are.
        usage: model usage per stage over every committed step.
        runs: usage per run number.
    """

    def __init__(self) -> None:
        self.documents: dict[str, str | None] = {}
        self.lines = 0
        self.usage: dict[str, Usage] = {}
        self.runs: dict[int, dict[str, Usage]] = {}

    @classmethod
    def read(cls, folder: BuildFolder) -> Ledger:
        ledger = cls()
        for line in folder.committed():
            ledger.lines += 1
            for doc_id in line.get("removed") or ():
                ledger.documents.pop(doc_id, None)
            hashes = line.get("hashes") or []
            for i, doc_id in enumerate(line.get("documents") or ()):
                ledger.documents.pop(doc_id, None)
                ledger.documents[doc_id] = hashes[i] if i < len(hashes) else None
            run = line.get("run")
            for stage, counts in (line.get("usage") or {}).items():
                usage = Usage.model_validate(counts)
                ledger.usage.setdefault(stage, Usage()).add(usage)
                if isinstance(run, int):
                    ledger.runs.setdefault(run, {}).setdefault(stage, Usage()).add(usage)
        return ledger

    def known_hashes(self, folder: BuildFolder, ids: Iterable[str]) -> None:
        """Fill in the hashes of ``ids`` that the progress lines lack, from ``documents.jsonl``
        (read only for folders written before hashes were recorded)."""
        wanted = {i for i in ids if i in self.documents and self.documents[i] is None}
        if not wanted:
            return
        for value in folder.rows(folder.file("documents")):
            if value.get("id") in wanted and isinstance(value.get("text"), str):
                self.documents[value["id"]] = text_hash(value["text"])


class Counts(BaseModel):
    """Running counts of a build folder's records (what the build summary reports)."""

    through: int = Field(default=0, description="how many progress lines these counts include")
    chunks: int = 0
    triples: int = 0
    judged: int = 0
    rejected_triples: int = 0
    gold: int = 0
    relations: dict[str, int] = Field(default_factory=dict)
    degree: dict[str, int] = Field(default_factory=dict, description="entity name -> kept triples naming it")
    failures: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def load(cls, folder: BuildFolder, lines: int) -> Counts:
        """The saved counts when they include exactly ``lines`` progress lines, else counted
        again from the record files."""
        try:
            saved = cls.model_validate(json.loads((folder.out / COUNTS).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            saved = None
        if saved is not None and saved.through == lines:
            return saved
        return cls.count(folder, lines)

    @classmethod
    def count(cls, folder: BuildFolder, lines: int) -> Counts:
        """The counts of the record files as they are (said to include ``lines`` progress lines)."""
        counts = cls(through=lines)
        for name in ("chunks", "triples", "judgements", "failures"):
            counts.add(name, folder.rows(folder.file(name)))
        counts.add("gold", folder.rows(GOLD))
        return counts

    def save(self, folder: BuildFolder, lines: int) -> None:
        self.through = lines
        folder._write_json(COUNTS, self.model_dump())

    def add(self, output: str, records: Iterable[Mapping[str, Any] | BaseModel], sign: int = 1) -> None:
        """Count the records of one output (``chunks``, ``triples``, ``judgements``,
        ``failures``, ``gold``; others are not counted); ``sign`` -1 takes them away."""
        if output not in ("chunks", "triples", "judgements", "failures", "gold"):
            return
        relations: Counter[str] = Counter()
        degree: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        n = rejected = 0
        for record in records:
            r = record.model_dump() if isinstance(record, BaseModel) else record
            n += 1
            if output == "triples":
                relations[r["relation"]] += 1
                degree[r["head"]] += 1
                degree[r["tail"]] += 1
            elif output == "judgements":
                rejected += not r["judgement"]["label"]
            elif output == "failures":
                failures[r["stage"]] += 1
        if output == "chunks":
            self.chunks += sign * n
        elif output == "triples":
            self.triples += sign * n
        elif output == "judgements":
            self.judged += sign * n
            self.rejected_triples += sign * rejected
        elif output == "gold":
            self.gold += sign * n
        _merge(self.relations, relations, sign)
        _merge(self.degree, degree, sign)
        _merge(self.failures, failures, sign)

    def top(self, which: str, n: int = 5) -> list[tuple[str, int]]:
        """The ``n`` most frequent relations or entities (``degree``), ties by name."""
        counts = self.relations if which == "relations" else self.degree
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _merge(into: dict[str, int], counts: Counter[str], sign: int) -> None:
    for key, value in counts.items():
        total = into.get(key, 0) + sign * value
        if total > 0:
            into[key] = total
        else:
            into.pop(key, None)
