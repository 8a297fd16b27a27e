"""``vllm.v1``: the in-process ``vllm.LLM`` engine.

All requests of a batch go to the engine in one ``generate`` call with per-request
``SamplingParams`` and ``LoRARequest``; prefix caching is on, so prompts that share a prefix
(one document, many triples) reuse its KV cache. JSON schemas are enforced with vLLM's
structured outputs. ``score_choices`` asks for the next token's top log-probabilities when every
choice is one token and all of them are in the top-k; otherwise it scores ``prompt + choice``
exactly from prompt log-probabilities.
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
from kgjudge.llm._models import DEFAULT_MODEL, hf_model_dir, resolve_model
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
    adapters: dict[str, str] = Field(default_factory=dict, description="adapter name -> peft adapter folder")
    max_lora_rank: int = Field(default=16, ge=1)
    top_logprobs: int = Field(default=20, ge=1)
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
            "max_logprobs": max(20, config.top_logprobs),
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
            name: lora_cls(lora_name=name, lora_int_id=i + 1, lora_path=p)
            for i, (name, p) in enumerate(config.adapters.items())
        }
        self.adapters = tuple(config.adapters)
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
        inputs = require("vllm.inputs", "vllm")
        with self._lock:
            return self.engine.generate(
                [inputs.TokensPrompt(prompt_token_ids=p) for p in prompts],
                params,
                lora_request=loras if any(loras) else None,
                use_tqdm=False,
            )

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
        logprobs: list[list[float] | None] = [None] * len(requests)

        # Pass 1: one next-token step per request whose choices are all single tokens.
        quick = [i for i, cs in enumerate(choice_ids) if all(len(c) == 1 for c in cs)]
        if quick:
            params = vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=self.config.top_logprobs)
            outs = self._run([prompts[i] for i in quick], [params] * len(quick), [loras[i] for i in quick])
            for i, out in zip(quick, outs):
                top = out.outputs[0].logprobs[0]
                if all(c[0] in top for c in choice_ids[i]):
                    logprobs[i] = [top[c[0]].logprob for c in choice_ids[i]]

        # Pass 2: exact continuation log-probabilities for everything else.
        rows = [(i, j) for i, lp in enumerate(logprobs) if lp is None for j in range(len(choice_ids[i]))]
        if rows:
            params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
            outs = self._run(
                [prompts[i] + choice_ids[i][j] for i, j in rows], [params] * len(rows), [loras[i] for i, _ in rows]
            )
            exact: dict[int, list[float]] = {}
            for (i, j), out in zip(rows, outs):
                tail = choice_ids[i][j]
                entries = out.prompt_logprobs[-len(tail) :]
                total = sum(entry[tok].logprob for entry, tok in zip(entries, tail))
                exact.setdefault(i, [0.0] * len(choice_ids[i]))[j] = total
            for i, values in exact.items():
                logprobs[i] = values
        return [
            ChoiceScores(
                choices=list(r.choices or []),
                logprobs=lp or [],
                prompt_tokens=len(p),
                model=self.model_id,
                adapter=r.adapter,
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
