"""The ``kgjudge`` Typer application and its shared helpers."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from kgjudge._config import KGJudgeConfig, default_config, load_config
from kgjudge._errors import InputError, KGJudgeError
from kgjudge._text import printable, redact_urls
from kgjudge.cli._output import command_output, settings

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="kgjudge",
    help="Documents to knowledge graphs with LLMs, and LLM judges that keep only what is true.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print ``text`` with control characters made visible (see :func:`kgjudge._text.printable`):
    names and answers come from model output, and an escape sequence in them must not act on
    the terminal. Every command prints through this."""
    typer.echo(printable(text), err=err, nl=nl)


@app.callback()
def options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show what the libraries underneath print, "
                                 "for any command (the long ones also take --verbose after their name)"),
) -> None:
    """Documents to knowledge graphs with LLMs, and LLM judges that keep only what is true."""
    settings.verbose = verbose


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` to stderr and exit with ``code``."""
    echo(f"error: {redact_urls(message)}", err=True)
    raise typer.Exit(code)


def _os_error(exc: OSError) -> str:
    """One line for a file-system error: the path and what went wrong."""
    what = exc.strerror or type(exc).__name__
    if exc.filename is None:
        return f"{what}: {exc}" if str(exc) and str(exc) != what else what
    where = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else str(exc.filename)
    return f"{where}: {what}"


def handles_errors(fn: F) -> F:
    """Turn kgjudge errors (and file-system errors: a read-only folder, a path under a file, a
    full disk) into one clear line on stderr and exit status 2 (no traceback), and
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
        except OSError as exc:
            fail(_os_error(exc))
        except KeyboardInterrupt:
            echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def check_out_folder(out: Path) -> None:
    """Refuse an output folder that is an existing file before any work is done."""
    if out.exists() and not out.is_dir():
        raise InputError("is a file, not a folder; give --out a folder", file=str(out))


def get_config(path: Path | None) -> KGJudgeConfig:
    """The config at ``path``, or the embedded default."""
    return load_config(path) if path else default_config()
