"""LoRA fine-tuning of a judge, an extractor or an entity lister (peft + the transformers Trainer).

Examples are rendered by the same prompt builder the judges and the pipeline's stages use at
inference and tokenised the way the ``hf`` backend tokenises chat requests; the answer
(``Yes``/``No``, the triples JSON, or the entities JSON of the denoiser's entity step) is
followed by the end-of-sequence token, and only the answer tokens carry a loss (every prompt
position has label -100). The adapter folder holds the peft files plus ``kgjudge_adapter.json``
(base model, prompt version, data hash, training steps and time, dev metrics) and the training
config, and loads in the ``hf`` backend, the in-process ``vllm`` backend and ``vllm serve
--lora-modules``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from kgjudge import __version__
from kgjudge._config import Section, read_yaml, validation_error
from kgjudge._errors import ConfigError, InputError
from kgjudge._extras import require
from kgjudge._jsonl import read_jsonl
from kgjudge._pipeline_config import ChunkingConfig
from kgjudge._progress import Progress
from kgjudge._records import ChatMessage, Record
from kgjudge.judges.kasft._data import (
    CORRUPTION_KINDS,
    ExtractorExample,
    GoldCorpus,
    JudgeExample,
    KasftStats,
    build_extractor_examples,
    build_judge_examples,
    chunk_documents,
    data_hash,
    extracted_by_chunk,
    hard_negatives,
    load_gold_jsonl,
    load_text_graph_pair,
    split_of,
)
from kgjudge.judges.triples._prompting import JUDGE_PROMPT, judge_answer, judge_messages, prompt_token_ids
from kgjudge.llm import DEFAULT_MODEL

# The extraction prompt is the pipeline's own, so the extractor adapter is trained on exactly
# what `kgjudge build` asks it.
from kgjudge.stages import (
    ENTITIES_PROMPT,
    EXTRACT_PROMPT,
    entity_answer,
    entity_messages,
    extract_answer,
    extract_messages,
)

Task = Literal["judge", "extractor", "entities"]
DEFAULT_PROMPTS: dict[str, str] = {"judge": JUDGE_PROMPT, "extractor": EXTRACT_PROMPT, "entities": ENTITIES_PROMPT}
METADATA_FILE = "kgjudge_adapter.json"
CONFIG_FILE = "train.yaml"


class DataSource(Section):
    """One gold corpus: a line-aligned ``text``/``graph`` pair (``*.target``/``*.source``) or a
    ``jsonl`` file of ``{"id", "text", "triples"}``; or, for the judge, ``examples``: a JSONL
    file of labelled judge examples used as they are (``kgjudge export-labels`` writes one from
    people's decisions; ``kgjudge train data`` writes the same records)."""

    text: str | None = None
    graph: str | None = None
    jsonl: str | None = None
    examples: str | None = Field(default=None, description="JSONL of JudgeExample records (judge only)")
    name: str | None = Field(default=None, description="prefix of document ids (default: folder/stem)")
    max_documents: int | None = Field(default=None, ge=1, description="use only the first N documents")

    def load(self) -> GoldCorpus:
        if self.examples:
            raise ConfigError("an 'examples' source holds judge examples, not a gold corpus", key="data.sources")
        if self.jsonl and not (self.text or self.graph):
            corpus = load_gold_jsonl(self.jsonl)
        elif self.text and self.graph and not self.jsonl:
            corpus = load_text_graph_pair(self.text, self.graph, name=self.name)
        else:
            raise ConfigError("give either 'text' and 'graph', or 'jsonl', or 'examples'", key="data.sources")
        if self.max_documents:
            corpus = GoldCorpus(documents=corpus.documents[: self.max_documents], malformed_triples=corpus.malformed_triples)
        return corpus


class DataConfig(Section):
    """Which documents, how they are split, and how judge negatives are made."""

    sources: list[DataSource] = Field(min_length=1)
    seed: int = 0
    dev_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(default=0.2, ge=0.0, lt=1.0, description="held out; never trained on")
    kinds: list[str] = Field(default_factory=lambda: list(CORRUPTION_KINDS))
    negatives_per_positive: int = Field(default=1, ge=1)
    with_entities: bool = Field(default=False, description="extractor: give the entity list in the prompt")
    max_train_examples: int | None = Field(default=None, ge=1, description="seeded sample of the train split")
    max_dev_examples: int = Field(default=200, ge=1, description="seeded sample of the dev split")
    hard_negatives: list[str] = Field(
        default_factory=list,
        description="judge: `kgjudge build` output folders over these sources' documents (ids as in "
        "the sources, chunking as data.chunking): the extractor's own wrong triples become negatives",
    )
    chunking: ChunkingConfig | None = Field(
        default=None,
        description="train on the chunks `kgjudge build` makes with these settings (the pipeline's "
        "`chunking:`), each with the gold triples it states; none: whole documents",
    )


class LoraSettings(Section):
    """peft LoRA settings."""

    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


class OptimConfig(Section):
    """Trainer settings."""

    max_steps: int = Field(default=200, ge=1)
    batch_size: int = Field(default=4, ge=1, description="examples per step (document groups with group_by_document)")
    eval_batch_size: int | None = Field(
        default=None, ge=1,
        description="examples per dev-loss batch (default: batch_size); the dev loss is the mean of "
        "the batches' token means, so dev losses compare across runs only at one eval_batch_size",
    )
    grad_accum: int = Field(default=1, ge=1)
    learning_rate: float = Field(default=3e-4, gt=0)
    warmup_steps: int = Field(default=10, ge=0)
    lr_scheduler: Literal["linear", "constant_with_warmup"] = Field(
        default="linear",
        description="linear: decays to 0 at max_steps; constant_with_warmup: a run can later be "
        "continued past max_steps from its last checkpoint (max_steps is then not part of the run's identity)",
    )
    max_length: int = Field(default=512, ge=8, description="longer examples are skipped (and counted)")
    bf16: bool = Field(default=False, description="bfloat16 autocast (CPUs with AVX512-BF16, GPUs)")
    seed: int = 0
    threads: int | None = Field(default=None, ge=1)
    logging_steps: int = Field(default=10, ge=1)
    eval_steps: int | None = Field(default=None, ge=1, description="dev loss every N steps (default: at the end)")
    save_steps: int = Field(
        default=50, ge=1,
        description="checkpoint every N steps in <output>/.trainer; a run started again resumes from the last one",
    )
    group_by_document: bool = Field(
        default=True,
        description="train each document's examples together: their shared prompt prefix (the "
        "document) is run once and its key/value cache feeds every example (the loss is unchanged)",
    )
    max_group: int = Field(default=8, ge=1, description="examples per document group")
    save_dtype: Literal["float32", "bfloat16", "float16"] = Field(
        default="float32", description="dtype of the saved adapter weights"
    )
    dev_judge_examples: int = Field(default=200, ge=0, description="judge: dev examples scored after training")
    dev_extract_examples: int = Field(default=8, ge=0, description="extractor: dev documents generated after training")


class TrainConfig(Section):
    """A training run (``kgjudge train judge|extractor --config FILE``).

    Example (YAML)::

        model: smollm2-135m-instruct
        output: out/judge-adapter
        data:
          sources: [{text: ../shared/data/rebel_sub/val.target, graph: ../shared/data/rebel_sub/val.source}]
        training: {max_steps: 200, batch_size: 4}
    """

    model: str = DEFAULT_MODEL
    gguf_file: str | None = None
    output: str
    prompt: str | None = Field(default=None, description="template version (default per task)")
    max_document_chars: int | None = Field(default=1200, ge=1)
    init_adapter: str | None = Field(
        default=None,
        description="start from this adapter's weights (a folder or packaged:<name>; its LoRA settings "
        "replace `lora:`); none: a fresh LoRA",
    )
    data: DataConfig
    lora: LoraSettings = Field(default_factory=LoraSettings)
    training: OptimConfig = Field(default_factory=OptimConfig)


class AdapterMetadata(Record):
    """What ``kgjudge_adapter.json`` records about a trained adapter."""

    task: Task
    base_model: str
    prompt: str
    max_document_chars: int | None
    data_hash: str
    data: dict[str, Any]
    lora: dict[str, Any]
    training: dict[str, Any]
    metrics: dict[str, Any]
    kgjudge_version: str


def load_train_config(path: str | Path) -> TrainConfig:
    """Read and validate a training config (errors name the file and key)."""
    path = Path(path)
    raw = read_yaml(path)
    try:
        return TrainConfig.model_validate(raw or {})
    except ValidationError as exc:
        raise validation_error(exc, TrainConfig, file=str(path), prefix="") from exc


def encode_example(tokenizer: Any, messages: Sequence[ChatMessage], answer: str) -> dict[str, list[int]]:
    """``input_ids`` = prompt + answer + EOS; ``labels`` = -100 on the prompt, the ids elsewhere.

    Example:
        >>> enc = encode_example(tok, judge_messages("doc", "a", "r", "b"), "Yes")
        >>> [t for t, l in zip(enc["input_ids"], enc["labels"]) if l != -100] == tok("Yes")["input_ids"] + [tok.eos_token_id]
    """
    prompt = prompt_token_ids(tokenizer, messages)
    answer_ids = list(tokenizer(answer, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
    return {"input_ids": prompt + answer_ids, "labels": [-100] * len(prompt) + answer_ids}


def example_messages(
    example: JudgeExample | ExtractorExample, config: TrainConfig, task: Task | None = None
) -> tuple[list[ChatMessage], str]:
    """The prompt messages and the answer of one example, from the shared prompt builder
    (``task`` "entities": the denoiser's entity step, answered with the example's entities)."""
    if task == "entities" and isinstance(example, ExtractorExample):
        messages = entity_messages(example.text, prompt=config.prompt or ENTITIES_PROMPT,
                                   max_document_chars=config.max_document_chars)
        return messages, entity_answer(example.entities)
    if isinstance(example, JudgeExample):
        messages = judge_messages(
            example.document, example.head, example.relation, example.tail,
            prompt=config.prompt or JUDGE_PROMPT, max_document_chars=config.max_document_chars,
        )
        return messages, judge_answer(example.label)
    messages = extract_messages(
        example.text, example.entities, prompt=config.prompt or EXTRACT_PROMPT,
        max_document_chars=config.max_document_chars,
    )
    return messages, extract_answer(example.triples)


def build_examples(task: Task, config: TrainConfig) -> tuple[list[Any], dict[str, Any]]:
    """All examples of the configured corpora (every split) and a summary with counts per kind."""
    data = config.data
    given = [src for src in data.sources if src.examples]
    if given and (task != "judge" or any(src.text or src.graph or src.jsonl for src in given)):
        raise ConfigError("an 'examples' source is a file of judge examples: give it alone, and train a judge with it",
                          key="data.sources")
    corpora = [src.load() for src in data.sources if not src.examples]
    chunk_stats = []
    gold = {d.id: d.triples for corpus in corpora for d in corpus.documents}
    if data.hard_negatives and (task != "judge" or data.chunking is None):
        raise ConfigError("hard_negatives need task judge and data.chunking (they name chunks)", key="data.hard_negatives")
    if data.chunking is not None:
        chunked = []
        for corpus in corpora:
            chunks, assignment = chunk_documents(corpus.documents, data.chunking)
            chunked.append(GoldCorpus(documents=chunks, malformed_triples=corpus.malformed_triples))
            chunk_stats.append(assignment.model_dump())
        corpora = chunked
    if task == "judge":
        examples: list[Any] = []
        stats: list[KasftStats] = []
        for corpus in corpora:
            ex, st = build_judge_examples(
                corpus, seed=data.seed, dev_fraction=data.dev_fraction, test_fraction=data.test_fraction,
                kinds=data.kinds, negatives_per_positive=data.negatives_per_positive,
            )
            examples += ex
            stats.append(st)
        labelled = [_labelled(src, data) for src in given]
        for found in labelled:
            examples += found
        summary = {"sources": [s.model_dump() for s in stats],
                   "labelled": [{"file": src.examples, "examples": len(found)} for src, found in zip(given, labelled)]}
        if data.hard_negatives:
            extracted: dict[str, list[tuple[str, str, str]]] = {}
            for folder in data.hard_negatives:
                for chunk_id, triples in extracted_by_chunk(folder).items():
                    extracted.setdefault(chunk_id, []).extend(triples)
            hard, counts = hard_negatives(
                [d for c in corpora for d in c.documents], extracted, gold,
                seed=data.seed, dev_fraction=data.dev_fraction, test_fraction=data.test_fraction,
            )
            examples += hard
            summary["hard_negatives"] = counts
    else:
        examples = []
        for corpus in corpora:
            examples += build_extractor_examples(
                corpus, seed=data.seed, dev_fraction=data.dev_fraction, test_fraction=data.test_fraction,
                with_entities=data.with_entities or task == "entities", max_chars=config.max_document_chars,
            )
        if task == "entities":
            examples = entity_examples(examples)
        counts: dict[str, int] = {}
        for e in examples:
            counts[e.split] = counts.get(e.split, 0) + 1
        summary = {"documents": counts, "malformed_triples": sum(c.malformed_triples for c in corpora)}
    if chunk_stats:
        summary["chunk_assignment"] = chunk_stats
    return examples, summary


def _labelled(source: DataSource, data: DataConfig) -> list[JudgeExample]:
    """The judge examples of an ``examples`` file, each put in the split its document gets
    here, so a document never lands in two splits across sources."""
    found = read_jsonl(source.examples, JudgeExample)  # type: ignore[arg-type]
    if source.max_documents:
        keep = set(list(dict.fromkeys(e.document_id for e in found))[: source.max_documents])
        found = [e for e in found if e.document_id in keep]
    return [
        e.model_copy(update={"split": split_of(e.document_id, seed=data.seed, dev_fraction=data.dev_fraction,
                                               test_fraction=data.test_fraction)})
        for e in found
    ]


def entity_examples(examples: Sequence[ExtractorExample]) -> list[ExtractorExample]:
    """Entity-step examples: each extractor example's entities that its text holds (ignoring
    case), in order of first mention; examples left with none are dropped. A gold head or tail
    the text does not show would teach the entity step to name what is not there."""
    out = []
    for e in examples:
        folded = e.text.casefold()
        found = [name for name in e.entities if name.casefold() in folded]
        if found:
            out.append(e.model_copy(update={"entities": found}))
    return out


def _sample(items: list[Any], limit: int | None, seed: int) -> list[Any]:
    if limit is None or len(items) <= limit:
        return list(items)
    picked = random.Random(seed).sample(range(len(items)), limit)
    return [items[i] for i in sorted(picked)]


class _Collator:
    """Right-pads a batch; padding gets attention 0 and label -100 (pad and EOS may be one id)."""

    def __init__(self, pad_id: int, torch: Any) -> None:
        self.pad_id = pad_id
        self.torch = torch

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        torch = self.torch
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _common_prefix(rows: list[list[int]]) -> int:
    n = min(len(r) for r in rows)
    for k in range(n):
        if any(r[k] != rows[0][k] for r in rows[1:]):
            return k
    return n


def group_rows(rows: list[dict[str, list[int]]], keys: list[str], max_group: int) -> list[dict[str, Any]]:
    """Examples of one document (``keys``) in groups of at most ``max_group``: each group is the
    longest prompt prefix its members share plus every member's remainder (at least one prompt
    token, so every answer token is predicted inside the remainder)."""
    by_key: dict[str, list[dict[str, list[int]]]] = {}
    for row, key in zip(rows, keys):
        by_key.setdefault(key, []).append(row)
    groups = []
    for members in by_key.values():
        for start in range(0, len(members), max_group):
            chunk = members[start : start + max_group]
            first_label = [next(i for i, x in enumerate(r["labels"]) if x != -100) for r in chunk]
            cut = min(_common_prefix([r["input_ids"] for r in chunk]), min(first_label) - 1)
            cut = max(cut, 0)
            groups.append({
                "prefix": chunk[0]["input_ids"][:cut],
                "rests": [r["input_ids"][cut:] for r in chunk],
                "labels": [r["labels"][cut:] for r in chunk],
            })
    return groups


class _GroupCollator:
    """One document group per item: the prefix, and the right-padded remainders with labels."""

    def __init__(self, pad_id: int, torch: Any) -> None:
        self.rows = _Collator(pad_id, torch)
        self.torch = torch

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        (item,) = items
        batch = self.rows([{"input_ids": r, "labels": l} for r, l in zip(item["rests"], item["labels"])])
        return {"prefix_ids": self.torch.tensor([item["prefix"]], dtype=self.torch.long), **batch}


def _answer_loss(model: Any, torch: Any, labels: Any, num_items_in_batch: Any, **inputs: Any) -> tuple[Any, Any]:
    """Cross-entropy on the answer tokens; the output layer runs only from the first answer
    position on (``logits_to_keep``), since prompt positions carry no loss: a large vocabulary
    (Gemma's 262k) makes the output layer over a whole prompt a large share of the step."""
    width = labels.shape[1]
    labelled = (labels != -100).any(dim=0).nonzero()
    first = int(labelled[0]) if len(labelled) else width - 1
    keep = width - max(first - 1, 0)
    out = model(**inputs, logits_to_keep=keep)
    logits = out.logits[:, :-1].float()
    target = labels[:, width - keep + 1 :]
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="sum"
    )
    # Mean over the answer tokens of the whole optimiser step, as the default loss does.
    count = num_items_in_batch if num_items_in_batch is not None else (target != -100).sum()
    return loss / count, out


def _answer_trainer(transformers: Any, torch: Any) -> Any:
    """A Trainer whose loss covers the answer tokens only; for document groups it runs a
    group's shared prefix once and its remainders on the key/value cache."""

    class AnswerTrainer(transformers.Trainer):
        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            ids, mask, labels = inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
            prefix = inputs.get("prefix_ids")
            if prefix is not None and prefix.shape[1]:
                rows, width = ids.shape
                cache = transformers.DynamicCache()
                model(input_ids=prefix, past_key_values=cache, use_cache=True, logits_to_keep=1)
                cache.batch_repeat_interleave(rows)
                full_mask = torch.cat([torch.ones((rows, prefix.shape[1]), dtype=mask.dtype, device=mask.device), mask], 1)
                positions = prefix.shape[1] + torch.arange(width, device=ids.device).unsqueeze(0).expand(rows, -1)
                loss, out = _answer_loss(model, torch, labels, num_items_in_batch, input_ids=ids,
                                         attention_mask=full_mask, position_ids=positions,
                                         past_key_values=cache, use_cache=True)
            else:
                loss, out = _answer_loss(model, torch, labels, num_items_in_batch, input_ids=ids, attention_mask=mask)
            return (loss, out) if return_outputs else loss

    return AnswerTrainer


RUN_FILE = "kgjudge_run.json"
LOSS_PLOT = "dev_loss.png"


def _run_fingerprint(config: TrainConfig, data: str) -> str:
    """What a checkpoint must agree with to be resumed: the config and data, less the settings
    that do not change the training trajectory (logging, evaluation and checkpoint intervals,
    the dev metrics after training, and max_steps under a constant learning rate)."""
    dump = config.model_dump(mode="json")
    ignored = {"logging_steps", "eval_steps", "eval_batch_size", "save_steps", "dev_judge_examples", "dev_extract_examples"}
    if config.training.lr_scheduler == "constant_with_warmup":
        ignored.add("max_steps")
    dump["training"] = {k: v for k, v in dump["training"].items() if k not in ignored}
    dump.pop("output", None)
    return hashlib.sha256(json.dumps([dump, data]).encode()).hexdigest()[:16]


def _last_checkpoint(folder: Path) -> Path | None:
    steps = [(int(p.name.rsplit("-", 1)[1]), p) for p in folder.glob("checkpoint-*")
             if p.name.rsplit("-", 1)[1].isdigit() and (p / "trainer_state.json").is_file()]
    return max(steps)[1] if steps else None


def _resume_point(work: Path, fingerprint: str, restart: bool, log: Any) -> tuple[Path | None, float]:
    """The checkpoint to resume from (None: start afresh) and the training seconds spent before it.

    Raises:
        ConfigError: ``work`` holds checkpoints of another config or data, or no checkpoint while
            its output folder holds a finished adapter (which a fresh run would replace), and not
            ``restart``.
    """
    run_file = work / RUN_FILE
    if restart:
        _remove_tree(work)
    checkpoint = _last_checkpoint(work) if work.is_dir() else None
    if checkpoint is None and not restart and (work.parent / METADATA_FILE).is_file():
        raise ConfigError(
            f"{work.parent} already holds a trained adapter and no checkpoint to continue it from (only runs with "
            "lr_scheduler: constant_with_warmup keep one): a run started there would replace it. Give another "
            "output (with init_adapter to continue from it), or start again with --restart",
            key="output",
        )
    if checkpoint is not None:
        try:
            recorded = json.loads(run_file.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            recorded = None
        if recorded != fingerprint:
            raise ConfigError(
                f"{work} holds checkpoints of another training config or data; start again with --restart",
                key="output",
            )
        seconds = 0.0
        progress = checkpoint / "kgjudge_progress.json"
        if progress.is_file():
            seconds = float(json.loads(progress.read_text(encoding="utf-8")).get("seconds", 0.0))
        log(f"[train] resuming from {checkpoint.name} ({seconds:.0f} s of training before it)")
        return checkpoint, seconds
    work.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
    return None, 0.0


def _seconds_callback(transformers: Any, before: float) -> Any:
    """Writes the training seconds so far into every checkpoint (a resumed run adds to them)."""
    started = time.perf_counter()

    class Progress(transformers.TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                seconds = before + time.perf_counter() - started
                (folder / "kgjudge_progress.json").write_text(json.dumps({"seconds": seconds, "step": state.global_step}))

    return Progress()


def plot_losses(history: Sequence[dict[str, Any]], path: str | Path, *, title: str) -> Path:
    """A PNG of the training loss and the dev loss against the step."""
    matplotlib = require("matplotlib", "judges")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "judges")
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    for key, label in (("loss", "train loss"), ("eval_loss", "dev loss")):
        points = [(h["step"], h[key]) for h in history if key in h]
        if points:
            ax.plot(*zip(*points), marker="o" if key == "eval_loss" else None, markersize=3, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def train(
    task: Task, config: TrainConfig, *, config_text: str | None = None, log: Any = print, restart: bool = False
) -> AdapterMetadata:
    """Fine-tune a LoRA adapter for ``task`` and save it to ``config.output``.

    Checkpoints go to ``<output>/.trainer`` every ``training.save_steps`` steps; calling this
    again with the same config and data resumes from the last one (``restart`` starts afresh).
    Returns the metadata written beside the adapter. The test split is never used here.
    """
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    peft = require("peft", "hf")
    from kgjudge.llm import hf_model_dir, resolve_model

    opt = config.training
    if opt.threads:
        torch.set_num_threads(opt.threads)
    transformers.set_seed(opt.seed)
    examples, summary = build_examples(task, config)
    train_ex = _sample([e for e in examples if e.split == "train"], config.data.max_train_examples, config.data.seed)
    dev_ex = _sample([e for e in examples if e.split == "dev"], config.data.max_dev_examples, config.data.seed + 1)
    if not train_ex:
        raise InputError("no training examples (check the data sources and split fractions)")
    summary.update(train_examples=len(train_ex), dev_examples=len(dev_ex))

    source = resolve_model(config.model, config.gguf_file)
    path = hf_model_dir(source)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded: dict[str, list[Any]] = {}
    too_long = 0
    for name, split in (("train", train_ex), ("dev", dev_ex)):
        rows, keys = [], []
        for e in split:
            row = encode_example(tokenizer, *example_messages(e, config, task))
            if len(row["input_ids"]) > opt.max_length:
                too_long += 1
                continue
            rows.append(row)
            keys.append(e.document_id)
        encoded[name] = group_rows(rows, keys, opt.max_group) if opt.group_by_document else rows
    summary["skipped_too_long"] = too_long
    unit = "document groups" if opt.group_by_document else "examples"
    log(f"[train {task}] {len(encoded['train'])} train / {len(encoded['dev'])} dev {unit} from "
        f"{len(train_ex)} / {len(dev_ex)} examples ({too_long} longer than {opt.max_length} tokens skipped)")

    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if config.init_adapter:
        from kgjudge.llm import resolve_adapter

        model = peft.PeftModel.from_pretrained(model, resolve_adapter(config.init_adapter), is_trainable=True)
        log(f"[train {task}] starting from the weights of {config.init_adapter}")
    else:
        lora = peft.LoraConfig(
            task_type="CAUSAL_LM", r=config.lora.r, lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout, target_modules=list(config.lora.target_modules),
        )
        model = peft.get_peft_model(model, lora)
    out = Path(config.output)
    fingerprint = _run_fingerprint(config, data_hash([*train_ex, *dev_ex]))
    checkpoint, seconds_before = _resume_point(out / ".trainer", fingerprint, restart, log)
    use_cpu = not torch.cuda.is_available()
    args = transformers.TrainingArguments(
        output_dir=str(out / ".trainer"),
        max_steps=opt.max_steps,
        per_device_train_batch_size=1 if opt.group_by_document else opt.batch_size,
        per_device_eval_batch_size=1 if opt.group_by_document else opt.eval_batch_size or opt.batch_size,
        gradient_accumulation_steps=opt.grad_accum * (opt.batch_size if opt.group_by_document else 1),
        prediction_loss_only=True,
        learning_rate=opt.learning_rate,
        warmup_steps=opt.warmup_steps,
        lr_scheduler_type=opt.lr_scheduler,
        logging_steps=opt.logging_steps,
        eval_strategy="steps" if (opt.eval_steps and encoded["dev"]) else "no",
        eval_steps=opt.eval_steps,
        eval_on_start=bool(opt.eval_steps and encoded["dev"]) and checkpoint is None,  # the plot starts at the first dev loss
        save_strategy="steps",
        save_steps=opt.save_steps,
        save_total_limit=1,
        report_to=[],
        seed=opt.seed,
        data_seed=opt.seed,
        bf16=opt.bf16,
        use_cpu=use_cpu,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    collator: Any = (_GroupCollator if opt.group_by_document else _Collator)(tokenizer.pad_token_id, torch)
    trainer = _answer_trainer(transformers, torch)(
        model=model,
        args=args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["dev"] or None,
        data_collator=collator,
        callbacks=[_seconds_callback(transformers, seconds_before)]
        + ([_final_checkpoint_callback(transformers)] if opt.lr_scheduler == "constant_with_warmup" else []),
    )
    started = time.perf_counter()
    state_file = checkpoint / "trainer_state.json" if checkpoint else None
    if state_file is not None and json.loads(state_file.read_text())["global_step"] >= opt.max_steps:
        # A checkpoint at (or past) max_steps is the finished run: the Trainer would take one
        # more step on resuming it, so its weights and history are taken as they are.
        st = require("safetensors.torch", "hf")
        peft.set_peft_model_state_dict(model, st.load_file(str(checkpoint / "adapter_model.safetensors")))
        trainer.state = transformers.TrainerState.load_from_json(str(state_file))
        metrics: dict[str, Any] = {}
    else:
        with Progress(f"train {task}", "steps", opt.max_steps) as progress:
            trainer.add_callback(_progress_callback(transformers, progress))
            result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        metrics = {"train_loss": float(result.training_loss)}
    seconds = seconds_before + time.perf_counter() - started
    if checkpoint is not None:
        # The Trainer averages over the steps of this process only; a resumed run reports the
        # mean of the losses logged over the whole run.
        logged = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        metrics["train_loss"] = sum(logged) / len(logged) if logged else float("nan")
    if encoded["dev"]:
        metrics["dev_loss"] = float(trainer.evaluate()["eval_loss"])
    history = [h for h in trainer.state.log_history if "loss" in h or "eval_loss" in h]

    out.mkdir(parents=True, exist_ok=True)
    # The base model is named as the config names it, not by this machine's cache path.
    model.peft_config["default"].base_model_name_or_path = config.model
    model.save_pretrained(str(out))
    _finish_adapter_files(out, opt.save_dtype)
    metadata = AdapterMetadata(
        task=task,
        base_model=config.model,
        prompt=config.prompt or DEFAULT_PROMPTS[task],
        max_document_chars=config.max_document_chars,
        data_hash=data_hash([*train_ex, *dev_ex]),
        data=summary,
        lora=_lora_settings(model, config),
        training={
            "steps": int(trainer.state.global_step),
            "seconds": round(seconds, 1),
            "seconds_per_step": round(seconds / max(1, trainer.state.global_step), 3),
            "examples_per_step": (opt.batch_size * opt.grad_accum if not opt.group_by_document
                                  else f"{opt.batch_size * opt.grad_accum} document groups of <= {opt.max_group}"),
            "device": "cpu" if use_cpu else "cuda",
            "torch_threads": torch.get_num_threads(),
            **opt.model_dump(),
            "history": history,
        },
        metrics=metrics,
        kgjudge_version=__version__,
    )
    del trainer, model
    metadata = metadata.model_copy(update={"metrics": {**metrics, **_dev_metrics(task, config, out, dev_ex, log)}})
    write_metadata(out, metadata)
    if any("eval_loss" in h for h in history):
        plot_losses(history, out / LOSS_PLOT, title=f"{out.name}: {config.model}, {len(train_ex)} train examples")
    (out / CONFIG_FILE).write_text(config_text or yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    if opt.lr_scheduler != "constant_with_warmup":
        # A decayed learning rate ends the run; a constant one keeps its last checkpoint, so that
        # the run can be continued past max_steps.
        _remove_tree(out / ".trainer")
    log(f"[train {task}] {metadata.training['steps']} steps in {seconds:.0f} s; metrics {json.dumps(metadata.metrics)}")
    return metadata


def _final_checkpoint_callback(transformers: Any) -> Any:
    """A trainer callback that checkpoints the last step too (not only every save_steps)."""

    class FinalCheckpoint(transformers.TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step >= state.max_steps:
                control.should_save = True

    return FinalCheckpoint()


def _progress_callback(transformers: Any, progress: Progress) -> Any:
    """A trainer callback that advances ``progress`` by optimiser steps."""

    class StepProgress(transformers.TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            progress.advance(state.global_step - progress.done)

    return StepProgress()


def _lora_settings(model: Any, config: TrainConfig) -> dict[str, Any]:
    """The LoRA settings the adapter really has (an init adapter's replace the config's)."""
    if not config.init_adapter:
        return config.lora.model_dump()
    pc = model.peft_config["default"]
    return {"r": pc.r, "alpha": pc.lora_alpha, "dropout": pc.lora_dropout,
            "target_modules": sorted(pc.target_modules), "init_adapter": config.init_adapter}


def _finish_adapter_files(folder: Path, dtype: str) -> None:
    """Store the weights in ``dtype`` and drop peft's generic model card (the metadata file
    and the eval report describe the adapter)."""
    (folder / "README.md").unlink(missing_ok=True)
    if dtype == "float32":
        return
    torch = require("torch", "hf")
    st = require("safetensors.torch", "hf")
    path = folder / "adapter_model.safetensors"
    tensors = {k: v.to(getattr(torch, dtype)).contiguous() for k, v in st.load_file(str(path)).items()}
    st.save_file(tensors, str(path), metadata={"format": "pt"})


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def write_metadata(folder: Path, metadata: AdapterMetadata) -> None:
    (folder / METADATA_FILE).write_text(metadata.model_dump_json(indent=2) + "\n", encoding="utf-8")


def read_metadata(folder: str | Path) -> AdapterMetadata:
    """The ``kgjudge_adapter.json`` of an adapter folder."""
    path = Path(folder) / METADATA_FILE
    try:
        return AdapterMetadata.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"not a kgjudge adapter: {exc.strerror}", file=str(path)) from exc
    except ValidationError as exc:
        raise InputError(f"invalid adapter metadata: {exc.errors()[0]['msg']}", file=str(path)) from exc


def _dev_metrics(task: Task, config: TrainConfig, adapter_dir: Path, dev_ex: list[Any], log: Any) -> dict[str, Any]:
    """Dev-split quality through the real inference path (the ``hf`` backend with the adapter)."""
    from kgjudge.judges.kasft._extraction import extraction_scores, extract_triples
    from kgjudge.judges.triples._graphjudger import GraphJudger, GraphJudgerConfig
    from kgjudge.metrics import binary_metrics, calibrate_threshold
    from kgjudge.llm import LLM, HFBackend, HFConfig

    opt = config.training
    limit = opt.dev_judge_examples if task == "judge" else opt.dev_extract_examples
    dev = dev_ex[:limit]
    if not dev:
        return {}
    backend = HFBackend(HFConfig(model=config.model, gguf_file=config.gguf_file, adapters={task: str(adapter_dir)}))
    llm = LLM(backend, cache=None)
    progress = Progress(f"dev {task}", "examples", len(dev)).start()
    try:
        if task == "judge":
            judge = GraphJudger(
                llm, GraphJudgerConfig(adapter=task, prompt=config.prompt or JUDGE_PROMPT,
                                       max_document_chars=config.max_document_chars),
            )
            labels = [e.label for e in dev]
            scores = judge.score_examples_sync(dev)
            result = {
                "dev_judge": binary_metrics(labels, scores, 0.5).model_dump(),
                "dev_calibration_f1": calibrate_threshold(labels, scores).model_dump(),
            }
        elif task == "entities":
            result = {"dev_entities": entity_scores(llm, dev, config, adapter=task)}
        else:
            predicted = extract_triples(
                llm, [(e.text, e.entities) for e in dev], adapter=task,
                prompt=config.prompt or EXTRACT_PROMPT, max_document_chars=config.max_document_chars,
            )
            result = {"dev_extraction": extraction_scores([e.triples for e in dev], predicted).model_dump()}
        progress.advance(len(dev))
    finally:
        progress.close()
        llm.close()
    log(f"[train {task}] dev: {json.dumps(result)}")
    return result


def entity_scores(llm: Any, examples: Sequence[ExtractorExample], config: TrainConfig, *, adapter: str | None) -> dict[str, Any]:
    """Micro-averaged precision/recall/F1 of the entity step's lists against the examples'
    entities (names compared as extraction scoring compares triple elements: ignoring case and
    spacing), through the pipeline's own request builder and reply parser."""
    from kgjudge._pipeline_config import DenoiseConfig
    from kgjudge.judges.kasft._extraction import triple_scores
    from kgjudge.stages import entity_request, parse_entities

    step = DenoiseConfig(adapter=adapter, entities_prompt=config.prompt or ENTITIES_PROMPT)
    replies = llm.generate_sync([entity_request(e.text, step) for e in examples], return_exceptions=True)
    scores = triple_scores(
        [[(name,) for name in e.entities] for e in examples],
        [None if isinstance(r, Exception) else [(name,) for name in parse_entities(r.parsed, step)] for r in replies],
    )
    return {"examples": scores.documents, **scores.model_dump(exclude={"documents"})}
