"""``kgjudge config validate|show``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kgjudge._config import dump_config, load_config
from kgjudge.cli._app import app, echo, get_config, handles_errors

config_app = typer.Typer(help="Check and print configurations.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("validate")
@handles_errors
def validate(files: list[Path] = typer.Argument(..., help="YAML config files")) -> None:
    """Validate config files; errors name the file, the key and the valid choices."""
    for file in files:
        config = load_config(file)
        echo(f"{file}: ok ({len(config.backends)} backend(s): {', '.join(config.backends) or 'none'})")


@config_app.command("show")
@handles_errors
def show(file: Optional[Path] = typer.Argument(None, help="config file; the embedded default if omitted")) -> None:
    """Print a config with every default filled in (secrets stay environment references)."""
    echo(dump_config(get_config(file)), nl=False)
