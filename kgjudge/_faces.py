"""Lazy package faces: a package's public names are listed once, in its ``__init__.pyi`` (which
type checkers read), and each is imported from its module on first use (PEP 562).

So ``import kgjudge.graph`` costs nothing, and looking a store up imports that store's module
only. lazy_loader's ``attach_stub`` does the same for names defined inside the package; a face
here also re-exports names of core modules and names under another name, which it refuses.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def face_names(package: str, stub: Path) -> dict[str, tuple[str, str]]:
    """Public name -> (module, attribute) of every ``from ... import`` in a face's stub."""
    where: dict[str, tuple[str, str]] = {}
    for node in ast.parse(stub.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            module = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                where[alias.asname or alias.name] = (module, alias.name)
    return where


def lazy_face(package: str, init_file: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` of a package whose names its stub lists.

    Example:
        >>> __getattr__, __dir__, __all__ = lazy_face(__name__, __file__)
    """
    where = face_names(package, Path(init_file).with_suffix(".pyi"))

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = where[name]
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__, sorted(where)
