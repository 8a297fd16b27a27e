"""The ``kgjudge`` command line. Each command group lives in its own module."""

from __future__ import annotations

import os

from kgjudge import __version__
from kgjudge.cli import _build_cmd, _config_cmd, _eval_cmd, _filter_cmd, _judges_cmd, _llm_cmd, _query_cmd, _store_cmd  # noqa: F401  (register commands)
from kgjudge.cli._app import app, echo


@app.command("version")
def version() -> None:
    """Print the kgjudge version."""
    echo(__version__)


def main() -> None:
    """Entry point of the ``kgjudge`` script."""
    # Model-loading progress bars would drown the command's own output.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    app()


__all__ = ["app", "main"]
