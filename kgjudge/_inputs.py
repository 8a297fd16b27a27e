"""Reading documents: text and Markdown files or folders, JSONL, and line-per-document files.

Every bad document (empty, binary, not UTF-8, oversized, a JSONL line that is not strict JSON
or holds a lone surrogate escape such as ``"\\ud800"`` in any field, a line without id or
text, an id that breaks the id rule of :func:`kgjudge._records.record_id`, a duplicate id)
becomes a :class:`Reject` naming its file, line and reason, so it is reported rather than
silently dropped; the caller decides whether to skip it or fail the run. Nothing here crashes
on one bad document.

Ids: a JSONL id is a string or an integer; the integer ``1`` and the string ``"1"`` are the same
id, and the second record with an id already seen is rejected as a duplicate.

Line-per-document files follow the development data's convention: ``*.target`` holds one text
per line and an aligned ``*.source`` (same stem) holds the gold graph of that line as a Python
literal list of ``[head, relation, tail]``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kgjudge._errors import InputError
from kgjudge._jsonl import iter_json_lines
from kgjudge._pipeline_config import InputConfig
from kgjudge._records import Document, Record, Triple, record_id

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}


class Reject(Record):
    """A document that was not processed, and why."""

    file: str
    line: int | None = None
    document_id: str | None = None
    reason: str

    def error(self) -> InputError:
        return InputError(self.reason, file=self.file, line=self.line)


@dataclass
class LoadedInputs:
    """Documents in input order, rejects, and gold triples from aligned ``.source`` files."""

    documents: list[Document] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    gold: list[Triple] = field(default_factory=list)
    malformed_gold: int = 0
    warnings: list[str] = field(default_factory=list)


def _decode(raw: bytes, config: InputConfig) -> tuple[str | None, str | None]:
    """The text, or the reason it is rejected."""
    if b"\x00" in raw:
        return None, "binary content (NUL bytes)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte {exc.start}: {exc.reason})"
    if not text.strip():
        return None, "empty document"
    if len(text) > config.max_chars:
        return None, f"oversized document ({len(text)} characters > max_chars {config.max_chars})"
    return text, None


def _expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and (child.suffix.lower() in TEXT_SUFFIXES | {".jsonl", ".target"}):
                    yield child
        else:
            yield path


def _read_text_file(path: Path, config: InputConfig, out: LoadedInputs) -> None:
    text, reason = _decode(path.read_bytes(), config)
    if reason:
        out.rejects.append(Reject(file=str(path), reason=reason))
        return
    # The path as given is the id: stable across runs of the same command, unique per file.
    out.documents.append(Document(id=str(path), text=text or "", source=str(path)))


def _read_jsonl(path: Path, config: InputConfig, out: LoadedInputs) -> None:
    for lineno, data in iter_json_lines(path):
        if isinstance(data, InputError):
            cause = data.__cause__
            reason = f"invalid JSON line: {cause}" if isinstance(cause, json.JSONDecodeError) else data.reason
            out.rejects.append(Reject(file=str(path), line=lineno, reason=reason))
            continue
        if not isinstance(data, dict):
            out.rejects.append(Reject(file=str(path), line=lineno, reason="line is not a JSON object"))
            continue
        raw_id, text = data.get(config.id_field), data.get(config.text_field)
        if raw_id is None or raw_id == "":
            out.rejects.append(Reject(file=str(path), line=lineno, reason=f"missing field '{config.id_field}'"))
            continue
        try:
            doc_id = record_id(raw_id)
        except ValueError as exc:
            out.rejects.append(Reject(file=str(path), line=lineno, reason=f"field '{config.id_field}': {exc}"))
            continue
        if not isinstance(text, str):
            out.rejects.append(
                Reject(file=str(path), line=lineno, document_id=doc_id,
                       reason=f"field '{config.text_field}' is missing or not a string")
            )
            continue
        checked, reason = _decode(text.encode("utf-8"), config)
        if reason:
            out.rejects.append(Reject(file=str(path), line=lineno, document_id=doc_id, reason=reason))
            continue
        metadata = {k: v for k, v in data.items() if k not in (config.id_field, config.text_field)}
        out.documents.append(
            Document(id=doc_id, text=checked or "", source=str(path), line=lineno, metadata=metadata)
        )


def parse_gold(value: str) -> tuple[list[list[str]], int]:
    """Gold triples from one ``.source`` line, and how many entries were malformed (not 3 strings).

    Raises:
        ValueError: when the line is not a Python/JSON literal list.
    """
    graph = ast.literal_eval(value.strip())
    if not isinstance(graph, list):
        raise ValueError("not a list")
    good, bad = [], 0
    for item in graph:
        if isinstance(item, (list, tuple)) and len(item) == 3 and all(isinstance(x, str) and x.strip() for x in item):
            good.append([x.strip() for x in item])
        else:
            bad += 1
    return good, bad


def _read_lines(path: Path, config: InputConfig, out: LoadedInputs) -> None:
    source = path.with_suffix(".source")
    gold_lines = source.read_bytes().splitlines() if source.is_file() else None
    lines = path.read_bytes().splitlines()
    if gold_lines is not None and len(gold_lines) != len(lines):
        out.rejects.append(
            Reject(file=str(source), reason=f"has {len(gold_lines)} lines but {path.name} has {len(lines)}; gold ignored")
        )
        gold_lines = None
    for lineno, raw in enumerate(lines, start=1):
        doc_id = f"{path.name}:{lineno}"
        text, reason = _decode(raw, config)
        if reason:
            out.rejects.append(Reject(file=str(path), line=lineno, document_id=doc_id, reason=reason))
            continue
        out.documents.append(Document(id=doc_id, text=text or "", source=str(path), line=lineno))
        if gold_lines is None:
            continue
        try:
            triples, bad = parse_gold(gold_lines[lineno - 1].decode("utf-8"))
        except (ValueError, SyntaxError, UnicodeDecodeError) as exc:
            out.rejects.append(Reject(file=str(source), line=lineno, document_id=doc_id, reason=f"unreadable gold graph: {exc}"))
            continue
        out.malformed_gold += bad
        out.gold.extend(
            Triple(head=h, relation=r, tail=t, document_id=doc_id, origin="gold") for h, r, t in triples
        )


def load_documents(paths: Iterable[str | Path], config: InputConfig | None = None) -> LoadedInputs:
    """Read every input; see the module docstring for formats and rejects.

    When no document is left to build (an empty folder, or every input rejected) a warning
    says so in :attr:`LoadedInputs.warnings`; with ``on_bad_input: fail`` it is an error.

    Raises:
        InputError: for a path that does not exist; for the first bad document, or when there
            is no document at all, when ``on_bad_input`` is ``fail``.

    Example:
        >>> loaded = load_documents(["docs/"])
        >>> len(loaded.documents), [r.reason for r in loaded.rejects]
    """
    config = config or InputConfig()
    out = LoadedInputs()
    paths = list(paths)
    for path in _expand(paths):
        if not path.exists():
            raise InputError("no such file or folder", file=str(path))
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            _read_jsonl(path, config, out)
        elif suffix == ".target":
            _read_lines(path, config, out)
        elif suffix == ".source":
            continue  # read beside its .target
        else:
            _read_text_file(path, config, out)
    seen: dict[str, Document] = {}
    unique = []
    for doc in out.documents:
        if doc.id in seen:
            first = seen[doc.id]
            rule = "; an integer id and the same digits as a string are one id" if doc.id.lstrip("-").isdigit() else ""
            out.rejects.append(
                Reject(file=doc.source or "", line=doc.line, document_id=doc.id,
                       reason=f"duplicate document id '{doc.id}' (first at {first.source}:{first.line or 1}{rule})")
            )
            continue
        seen[doc.id] = doc
        unique.append(doc)
    out.documents = unique
    if config.on_bad_input == "fail" and out.rejects:
        raise out.rejects[0].error()
    if not out.documents:
        where = ", ".join(str(p) for p in paths)
        if out.rejects:
            message = f"no documents to build: all {len(out.rejects)} inputs were rejected (rejects.jsonl says why)"
        else:
            suffixes = ", ".join(sorted(TEXT_SUFFIXES | {".jsonl", ".target"}))
            message = f"no documents found in {where} (looked for files ending in {suffixes})"
        if config.on_bad_input == "fail":
            raise InputError(message)
        out.warnings.append(message)
    return out
