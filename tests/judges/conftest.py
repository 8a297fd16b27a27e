"""Fixtures of the judge tests: a scripted scoring backend and a small gold corpus."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from kgjudge.judges import GoldDocument
from kgjudge.llm import LLM, ChoiceScores, FakeBackend, FakeConfig, LLMRequest


class ScriptedBackend(FakeBackend):
    """A fake backend whose choice log-probabilities come from a function of the request."""

    def __init__(self, logprobs: Callable[[LLMRequest], list[float]], **config: object) -> None:
        super().__init__(FakeConfig(**config))
        self.logprobs = logprobs
        self.score_calls: list[list[LLMRequest]] = []

    async def score_batch(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        self.score_calls.append(list(requests))
        return [
            ChoiceScores(
                choices=list(r.choices or []),
                logprobs=self.logprobs(r),
                prompt_tokens=len((r.messages or [])[-1].content.split()),
                model=self.model_id,
                adapter=r.adapter,
            )
            for r in requests
        ]


@pytest.fixture
def scripted() -> Callable[..., LLM]:
    """``scripted(fn, **fake_config)``: an LLM client over a :class:`ScriptedBackend`."""

    def make(fn: Callable[[LLMRequest], list[float]], **config: object) -> LLM:
        return LLM(ScriptedBackend(fn, **config), cache=None)

    return make


@pytest.fixture
def corpus() -> list[GoldDocument]:
    """Twelve small documents with two to four gold triples each."""
    docs = []
    for i in range(12):
        city, country, river = f"City{i}", f"Country{i % 4}", f"River {i} Delta"
        triples = [(city, "country", country), (city, "located next to", river)]
        if i % 2:
            triples.append((f"Mayor {i}", "position held", f"mayor of {city}"))
        if i % 3 == 0:
            triples.append((city, "inception", f"{1900 + i}"))
        text = f"{city} is a town in {country} on the {river}. Mayor {i} governs it. Founded {1900 + i}."
        docs.append(GoldDocument(id=f"doc{i}", text=text, triples=triples))
    return docs
