"""Reading instruction-tuning data for ``kgjudge filter`` and writing it back in its own shape.

Accepted inputs: JSONL files, Parquet files (pyarrow), and Hugging Face ``datasets`` folders
written by ``save_to_disk`` (a Dataset or a DatasetDict); a folder of JSONL/Parquet files is read
file by file. Each record is one of three shapes, detected per record unless the config forces one:

- alpaca: ``{"instruction", "input"?, "output", "system"?}``
- sharegpt: ``{"conversations": [{"from": "human"|"gpt"|"system", "value": ...}, ...]}``
- openai: ``{"messages": [{"role": "user"|"assistant"|"system", "content": ...}, ...]}``

Every record becomes an :class:`~kgjudge.InstructionExample` whose last message is the assistant
response to judge; the original record is kept in ``metadata["record"]`` so it is written back
unchanged. A record that cannot be read (invalid JSON, a lone surrogate escape such as
``"\\ud800"`` in any field, unknown shape, empty response, an id that is not a string or an
integer, a duplicate id) becomes a :class:`FilterReject` naming its file, line (or row) and
reason, and reading goes on. Ids follow the rule of :func:`kgjudge._records.record_id` (``1``
and ``"1"`` are the same id); a record without one gets an id derived from its file, line and
response.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgjudge._errors import InputError
from kgjudge._extras import require
from kgjudge._filter_config import InputFormat
from kgjudge._jsonl import iter_json_lines
from kgjudge._records import ChatMessage, InstructionExample, Record, record_id, stable_id

SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "model": "assistant", "bard": "assistant", "system": "system",
}
DATA_SUFFIXES = {".jsonl", ".parquet"}


class FilterReject(Record):
    """An input record that could not be read as an instruction example, and why."""

    file: str
    line: int | None = None
    reason: str


@dataclass
class LoadedExamples:
    """Examples in input order, and the records that could not be read."""

    examples: list[InstructionExample] = field(default_factory=list)
    rejects: list[FilterReject] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Input records seen (examples + rejects)."""
        return len(self.examples) + len(self.rejects)


def detect_format(record: dict[str, Any]) -> str | None:
    """The shape of a record (``alpaca``, ``sharegpt``, ``openai``), or None when unknown.

    Example:
        >>> detect_format({"instruction": "Add 2 and 2.", "output": "4"})
        'alpaca'
    """
    if "conversations" in record:
        return "sharegpt"
    if "messages" in record:
        return "openai"
    if "instruction" in record and "output" in record:
        return "alpaca"
    return None


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"field '{name}' must be a string, got {type(value).__name__}")
    return value


def _alpaca(record: dict[str, Any]) -> list[ChatMessage]:
    instruction = _text(record.get("instruction"), "instruction")
    extra = record.get("input") or ""
    user = instruction if not extra else f"{instruction}\n\n{_text(extra, 'input')}"
    messages = []
    if record.get("system"):
        messages.append(ChatMessage(role="system", content=_text(record["system"], "system")))
    messages += [ChatMessage(role="user", content=user),
                 ChatMessage(role="assistant", content=_text(record.get("output"), "output"))]
    return messages


def _turns(record: dict[str, Any], key: str, role_key: str, text_key: str, roles: dict[str, str]) -> list[ChatMessage]:
    turns = record.get(key)
    if not isinstance(turns, list) or not turns:
        raise ValueError(f"field '{key}' must be a non-empty list")
    messages = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise ValueError(f"{key}[{i}] must be an object")
        role = roles.get(str(turn.get(role_key, "")).lower())
        if role is None:
            raise ValueError(f"{key}[{i}].{role_key}: unknown role {turn.get(role_key)!r}; expected one of {sorted(roles)}")
        messages.append(ChatMessage(role=role, content=_text(turn.get(text_key), f"{key}[{i}].{text_key}")))  # type: ignore[arg-type]
    return messages


def record_messages(record: dict[str, Any], fmt: InputFormat = "auto") -> tuple[str, list[ChatMessage]]:
    """The shape and chat messages of one record.

    Raises:
        ValueError: the record has no known shape, a field has the wrong type, or the last turn is
            not a non-empty assistant response.
    """
    shape = detect_format(record) if fmt == "auto" else fmt
    if shape is None:
        raise ValueError(
            "unknown record shape: expected alpaca (instruction/output), sharegpt (conversations) "
            f"or openai (messages) fields, got {sorted(record)[:8]}"
        )
    if shape == "alpaca":
        messages = _alpaca(record)
    elif shape == "sharegpt":
        messages = _turns(record, "conversations", "from", "value", SHAREGPT_ROLES)
    else:
        messages = _turns(record, "messages", "role", "content", {r: r for r in ("system", "user", "assistant")})
    if messages[-1].role != "assistant":
        raise ValueError("the last turn is not an assistant response")
    if not messages[-1].content.strip():
        raise ValueError("the assistant response is empty")
    if not any(m.role == "user" and m.content.strip() for m in messages):
        raise ValueError("no user instruction")
    return shape, messages


def query_of(example: InstructionExample) -> str:
    """The instruction side of an example: every turn before the final response."""
    turns = example.messages[:-1]
    if len(turns) == 1 and turns[0].role == "user":
        return turns[0].content
    return "\n".join(f"{m.role}: {m.content}" for m in turns)


def response_of(example: InstructionExample) -> str:
    """The response to judge: the last (assistant) turn."""
    return example.messages[-1].content


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(1-based line or row, record or the reason it cannot be read) of one input file or dataset folder."""
    if path.is_dir():
        yield from _dataset_folder(path)
        return
    if path.suffix == ".parquet":
        pq = require("pyarrow.parquet", "filter")
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises several unrelated types for a broken file
            raise InputError(f"cannot read Parquet: {exc}", file=str(path)) from exc
        for i, row in enumerate(rows, start=1):
            yield i, row
        return
    for lineno, data in iter_json_lines(path):
        if isinstance(data, InputError):
            yield lineno, str(data).removeprefix(f"{path}:{lineno}: ")
        elif not isinstance(data, dict):
            yield lineno, f"expected a JSON object, got {type(data).__name__}"
        else:
            yield lineno, data


def _dataset_folder(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    datasets = require("datasets", "filter")
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises FileNotFoundError, ValueError, ...
        raise InputError(f"cannot read the saved dataset: {exc}", file=str(path)) from exc
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
    offset = 0
    for _name, split in splits:
        for i, row in enumerate(split, start=1):
            yield offset + i, dict(row)
        offset += len(split)


def _is_dataset_folder(path: Path) -> bool:
    return any((path / n).is_file() for n in ("dataset_info.json", "dataset_dict.json", "state.json"))


def _files(inputs: list[Path]) -> Iterator[Path]:
    for path in inputs:
        if not path.exists():
            raise InputError("no such file or folder", file=str(path))
        if path.is_dir() and not _is_dataset_folder(path):
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES)
        else:
            yield path


def load_examples(inputs: list[str | os.PathLike[str]], fmt: InputFormat = "auto") -> LoadedExamples:
    """Read every input into examples and rejects (see the module docstring).

    Example:
        >>> loaded = load_examples(["train.jsonl"])
        >>> len(loaded.examples), len(loaded.rejects)
    """
    out = LoadedExamples()
    seen: set[str] = set()
    for path in _files([Path(p) for p in inputs]):
        try:
            records = list(_records(path))
        except InputError as exc:  # an unreadable file is one reject; the other inputs go on
            out.rejects.append(FilterReject(file=str(path), reason=str(exc)))
            continue
        for line, item in records:
            if isinstance(item, str):
                out.rejects.append(FilterReject(file=str(path), line=line, reason=item))
                continue
            try:
                shape, messages = record_messages(item, fmt)
            except ValueError as exc:
                out.rejects.append(FilterReject(file=str(path), line=line, reason=str(exc)))
                continue
            given = item.get("id")
            try:
                ex_id = record_id(given) if given not in (None, "") else stable_id("ex", path.name, line, messages[-1].content)
            except ValueError as exc:
                out.rejects.append(FilterReject(file=str(path), line=line, reason=f"field 'id': {exc}"))
                continue
            if ex_id in seen:
                out.rejects.append(FilterReject(file=str(path), line=line, reason=f"duplicate id '{ex_id}'"))
                continue
            seen.add(ex_id)
            out.examples.append(
                InstructionExample(
                    id=ex_id, messages=messages, source_format=shape, source=str(path), line=line,  # type: ignore[arg-type]
                    metadata={"record": json.loads(json.dumps(item, default=str))},
                )
            )
    return out
