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


def test_entity_step_training_lists_the_entities_its_text_holds(tmp_path: Path, tiny_llama_dir: Path) -> None:
    from kgjudge.judges import ExtractorExample, build_examples, entity_examples, example_messages, load_train_config
    from kgjudge.stages import entity_request, parse_entities
    from kgjudge._pipeline_config import DenoiseConfig

    # entities in order of first mention; a gold element the text lacks is not an answer, and an
    # example left with none is dropped
    example = ExtractorExample(id="x", document_id="d", text="Born in Warsaw, Marie Curie moved.",
                               entities=["Marie Curie", "Poland", "warsaw"],
                               triples=[("Marie Curie", "country", "Poland")])
    empty = example.model_copy(update={"id": "y", "entities": ["Poland"]})
    assert [e.entities for e in entity_examples([example, empty])] == [["Marie Curie", "warsaw"]]

    config = write_config(tmp_path, tiny_llama_dir, "entities", "entities", steps=1)
    cfg = load_train_config(config)
    examples, _ = build_examples("entities", cfg)
    first = next(e for e in examples if e.document_id == "d0")
    assert first.entities == ["Town0", "Land0", "1800"]
    # the training prompt is the pipeline's entity request, the answer the JSON the stage parses
    messages, answer = example_messages(first, cfg, "entities")
    request = entity_request(first.text, DenoiseConfig())
    assert messages == request.messages
    assert parse_entities(json.loads(answer), DenoiseConfig()) == ["Town0", "Land0", "1800"]

    # `train data` writes them; an unknown task is refused, naming the tasks there are
    written = tmp_path / "entity-examples.jsonl"
    result = CliRunner().invoke(app, ["train", "data", "--config", str(config), "--task", "entities", "--out", str(written)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["entities"] for line in written.read_text().splitlines()] == [e.entities for e in examples]
    result = CliRunner().invoke(app, ["train", "data", "--config", str(config), "--task", "entity", "--out", str(written)])
    assert result.exit_code == 2 and "unknown task 'entity'" in result.output
    assert all(name in result.output for name in ("judge", "extractor", "entities"))

    result = CliRunner().invoke(app, ["train", "entities", "--config", str(config)])
    assert result.exit_code == 0, result.output
    meta = read_metadata(tmp_path / "entities")
    assert meta.task == "entities" and meta.prompt == "denoise_entities.v1"
    scores = meta.metrics["dev_entities"]
    assert scores["examples"] == 2 and scores["gold"] == 6 and 0 <= scores["correct"] <= scores["gold"]
    # the entity step loads it as any adapter: `denoise.adapter`
    llm = LLM(HFBackend(HFConfig(model=str(tiny_llama_dir), adapters={"entities": str(tmp_path / "entities")})))
    request = entity_request(first.text, DenoiseConfig(adapter="entities")).model_copy(
        update={"json_schema": None, "max_tokens": 4})
    tuned, base = llm.generate_sync([request, request.model_copy(update={"adapter": None})])
    assert tuned.adapter == "entities" and base.adapter is None and tuned.completion_tokens > 0


def test_document_groups_give_the_same_loss_as_one_example_at_a_time(tiny_backend: HFBackend) -> None:
    import transformers

    from kgjudge.judges.kasft._training import _GroupCollator, _answer_trainer, group_rows

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
    trainer_cls = _answer_trainer(transformers, torch)
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


def test_the_answer_loss_without_a_prefix_equals_the_full_causal_lm_loss(tiny_backend: HFBackend) -> None:
    import transformers

    from kgjudge.judges.kasft._training import _answer_trainer

    tok, model = tiny_backend.tokenizer, tiny_backend.model
    rows = [encode_example(tok, extract_messages(text), answer) for text, answer in [
        ("Paris is in France.", '[["Paris", "country", "France"]]'),
        ("Town1 lies in Land1 near the river. It was founded in 1801.", '[["Town1", "inception", "1801"]]'),
    ]]
    inputs = _Collator(tok.pad_token_id, torch)(rows)
    # the output layer runs on the answer positions only, the loss is the same
    loss = _answer_trainer(transformers, torch).compute_loss(None, model, inputs)
    assert float(loss.detach()) == pytest.approx(float(model(**inputs).loss.detach()), rel=1e-4)


def test_an_interrupted_training_resumes_from_its_last_checkpoint(
    tmp_path: Path, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers

    from kgjudge.judges.kasft import _training

    def config(out: str) -> Path:
        path = write_config(tmp_path, tiny_llama_dir, "judge", out, steps=4)
        raw = yaml.safe_load(path.read_text())
        raw["training"].update(save_steps=2, dev_judge_examples=2)
        raw["lora"]["dropout"] = 0.0
        path.write_text(yaml.safe_dump(raw))
        return path

    whole = _training.train("judge", _training.load_train_config(config("whole")), log=lambda m: None)

    class Stop(Exception):
        pass

    real = _training._progress_callback

    def stopping(transformers_: object, before: float) -> object:
        inner = real(transformers_, before)

        class StopAfterThree(type(inner)):  # type: ignore[misc]
            def on_step_end(self, args: object, state: object, control: object, **kwargs: object) -> None:
                if state.global_step == 3:  # type: ignore[attr-defined]
                    raise Stop

        return StopAfterThree()

    cut = _training.load_train_config(config("cut"))
    monkeypatch.setattr(_training, "_progress_callback", stopping)
    with pytest.raises(Stop):
        _training.train("judge", cut, log=lambda m: None)
    assert (tmp_path / "cut" / ".trainer" / "checkpoint-2").is_dir()
    monkeypatch.setattr(_training, "_progress_callback", real)
    logs: list[str] = []
    resumed = _training.train("judge", cut, log=logs.append)
    assert any("resuming from checkpoint-2" in m for m in logs)
    assert resumed.training["steps"] == 4 == whole.training["steps"]
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "whole" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    assert (tmp_path / "cut" / "dev_loss.png").is_file() or not any("eval_loss" in h for h in resumed.training["history"])

    # a constant-rate run stopped at step 3 ends at its step-2 checkpoint when max_steps becomes 2:
    # the checkpoint's weights, no further step
    constant = cut.model_copy(update={"training": cut.training.model_copy(update={"lr_scheduler": "constant_with_warmup"})})
    monkeypatch.setattr(_training, "_progress_callback", stopping)
    with pytest.raises(Stop):
        _training.train("judge", constant, log=lambda m: None, restart=True)
    monkeypatch.setattr(_training, "_progress_callback", real)
    checkpoint = load_file(str(tmp_path / "cut" / ".trainer" / "checkpoint-2" / "adapter_model.safetensors"))
    short = constant.model_copy(update={"training": constant.training.model_copy(update={"max_steps": 2})})
    ended = _training.train("judge", short, log=lambda m: None)
    final = load_file(str(tmp_path / "cut" / "adapter_model.safetensors"))
    assert ended.training["steps"] == 2 and all(torch.allclose(final[k].float(), checkpoint[k].float(), atol=1e-3) for k in final)
    assert "train_loss" in ended.metrics

    monkeypatch.setattr(_training, "_progress_callback", stopping)
    # another config over the same folder is refused, not silently mixed in
    monkeypatch.setattr(_training, "_progress_callback", stopping)
    with pytest.raises(Stop):
        _training.train("judge", cut, log=lambda m: None, restart=True)
    other = cut.model_copy(update={"training": cut.training.model_copy(update={"learning_rate": 0.02})})
    with pytest.raises(_training.ConfigError, match="another training config"):
        _training.train("judge", other, log=lambda m: None)
    del transformers


def test_a_finished_run_is_continued_past_max_steps_or_never_silently_replaced(tmp_path: Path, tiny_llama_dir: Path) -> None:
    """A constant-rate run keeps its last checkpoint, so raising max_steps continues it; a
    finished run with nothing to continue from is not trained over without --restart."""
    from kgjudge.judges.kasft import _training

    path = write_config(tmp_path, tiny_llama_dir, "judge", "constant", steps=2)
    raw = yaml.safe_load(path.read_text())
    raw["training"].update(lr_scheduler="constant_with_warmup", save_steps=5, dev_judge_examples=2)
    path.write_text(yaml.safe_dump(raw))
    config = _training.load_train_config(path)
    first = _training.train("judge", config, log=lambda m: None)
    assert first.training["steps"] == 2
    assert (tmp_path / "constant" / ".trainer" / "checkpoint-2").is_dir()  # saved at the end, not at save_steps
    longer = config.model_copy(update={"training": config.training.model_copy(update={"max_steps": 3})})
    logs: list[str] = []
    second = _training.train("judge", longer, log=logs.append)
    assert any("resuming from checkpoint-2" in m for m in logs), logs
    assert second.training["steps"] == 3

    path = write_config(tmp_path, tiny_llama_dir, "judge", "linear", steps=1)
    raw = yaml.safe_load(path.read_text())
    raw["training"]["dev_judge_examples"] = 2
    path.write_text(yaml.safe_dump(raw))
    linear = _training.load_train_config(path)
    _training.train("judge", linear, log=lambda m: None)
    assert not (tmp_path / "linear" / ".trainer").exists()
    before = (tmp_path / "linear" / "adapter_model.safetensors").read_bytes()
    longer = linear.model_copy(update={"training": linear.training.model_copy(update={"max_steps": 2})})
    with pytest.raises(_training.ConfigError, match="already holds a trained adapter") as err:
        _training.train("judge", longer, log=lambda m: None)
    assert str(tmp_path / "linear") in str(err.value) and "--restart" in str(err.value)
    assert (tmp_path / "linear" / "adapter_model.safetensors").read_bytes() == before
    assert _training.train("judge", longer, log=lambda m: None, restart=True).training["steps"] == 2


def test_training_can_start_from_an_existing_adapter(tmp_path: Path, tiny_llama_dir: Path) -> None:
    from safetensors.torch import load_file

    from kgjudge.judges.kasft import _training

    first = write_config(tmp_path, tiny_llama_dir, "judge", "first", steps=2)
    _training.train("judge", _training.load_train_config(first), log=lambda m: None)
    raw = yaml.safe_load(first.read_text())
    raw.update(output=str(tmp_path / "second"), init_adapter=str(tmp_path / "first"))
    raw["lora"] = {"r": 2, "target_modules": ["k_proj"]}  # replaced by the init adapter's settings
    raw["training"].update(max_steps=1, learning_rate=1e-12, warmup_steps=0)
    second = tmp_path / "second.yaml"
    second.write_text(yaml.safe_dump(raw))
    logs: list[str] = []
    meta = _training.train("judge", _training.load_train_config(second), log=logs.append)
    assert any("starting from the weights of" in m for m in logs)
    assert meta.lora["r"] == 4 and meta.lora["target_modules"] == ["q_proj", "v_proj"]
    a = load_file(str(tmp_path / "first" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "second" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_what_a_checkpoint_must_agree_with_to_be_resumed(tmp_path: Path, tiny_llama_dir: Path) -> None:
    from kgjudge.judges.kasft._training import _run_fingerprint, load_train_config

    config = load_train_config(write_config(tmp_path, tiny_llama_dir, "judge", "fp"))

    def changed(**training: object) -> str:
        return _run_fingerprint(config.model_copy(update={"training": config.training.model_copy(update=training)}), "d")

    base = _run_fingerprint(config, "d")
    assert changed(eval_steps=5, save_steps=7, logging_steps=3, eval_batch_size=2) == base  # nor does evaluation
    assert changed(max_steps=99) != base and changed(learning_rate=0.5) != base and _run_fingerprint(config, "e") != base
    constant = config.model_copy(update={"training": config.training.model_copy(update={"lr_scheduler": "constant_with_warmup"})})
    longer = constant.model_copy(update={"training": constant.training.model_copy(update={"max_steps": 99})})
    assert _run_fingerprint(constant, "d") == _run_fingerprint(longer, "d")  # a constant-rate run can be continued
