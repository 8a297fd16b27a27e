"""The packaged adapters: resolution from backend configs, loading, and (slow) quality."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kgjudge import ConfigError
from kgjudge.judges import build_judge_examples, load_text_graph_pair, load_train_config, read_metadata
from kgjudge.llm import HFConfig, VLLMConfig, resolve_adapter

PACKAGED = ["smollm2-extractor.v1", "smollm2-judge.v1"]
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "rebel_sub"


def test_packaged_names_resolve_to_folders_with_metadata() -> None:
    for name in PACKAGED:
        folder = Path(resolve_adapter(f"packaged:{name}"))
        assert folder.name == name and (folder / "adapter_config.json").is_file()
        assert (folder / "adapter_model.safetensors").stat().st_size < 8 * 2**20
        meta = read_metadata(folder)
        assert meta.base_model == "smollm2-135m-instruct" and meta.training["steps"] > 0
        assert load_train_config(folder / "train.yaml").model == "smollm2-135m-instruct"
        assert (folder / "EVAL.md").is_file()
    assert resolve_adapter("/some/folder") == "/some/folder"
    with pytest.raises(ConfigError) as err:
        resolve_adapter("packaged:nope.v1")
    assert "packaged:smollm2-judge.v1" in str(err.value) and "key 'adapters'" in str(err.value)
    # configs keep the name; backends resolve it when they load adapters
    assert HFConfig(adapters={"judge": "packaged:smollm2-judge.v1"}).adapters["judge"] == "packaged:smollm2-judge.v1"
    assert VLLMConfig(adapters={"judge": "packaged:smollm2-judge.v1"}).adapters["judge"].startswith("packaged:")


@pytest.fixture(scope="module")
def smollm2_with_adapters(smollm2_tokenizer_dir: Path):
    from kgjudge.llm import LLM, HFBackend

    backend = HFBackend(HFConfig(threads=1, adapters={n.split(".")[0].split("-")[1]: f"packaged:{n}" for n in PACKAGED}))
    llm = LLM(backend)
    yield llm
    llm.close()


def test_the_packaged_adapters_load_in_the_hf_backend(smollm2_with_adapters) -> None:
    from kgjudge.judges import judge_request

    assert set(smollm2_with_adapters.backend.adapters) == {"judge", "extractor"}
    req = judge_request("Paris is the capital of France.", "Paris", "capital of", "France")
    tuned, base = smollm2_with_adapters.score_choices_sync([req.model_copy(update={"adapter": "judge"}), req])
    assert tuned.adapter == "judge" and tuned.logprobs != pytest.approx(base.logprobs, abs=1e-4)


@pytest.mark.slow
def test_the_tuned_judge_beats_the_untuned_model_on_held_out_documents(smollm2_with_adapters) -> None:
    from kgjudge.judges import GraphJudger, GraphJudgerConfig

    if not (DATA / "val.target").is_file():
        pytest.skip("development data not present")
    folder = Path(resolve_adapter("packaged:smollm2-judge.v1"))
    split = load_train_config(folder / "train.yaml").data
    corpus = load_text_graph_pair(DATA / "val.target", DATA / "val.source", name="rebel_sub/val")
    examples, _ = build_judge_examples(corpus, seed=split.seed, dev_fraction=split.dev_fraction,
                                       test_fraction=split.test_fraction)
    test = [e for e in examples if e.split == "test"]
    rng = random.Random(11)
    picked = rng.sample([e for e in test if e.label], 12) + rng.sample([e for e in test if not e.label], 12)
    max_chars = read_metadata(folder).max_document_chars
    accuracy = {}
    for adapter in ("judge", None):
        judge = GraphJudger(smollm2_with_adapters, GraphJudgerConfig(adapter=adapter, max_document_chars=max_chars))
        scores = judge.score_examples_sync(picked)
        accuracy[adapter] = sum((s >= 0.5) == e.label for s, e in zip(scores, picked)) / len(picked)
    assert accuracy["judge"] > accuracy[None] and accuracy["judge"] >= 0.7, accuracy


def test_every_packaged_adapter_and_training_config_keeps_out_of_the_dev_split() -> None:
    """No packaged adapter trains on the fixed dev split that every evaluation reports on."""
    from kgjudge.judges import dev_part, split_of
    from kgjudge.llm._models import packaged_adapters_dir

    repo = Path(__file__).resolve().parents[2]
    folders = [p for p in packaged_adapters_dir().iterdir() if (p / "adapter_config.json").is_file()]
    assert {"smollm2-extractor.v1", "smollm2-extractor.v2", "smollm2-extractor.v3", "smollm2-extractor.v4", "smollm2-judge.v1",
            "smollm2-judge.v2"} <= {p.name for p in folders}
    configs = [p / "train.yaml" for p in folders] + sorted((repo / "configs" / "train").glob("*.yaml"))
    ids = [f"{corpus}:{line}" for corpus in ("rebel_sub/val", "scierc/train") for line in range(1, 2001)]
    for path in configs:
        data = load_train_config(path).data
        trained = [i for i in ids if split_of(i, seed=data.seed, dev_fraction=data.dev_fraction,
                                               test_fraction=data.test_fraction) == "train"]
        assert trained and not [i for i in trained if dev_part(i) is not None], path
    for folder in folders:
        assert (folder / "EVAL.md").is_file() and (folder / "adapter_model.safetensors").stat().st_size < 8 * 2**20
        if load_train_config(folder / "train.yaml").data.chunking is not None:
            assert (folder / "dev_loss.png").is_file()


def test_the_default_config_names_packaged_adapters_that_exist() -> None:
    from kgjudge import load_config

    repo = Path(__file__).resolve().parents[2]
    config = load_config(repo / "configs" / "pipelines" / "default.yaml")
    for spec in config.backends["default"].adapters.values():
        assert (Path(resolve_adapter(spec)) / "kgjudge_adapter.json").is_file()
    assert config.judge.context == "chunk"
