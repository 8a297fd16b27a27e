"""Optional dependencies: imported lazily, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from kgjudge._errors import MissingExtraError


def require(module: str, extra: str, hint: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``kgjudge[extra]``.

    Example:
        >>> torch = require("torch", "hf")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] != module.split(".")[0]:
            # The package is there but one of its own imports failed: that is a broken
            # installation, not a missing extra, so do not hide the real cause.
            raise
        raise MissingExtraError(module, extra, hint) from exc
