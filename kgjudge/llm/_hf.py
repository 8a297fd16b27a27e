"""``hf.v1``: transformers on CPU or GPU, batched, with per-request peft LoRA adapters.

``score_choices`` is one forward pass per micro-batch: when every choice of a request is a
single token only the prompt is run and the next-token distribution is read; otherwise each
``prompt + choice`` sequence is run and the choice tokens' log-probabilities are summed. Batches
are left-padded with position ids that skip the padding, so padded and unpadded scores agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import Field

from kgjudge._config import Slot
from kgjudge._errors import BackendError, ConfigError
from kgjudge._extras import require
from kgjudge._registry import backends
from kgjudge.llm._base import LLMBackend
from kgjudge.llm._models import DEFAULT_MODEL, hf_model_dir, resolve_model
from kgjudge.llm._types import Capabilities, ChoiceScores, GenerationResult, LLMRequest


class HFConfig(Slot):
    """Config of the transformers backend.

    Example (YAML)::

        type: hf.v1
        model: smollm2-135m-instruct      # packaged; or a folder, a .gguf file, a hub id
        adapters: {judge: path/to/adapter}
    """

    type: Literal["hf.v1"] = "hf.v1"
    model: str = DEFAULT_MODEL
    gguf_file: str | None = None
    revision: str | None = None
    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:1, ...")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="auto: bfloat16 on GPU, float32 on CPU"
    )
    batch_size: int = Field(default=8, ge=1, description="sequences per forward pass")
    adapters: dict[str, str] = Field(default_factory=dict, description="adapter name -> peft adapter folder")
    threads: int | None = Field(default=None, ge=1, description="torch CPU threads")


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class HFBackend(LLMBackend):
    """Runs a causal LM with transformers.

    Example:
        >>> backend = HFBackend(HFConfig())          # the packaged SmolLM2
        >>> llm = LLM(backend)
    """

    name = "hf.v1"

    def __init__(self, config: HFConfig | None = None) -> None:
        self.config = config = config or HFConfig()
        torch = require("torch", "hf", "pip install torch==2.13.0 first on CPU-only machines")
        transformers = require("transformers", "hf")
        self._torch = torch
        self.source = resolve_model(config.model, config.gguf_file)
        self.model_id = self.source.name
        if config.threads:
            torch.set_num_threads(config.threads)
        if config.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            self.device = config.device
        if config.dtype == "auto":
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            dtype = getattr(torch, config.dtype)
        if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS"):
            transformers.utils.logging.disable_progress_bar()
        path = str(hf_model_dir(self.source))
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(path, revision=config.revision)
            model = transformers.AutoModelForCausalLM.from_pretrained(path, revision=config.revision, dtype=dtype)
        except OSError as exc:
            raise ConfigError(f"cannot load model '{config.model}': {exc}", key="model") from exc
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model.to(self.device)
        model.eval()
        self.adapters = tuple(config.adapters)
        if config.adapters:
            peft = require("peft", "hf")
            names = list(config.adapters)
            model = peft.PeftModel.from_pretrained(model, config.adapters[names[0]], adapter_name=names[0])
            for name in names[1:]:
                model.load_adapter(config.adapters[name], adapter_name=name)
            model.eval()
        self.model = model
        self._lock = threading.Lock()
        self.capabilities = Capabilities(
            logprobs=True, exact_choice_scores=True, lora=True, beam_search=True, json_schema=False
        )

    def fingerprint(self) -> str:
        return f"{self.source.fingerprint}|{self.config.revision}|{self.config.dtype}"

    # -- helpers -----------------------------------------------------------------------------

    def _prompt_ids(self, req: LLMRequest) -> list[int]:
        tok = self.tokenizer
        if req.messages is not None:
            messages = [m.model_dump() for m in req.messages]
            if tok.chat_template:
                text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                return tok(text, add_special_tokens=False)["input_ids"]
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
            return tok(text)["input_ids"]
        return tok(req.prompt)["input_ids"]

    @contextlib.contextmanager
    def _adapter(self, name: str | None) -> Iterator[None]:
        if not self.config.adapters:
            yield
        elif name is None:
            with self.model.disable_adapter():
                yield
        else:
            self.model.set_adapter(name)
            yield

    def _pad(self, seqs: list[list[int]]) -> tuple[Any, Any, Any]:
        torch = self._torch
        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids.to(self.device), mask.to(self.device), positions.to(self.device)

    # -- generate ----------------------------------------------------------------------------

    def _stop_criterion(self, stops: list[str], prompt_len: int) -> Any:
        """Stops a row once its generated text (not the prompt) contains a stop string.

        transformers' own ``stop_strings`` also matches across the prompt/answer boundary, which
        would end a reply whose first token merely completes a stop string begun by the prompt.
        """
        transformers = require("transformers", "hf")
        torch, tokenizer = self._torch, self.tokenizer

        class StopOnStrings(transformers.StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                texts = tokenizer.batch_decode(input_ids[:, prompt_len:], skip_special_tokens=True)
                return torch.tensor([any(s in t for s in stops) for t in texts], device=input_ids.device)

        return StopOnStrings()

    def _generate_sync(self, requests: Sequence[LLMRequest]) -> list[GenerationResult]:
        torch = self._torch
        results: list[GenerationResult | None] = [None] * len(requests)
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            groups[(r.adapter, r.max_tokens, r.temperature, r.top_p, r.num_beams, r.seed, tuple(r.stop))].append(i)
        eos = self.tokenizer.eos_token_id
        for (adapter, max_tokens, temperature, top_p, beams, seed, stop), idxs in groups.items():
            prompts = {i: self._prompt_ids(requests[i]) for i in idxs}
            order = sorted(idxs, key=lambda i: len(prompts[i]))
            with self._lock, self._adapter(adapter), torch.inference_mode():
                for batch in _chunks(order, max(1, self.config.batch_size // beams)):
                    if seed is not None:
                        torch.manual_seed(seed)
                    ids, mask, _ = self._pad([prompts[i] for i in batch])
                    kwargs: dict[str, Any] = {
                        "max_new_tokens": max_tokens,
                        "num_beams": beams,
                        "do_sample": temperature > 0,
                        "pad_token_id": self.tokenizer.pad_token_id,
                    }
                    if temperature > 0:
                        kwargs.update(temperature=temperature, top_p=top_p)
                    if stop:
                        kwargs["stopping_criteria"] = [self._stop_criterion(list(stop), ids.shape[1])]
                    out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
                    new = out[:, ids.shape[1] :].tolist()
                    for row, i in enumerate(batch):
                        tokens = new[row]
                        finish = "length"
                        if eos in tokens:
                            tokens, finish = tokens[: tokens.index(eos)], "stop"
                        while tokens and tokens[-1] == self.tokenizer.pad_token_id:
                            tokens.pop()
                        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                        for s in stop:
                            if s in text:
                                text, finish = text.split(s, 1)[0], "stop"
                        results[i] = GenerationResult(
                            text=text,
                            finish_reason=finish,
                            prompt_tokens=len(prompts[i]),
                            completion_tokens=len(tokens),
                            model=self.model_id,
                            adapter=adapter,
                        )
        return [r for r in results if r is not None]

    async def generate_batch(self, requests: Sequence[LLMRequest]) -> list[GenerationResult]:
        try:
            return await asyncio.to_thread(self._generate_sync, list(requests))
        except RuntimeError as exc:  # out of memory and other torch failures
            raise BackendError(str(exc), backend=self.name) from exc

    # -- score_choices -----------------------------------------------------------------------

    def _score_sync(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        torch = self._torch
        results: list[ChoiceScores | None] = [None] * len(requests)
        by_adapter: dict[str | None, list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            by_adapter[r.adapter].append(i)
        for adapter, idxs in by_adapter.items():
            # One row per prompt (single-token choices) or per prompt+choice (multi-token).
            rows: list[tuple[int, int | None, list[int], list[int]]] = []
            choice_ids: dict[int, list[list[int]]] = {}
            prompts: dict[int, list[int]] = {}
            for i in idxs:
                prompts[i] = self._prompt_ids(requests[i])
                choice_ids[i] = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in requests[i].choices or []]
                if any(not c for c in choice_ids[i]):
                    raise ConfigError(f"a choice of request {i} tokenises to nothing")
                if all(len(c) == 1 for c in choice_ids[i]):
                    rows.append((i, None, prompts[i], []))
                else:
                    for j, c in enumerate(choice_ids[i]):
                        rows.append((i, j, prompts[i] + c, c))
            logprobs: dict[int, list[float]] = {i: [0.0] * len(choice_ids[i]) for i in idxs}
            rows.sort(key=lambda r: len(r[2]))
            with self._lock, self._adapter(adapter), torch.inference_mode():
                for batch in _chunks(rows, self.config.batch_size):
                    ids, mask, positions = self._pad([r[2] for r in batch])
                    logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
                    width = ids.shape[1]
                    for row, (i, j, seq, tail) in enumerate(batch):
                        if j is None:
                            dist = torch.log_softmax(logits[row, -1].float(), dim=-1)
                            logprobs[i] = [float(dist[c[0]]) for c in choice_ids[i]]
                        else:
                            start = width - len(tail)
                            dist = torch.log_softmax(logits[row, start - 1 : width - 1].float(), dim=-1)
                            picked = dist.gather(1, torch.tensor(tail, device=dist.device).unsqueeze(1))
                            logprobs[i][j] = float(picked.sum())
            for i in idxs:
                results[i] = ChoiceScores(
                    choices=list(requests[i].choices or []),
                    logprobs=logprobs[i],
                    prompt_tokens=len(prompts[i]),
                    model=self.model_id,
                    adapter=adapter,
                )
        return [r for r in results if r is not None]

    async def score_batch(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        try:
            return await asyncio.to_thread(self._score_sync, list(requests))
        except RuntimeError as exc:
            raise BackendError(str(exc), backend=self.name) from exc


@backends.register("hf.v1", config=HFConfig)
def make_hf(config: HFConfig) -> HFBackend:
    return HFBackend(config)
