"""The ``kgjudge`` Typer application and its shared helpers."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from kgjudge._config import KGJudgeConfig, default_config, load_config
from kgjudge._errors import KGJudgeError
from kgjudge.cli._output import command_output, settings

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="kgjudge",
    help="Documents to knowledge graphs with LLMs, and LLM judges that keep only what is true.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show what the libraries underneath print, "
                                 "for any command (the long ones also take --verbose after their name)"),
) -> None:
    """Documents to knowledge graphs with LLMs, and LLM judges that keep only what is true."""
    settings.verbose = verbose


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def handles_errors(fn: F) -> F:
    """Turn kgjudge errors into one clear line on stderr and exit status 2 (no traceback), and
    run the command with its output settings: the libraries underneath quiet unless the command
    was given ``verbose`` (:data:`~kgjudge.cli._output.VerboseOption`, or ``kgjudge --verbose``
    before the command), progress bars unless ``progress`` is False
    (:data:`~kgjudge.cli._output.ProgressOption`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            verbose = kwargs.get("verbose", False) or settings.verbose
            with command_output(progress=kwargs.get("progress", True), verbose=verbose):
                return fn(*args, **kwargs)
        except KGJudgeError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def get_config(path: Path | None) -> KGJudgeConfig:
    """The config at ``path``, or the embedded default."""
    return load_config(path) if path else default_config()
