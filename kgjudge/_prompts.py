"""Versioned prompt templates, stored as files beside the code (``prompts/<name>.v<N>.txt``), and
the parsers of their replies.

A published version never changes; a new wording is a new file. Stages record the version
they used in their outputs. A template whose reply is read as text (not scored over choices)
is versioned together with its parser: the function that reads its replies is registered for
it with :func:`reply_parser`, and a stage asks :func:`parser_of` for the parser of the version
its config names, so a new version cannot run with a parser that was written for another.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib.resources import files
from typing import Any, TypeVar

from pydantic import BaseModel

import jinja2

from kgjudge._errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])
_PARSERS: dict[tuple[str, str], Callable[..., Any]] = {}
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


def available_templates() -> list[str]:
    """Names of the packaged templates (``name.vN``)."""
    root = files("kgjudge") / "prompts"
    return sorted(p.name.removesuffix(".txt") for p in root.iterdir() if p.name.endswith(".txt"))


@lru_cache(maxsize=None)
def load_template(name: str) -> jinja2.Template:
    """The template ``name`` (for example ``json_repair.v1``)."""
    path = files("kgjudge") / "prompts" / f"{name}.txt"
    if not path.is_file():
        raise ConfigError(f"unknown prompt template '{name}'", choices=available_templates())
    return _ENV.from_string(path.read_text(encoding="utf-8").rstrip("\n"))


def render(name: str, **values: Any) -> str:
    """Render template ``name`` with ``values``; a missing value is an error."""
    return load_template(name).render(**values)


def cut_document(text: str, max_chars: int | None) -> str:
    """``text`` cut to at most ``max_chars`` characters, at the last word boundary before it.

    Training and inference cut documents with this same function, so a tuned adapter sees
    prompts of the shape it was trained on.
    """
    if max_chars is None or len(text) <= max_chars:
        return text
    head = text[:max_chars]
    space = head.rfind(" ")
    return head[:space] if space > max_chars // 2 else head


def reply_parser(*templates: str, reads: str) -> Callable[[F], F]:
    """Decorator registering the function that reads what replies to these template versions
    hold (``reads``: ``triples``, ``entities``, ...).

    Example:
        >>> @reply_parser("triple_extract.v1", reads="triples")
        ... def parse_triples(value, config): ...
    """

    def register(parse: F) -> F:
        for template in templates:
            _PARSERS[(template, reads)] = parse
        return parse

    return register


def parser_of(template: str, reads: str, *, key: str | None = None) -> Callable[..., Any]:
    """The parser that reads ``reads`` from replies to ``template``.

    Raises:
        ConfigError: there is none (naming ``key`` and the templates that have one).
    """
    try:
        return _PARSERS[(template, reads)]
    except KeyError:
        have = sorted(t for t, r in _PARSERS if r == reads)
        raise ConfigError(f"prompt '{template}' has no parser of {reads} in its replies", key=key, choices=have) from None


def prompt_fields(section: BaseModel) -> dict[str, str]:
    """The prompt settings of a config section: its fields named ``prompt`` or ``*_prompt``."""
    return {name: getattr(section, name) for name in type(section).model_fields if name.endswith("prompt")}


def section_parser(section: BaseModel, field: str, *, key: str) -> Callable[..., Any]:
    """The parser of replies to the prompt a config section's ``field`` names: of the kind the
    field says its replies hold (see :func:`kgjudge._sections.prompt_field`).

    Raises:
        ConfigError: that version has no parser of that kind (naming ``key``).
    """
    extra = type(section).model_fields[field].json_schema_extra
    reads = extra.get("reads") if isinstance(extra, dict) else None
    if not isinstance(reads, str):
        raise ConfigError(f"the prompt of {type(section).__name__}.{field} is scored, not parsed", key=key)
    return parser_of(getattr(section, field), reads, key=key)
