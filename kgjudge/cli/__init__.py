"""The ``kgjudge`` command line. Each command group lives in its own module."""

from __future__ import annotations

from kgjudge import __version__
from kgjudge.cli import (  # noqa: F401  (register commands)
    _build_cmd,
    _config_cmd,
    _eval_cmd,
    _filter_cmd,
    _grow_cmd,
    _judges_cmd,
    _llm_cmd,
    _query_cmd,
    _serve_cmd,
    _store_cmd,
)
from kgjudge.cli._app import app, echo


@app.command("version")
def version() -> None:
    """Print the kgjudge version."""
    echo(__version__)


def main() -> None:
    """Entry point of the ``kgjudge`` script."""
    app()


__all__ = ["app", "main"]
