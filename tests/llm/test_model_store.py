"""Where models live: the model store apart from the response cache; CPU thread defaults."""

import os
from pathlib import Path

import pytest

from kgjudge.llm import ModelSource, model_store_dir
from kgjudge.llm._models import _plain_copy_dir


def test_the_model_store_does_not_follow_the_response_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KGJUDGE_CACHE_DIR", str(tmp_path / "responses"))
    monkeypatch.delenv("KGJUDGE_MODEL_DIR", raising=False)
    assert model_store_dir() == Path.home() / ".cache" / "kgjudge" / "models"
    monkeypatch.setenv("KGJUDGE_MODEL_DIR", str(tmp_path / "store"))
    assert model_store_dir() == tmp_path / "store"
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")
    copy = _plain_copy_dir(ModelSource("m", str(tmp_path), "m.gguf"))
    assert copy.parent == tmp_path / "store" and copy.name.startswith("m-")


def test_cpu_threads_default_to_half_the_usable_cores(tiny_llama_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    from kgjudge.llm import HFBackend, HFConfig
    from kgjudge.llm._hf import cpu_threads

    cores = len(os.sched_getaffinity(0))
    assert cpu_threads() == max(1, cores // 2)
    before = torch.get_num_threads()
    try:
        HFBackend(HFConfig(model=str(tiny_llama_dir), device="cpu"))
        assert torch.get_num_threads() == cpu_threads()
        HFBackend(HFConfig(model=str(tiny_llama_dir), device="cpu", threads=2))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
