"""`kgjudge serve` from the command line: the address it prints, and one-line errors."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from kgjudge.cli import app
from kgjudge import ConfigError
from kgjudge.serve import TOKEN_ENV, open_explorer


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


def test_serve_prints_its_loopback_address_and_serves_the_page(built: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    kgjudge = str(Path(sys.executable).with_name("kgjudge"))
    proc = subprocess.Popen([kgjudge, "serve", "--out", str(built), "--port", "0"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        first = proc.stderr.readline()  # type: ignore[union-attr]
        second = proc.stderr.readline()  # type: ignore[union-attr]
        assert first.startswith(f"kgjudge serve: {built} (read-only)"), first
        match = re.fullmatch(r"open (http://127\.0\.0\.1:\d+/)\n", second)
        assert match, second
        for _ in range(100):
            try:
                page = httpx.get(match.group(1), timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert page.status_code == 200 and "<title>kgjudge</title>" in page.text
        assert httpx.get(match.group(1) + "api/stats", timeout=5).json()["triples"] == 9
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode in (0, -15)


def test_serve_errors_are_one_clear_line(built: Path, tmp_path: Path) -> None:
    code, err = run("serve")
    assert code == 2 and "give a build output folder (--out) or a config with a store (--config)" in err
    code, err = run("serve", "--out", str(tmp_path))
    assert code == 2 and "manifest.json is missing" in err and str(tmp_path) in err
    (tmp_path / "manifest.json").write_text('{"filter": {}}')
    code, err = run("serve", "--out", str(tmp_path))
    assert code == 2 and "a filter run has no graph" in err
    code, err = run("serve", "--out", str(built), "--run", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, err = run("serve", "--out", str(built), "--port", port)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err



def test_serve_with_a_mistyped_store_path_is_an_error_even_when_editing(tmp_path: Path) -> None:
    """Curation writes into an existing store: a mistyped path is an error, read-only or not,
    and never becomes a new empty store."""
    for store in ({"type": "networkx.v1", "path": str(tmp_path / "kg.jsn")},
                  {"type": "rdf.v1", "path": str(tmp_path / "grpah.oxigraph")}):
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump({"store": store}))
        for edit in (False, True):
            with pytest.raises(ConfigError, match=f"no {store['type']} store at {re.escape(store['path'])}"):
                open_explorer(None, cfg, allow_edit=edit)
            assert not Path(store["path"]).exists(), (store, edit)
