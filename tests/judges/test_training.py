"""LoRA training on a tiny random Llama: label masking, a few steps, metadata, loading the
adapter in the hf backend, seeding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("peft")
torch = pytest.importorskip("torch")

from kgjudge.cli import app  # noqa: E402
from kgjudge.judges import (  # noqa: E402
    encode_example,
    extract_messages,
    judge_messages,
    judge_request,
    read_metadata,
)
from kgjudge.judges.kasft._training import _Collator  # noqa: E402
from kgjudge.llm import LLM, HFBackend, HFConfig  # noqa: E402


@pytest.fixture(scope="module")
def tiny_backend(tiny_llama_dir: Path) -> HFBackend:
    return HFBackend(HFConfig(model=str(tiny_llama_dir)))


def test_loss_is_on_the_answer_tokens_only_and_ends_with_eos(tiny_backend: HFBackend) -> None:
    tok = tiny_backend.tokenizer
    messages = judge_messages("Paris is in France.", "Paris", "country", "France")
    enc = encode_example(tok, messages, "Yes")
    answer = tok("Yes", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    n_prompt = len(enc["input_ids"]) - len(answer)
    assert enc["labels"][:n_prompt] == [-100] * n_prompt
    assert enc["labels"][n_prompt:] == answer == enc["input_ids"][n_prompt:]
    # the training prompt is exactly what the hf backend sends at inference
    request = judge_request("Paris is in France.", "Paris", "country", "France")
    assert enc["input_ids"][:n_prompt] == tiny_backend._prompt_ids(request)

    extract = encode_example(tok, extract_messages("Paris is in France."), '[["Paris", "country", "France"]]')
    kept = [t for t, label in zip(extract["input_ids"], extract["labels"]) if label != -100]
    assert tok.decode(kept[:-1]) == '[["Paris", "country", "France"]]' and kept[-1] == tok.eos_token_id

    batch = _Collator(tok.pad_token_id, torch)([enc, extract])
    short = 0 if len(enc["input_ids"]) < len(extract["input_ids"]) else 1
    pad = batch["attention_mask"][short] == 0
    assert pad.any() and (batch["labels"][short][pad] == -100).all()


def write_config(tmp_path: Path, model: Path, task: str, out: str, steps: int = 3) -> Path:
    gold = tmp_path / "gold.jsonl"
    rows = [
        {"id": f"d{i}", "text": f"Town{i} lies in Land{i % 3}. It was founded in {1800 + i}.",
         "triples": [[f"Town{i}", "country", f"Land{i % 3}"], [f"Town{i}", "inception", str(1800 + i)]]}
        for i in range(20)
    ]
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / f"{out}.yaml"
    config.write_text(yaml.safe_dump({
        "model": str(model),
        "output": str(tmp_path / out),
        "max_document_chars": 200,
        "data": {"sources": [{"jsonl": str(gold)}], "dev_fraction": 0.2, "test_fraction": 0.2},
        "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "training": {"max_steps": steps, "batch_size": 2, "learning_rate": 0.01, "warmup_steps": 0,
                     "logging_steps": 1, "dev_judge_examples": 6, "dev_extract_examples": 2, "seed": 7},
    }))
    return config


def test_a_few_steps_of_lora_training_give_an_adapter_the_hf_backend_loads(
    tmp_path: Path, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kgjudge._progress import Progress

    progresses: list[Progress] = []
    monkeypatch.setattr(Progress, "start", lambda self, real=Progress.start: progresses.append(self) or real(self))
    config = write_config(tmp_path, tiny_llama_dir, "judge", "judge-a")
    result = CliRunner().invoke(app, ["train", "judge", "--config", str(config)])
    assert result.exit_code == 0, result.output
    # progress in training steps, then in dev examples (with the judge's model requests)
    steps, dev = progresses
    assert (steps.desc, steps.unit, steps.total, steps.done) == ("train judge", "steps", 3, 3)
    assert (dev.unit, dev.total, dev.done, dev.finished) == ("examples", 6, 6, 6)
    out = tmp_path / "judge-a"
    meta = read_metadata(out)
    assert meta.task == "judge" and meta.base_model == str(tiny_llama_dir) and meta.prompt == "triple_judge.v1"
    assert meta.training["steps"] == 3 and meta.training["seconds"] > 0 and len(meta.data_hash) == 16
    assert meta.metrics["dev_judge"]["n"] == 6 and "dev_loss" in meta.metrics and "train_loss" in meta.metrics
    counts = meta.data["sources"][0]["examples"]["train"]
    assert counts["positive"] > 0 and sum(v for k, v in counts.items() if k != "positive") > 0
    assert (out / "adapter_model.safetensors").is_file() and (out / "train.yaml").read_text() == config.read_text()
    assert not (out / ".trainer").exists()

    backend = HFBackend(HFConfig(model=str(tiny_llama_dir), adapters={"judge": str(out)}))
    llm = LLM(backend)
    req = judge_request("Town1 lies in Land1.", "Town1", "country", "Land1")
    tuned, base = llm.score_choices_sync([req.model_copy(update={"adapter": "judge"}), req])
    assert tuned.adapter == "judge" and tuned.logprobs != pytest.approx(base.logprobs, abs=1e-6)

    # same seed, same data: the same adapter
    again = write_config(tmp_path, tiny_llama_dir, "judge", "judge-b")
    assert CliRunner().invoke(app, ["train", "judge", "--config", str(again)]).exit_code == 0
    a = (out / "adapter_model.safetensors").read_bytes()
    b = (tmp_path / "judge-b" / "adapter_model.safetensors").read_bytes()
    assert a == b and read_metadata(tmp_path / "judge-b").data_hash == meta.data_hash


def test_extractor_training_and_bad_configs(tmp_path: Path, tiny_llama_dir: Path) -> None:
    config = write_config(tmp_path, tiny_llama_dir, "extractor", "extractor", steps=1)
    result = CliRunner().invoke(app, ["train", "extractor", "--config", str(config)])
    assert result.exit_code == 0, result.output
    meta = read_metadata(tmp_path / "extractor")
    assert meta.prompt == "triple_extract.v1" and meta.metrics["dev_extraction"]["documents"] == 2
    bad = yaml.safe_load(config.read_text())
    bad["training"]["max_step"] = 3
    config.write_text(yaml.safe_dump(bad))
    result = CliRunner().invoke(app, ["train", "judge", "--config", str(config)])
    assert result.exit_code == 2 and "training.max_step" in result.output and "max_steps" in result.output


def test_document_groups_give_the_same_loss_as_one_example_at_a_time(tiny_backend: HFBackend) -> None:
    import transformers

    from kgjudge.judges.kasft._training import _GroupCollator, _group_trainer, group_rows

    tok, model = tiny_backend.tokenizer, tiny_backend.model
    doc = "Town1 lies in Land1 near the river. It was founded in 1801 by settlers."
    rows = [
        encode_example(tok, judge_messages(doc, "Town1", rel, tail), answer)
        for rel, tail, answer in [("country", "Land1", "Yes"), ("inception", "1802", "No"), ("located next to", "river", "Yes")]
    ]
    (group,) = group_rows(rows, ["d1"] * 3, max_group=8)
    assert len(group["prefix"]) > 20
    assert all(label[0] == -100 for label in group["labels"])  # every answer is predicted inside its remainder
    inputs = _GroupCollator(tok.pad_token_id, torch)([group])
    trainer_cls = _group_trainer(transformers, torch)
    grouped = trainer_cls.compute_loss(None, model, inputs)  # the method uses nothing of the trainer
    plain = _Collator(tok.pad_token_id, torch)(rows)
    reference = model(**plain).loss  # transformers' own causal-LM loss over all answer tokens
    assert float(grouped.detach()) == pytest.approx(float(reference.detach()), rel=1e-4)
    # and the same gradients: the shared prefix is trained through its cache
    weight = model.model.layers[0].self_attn.q_proj.weight
    weight.grad = None
    grouped.backward()
    via_groups = weight.grad.clone()
    weight.grad = None
    reference.backward()
    assert torch.allclose(via_groups, weight.grad, rtol=1e-3, atol=1e-6) and via_groups.abs().sum() > 0
    weight.grad = None
