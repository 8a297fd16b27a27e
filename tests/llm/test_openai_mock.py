"""The OpenAI-compatible backend against an offline httpx mock transport: retries, errors,
JSON modes and log-probability scoring. The same backend runs against a real vLLM server in
test_vllm_server.py."""

import json
from collections.abc import Callable

import pytest

try:  # openai>=3 is built on httpx2; older releases on httpx
    import httpx2 as httpx
except ImportError:
    import httpx  # type: ignore[no-redef]

from kgjudge import BackendError, ConfigError, ParseError
from kgjudge.llm import LLM, LLMRequest, OpenAIBackend, OpenAIConfig


def chat_body(content: str, top: dict[str, float] | None = None) -> dict:
    choice: dict = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
    if top is not None:
        first = next(iter(top))
        choice["logprobs"] = {"content": [{"token": first, "logprob": top[first], "bytes": None,
                                            "top_logprobs": [{"token": t, "logprob": v, "bytes": None} for t, v in top.items()]}]}
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}


class Server:
    """Scripted responses; records every request body."""

    def __init__(self, *responses: Callable[[httpx.Request], httpx.Response] | httpx.Response) -> None:
        self.responses = list(responses)
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return item(request) if callable(item) else item


def backend(server: Server, **config: object) -> LLM:
    cfg = OpenAIConfig(model="m", base_url="http://test/v1", backoff_s=0.001, max_backoff_s=0.01, **config)
    return LLM(OpenAIBackend(cfg, http_client=httpx.AsyncClient(transport=httpx.MockTransport(server))))


def ok(content: str, top: dict[str, float] | None = None) -> httpx.Response:
    return httpx.Response(200, json=chat_body(content, top))


def error(status: int, message: str = "boom") -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "x"}})


async def test_chat_generate_sends_sampling_parameters() -> None:
    server = Server(ok("Paris"))
    llm = backend(server)
    (r,) = await llm.generate([LLMRequest.chat("Capital?", system="brief", max_tokens=9, seed=3, stop=["\n"])])
    assert r.text == "Paris" and r.prompt_tokens == 7 and r.completion_tokens == 2
    body = server.bodies[0]
    assert body["messages"][0] == {"role": "system", "content": "brief"}
    assert body["max_tokens"] == 9 and body["seed"] == 3 and body["stop"] == ["\n"] and body["temperature"] == 0.0


async def test_5xx_is_retried_then_succeeds() -> None:
    server = Server(error(500), error(503), ok("fine"))
    (r,) = await backend(server, max_retries=3).generate([LLMRequest.chat("x")])
    assert r.text == "fine" and len(server.bodies) == 3


async def test_persistent_5xx_gives_retryable_backend_error_after_bounded_attempts() -> None:
    server = Server(error(500))
    with pytest.raises(BackendError) as info:
        await backend(server, max_retries=2).generate([LLMRequest.chat("x")])
    assert info.value.retryable and "HTTP 500 after 3 attempts" in str(info.value)
    assert len(server.bodies) == 3


async def test_429_is_retried() -> None:
    server = Server(error(429, "slow down"), ok("ok"))
    (r,) = await backend(server).generate([LLMRequest.chat("x")])
    assert r.text == "ok" and len(server.bodies) == 2


async def test_timeout_is_retried_then_backend_error() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    server = Server(hang)
    with pytest.raises(BackendError) as info:
        await backend(server, max_retries=1).generate([LLMRequest.chat("x")])
    assert info.value.retryable and "APITimeoutError" in str(info.value) and len(server.bodies) == 2


async def test_unreachable_server(unused_tcp_port: int) -> None:
    cfg = OpenAIConfig(model="m", base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", max_retries=1, backoff_s=0.001)
    with pytest.raises(BackendError, match=r"APIConnectionError talking to http://127.0.0.1:\d+/v1 after 2 attempts"):
        await LLM(OpenAIBackend(cfg)).generate([LLMRequest.chat("x")])


async def test_4xx_fails_at_once_without_retry() -> None:
    server = Server(error(401, "bad key"))
    with pytest.raises(BackendError) as info:
        await backend(server).generate([LLMRequest.chat("x")])
    assert not info.value.retryable and "HTTP 401" in str(info.value) and len(server.bodies) == 1


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


async def test_json_schema_response_format() -> None:
    server = Server(ok('{"answer": "Paris"}'))
    (r,) = await backend(server).generate([LLMRequest.chat("x", json_schema=SCHEMA)])
    assert r.parsed == {"answer": "Paris"}
    fmt = server.bodies[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA and fmt["json_schema"]["strict"]


async def test_server_rejecting_json_schema_falls_back_to_json_object() -> None:
    server = Server(error(400, "response_format json_schema not supported"), ok('{"answer": "Paris"}'))
    llm = backend(server)
    (r,) = await llm.generate([LLMRequest.chat("x", json_schema=SCHEMA)])
    assert r.parsed == {"answer": "Paris"}
    second = server.bodies[1]
    assert second["response_format"] == {"type": "json_object"}
    assert json.dumps(SCHEMA) in second["messages"][0]["content"]
    # The fallback is remembered: no more rejected attempts.
    await llm.generate([LLMRequest.chat("y", json_schema=SCHEMA)])
    assert server.bodies[2]["response_format"] == {"type": "json_object"}


async def test_malformed_json_reply_is_repaired_once_then_parse_error() -> None:
    server = Server(ok("not json"), ok("still not json"))
    with pytest.raises(ParseError) as info:
        await backend(server).generate([LLMRequest.chat("x", json_schema=SCHEMA)])
    assert info.value.raw == "still not json" and len(server.bodies) == 2
    assert server.bodies[1]["messages"][-2] == {"role": "assistant", "content": "not json"}


async def test_score_choices_from_top_logprobs() -> None:
    server = Server(ok("Yes", {"Yes": -0.3, "No": -1.5, "Maybe": -4.0}))
    (s,) = await backend(server).score_choices([LLMRequest.chat("x", choices=["Yes", "No"])])
    assert s.logprobs == [-0.3, -1.5] and not s.approximate
    body = server.bodies[0]
    assert body["max_tokens"] == 1 and body["logprobs"] is True and body["top_logprobs"] == 20


async def test_choice_outside_top_k_is_an_upper_bound_marked_approximate() -> None:
    server = Server(ok("Yes", {"Yes": -0.3, "Maybe": -4.0}))
    (s,) = await backend(server).score_choices([LLMRequest.chat("x", choices=["Yes", "No"])])
    assert s.logprobs == [-0.3, -4.0] and s.approximate


async def test_choices_sharing_a_first_token_are_refused() -> None:
    server = Server(ok("Yes", {"Yes": -0.3, "No": -1.0}))
    with pytest.raises(ConfigError, match="begin with the same token 'Yes'"):
        await backend(server).score_choices([LLMRequest.chat("x", choices=["Yes", "Yes indeed"])])


async def test_adapter_is_sent_as_model_name() -> None:
    server = Server(ok("x"))
    llm = backend(server, adapters={"judge": "smol-judge"})
    await llm.generate([LLMRequest.chat("x", adapter="judge"), LLMRequest.chat("y")])
    assert sorted(b["model"] for b in server.bodies) == ["m", "smol-judge"]


def completion_body(text: str, top: dict[str, float]) -> dict:
    return {"id": "x", "object": "text_completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "text": text, "finish_reason": "length",
                         "logprobs": {"tokens": [text], "token_logprobs": [top.get(text)], "text_offset": [0],
                                      "top_logprobs": [top]}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


async def test_raw_prompt_generate_and_score_use_the_completions_endpoint() -> None:
    server = Server(httpx.Response(200, json=completion_body(" Paris", {" Paris": -0.5, " Rome": -2.0})))
    llm = backend(server)
    (r,) = await llm.generate([LLMRequest(prompt="The capital of France is", max_tokens=3)])
    (s,) = await llm.score_choices([LLMRequest(prompt="The capital of France is", choices=[" Paris", " Rome"])])
    assert r.text == " Paris" and s.logprobs == [-0.5, -2.0]
    assert server.bodies[0]["prompt"] == "The capital of France is" and server.bodies[1]["logprobs"] == 20


async def test_echo_scoring_sums_the_choice_tokens() -> None:
    prompt = "The capital of France is"

    def echo(request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["prompt"]
        choice = text[len(prompt):]
        # prompt tokens, then the choice split in two tokens, then one generated token
        tokens = [prompt, choice[:3], choice[3:], "."]
        offsets = [0, len(prompt), len(prompt) + 3, len(text)]
        values = [None, -1.0, -0.25, -3.0]
        body = {"id": "x", "object": "text_completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "text": text + ".", "finish_reason": "length",
                             "logprobs": {"tokens": tokens, "token_logprobs": values, "text_offset": offsets,
                                          "top_logprobs": None}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
        return httpx.Response(200, json=body)

    server = Server(echo)
    (s,) = await backend(server, echo_scoring=True).score_choices(
        [LLMRequest(prompt=prompt, choices=[" Paris", " Lyon"])]
    )
    assert s.logprobs == [-1.25, -1.25] and not s.approximate
    assert [b["echo"] for b in server.bodies] == [True, True]
    assert [b["prompt"] for b in server.bodies] == [prompt + " Paris", prompt + " Lyon"]


async def test_each_request_of_a_batch_is_reported_as_it_finishes(monkeypatch: pytest.MonkeyPatch) -> None:
    from kgjudge._progress import Progress

    from _support import record_requests_done

    events = record_requests_done(monkeypatch)
    llm = backend(Server(ok("Paris")))
    with Progress("test", "questions", 3, enabled=False) as progress:
        await llm.generate([LLMRequest.chat(f"Capital {i}?") for i in range(3)])
    assert events == [(1, 1, 0, 9)] * 3 and progress.tokens == 27
