"""Versioned prompt templates, stored as files beside the code (``prompts/<name>.v<N>.txt``).

A published version never changes; a new wording is a new file. Stages record the version
they used in their outputs.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any

import jinja2

from kgjudge._errors import ConfigError

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
