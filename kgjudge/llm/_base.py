"""The backend contract and the client every stage calls through.

A backend maps a batch of requests to a batch of results and nothing more. The :class:`LLM`
client adds what all backends share: capability checks, the response cache, JSON parsing with
schema validation and one repair retry, usage counters, and the progress hook
(:mod:`kgjudge._progress`): requests sent and answered, within a batch too when the backend
calls :func:`report_finished` as requests of the batch finish.

Replies are untrusted: a lone surrogate in a reply's text is replaced by U+FFFD, as a UTF-8
decoder does with bytes it cannot read (so every reply can be hashed, cached and written), and
JSON that nests too deeply or holds a lone surrogate escape does not parse. The cache keeps the
raw reply, never the verdict on it: a cached reply is parsed again each time it is served, so a
reply that failed to parse gives the same recorded failure (and a re-run still makes no model
call), never a result that passes for good; a cache entry that no longer validates is a miss.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar, Literal, TypeVar, overload

import jsonschema
from pydantic import ValidationError

from kgjudge import _progress
from kgjudge._cache import ResponseCache, cache_key
from kgjudge._errors import BackendError, ConfigError, ParseError
from kgjudge._jsonl import loads_checked
from kgjudge._prompts import render
from kgjudge._records import ChatMessage
from kgjudge._text import replace_surrogates
from kgjudge.llm._constrain import accepting, close_json
from kgjudge.llm._types import Capabilities, ChoiceScores, GenerationResult, LLMRequest, Usage

T = TypeVar("T")


class _Batch:
    """The requests of one backend call, as the backend reports them finished."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.reported = 0
        self.tokens = 0

    def report(self, n: int, tokens: int) -> None:
        n = max(0, min(n, self.size - self.reported))
        if n:
            self.reported += n
            self.tokens += tokens
            _progress.requests_done(n, calls=n, tokens=tokens)

    def finish(self, tokens: int) -> None:
        """The batch returned: report what the backend did not."""
        self.report(self.size - self.reported, max(0, tokens - self.tokens))


_BATCH: ContextVar[_Batch | None] = ContextVar("kgjudge_llm_batch", default=None)


def report_finished(n: int = 1, *, tokens: int = 0) -> None:
    """For backends: ``n`` more requests of the batch in progress are finished (``tokens`` in
    and out), so progress bars move within a batch. What a backend does not report is reported
    when its batch returns; outside a client's call this does nothing. Safe from the worker
    thread of ``asyncio.to_thread`` (which carries the caller's context).

    Example:
        >>> for chunk in chunks:                 # inside generate_batch
        ...     results.extend(run(chunk))
        ...     report_finished(len(chunk))
    """
    batch = _BATCH.get()
    if batch is not None:
        batch.report(n, tokens)


async def reporting(step: Awaitable[T]) -> T:
    """Await one request's result and report it finished (for backends that gather requests)."""
    result = await step
    report_finished(1, tokens=getattr(result, "prompt_tokens", 0) + getattr(result, "completion_tokens", 0))
    return result


class LLMBackend(ABC):
    """One way of running a model. Subclasses implement the two batch methods, and may call
    :func:`report_finished` as requests of a batch finish.

    Attributes:
        name: the registered name (``hf.v1``).
        capabilities: what this backend instance supports.
        model_id: the model as named in provenance records.
        adapters: names of the LoRA adapters requests may ask for.
    """

    name: ClassVar[str]
    capabilities: Capabilities
    model_id: str
    adapters: Sequence[str] = ()

    def fingerprint(self) -> str:
        """What identifies the model's weights for the response cache (default: ``model_id``)."""
        return self.model_id

    @abstractmethod
    async def generate_batch(self, requests: Sequence[LLMRequest]) -> list[GenerationResult]:
        """Generate text for each request, in order."""

    @abstractmethod
    async def score_batch(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        """Log-probability of each request's choices, in order."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources (servers, engines)."""


def extract_json(text: str) -> Any:
    """Parse the first JSON value in ``text``, tolerating code fences and surrounding prose.

    Parsing is strict (:func:`kgjudge._jsonl.loads_checked`): no NaN, no lone surrogate escape,
    at most :data:`kgjudge._jsonl.MAX_DEPTH` levels of nesting.

    Raises:
        ValueError: saying why; never another exception, whatever ``text`` holds.
    """
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    try:
        return loads_checked(stripped)
    except ValueError as exc:
        if not isinstance(exc.__cause__, json.JSONDecodeError):
            raise  # valid JSON that cannot be used: no point looking for another value in it
    starts = [i for i in (stripped.find("{"), stripped.find("[")) if i >= 0]
    if not starts:
        raise ValueError("no JSON object or array found")
    try:
        return loads_checked(stripped[min(starts) :], raw_decode=True)
    except ValueError as exc:
        # A syntax error keeps the json module's own message: a reply spans lines, and the
        # repair request shows the model this text.
        if isinstance(exc.__cause__, json.JSONDecodeError):
            raise exc.__cause__ from None
        raise


def check_json(text: str, schema: dict[str, Any]) -> Any:
    """Parse ``text`` and validate it against ``schema`` (less a root ``minItems``:
    :func:`~kgjudge.llm._constrain.accepting`); ValueError says what is wrong."""
    try:
        value = extract_json(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(accepting(schema)).iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        raise ValueError(f"schema violation at {where}: {error.message}")
    return value


def _clean(result: Any) -> Any:
    """A result whose text can be hashed, cached and written (lone surrogates replaced)."""
    text = getattr(result, "text", None)
    if isinstance(text, str) and not text.isascii():
        valid = replace_surrogates(text)
        if valid != text:
            return result.model_copy(update={"text": valid})
    return result


def repair_request(request: LLMRequest, raw: str, error: str) -> LLMRequest:
    """The follow-up request that shows the model its invalid reply and asks for a fix."""
    note = render("json_repair.v1", error=error)
    if request.messages is not None:
        messages = [
            *request.messages,
            ChatMessage(role="assistant", content=raw),
            ChatMessage(role="user", content=note),
        ]
        return request.model_copy(update={"messages": messages})
    return request.model_copy(update={"prompt": f"{request.prompt}{raw}\n\n{note}\n"})


def run_sync(coro: Awaitable[T], runner: asyncio.Runner | None = None) -> T:
    """Run a coroutine from synchronous code (not from inside a running event loop).

    With a ``runner`` every call reuses the runner's event loop, so loop-bound resources of a
    backend (HTTP connection pools, semaphores) survive from one call to the next.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        if runner is not None:
            return runner.run(coro)  # type: ignore[arg-type]
        return asyncio.run(coro)  # type: ignore[arg-type]
    coro.close()  # type: ignore[attr-defined]
    raise RuntimeError("an event loop is running here: await the async method instead")


class LLM:
    """The client every kgjudge stage calls: a backend plus cache, checks and counters.

    Args:
        backend: any :class:`LLMBackend`.
        cache: a :class:`ResponseCache`, or None for no caching.

    Example:
        >>> llm = LLM(FakeBackend(FakeConfig(replies=["Paris"])), cache=None)
        >>> [r.text for r in llm.generate_sync([LLMRequest.chat("Capital of France?")])]
        ['Paris']
    """

    def __init__(self, backend: LLMBackend, cache: ResponseCache | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.usage = Usage()
        self._runner: asyncio.Runner | None = None

    def run_sync(self, coro: Awaitable[T]) -> T:
        """Run a coroutine from synchronous code on this client's own event loop, so that the
        backend's loop-bound resources (HTTP connection pools) are reused from call to call.

        Example:
            >>> judgements = llm.run_sync(judge.judge(triples, documents))
        """
        if self._runner is None:
            self._runner = asyncio.Runner()
        return run_sync(coro, self._runner)

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    def _check(self, requests: Sequence[LLMRequest], op: Literal["generate", "score"]) -> None:
        caps = self.backend.capabilities
        for i, req in enumerate(requests):
            if req.adapter is not None:
                if not caps.lora:
                    raise ConfigError(f"request {i}: backend '{self.backend.name}' does not support LoRA adapters")
                if req.adapter not in self.backend.adapters:
                    raise ConfigError(
                        f"request {i}: unknown adapter '{req.adapter}'",
                        key="adapter",
                        choices=self.backend.adapters,
                    )
            if op == "generate" and req.num_beams > 1 and not caps.beam_search:
                raise ConfigError(f"request {i}: backend '{self.backend.name}' does not support beam search")
            if op == "score":
                if not caps.logprobs:
                    raise ConfigError(f"backend '{self.backend.name}' cannot score choices (no log-probabilities)")
                if not req.choices:
                    raise ConfigError(f"request {i}: score_choices needs 'choices'")

    def _key(self, op: str, req: LLMRequest) -> str:
        return cache_key(op, self.backend.name, self.backend.fingerprint(), req.model_dump(mode="json"))

    def _hit(self, key: str, result_type: type[Any]) -> Any:
        """The cached result of ``key``, or None (an entry that no longer validates is a miss)."""
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is None:
            return None
        try:
            return _clean(result_type.model_validate({**hit, "cached": True}))
        except (ValidationError, TypeError):
            return None

    async def _cached(self, op: str, requests: Sequence[LLMRequest], call: Any, result_type: type[Any]) -> list[Any]:
        """Answer from the cache where possible; send the misses to ``call`` in one batch.

        Identical requests within a batch are sent once and share the result.
        """
        results: list[Any] = [None] * len(requests)
        keys = [self._key(op, r) for r in requests]
        pending: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            hit = self._hit(key, result_type) if key not in pending else None
            if hit is not None:
                results[i] = hit
            else:
                pending.setdefault(key, []).append(i)
        unique = [slots[0] for slots in pending.values()]
        # A duplicate of a request in the same batch counts as a hit: it costs no model call.
        self.usage.requests += len(requests)
        self.usage.cache_hits += len(requests) - len(unique)
        self.usage.cache_misses += len(unique)
        _progress.requests_sent(len(requests))
        _progress.requests_done(len(requests) - len(unique), cached=len(requests) - len(unique))
        if unique:
            started = time.perf_counter()
            batch = _Batch(len(unique))
            token = _BATCH.set(batch)
            try:
                fresh = await call([requests[i] for i in unique])
            finally:
                _BATCH.reset(token)
            self.usage.model_seconds += time.perf_counter() - started
            if len(fresh) != len(unique):
                raise BackendError(
                    f"returned {len(fresh)} results for {len(unique)} requests", backend=self.backend.name
                )
            self.usage.model_calls += len(unique)
            batch.finish(sum(r.prompt_tokens + getattr(r, "completion_tokens", 0) for r in fresh))
            for (key, slots), res in zip(pending.items(), fresh):
                res = _clean(res)
                self.usage.prompt_tokens += res.prompt_tokens
                self.usage.completion_tokens += getattr(res, "completion_tokens", 0)
                if self.cache is not None:
                    self.cache.set(key, res.model_dump(mode="json", exclude={"cached"}))
                for n, i in enumerate(slots):
                    results[i] = res if n == 0 else res.model_copy(update={"cached": True})
        return results

    @overload
    async def generate(
        self, requests: Sequence[LLMRequest], *, return_exceptions: Literal[False] = False
    ) -> list[GenerationResult]: ...

    @overload
    async def generate(
        self, requests: Sequence[LLMRequest], *, return_exceptions: Literal[True]
    ) -> list[GenerationResult | ParseError]: ...

    async def generate(
        self, requests: Sequence[LLMRequest], *, return_exceptions: bool = False
    ) -> list[Any]:
        """Generate for a batch. Requests with ``json_schema`` get ``parsed`` filled in.

        Output is constrained to the schema where the backend supports it; either way it is
        validated. A reply cut by ``max_tokens`` is closed at its last complete element when
        that validates; any other invalid reply gets one repair request. What is still invalid
        raises :class:`ParseError` (with the raw text), or, with ``return_exceptions=True``,
        stands as the ParseError in its slot so the rest of the batch is kept.
        """
        requests = list(requests)
        self._check(requests, "generate")
        results = await self._cached("generate", requests, self.backend.generate_batch, GenerationResult)
        failures: dict[int, str] = {}
        for i, (req, res) in enumerate(zip(requests, results)):
            if req.json_schema is None:
                continue
            try:
                results[i] = res.model_copy(update={"parsed": check_json(res.text, req.json_schema)})
            except ValueError as exc:
                closed = close_json(res.text, req.json_schema) if res.finish_reason == "length" else None
                if closed is not None:
                    # Cut by max_tokens (a looping reply, typically): its complete elements are
                    # kept, which costs nothing, where a repair costs a second full reply.
                    results[i] = res.model_copy(update={"text": closed, "parsed": loads_checked(closed)})
                else:
                    failures[i] = str(exc)
        if failures:
            self.usage.parse_repairs += len(failures)
            retry = [repair_request(requests[i], results[i].text, err) for i, err in failures.items()]
            repaired = await self._cached("generate", retry, self.backend.generate_batch, GenerationResult)
            for (i, first_error), req, res in zip(failures.items(), retry, repaired):
                try:
                    value = check_json(res.text, requests[i].json_schema or {})
                except ValueError as exc:
                    self.usage.parse_failures += 1
                    error = ParseError(
                        f"reply does not match the JSON schema after one repair ({exc}; first reply: {first_error})",
                        raw=res.text,
                    )
                    if not return_exceptions:
                        raise error from exc
                    results[i] = error
                    continue
                results[i] = res.model_copy(
                    update={
                        "parsed": value,
                        "repaired": True,
                        "prompt_tokens": res.prompt_tokens + results[i].prompt_tokens,
                        "completion_tokens": res.completion_tokens + results[i].completion_tokens,
                    }
                )
        return results

    async def score_choices(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        """Log-probabilities of each request's ``choices`` from a forward pass, no sampling."""
        requests = list(requests)
        self._check(requests, "score")
        return await self._cached("score", requests, self.backend.score_batch, ChoiceScores)

    def generate_sync(self, requests: Sequence[LLMRequest], *, return_exceptions: bool = False) -> list[Any]:
        """Blocking :meth:`generate`."""
        return self.run_sync(self.generate(requests, return_exceptions=return_exceptions))

    def score_choices_sync(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        """Blocking :meth:`score_choices`."""
        return self.run_sync(self.score_choices(requests))

    async def aclose(self) -> None:
        """Release the backend and the cache (async code)."""
        await self.backend.aclose()
        if self.cache is not None:
            self.cache.close()

    def close(self) -> None:
        """Release the backend, the cache and the sync event loop (sync code)."""
        self.run_sync(self.backend.aclose())
        if self.cache is not None:
            self.cache.close()
        if self._runner is not None:
            self._runner.close()
            self._runner = None
