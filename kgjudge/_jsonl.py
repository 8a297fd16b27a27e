"""JSONL reading and writing whose errors name the file and the line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kgjudge._errors import InputError

T = TypeVar("T", bound=BaseModel)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<record>"
        parts.append(f"field '{loc}': {err['msg']}")
    return "; ".join(parts)


def iter_json_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, value)`` for each non-blank line of ``path``: the parsed JSON value, or an
    :class:`InputError` naming the file and 1-based line when the line is not valid UTF-8 JSON.

    Raises:
        InputError: the file cannot be opened.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", file=str(path)) from exc
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                err = InputError(f"not valid UTF-8 ({exc.reason})", file=str(path), line=lineno)
                err.__cause__ = exc
                yield lineno, err
                continue
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                err = InputError(f"invalid JSON ({exc.msg} at column {exc.colno})", file=str(path), line=lineno)
                err.__cause__ = exc
                yield lineno, err


def iter_jsonl(
    path: str | os.PathLike[str],
    model: type[T] | None = None,
    *,
    errors: list[InputError] | None = None,
) -> Iterator[T | dict[str, Any]]:
    """Yield one record per non-blank line of ``path``.

    Args:
        path: the JSONL file.
        model: validate each line into this record type; plain dicts when None.
        errors: when given, a bad line is appended here as an :class:`InputError` and skipped,
            so one broken line loses nothing else; when None, the first bad line raises.

    Raises:
        InputError: naming the file and 1-based line of a malformed or invalid line.
    """
    path = Path(path)

    def fail(err: InputError, cause: BaseException | None = None) -> None:
        if errors is None:
            raise err from cause
        errors.append(err)

    for lineno, data in iter_json_lines(path):
        if isinstance(data, InputError):
            fail(data, data.__cause__)
            continue
        if model is None:
            if isinstance(data, dict):
                yield data
            else:
                msg = f"expected a JSON object, got {type(data).__name__}"
                fail(InputError(msg, file=str(path), line=lineno))
            continue
        try:
            record = model.model_validate(data)
        except ValidationError as exc:
            fail(InputError(_describe(exc), file=str(path), line=lineno), exc)
            continue
        yield record


def read_jsonl(
    path: str | os.PathLike[str],
    model: type[T] | None = None,
    *,
    errors: list[InputError] | None = None,
) -> list[T | dict[str, Any]]:
    """All records of ``path`` as a list; see :func:`iter_jsonl`."""
    return list(iter_jsonl(path, model, errors=errors))


def _dump(record: BaseModel | dict[str, Any]) -> str:
    if isinstance(record, BaseModel):
        return record.model_dump_json()
    return json.dumps(record, ensure_ascii=False)


def _ends_without_newline(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def write_jsonl(
    path: str | os.PathLike[str],
    records: Iterable[BaseModel | dict[str, Any]],
    *,
    append: bool = False,
) -> int:
    """Write records one per line; returns how many were written.

    Without ``append`` the file is replaced atomically (written beside it, then renamed), so a
    reader never sees half a file. With ``append`` each call's lines are flushed and fsynced
    before it returns, which is what resumable stages rely on.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path if append else path.with_name(f".{path.name}.tmp-{os.getpid()}")
    count = 0
    torn = append and _ends_without_newline(path)
    with target.open("a" if append else "w", encoding="utf-8") as handle:
        if torn:
            # A write cut off mid-line: end that line, so it stays one bad line on its own
            # instead of swallowing the first record appended now.
            handle.write("\n")
        for record in records:
            handle.write(_dump(record) + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    if not append:
        os.replace(target, path)
    return count
