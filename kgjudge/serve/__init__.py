"""``kgjudge serve``: an HTTP API and a one-page web explorer over a build output or a store.

The API (FastAPI; its OpenAPI schema at ``/api/openapi.json``) answers entity search,
neighbourhoods, triples with provenance and judgements, documents with evidence spans,
questions (GraphRAG local and global search), judging one triple and curation; the page
(``/``, scripts and styles shipped in this package, no CDN) explores the graph with them.
The server itself needs the ``serve`` extra (FastAPI, uvicorn); reading decisions and
exporting them as judge training data does not.

Example:
    >>> from kgjudge.serve import open_explorer, serve
    >>> serve(open_explorer("out/demo"), port=8765)
"""

from __future__ import annotations

from typing import Any

from kgjudge._extras import require
from kgjudge.serve._curation import CurationLog, decide, export_labels, read_decisions
from kgjudge.serve._explorer import DEFAULT_LIMITS, Explorer, ForbiddenError, NotFoundError, open_explorer
from kgjudge.serve._folder import ServedFolder, output_folder_lock, read_run
from kgjudge.serve._security import TOKEN_ENV, Guard

_SERVER = {"create_app": "kgjudge.serve._app", "guard_for": "kgjudge.serve._server", "serve": "kgjudge.serve._server"}


def __getattr__(name: str) -> Any:
    # The web framework is imported only when a server is made.
    if name in _SERVER:
        require("fastapi", "serve")
        require("uvicorn", "serve")
        import importlib

        return getattr(importlib.import_module(_SERVER[name]), name)
    raise AttributeError(f"module 'kgjudge.serve' has no attribute {name!r}")


__all__ = sorted(
    [
        "CurationLog",
        "DEFAULT_LIMITS",
        "Explorer",
        "ForbiddenError",
        "Guard",
        "NotFoundError",
        "ServedFolder",
        "TOKEN_ENV",
        "create_app",
        "decide",
        "export_labels",
        "guard_for",
        "open_explorer",
        "output_folder_lock",
        "read_decisions",
        "read_run",
        "serve",
    ]
)
