"""Requests and results of the one LLM interface."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kgjudge._records import ChatMessage


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Capabilities(_Strict):
    """What a backend can do; callers check these instead of catching failures.

    Attributes:
        logprobs: ``score_choices`` is supported.
        exact_choice_scores: multi-token choices are scored exactly (full continuation
            log-probability), not from the first token's top log-probabilities.
        json_schema: generation can be constrained to a JSON schema.
        lora: per-request LoRA adapters.
        prefix_caching: shared prompt prefixes are computed once.
        beam_search: ``num_beams > 1`` is honoured.
    """

    logprobs: bool = False
    exact_choice_scores: bool = False
    json_schema: bool = False
    lora: bool = False
    prefix_caching: bool = False
    beam_search: bool = False


class LLMRequest(_Strict):
    """One model request: chat messages or a raw prompt, sampling parameters, options.

    Exactly one of ``messages`` and ``prompt`` is set. ``choices`` is used by
    ``score_choices``; ``json_schema`` by ``generate``.

    Example:
        >>> LLMRequest(messages=[ChatMessage(role="user", content="Hi")], max_tokens=16)
        >>> LLMRequest(prompt="Is the sky blue? Answer:", choices=[" Yes", " No"])
    """

    messages: list[ChatMessage] | None = None
    prompt: str | None = None
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    num_beams: int = Field(default=1, ge=1)
    json_schema: dict[str, Any] | None = None
    adapter: str | None = None
    choices: list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> LLMRequest:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("set exactly one of 'messages' and 'prompt'")
        if self.messages is not None and not self.messages:
            raise ValueError("'messages' is empty")
        if self.choices is not None:
            if len(self.choices) < 2:
                raise ValueError("'choices' needs at least two entries")
            if any(not c for c in self.choices):
                raise ValueError("'choices' has an empty entry")
            if len(set(self.choices)) != len(self.choices):
                raise ValueError("'choices' has duplicates")
        return self

    @classmethod
    def chat(cls, user: str, *, system: str | None = None, **kwargs: Any) -> LLMRequest:
        """A request from a user message and an optional system message."""
        messages = [ChatMessage(role="system", content=system)] if system else []
        messages.append(ChatMessage(role="user", content=user))
        return cls(messages=messages, **kwargs)


class GenerationResult(_Strict):
    """The result of ``generate`` for one request.

    ``parsed`` holds the parsed JSON value when the request had a schema. ``cached`` is True when
    the result came from the response cache (no model call).
    """

    text: str
    parsed: Any = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str | None = None
    adapter: str | None = None
    cached: bool = False
    repaired: bool = False


class ChoiceScores(_Strict):
    """Log-probabilities of each choice continuation for one request.

    ``logprobs[i]`` is log P(choices[i] | prompt) under the model. ``approximate`` is True when
    a backend could only see the first token's top log-probabilities and a choice fell outside
    them (its value is then an upper bound).

    Values from a model are untrusted: NaN and +inf count as no evidence for their choice (like
    -inf), and when no choice has a finite log-probability the scores are not :attr:`usable`
    (judges then record a failure instead of a decision) and :attr:`probs` is uniform.

    Example:
        >>> s = ChoiceScores(choices=["Yes", "No"], logprobs=[-0.1, -2.4])
        >>> s.best, round(s.probs[0], 3)
        ('Yes', 0.909)
    """

    choices: list[str]
    logprobs: list[float]
    prompt_tokens: int = 0
    model: str | None = None
    adapter: str | None = None
    approximate: bool = False
    cached: bool = False

    @model_validator(mode="after")
    def _check(self) -> ChoiceScores:
        if len(self.choices) != len(self.logprobs):
            raise ValueError("choices and logprobs differ in length")
        return self

    @property
    def usable(self) -> bool:
        """Whether at least one choice has a finite log-probability."""
        return any(math.isfinite(lp) for lp in self.logprobs)

    @property
    def probs(self) -> list[float]:
        """Probabilities renormalised over the choices (softmax of the finite log-probabilities;
        uniform when none is finite, see :attr:`usable`)."""
        finite = [lp if math.isfinite(lp) else None for lp in self.logprobs]
        if not any(lp is not None for lp in finite):
            return [1.0 / len(self.logprobs)] * len(self.logprobs) if self.logprobs else []
        top = max(lp for lp in finite if lp is not None)
        exps = [math.exp(lp - top) if lp is not None else 0.0 for lp in finite]
        total = sum(exps)
        return [e / total for e in exps]

    def prob(self, choice: str) -> float:
        """Renormalised probability of one choice."""
        return self.probs[self.choices.index(choice)]

    @property
    def best(self) -> str:
        """The most likely choice."""
        probs = self.probs
        return self.choices[max(range(len(self.choices)), key=probs.__getitem__)]


class Usage(BaseModel):
    """Counters of one client: cache hits and misses, model calls, tokens."""

    model_config = ConfigDict(extra="forbid")

    requests: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    parse_repairs: int = 0
    parse_failures: int = 0
    model_seconds: float = Field(default=0.0, description="wall time spent waiting for the backend")

    def since(self, before: Usage) -> Usage:
        """The counts accumulated after the snapshot ``before``."""
        return Usage(**{n: getattr(self, n) - getattr(before, n) for n in type(self).model_fields})

    def add(self, other: Usage) -> None:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))
