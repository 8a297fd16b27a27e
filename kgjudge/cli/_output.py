"""What a command prints besides its own output: library chatter silenced unless ``--verbose``,
and progress bars unless ``--no-progress`` (or stderr is not a terminal).

The libraries under kgjudge (transformers, peft, torch, tokenizers, accelerate, datasets) warn
about things a kgjudge user cannot act on (a deprecated argument inside a library's own code)
and draw progress bars of their own (hundreds of lines in a log while a GGUF file is converted).
By default a command silences them: Python warnings other than kgjudge's own
(:class:`~kgjudge.KGJudgeWarning`, shown as one ``warning:`` line), library log records below
ERROR, and the libraries' progress bars. ``--verbose`` leaves all of it as the libraries make it.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TextIO

import typer

from kgjudge import _progress
from kgjudge._errors import KGJudgeWarning

QUIET_ENV = {
    # read when each library is imported, which is after a command starts
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DATASETS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    # tokenizers prints a notice when a process forks after using it; kgjudge tokenises one
    # text at a time, so its thread pool buys nothing here
    "TOKENIZERS_PARALLELISM": "false",
}

class Settings:
    """What holds for every command of one invocation."""

    verbose = False
    """``kgjudge --verbose COMMAND``: whatever the command, show what the libraries print."""


settings = Settings()

ProgressOption: Any = typer.Option(
    True, "--progress/--no-progress",
    help="progress bars on stderr (shown only when stderr is a terminal)",
)
VerboseOption: Any = typer.Option(
    False, "--verbose", "-v", help="show the warnings, log messages and progress bars of the libraries underneath",
)


def _show_own_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: TextIO | None = None, line: str | None = None) -> None:
    _progress.write(f"warning: {message}")


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    """Set the unset variables of ``values`` within the block."""
    added = [k for k in values if k not in os.environ]
    for k in added:
        os.environ[k] = values[k]
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@contextmanager
def _transformers_quiet() -> Iterator[None]:
    """transformers reads its verbosity at import; when it is already imported, set it here."""
    transformers = sys.modules.get("transformers")
    if transformers is None:
        yield
        return
    tlog = transformers.utils.logging
    level, bars = tlog.get_verbosity(), tlog.is_progress_bar_enabled()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(level)
        if bars:
            tlog.enable_progress_bar()


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence library warnings, log records below ERROR and library progress bars within the
    block; kgjudge's own warnings stay, one line each."""
    with ExitStack() as stack:
        stack.enter_context(_env(QUIET_ENV))
        stack.enter_context(_transformers_quiet())
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        warnings.simplefilter("default", KGJudgeWarning)
        warnings.showwarning = _show_own_warning  # only kgjudge's own get here; restored on exit
        # Library loggers without handlers of their own print through logging.lastResort.
        last_resort, level = logging.lastResort, logging.lastResort.level if logging.lastResort else None
        if last_resort is not None:
            last_resort.setLevel(logging.ERROR)
        try:
            yield
        finally:
            if last_resort is not None and level is not None:
                last_resort.setLevel(level)


@contextmanager
def command_output(*, progress: bool = True, verbose: bool = False) -> Iterator[None]:
    """The output settings of one command: progress bars allowed or not, libraries quiet or not."""
    with ExitStack() as stack:
        stack.enter_context(_progress.allowed(progress))
        if not verbose:
            stack.enter_context(quiet_libraries())
        yield
