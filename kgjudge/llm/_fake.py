"""``fake.v1``: a deterministic, scripted backend for unit tests and overhead benchmarks."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import Field

from kgjudge._config import Section, Slot
from kgjudge._registry import backends
from kgjudge.llm._base import LLMBackend, report_finished
from kgjudge.llm._types import Capabilities, ChoiceScores, GenerationResult, LLMRequest


class FakeRule(Section):
    """Reply ``reply`` when the regex ``match`` is found in the request's text."""

    match: str
    reply: str


class FakeConfig(Slot):
    """Config of the fake backend.

    Replies are chosen in this order: the first matching rule; else the next of ``replies``
    (cycled); else ``default_reply``; else a deterministic reply derived from the request text.
    Choice log-probabilities come from ``choice_logprobs`` or a hash of request and choice.
    """

    type: Literal["fake.v1"] = "fake.v1"
    model: str = "fake"
    rules: list[FakeRule] = Field(default_factory=list)
    replies: list[str] = Field(default_factory=list)
    default_reply: str | None = None
    choice_logprobs: dict[str, float] = Field(default_factory=dict)
    latency_s: float = Field(default=0.0, ge=0.0, description="sleep per batch call")
    adapters: list[str] = Field(default_factory=list)
    json_schema: bool = Field(default=False, description="declare constrained JSON support")


def _text_of(request: LLMRequest) -> str:
    if request.messages is not None:
        return "\n".join(m.content for m in request.messages)
    return request.prompt or ""


def _unit_hash(*parts: str) -> float:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FakeBackend(LLMBackend):
    """Scripted replies; every call is recorded in :attr:`calls`.

    Args:
        config: the :class:`FakeConfig`.
        responder: optional function from request to reply text, consulted first (for tests
            that need logic no rule can express).

    Example:
        >>> fake = FakeBackend(FakeConfig(rules=[{"match": "France", "reply": "Paris"}]))
    """

    name = "fake.v1"

    def __init__(self, config: FakeConfig | None = None, responder: Callable[[LLMRequest], str] | None = None):
        self.config = config or FakeConfig()
        self.responder = responder
        self.model_id = self.config.model
        self.adapters = tuple(self.config.adapters)
        self.capabilities = Capabilities(
            logprobs=True, exact_choice_scores=True, json_schema=self.config.json_schema, lora=True, beam_search=True
        )
        self._rules = [(re.compile(r.match), r.reply) for r in self.config.rules]
        self._next = 0
        self.calls: list[tuple[str, LLMRequest]] = []

    def _reply(self, request: LLMRequest) -> str:
        if self.responder is not None:
            return self.responder(request)
        text = _text_of(request)
        for pattern, reply in self._rules:
            if pattern.search(text):
                return reply
        if self.config.replies:
            reply = self.config.replies[self._next % len(self.config.replies)]
            self._next += 1
            return reply
        if self.config.default_reply is not None:
            return self.config.default_reply
        return f"fake reply {hashlib.sha256(text.encode()).hexdigest()[:8]}"

    async def generate_batch(self, requests: Sequence[LLMRequest]) -> list[GenerationResult]:
        if self.config.latency_s:
            await asyncio.sleep(self.config.latency_s)
        out = []
        for req in requests:
            self.calls.append(("generate", req))
            reply = self._reply(req)
            finish = "stop"
            for stop in req.stop:
                if stop in reply:
                    reply = reply.split(stop, 1)[0]
            words = reply.split()
            if len(words) > req.max_tokens:
                reply, finish = " ".join(words[: req.max_tokens]), "length"
            out.append(
                GenerationResult(
                    text=reply,
                    finish_reason=finish,
                    prompt_tokens=len(_text_of(req).split()),
                    completion_tokens=len(reply.split()),
                    model=self.model_id,
                    adapter=req.adapter,
                )
            )
            report_finished(1, tokens=out[-1].prompt_tokens + out[-1].completion_tokens)
        return out

    async def score_batch(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        if self.config.latency_s:
            await asyncio.sleep(self.config.latency_s)
        out = []
        for req in requests:
            self.calls.append(("score", req))
            choices = list(req.choices or [])
            text = _text_of(req)
            logprobs = [
                self.config.choice_logprobs.get(c, -1.0 - 4.0 * _unit_hash(text, c, req.adapter or ""))
                for c in choices
            ]
            out.append(
                ChoiceScores(
                    choices=choices,
                    logprobs=logprobs,
                    prompt_tokens=len(text.split()),
                    model=self.model_id,
                    adapter=req.adapter,
                )
            )
            report_finished(1, tokens=out[-1].prompt_tokens)
        return out


@backends.register("fake.v1", config=FakeConfig)
def make_fake(config: FakeConfig) -> FakeBackend:
    return FakeBackend(config)
