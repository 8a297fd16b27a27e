"""``openai.v1``: any OpenAI-compatible server (vLLM, llama.cpp, SGLang, OpenAI) via the official
async client.

Retries use tenacity (exponential backoff with jitter) on timeouts, connection errors, 408/409/
429 and 5xx, and on a 200 answer whose body is not JSON or holds no choice (a proxy's error page,
a cut-off body); other errors fail at once. A ``Retry-After`` (or ``retry-after-ms``) header on
a retryable answer sets the wait, bounded by ``max_backoff_s``. A 200 answer that is not a
completion becomes a BackendError quoting the start of the body. ``score_choices`` reads the first generated token's
``top_logprobs``; with ``echo_scoring`` a raw-prompt request is scored exactly from the echoed
prompt log-probabilities of ``prompt + choice`` (vLLM and other servers that implement echo).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from pydantic import Field
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from kgjudge._config import Slot, resolve_env
from kgjudge._errors import BackendError, ConfigError
from kgjudge._extras import require
from kgjudge._registry import backends
from kgjudge._text import redact_urls
from kgjudge.llm._base import LLMBackend, reporting
from kgjudge.llm._types import Capabilities, ChoiceScores, GenerationResult, LLMRequest

RETRYABLE_STATUS = {408, 409, 429}


class OpenAIConfig(Slot):
    """Config of the OpenAI-compatible backend.

    Example (YAML)::

        type: openai.v1
        base_url: http://127.0.0.1:8000/v1
        model: smollm2
        api_key: ${env:OPENAI_API_KEY}
        adapters: {judge: smollm2-judge}   # LoRA adapters served as model names
    """

    type: Literal["openai.v1"] = "openai.v1"
    base_url: str | None = Field(
        default=None, description="server URL ending in /v1 (or an environment reference); None = api.openai.com"
    )
    model: str
    api_key: str | None = Field(default=None, description="an environment reference, e.g. ${env:OPENAI_API_KEY}")
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_s: float = Field(default=0.5, gt=0, description="base of the exponential backoff")
    max_backoff_s: float = Field(default=30.0, gt=0, description="longest wait between tries, Retry-After included")
    max_concurrency: int = Field(default=16, ge=1)
    top_logprobs: int = Field(default=20, ge=1, le=20)
    json_mode: Literal["auto", "json_schema", "json_object"] = Field(
        default="auto", description="auto: json_schema, falling back to json_object if the server rejects it"
    )
    adapters: dict[str, str] = Field(default_factory=dict, description="adapter name -> served model name")
    logprobs: bool = True
    prefix_caching: bool = Field(default=False, description="declare that the server caches prefixes")
    echo_scoring: bool = Field(default=False, description="score raw prompts exactly via echo (vLLM)")
    vllm_extras: bool = Field(default=False, description="use vLLM's structured_outputs for raw prompts")


class _NotACompletion(Exception):
    """A 200 answer whose body is not the completion asked for."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _is_retryable(exc: BaseException) -> bool:
    openai = require("openai", "openai")
    if isinstance(exc, _NotACompletion):
        return exc.retryable
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return False


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds an HTTP error answer asks the client to wait (``retry-after-ms``, or
    ``Retry-After`` in seconds or as an HTTP date), or None when it does not say."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms") is not None:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError, OverflowError):
        return None


def _completion(raw: Any, method: str) -> Any:
    """The parsed completion of a raw 200 answer, or _NotACompletion quoting its body."""
    openai = require("openai", "openai")
    body = raw.text if isinstance(raw.text, str) else ""
    start = repr(body[:120]) + (" ..." if len(body) > 120 else "")

    def bad(what: str, retryable: bool) -> _NotACompletion:
        return _NotACompletion(f"server answered HTTP 200 with {what}, not a completion: {start}", retryable=retryable)

    try:
        parsed = raw.parse()
    except ValueError as exc:  # the body is not JSON (cut off, or an error page sent as JSON)
        raise bad("a body that is not JSON", True) from exc
    expected = openai.types.chat.ChatCompletion if method == "chat" else openai.types.Completion
    if not isinstance(parsed, expected):
        raise bad("a body that is not JSON" if isinstance(parsed, str) else "JSON of another shape", isinstance(parsed, str))
    choices = getattr(parsed, "choices", None)
    if not isinstance(choices, list):
        raise bad("JSON without 'choices'", False)
    if not choices:
        raise bad("no choices", True)
    field = "message" if method == "chat" else "text"
    first = choices[0]
    if method == "chat":
        content = getattr(getattr(first, "message", None), "content", 0)
        ok = getattr(first, "message", None) is not None and (content is None or isinstance(content, str))
    else:
        ok = isinstance(getattr(first, "text", None), str)
    if not ok:
        raise bad(f"a choice without a text '{field}'", False)
    return parsed


def _match_choice(choice: str, top: dict[str, float]) -> tuple[str | None, bool]:
    """The top token that begins ``choice`` (longest wins) and whether it is the whole choice."""
    best = None
    for token in top:
        if token and choice.startswith(token) and (best is None or len(token) > len(best)):
            best = token
    return best, best == choice


class OpenAIBackend(LLMBackend):
    """Talks to an OpenAI-compatible server.

    Args:
        config: the :class:`OpenAIConfig`.
        http_client: an ``httpx.AsyncClient`` to use (tests pass one with a mock transport).
    """

    name = "openai.v1"

    def __init__(self, config: OpenAIConfig, *, http_client: Any = None) -> None:
        openai = require("openai", "openai")
        self.config = config
        self.model_id = config.model
        self.adapters = tuple(config.adapters)
        self.capabilities = Capabilities(
            logprobs=config.logprobs,
            json_schema=True,
            lora=bool(config.adapters),
            prefix_caching=config.prefix_caching,
        )
        self._api_key = resolve_env(config.api_key, key="api_key") or "EMPTY"
        self._base_url = resolve_env(config.base_url, key="base_url")
        self._http_client = http_client
        # The async client's connection pool and the concurrency semaphore belong to one event
        # loop; a backend used from several loops (successive asyncio.run calls) gets one each.
        self._per_loop: dict[int, tuple[Any, Any, asyncio.AbstractEventLoop]] = {}
        self._json_mode = "json_schema" if config.json_mode in ("auto", "json_schema") else "json_object"

    def fingerprint(self) -> str:
        return f"{self._base_url}|{self.config.model}"

    @property
    def where(self) -> str:
        """The server, as it may be shown in messages (credentials redacted)."""
        return redact_urls(self._base_url or "api.openai.com")

    def _loop_state(self) -> tuple[Any, asyncio.Semaphore]:
        openai = require("openai", "openai")
        loop = asyncio.get_running_loop()
        for key, (_, _, old) in list(self._per_loop.items()):
            if old.is_closed():
                del self._per_loop[key]
        state = self._per_loop.get(id(loop))
        if state is None:
            client = openai.AsyncOpenAI(
                base_url=self._base_url,
                api_key=self._api_key,
                timeout=self.config.timeout_s,
                max_retries=0,  # retries are ours (tenacity), so they are counted and bounded once
                http_client=self._http_client,
            )
            state = (client, asyncio.Semaphore(self.config.max_concurrency), loop)
            self._per_loop[id(loop)] = state
        return state[0], state[1]

    def _model_for(self, req: LLMRequest) -> str:
        return self.config.adapters[req.adapter] if req.adapter else self.config.model

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server says how long to wait (bounded), else exponential backoff."""
        asked = retry_after(state.outcome.exception() if state.outcome else None)
        if asked is not None:
            return min(asked, self.config.max_backoff_s)
        return wait_random_exponential(multiplier=self.config.backoff_s, max=self.config.max_backoff_s)(state)

    async def _call(self, method: str, **kwargs: Any) -> Any:
        """Call ``chat.completions.create`` or ``completions.create`` with bounded retries."""
        openai = require("openai", "openai")
        client, semaphore = self._loop_state()
        api = client.chat.completions if method == "chat" else client.completions
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            reraise=True,
        )
        tries = f" after {self.config.max_retries + 1} attempts"
        try:
            async with semaphore:
                async for attempt in retrying:
                    with attempt:
                        return _completion(await api.with_raw_response.create(**kwargs), method)
        except _NotACompletion as exc:
            raise BackendError(f"{exc}{tries if exc.retryable else ''}", retryable=exc.retryable,
                               backend=self.name) from exc
        except openai.APIStatusError as exc:
            retryable = _is_retryable(exc)
            raise BackendError(
                f"server answered HTTP {exc.status_code}{tries if retryable else ''}: {exc.message}",
                retryable=retryable, backend=self.name,
            ) from exc
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise BackendError(
                f"{type(exc).__name__} talking to {self.where}{tries}: {exc}", retryable=True, backend=self.name,
            ) from exc
        raise AssertionError("unreachable")

    def _sampling(self, req: LLMRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self._model_for(req),
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
        }
        if req.stop:
            kwargs["stop"] = req.stop
        if req.seed is not None:
            kwargs["seed"] = req.seed
        return kwargs

    def _response_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self._json_mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}
        return {"type": "json_object"}

    async def _generate_one(self, req: LLMRequest) -> GenerationResult:
        kwargs = self._sampling(req)
        if req.messages is not None:
            messages = [m.model_dump() for m in req.messages]
            if req.json_schema is not None:
                return await self._chat_json(req, messages, kwargs)
            resp = await self._call("chat", messages=messages, **kwargs)
            choice = resp.choices[0]
            text = choice.message.content or ""
        else:
            extra = {}
            if req.json_schema is not None and self.config.vllm_extras:
                extra["extra_body"] = {"structured_outputs": {"json": req.json_schema}}
            resp = await self._call("completions", prompt=req.prompt, **kwargs, **extra)
            choice = resp.choices[0]
            text = choice.text or ""
        return self._result(req, resp, text, choice.finish_reason)

    async def _chat_json(self, req: LLMRequest, messages: list[dict[str, str]], kwargs: dict[str, Any]) -> GenerationResult:
        openai = require("openai", "openai")
        if self._json_mode == "json_object":
            # json_object mode cannot carry a schema, so the schema goes into the prompt.
            note = {"role": "system", "content": "Reply with JSON matching this schema: " + json.dumps(req.json_schema)}
            messages = [note, *messages]
        try:
            resp = await self._call(
                "chat",
                messages=messages,
                response_format=self._response_format(req.json_schema or {}),
                **kwargs,
            )
        except BackendError as exc:
            cause = exc.__cause__
            if (
                self.config.json_mode == "auto"
                and self._json_mode == "json_schema"
                and isinstance(cause, openai.BadRequestError)
            ):
                self._json_mode = "json_object"
                return await self._chat_json(req, messages, kwargs)
            raise
        choice = resp.choices[0]
        return self._result(req, resp, choice.message.content or "", choice.finish_reason)

    def _result(self, req: LLMRequest, resp: Any, text: str, finish: str | None) -> GenerationResult:
        usage = getattr(resp, "usage", None)
        return GenerationResult(
            text=text,
            finish_reason=finish,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            model=self.model_id,
            adapter=req.adapter,
        )

    async def generate_batch(self, requests: Sequence[LLMRequest]) -> list[GenerationResult]:
        return list(await asyncio.gather(*(reporting(self._generate_one(r)) for r in requests)))

    async def _score_one(self, req: LLMRequest) -> ChoiceScores:
        choices = list(req.choices or [])
        if req.prompt is not None and self.config.echo_scoring:
            return await self._score_echo(req, choices)
        kwargs = {**self._sampling(req), "max_tokens": 1, "temperature": 0.0}
        if req.messages is not None:
            resp = await self._call(
                "chat",
                messages=[m.model_dump() for m in req.messages],
                logprobs=True,
                top_logprobs=self.config.top_logprobs,
                **kwargs,
            )
            content = resp.choices[0].logprobs.content if resp.choices[0].logprobs else None
            if not content:
                raise BackendError("the server returned no logprobs", backend=self.name)
            top = {t.token: t.logprob for t in content[0].top_logprobs}
        else:
            resp = await self._call(
                "completions", prompt=req.prompt, logprobs=self.config.top_logprobs, **kwargs
            )
            lp = resp.choices[0].logprobs
            if lp is None or not lp.top_logprobs:
                raise BackendError("the server returned no logprobs", backend=self.name)
            top = dict(lp.top_logprobs[0])
        floor = min(top.values()) if top else -math.inf
        logprobs, approximate, seen = [], False, {}
        for choice in choices:
            token, whole = _match_choice(choice, top)
            if token is None:
                # Outside the top-k: its log-probability is at most the k-th best.
                logprobs.append(floor)
                approximate = True
                continue
            if token in seen:
                raise ConfigError(
                    f"choices '{seen[token]}' and '{choice}' begin with the same token '{token}'; "
                    "first-token scoring cannot tell them apart (use a raw prompt with echo_scoring)"
                )
            seen[token] = choice
            logprobs.append(top[token])
            approximate = approximate or not whole
        usage = getattr(resp, "usage", None)
        return ChoiceScores(
            choices=choices,
            logprobs=logprobs,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            model=self.model_id,
            adapter=req.adapter,
            approximate=approximate,
        )

    async def _score_echo(self, req: LLMRequest, choices: list[str]) -> ChoiceScores:
        prompt = req.prompt or ""
        logprobs, prompt_tokens = [], 0
        for choice in choices:
            resp = await self._call(
                "completions",
                model=self._model_for(req),
                prompt=prompt + choice,
                max_tokens=1,
                temperature=0.0,
                echo=True,
                logprobs=1,
            )
            lp = resp.choices[0].logprobs
            total = 0.0
            end = len(prompt) + len(choice)
            for offset, token, value in zip(lp.text_offset, lp.tokens, lp.token_logprobs):
                # A token that straddles the prompt/choice boundary counts towards the choice;
                # the one generated token after the echo does not.
                if offset + len(token) > len(prompt) and offset < end and value is not None:
                    total += value
            logprobs.append(total)
            prompt_tokens = max(prompt_tokens, getattr(resp.usage, "prompt_tokens", 0) or 0)
        return ChoiceScores(
            choices=choices, logprobs=logprobs, prompt_tokens=prompt_tokens, model=self.model_id, adapter=req.adapter
        )

    async def score_batch(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        return list(await asyncio.gather(*(reporting(self._score_one(r)) for r in requests)))

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        state = self._per_loop.pop(id(loop), None)
        if state is not None:
            await state[0].close()


@backends.register("openai.v1", config=OpenAIConfig)
def make_openai(config: OpenAIConfig) -> OpenAIBackend:
    return OpenAIBackend(config)
