"""JSONL reading and writing whose errors name the file and the line.

Reading is strict about what valid text and JSON are (RFC 8259): a line that is not UTF-8, not
JSON, uses ``NaN``/``Infinity``, holds a lone surrogate escape (``"\\ud800"``, not valid
Unicode text) or nests deeper than :data:`MAX_DEPTH` levels is a bad line, reported with its
file and line number. Writing goes through one serialiser, :func:`dumps_line`, so a line reads
back and is written again byte for byte the same.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kgjudge._errors import InputError
from kgjudge._text import SURROGATE, escape_surrogates, find_surrogate

T = TypeVar("T", bound=BaseModel)

MAX_DEPTH = 100
"""How deeply arrays and objects may nest in a JSON value read from a file or a model reply."""

# A surrogate in the text, or an escape that decodes to one.
_MAYBE_SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<record>"
        parts.append(f"field '{loc}': {err['msg']}")
    return "; ".join(parts)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _where(path: tuple[Any, ...]) -> str:
    if not path:
        return "the value"
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return f"field '{text}'"


def check_value(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a parsed JSON value is unusable (a lone surrogate in a string or a key, or nesting
    deeper than ``max_depth``), or None when it is fine. Walks the value without recursion."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 0, ())]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, str):
            bad = find_surrogate(node)
            if bad is not None:
                return f"lone surrogate {bad} in {_where(path)}: not valid Unicode text"
        elif isinstance(node, (list, dict)):
            if depth >= max_depth:
                return f"JSON nested more than {max_depth} levels deep"
            if isinstance(node, dict):
                for key, item in node.items():
                    bad = find_surrogate(key) if isinstance(key, str) else None
                    if bad is not None:
                        return f"lone surrogate {bad} in a key of {_where(path)}: not valid Unicode text"
                    stack.append((item, depth + 1, (*path, key)))
            else:
                stack.extend((item, depth + 1, (*path, i)) for i, item in enumerate(node))
    return None


def _decode_error(exc: json.JSONDecodeError) -> str:
    # Some messages of the json module end in "at" ("Unterminated string starting at").
    joint = " column" if exc.msg.endswith(" at") else " at column"
    return f"invalid JSON ({exc.msg}{joint} {exc.colno})"


def loads_checked(text: str, *, raw_decode: bool = False) -> Any:
    """Parse JSON strictly (see the module docstring); with ``raw_decode`` only the first value
    of ``text`` is read and what follows it is ignored.

    Raises:
        ValueError: saying what is wrong, never RecursionError.
    """
    try:
        value = _DECODER.raw_decode(text)[0] if raw_decode else _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ValueError(_decode_error(exc)) from exc
    except RecursionError:
        raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        raise ValueError(f"invalid JSON ({exc})") from exc
    # Most lines cannot hold a surrogate or nest deeply: they need no walk over the value.
    if text.count("[") + text.count("{") < MAX_DEPTH and _MAYBE_SURROGATE.search(text) is None:
        return value
    problem = check_value(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def iter_json_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, value)`` for each non-blank line of ``path``: the parsed JSON value, or an
    :class:`InputError` naming the file and 1-based line when the line is not valid UTF-8 JSON
    (see the module docstring for what counts).

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
                yield lineno, loads_checked(line)
            except ValueError as exc:
                err = InputError(str(exc), file=str(path), line=lineno)
                err.__cause__ = exc.__cause__ or exc
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


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None, which is how pydantic writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps_json(data: Any, *, indent: int | None = None) -> str:
    """JSON text of ``data`` that can always be written as UTF-8: text as is, NaN and infinities
    as null, and each lone surrogate as the visible text ``\\udXXX`` (a file cannot hold it)."""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, indent=indent)
    except ValueError:
        text = json.dumps(_finite(data), ensure_ascii=False, allow_nan=False, indent=indent)
    # Surrogates only occur inside JSON strings, where a backslash must itself be escaped.
    return SURROGATE.sub(lambda m: "\\\\" + escape_surrogates(m.group())[1:], text)


def dumps_line(record: BaseModel | dict[str, Any]) -> str:
    """The one JSONL serialiser (:func:`dumps_json` with ``json.dumps`` separators), for records
    and plain dicts alike: a line read back and written again is the same, byte for byte.

    Example:
        >>> dumps_line({"a": 1.5, "b": "é"})
        '{"a": 1.5, "b": "é"}'
    """
    return dumps_json(record.model_dump(mode="json") if isinstance(record, BaseModel) else record)


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
    reader never sees half a file, and a failed write leaves no temporary file behind. With
    ``append`` each call's lines are flushed and fsynced before it returns, which is what
    resumable stages rely on. Every line is written by :func:`dumps_line`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path if append else path.with_name(f".{path.name}.tmp-{os.getpid()}")
    count = 0
    torn = append and _ends_without_newline(path)
    try:
        with target.open("a" if append else "w", encoding="utf-8") as handle:
            if torn:
                # A write cut off mid-line: end that line, so it stays one bad line on its own
                # instead of swallowing the first record appended now.
                handle.write("\n")
            for record in records:
                handle.write(dumps_line(record) + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        if not append:
            os.replace(target, path)
    except BaseException:
        if not append:
            target.unlink(missing_ok=True)
        raise
    return count
