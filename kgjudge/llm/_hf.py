"""``hf.v1``: transformers on CPU or GPU, batched, with per-request peft LoRA adapters.

``score_choices`` is one forward pass per micro-batch: when every choice of a request is a
single token only the prompt is run and the next-token distribution is read; otherwise each
``prompt + choice`` sequence is run and the choice tokens' log-probabilities are summed. Batches
are left-padded with position ids that skip the padding, so padded and unpadded scores agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import inspect
import os
import threading
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, NamedTuple

from pydantic import Field

from kgjudge._config import Slot
from kgjudge._errors import BackendError, ConfigError
from kgjudge._extras import require
from kgjudge._jsonl import loads_checked
from kgjudge._registry import backends
from kgjudge.llm._base import LLMBackend, report_finished
from kgjudge.llm._constrain import JsonGrammar, JsonPrefix, accepting, apply_bitmask, close_json, schema_valid
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
    threads: int | None = Field(
        default=None, ge=1, description="torch CPU threads; default on CPU: one per two cores (see cpu_threads)"
    )
    constrain_json: bool = Field(
        default=True,
        description="decode requests with a JSON schema under its grammar (llguidance); off: free text, "
        "then the client's validation and repair round trip",
    )
    op_dtypes: dict[Literal["prefill", "decode", "score"], Literal["auto", "float32", "bfloat16"]] = Field(
        default_factory=dict,
        description="CPU compute dtype per operation (torch autocast over the weights' dtype); auto: bfloat16 "
        "for the passes over whole prompts (scoring, generation's prompt pass) on CPUs with bfloat16 "
        "instructions, the weights' dtype otherwise",
    )
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


class _Decoding:
    """One row of a generation batch: its request, prompt, tokens so far and why it ended."""

    def __init__(self, index: int, request: LLMRequest, prompt: list[int]) -> None:
        self.index, self.request, self.prompt = index, request, prompt
        self.tokens: list[int] = []
        self.text = ""
        self.finish: str | None = None
        self.matcher: Any = None
        self.json: JsonPrefix | None = None
        self.closed: str | None = None  # the reply closed before a repeated JSON item

    def constrain(self, matcher: Any) -> None:
        self.matcher, self.json = matcher, JsonPrefix()

    def step(self, token: int, eos: int, tokenizer: Any) -> bool:
        """Take the chosen token; False when the row has finished."""
        if token == eos:
            self.finish = "stop"
            return False
        self.tokens.append(token)
        if self.json is None and not self.request.stop:
            return True
        text = tokenizer.decode(self.tokens, skip_special_tokens=True)
        if self.request.stop and any(s in text for s in self.request.stop):
            self.finish = "stop"
            return False
        if self.json is not None:
            self.matcher.consume_token(token)
            # A split multi-byte character decodes as U+FFFD until its last byte arrives.
            ready = text.rstrip("\ufffd")
            if ready.startswith(self.json.text):
                seen = len(self.json.repeat_cuts)
                self.json.feed(ready[len(self.json.text) :])
                for index in range(seen, len(self.json.repeat_cuts)):
                    closed = self.json.repeat_text(index)
                    if _parses_to_schema(closed, self.request.json_schema):
                        self.closed, self.finish = closed, "stop"
                        return False
            if self.matcher.is_stopped() or self.matcher.is_error():
                self.finish = "stop"
                return False
        return True

    def cut_at_stop(self) -> None:
        for s in self.request.stop:
            if s in self.text:
                self.text, self.finish = self.text.split(s, 1)[0], "stop"

    def finalise(self, tokenizer: Any) -> None:
        if self.closed is not None:
            self.text = self.closed
            return
        self.text = tokenizer.decode(self.tokens, skip_special_tokens=True)
        self.cut_at_stop()
        if self.json is not None and self.request.json_schema is not None:
            # Cut by max_tokens (or a grammar error): close at the last complete element.
            closed = close_json(self.text, self.request.json_schema)
            if closed is not None:
                self.text = closed


def _parses_to_schema(text: str, schema: dict[str, Any] | None) -> bool:
    try:
        return schema_valid(loads_checked(text), accepting(schema or {}))
    except ValueError:  # not JSON, or JSON no reply may hold (too deep, a lone surrogate, NaN)
        return False


def _pick(logits: Any, temperature: float, top_p: float, generator: Any, torch: Any) -> Any:
    """The next token of each row: greedy at temperature 0, else nucleus sampling."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        ordered, order = probs.sort(dim=-1, descending=True)
        ordered[(ordered.cumsum(-1) - ordered) > top_p] = 0.0
        probs = torch.zeros_like(probs).scatter_(-1, order, ordered)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def _filled(results: list[Any]) -> list[Any]:
    """Every slot of a batch must have its result: a gap would misalign results and requests."""
    if any(r is None for r in results):
        raise BackendError("internal error: a request of the batch got no result", backend=HFBackend.name)
    return results


def cpu_threads() -> int:
    """The default torch thread count on CPU: half the cores this process may use, at least one.

    torch's default (every core) collapses when other processes share the cores: its threads
    spin-wait for each other (the demo build took 989 CPU-seconds beside other work, 135 with
    one thread). Half the cores leaves room for a second build, a test run or Ray workers.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _padded_batches(items: list[Any], length: Callable[[Any], int], size: int,
                    waste: float = 0.25, slack: int = 64) -> Iterator[list[Any]]:
    """Batches of at most ``size`` items, shortest first, that each pad to their longest item
    with at most ``waste`` of their real tokens (or ``slack`` tokens) in padding.

    A forward pass over a padded batch spends as much compute on a pad as on a token, so for
    one-pass scoring a batch mixing a 70-token prompt with a 480-token one costs more than the
    two apart (on CPU, where batching long prompts saves nothing per token)."""
    batch: list[Any] = []
    real = 0
    for item in sorted(items, key=length):
        n = length(item)
        if batch and (len(batch) == size or n * (len(batch) + 1) - (real + n) > max(waste * (real + n), slack)):
            yield batch
            batch, real = [], 0
        batch.append(item)
        real += n
    if batch:
        yield batch


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
        if config.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        else:
            self.device = config.device
        if self.device == "cpu":
            torch.set_num_threads(config.threads or cpu_threads())
        elif config.threads:
            torch.set_num_threads(config.threads)
        dtype = self._dtype(config.dtype)
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
        # transformers 5.2x renamed the forward's past_key_values to cache (the old name warns).
        self._cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._vocab_size = model.config.vocab_size
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
        self._rows_left: Counter[int] = Counter()
        self._json_grammar: JsonGrammar | None = None
        constrained = config.constrain_json and importlib.util.find_spec("llguidance") is not None
        self.capabilities = Capabilities(
            logprobs=True, exact_choice_scores=True, lora=True, beam_search=True, json_schema=constrained,
            prefix_caching=True,
        )

    def _dtype(self, name: str) -> Any:
        """The weights' dtype: ``auto`` is bfloat16 on GPU and float32 on CPU, where float32
        generates faster (measured: 15.4 vs 11.2 tokens per CPU-second for SmolLM2)."""
        if name == "auto":
            return self._torch.bfloat16 if self.device.startswith("cuda") else self._torch.float32
        return getattr(self._torch, name)

    def _op_dtype(self, op: Literal["prefill", "decode", "score"]) -> str | None:
        """The compute dtype of one operation on CPU, None for the weights' own.

        ``auto``: the passes over whole prompts (choice scoring and generation's prompt pass)
        run under bfloat16 autocast on CPUs with bfloat16 instructions, where scoring measured
        1.8x the triples per CPU-second of float32 with the same decisions, and a default build
        of 50 dev documents 20% less time per document at the same extraction F1 (docs/build.md);
        decoding (one token per pass, bound by reading the weights) stays in the weights' dtype.
        """
        if self._torch.device(self.device).type != "cpu":
            return None
        name = self.config.op_dtypes.get(op, "auto")
        weights = self._dtype(self.config.dtype)
        if name == "auto":
            whole_prompt = op in ("score", "prefill")
            return "bfloat16" if whole_prompt and weights == self._torch.float32 and cpu_has_bf16() else None
        return None if getattr(self._torch, name) == weights else name

    def _autocast(self, op: Literal["prefill", "decode", "score"]) -> Any:
        name = self._op_dtype(op)
        if name is None:
            return contextlib.nullcontext()
        return self._torch.autocast("cpu", dtype=getattr(self._torch, name))

    def _grammar(self) -> JsonGrammar:
        if self._json_grammar is None:
            self._json_grammar = JsonGrammar(self.tokenizer, self._vocab_size)
        return self._json_grammar

    def fingerprint(self) -> str:
        base = f"{self.source.fingerprint}|{self.config.revision}|{self.config.dtype}"
        # A compute dtype other than the weights' changes the numbers, so it is part of the key.
        ops = {op: self._op_dtype(op) for op in ("prefill", "decode", "score")}
        ops = {op: name for op, name in ops.items() if name is not None}
        # The adapters' weights are part of it too: requests name an adapter, and the weights
        # behind a name change when a config moves to another adapter.
        return base + (f"|{sorted(ops.items())}" if ops else "") + self._adapter_fingerprint

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
        for (adapter, _, _, _, beams, seed, _), idxs in groups.items():
            prompts = {i: self._prompt_ids(requests[i]) for i in idxs}
            # Sorted by prompt length: a batch pads to its longest prompt.
            order = sorted(idxs, key=lambda i: len(prompts[i]))
            with self._lock, self._adapter(adapter), torch.inference_mode():
                for batch in _chunks(order, max(1, self.config.batch_size // beams)):
                    rows = [_Decoding(i, requests[i], prompts[i]) for i in batch]
                    if beams > 1:
                        if seed is not None:
                            torch.manual_seed(seed)
                        self._generate_beams(rows)
                    else:
                        self._decode(rows)
                    for row in rows:
                        results[row.index] = GenerationResult(
                            text=row.text,
                            finish_reason=row.finish,
                            prompt_tokens=len(row.prompt),
                            completion_tokens=len(row.tokens),
                            model=self.model_id,
                            adapter=adapter,
                        )
                    report_finished(len(rows), tokens=sum(len(row.prompt) + len(row.tokens) for row in rows))
        return _filled(results)

    def _generate_beams(self, rows: list[_Decoding]) -> None:
        """Beam search through transformers' ``generate``. Not grammar-constrained: a JSON reply
        from beam search is validated (and repaired) by the client."""
        request = rows[0].request
        ids, mask, _ = self._pad([row.prompt for row in rows])
        kwargs: dict[str, Any] = {
            "max_new_tokens": request.max_tokens,
            "num_beams": request.num_beams,
            "do_sample": request.temperature > 0,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if request.temperature > 0:
            kwargs.update(temperature=request.temperature, top_p=request.top_p)
        if request.stop:
            kwargs["stopping_criteria"] = [self._stop_criterion(list(request.stop), ids.shape[1])]
        out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        eos = self.tokenizer.eos_token_id
        for row, tokens in zip(rows, out[:, ids.shape[1] :].tolist()):
            finish = "length"
            if eos in tokens:
                tokens, finish = tokens[: tokens.index(eos)], "stop"
            while tokens and tokens[-1] == self.tokenizer.pad_token_id:
                tokens.pop()
            row.tokens = tokens
            row.text, row.finish = self.tokenizer.decode(tokens, skip_special_tokens=True), finish
            row.cut_at_stop()

    def _decode(self, rows: list[_Decoding]) -> None:
        """Greedy or sampled decoding of one batch with a KV cache.

        Rows that finish (end of sequence, a stop string, a closed JSON value, a repeated JSON
        array item) leave the batch and its cache at once, so they cost nothing afterwards.
        Rows with a JSON schema are masked by their grammar at every step.
        """
        torch = self._torch
        transformers = require("transformers", "hf")
        request = rows[0].request
        eos = self.tokenizer.eos_token_id
        for row in rows:
            if row.request.json_schema is not None and self.capabilities.json_schema:
                try:
                    row.constrain(self._grammar().matcher(row.request.json_schema))
                except ConfigError:
                    pass  # a schema the grammar cannot express: the client validates and repairs
        generator = None
        if request.seed is not None and request.temperature > 0:
            generator = torch.Generator(device=self.device).manual_seed(request.seed)
        ids, mask, positions = self._pad([row.prompt for row in rows])
        cache = transformers.DynamicCache()
        with self._autocast("prefill"):
            logits = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions,
                use_cache=True, logits_to_keep=1, **{self._cache_kw: cache},
            ).logits[:, -1, :]
        positions = positions[:, -1:]
        active = list(rows)
        bitmask = self._grammar().allocate(len(rows), torch) if any(r.matcher is not None for r in rows) else None
        for step in range(request.max_tokens):
            logits = logits.float()
            if bitmask is not None:
                masked = [(n, row) for n, row in enumerate(active) if row.matcher is not None]
                for n, row in masked:
                    self._grammar().fill(row.matcher, bitmask, n)
                if masked:
                    select = torch.tensor([n for n, _ in masked], device=logits.device)
                    sub = logits[select]
                    apply_bitmask(sub, bitmask[[n for n, _ in masked]], torch)
                    logits[select] = sub
            chosen = _pick(logits, request.temperature, request.top_p, generator, torch).tolist()
            keep: list[int] = []
            for n, (row, token) in enumerate(zip(active, chosen)):
                if row.step(token, eos, self.tokenizer):
                    keep.append(n)
            if len(keep) < len(active):
                if not keep:
                    active = []
                    break
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                mask, positions = mask[index], positions[index]
                active = [active[n] for n in keep]
                chosen = [chosen[n] for n in keep]
            if step == request.max_tokens - 1:
                break  # the budget is spent: no forward pass for a token nobody takes
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            positions = positions + 1
            with self._autocast("decode"):
                logits = self.model(
                    input_ids=torch.tensor(chosen, device=self.device).unsqueeze(1), attention_mask=mask,
                    position_ids=positions, use_cache=True, **{self._cache_kw: cache},
                ).logits[:, -1, :]
        for row in active:
            row.finish = "length"
        for row in rows:
            row.finalise(self.tokenizer)

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
                self._rows_left = Counter(r.request for r in rows)  # a request is done with its last row
                groups = _prefix_groups(rows, self.config.prefix_min_tokens)
                shared = [g for g in groups if g[0]]
                for batch in _padded_batches(shared, lambda g: len(g[0]), self.config.batch_size):
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
        self._rows_left[row.request] -= 1
        if not self._rows_left[row.request]:
            report_finished(1, tokens=len(row.seq) - len(row.tail))

    def _score_plain(self, rows: list[_Row], choice_ids: dict[int, list[list[int]]], logprobs: dict[int, list[float]]) -> None:
        """Left-padded batches; logits only for the positions that are scored."""
        torch = self._torch
        for batch in _padded_batches(rows, lambda r: len(r.seq), self.config.batch_size):
            ids, mask, positions = self._pad([r.seq for r in batch])
            keep = max(len(r.tail) for r in batch) + 1
            with self._autocast("score"):
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
        with self._autocast("score"):
            self.model(
                input_ids=prefix_ids, attention_mask=prefix_mask, position_ids=prefix_pos,
                use_cache=True, logits_to_keep=1, **{self._cache_kw: cache},
            )
        lengths = prefix_mask.sum(-1)
        members = [(g, row) for g, (_, rows) in enumerate(groups) for row in rows]
        for batch in _chunks(members, self.config.batch_size):
            select = torch.tensor([g for g, _ in batch], device=self.device)
            rests = [row.seq[len(groups[g][0]) :] for g, row in batch]
            ids, rest_mask, _ = self._pad(rests)
            mask = torch.cat([prefix_mask[select], rest_mask], dim=1)
            positions = lengths[select].unsqueeze(1) + (rest_mask.cumsum(-1) - 1).clamp(min=0)
            # Only the selected prefixes' rows are copied (a deep copy of the whole prefix cache
            # per member batch cost more than the members' forward pass).
            batch_cache = transformers.DynamicCache()
            for n, layer in enumerate(cache.layers):
                batch_cache.update(layer.keys.index_select(0, select), layer.values.index_select(0, select), n)
            keep = max(len(row.tail) for _, row in batch) + 1
            with self._autocast("score"):
                logits = self.model(
                    input_ids=ids, attention_mask=mask, position_ids=positions,
                    use_cache=True, logits_to_keep=keep, **{self._cache_kw: batch_cache},
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
