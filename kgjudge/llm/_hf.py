"""``hf.v1``: transformers on CPU or GPU, batched, with per-request peft LoRA adapters.

``score_choices`` is one forward pass per micro-batch: when every choice of a request is a
single token only the prompt is run and the next-token distribution is read; otherwise each
``prompt + choice`` sequence is run and the choice tokens' log-probabilities are summed. Batches
are left-padded with position ids that skip the padding, so padded and unpadded scores agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import warnings
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any, Literal, NamedTuple

from pydantic import Field

from kgjudge._config import Slot
from kgjudge._errors import BackendError, ConfigError
from kgjudge._extras import require
from kgjudge._registry import backends
from kgjudge.llm._base import LLMBackend
from kgjudge.llm._models import DEFAULT_MODEL, adapter_fingerprint, hf_model_dir, resolve_adapter, resolve_model
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
    adapters: dict[str, str] = Field(
        default_factory=dict, description="adapter name -> peft adapter folder, or packaged:<name> (shipped with kgjudge)"
    )
    threads: int | None = Field(default=None, ge=1, description="torch CPU threads")
    prefix_min_tokens: int = Field(
        default=32, ge=1, description="score_choices computes a prompt prefix this long or longer once when "
        "several requests share it"
    )


class _Row(NamedTuple):
    """One scoring sequence: request index, choice index (None: all choices single-token, read
    from the next-token distribution), token ids, and the choice tokens ending the sequence."""

    request: int
    choice: int | None
    seq: list[int]
    tail: list[int]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for k in range(n):
        if a[k] != b[k]:
            return k
    return n


def _prefix_groups(rows: list[_Row], min_tokens: int) -> list[tuple[list[int], list[_Row]]]:
    """Group rows that share a prefix of at least ``min_tokens`` tokens (e.g. one document
    judged against many triples). Each group's prefix leaves every member at least one token of
    its own before its scored tokens. Rows with no such partner come back with an empty prefix.
    """
    ordered = sorted(rows, key=lambda r: r.seq)
    groups: list[tuple[list[int], list[_Row]]] = []
    loners: list[_Row] = []

    def close(prefix: list[int], members: list[_Row]) -> None:
        if len(members) > 1 and len(prefix) >= min_tokens:
            groups.append((prefix, members))
        else:
            loners.extend(members)

    prefix: list[int] = []
    members: list[_Row] = []
    for row in ordered:
        limit = len(row.seq) - len(row.tail) - 1  # keep the last prompt token out of the prefix
        if members:
            shared = min(_common_prefix(prefix, row.seq), limit)
            if shared >= min_tokens:
                prefix = prefix[:shared]
                members.append(row)
                continue
            close(prefix, members)
        prefix, members = list(row.seq[: max(0, limit)]), [row]
    if members:
        close(prefix, members)
    if loners:
        groups.append(([], loners))
    return groups


def _filled(results: list[Any]) -> list[Any]:
    """Every slot of a batch must have its result: a gap would misalign results and requests."""
    if any(r is None for r in results):
        raise BackendError("internal error: a request of the batch got no result", backend=HFBackend.name)
    return results


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
        self._adapter_fingerprint = ""
        if config.adapters:
            peft = require("peft", "hf")
            names = list(config.adapters)
            paths = {name: resolve_adapter(spec) for name, spec in config.adapters.items()}
            self._adapter_fingerprint = adapter_fingerprint(paths)
            with warnings.catch_warnings():
                # peft calls a transformers method that transformers has deprecated; the
                # warning is theirs to fix and says nothing to kgjudge's users.
                warnings.simplefilter("ignore", FutureWarning)
                model = peft.PeftModel.from_pretrained(model, paths[names[0]], adapter_name=names[0])
                for name in names[1:]:
                    model.load_adapter(paths[name], adapter_name=name)
            model.eval()
        self.model = model
        self._lock = threading.Lock()
        self.capabilities = Capabilities(
            logprobs=True, exact_choice_scores=True, lora=True, beam_search=True, json_schema=False, prefix_caching=True
        )

    def fingerprint(self) -> str:
        # The adapters' weights are part of it: requests name an adapter, and the weights behind
        # a name change when a config moves to another adapter.
        return f"{self.source.fingerprint}|{self.config.revision}|{self.config.dtype}{self._adapter_fingerprint}"

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
        return _filled(results)

    async def generate_batch(self, requests: Sequence[LLMRequest]) -> list[GenerationResult]:
        try:
            return await asyncio.to_thread(self._generate_sync, list(requests))
        except RuntimeError as exc:  # out of memory and other torch failures
            raise BackendError(str(exc), backend=self.name) from exc

    # -- score_choices -----------------------------------------------------------------------

    def _score_sync(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        results: list[ChoiceScores | None] = [None] * len(requests)
        by_adapter: dict[str | None, list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            by_adapter[r.adapter].append(i)
        for adapter, idxs in by_adapter.items():
            # One row per prompt (single-token choices) or per prompt+choice (multi-token).
            rows: list[_Row] = []
            choice_ids: dict[int, list[list[int]]] = {}
            prompts: dict[int, list[int]] = {}
            for i in idxs:
                prompts[i] = self._prompt_ids(requests[i])
                choice_ids[i] = [
                    self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in requests[i].choices or []
                ]
                if any(not c for c in choice_ids[i]):
                    raise ConfigError(f"a choice of request {i} tokenises to nothing")
                if all(len(c) == 1 for c in choice_ids[i]):
                    rows.append(_Row(i, None, prompts[i], []))
                else:
                    rows.extend(_Row(i, j, prompts[i] + c, c) for j, c in enumerate(choice_ids[i]))
            logprobs: dict[int, list[float]] = {i: [0.0] * len(choice_ids[i]) for i in idxs}
            with self._lock, self._adapter(adapter), self._torch.inference_mode():
                groups = _prefix_groups(rows, self.config.prefix_min_tokens)
                shared = [g for g in groups if g[0]]
                for batch in _chunks(sorted(shared, key=lambda g: len(g[0])), self.config.batch_size):
                    self._score_with_prefixes(batch, choice_ids, logprobs)
                for prefix, members in groups:
                    if not prefix:
                        self._score_plain(members, choice_ids, logprobs)
            for i in idxs:
                results[i] = ChoiceScores(
                    choices=list(requests[i].choices or []),
                    logprobs=logprobs[i],
                    prompt_tokens=len(prompts[i]),
                    model=self.model_id,
                    adapter=adapter,
                )
        return _filled(results)

    def _record(self, row: _Row, dist_rows: Any, choice_ids: dict[int, list[list[int]]], logprobs: dict[int, list[float]]) -> None:
        """Store a row's log-probabilities; ``dist_rows`` are the log-softmaxed positions that
        predict the row's scored tokens (the last prompt position for single-token choices)."""
        torch = self._torch
        if row.choice is None:
            logprobs[row.request] = [float(dist_rows[-1, c[0]]) for c in choice_ids[row.request]]
        else:
            picked = dist_rows.gather(1, torch.tensor(row.tail, device=dist_rows.device).unsqueeze(1))
            logprobs[row.request][row.choice] = float(picked.sum())

    def _score_plain(self, rows: list[_Row], choice_ids: dict[int, list[list[int]]], logprobs: dict[int, list[float]]) -> None:
        """Left-padded batches; logits only for the positions that are scored."""
        torch = self._torch
        for batch in _chunks(sorted(rows, key=lambda r: len(r.seq)), self.config.batch_size):
            ids, mask, positions = self._pad([r.seq for r in batch])
            keep = max(len(r.tail) for r in batch) + 1
            logits = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep
            ).logits
            for row_i, row in enumerate(batch):
                span = max(1, len(row.tail))
                dist = torch.log_softmax(logits[row_i, keep - 1 - span : keep - 1 if row.tail else keep].float(), dim=-1)
                self._record(row, dist, choice_ids, logprobs)

    def _score_with_prefixes(
        self,
        groups: list[tuple[list[int], list[_Row]]],
        choice_ids: dict[int, list[list[int]]],
        logprobs: dict[int, list[float]],
    ) -> None:
        """Run a batch of shared prefixes once, then every member's remainder against its
        prefix's cache rows. Remainders are left-padded after the prefix (the pads in between are
        masked out and skipped by the position ids), so every scored position is at the end."""
        torch = self._torch
        transformers = require("transformers", "hf")
        prefix_ids, prefix_mask, prefix_pos = self._pad([prefix for prefix, _ in groups])
        cache = transformers.DynamicCache()
        self.model(
            input_ids=prefix_ids, attention_mask=prefix_mask, position_ids=prefix_pos,
            past_key_values=cache, use_cache=True, logits_to_keep=1,
        )
        lengths = prefix_mask.sum(-1)
        members = [(g, row) for g, (_, rows) in enumerate(groups) for row in rows]
        for batch in _chunks(members, self.config.batch_size):
            select = torch.tensor([g for g, _ in batch], device=self.device)
            rests = [row.seq[len(groups[g][0]) :] for g, row in batch]
            ids, rest_mask, _ = self._pad(rests)
            mask = torch.cat([prefix_mask[select], rest_mask], dim=1)
            positions = lengths[select].unsqueeze(1) + (rest_mask.cumsum(-1) - 1).clamp(min=0)
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_select_indices(select)
            keep = max(len(row.tail) for _, row in batch) + 1
            logits = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions,
                past_key_values=batch_cache, use_cache=True, logits_to_keep=keep,
            ).logits
            for row_i, (_, row) in enumerate(batch):
                span = max(1, len(row.tail))
                dist = torch.log_softmax(logits[row_i, keep - 1 - span : keep - 1 if row.tail else keep].float(), dim=-1)
                self._record(row, dist, choice_ids, logprobs)

    async def score_batch(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        try:
            return await asyncio.to_thread(self._score_sync, list(requests))
        except RuntimeError as exc:
            raise BackendError(str(exc), backend=self.name) from exc


@backends.register("hf.v1", config=HFConfig)
def make_hf(config: HFConfig) -> HFBackend:
    return HFBackend(config)
