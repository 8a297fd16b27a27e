"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 that misbehaves: 200
responses that are not completions, and Retry-After on 429/503. The server is a plain
``http.server`` started by the test, so the whole client stack (openai, httpx, sockets) runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kgjudge import BackendError, ConfigError, parse_config
from kgjudge.llm import LLM, LLMRequest, OpenAIBackend, OpenAIConfig, llm_from_config

pytest.importorskip("openai")


def completion(content: str = "Paris") -> bytes:
    return json.dumps({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }).encode()


class FaultServer:
    """Answers each POST with the next scripted (status, headers, body); the last one repeats.
    Records the arrival time of every request."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], bytes]] = []
        self.arrivals: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.arrivals.append(time.monotonic())
                status, headers, body = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def serve(self, *script: tuple[int, dict[str, str], bytes]) -> None:
        self.script = list(script)
        self.arrivals = []


@pytest.fixture
def server() -> Iterator[FaultServer]:
    s = FaultServer()
    s.thread.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()


def client(server: FaultServer, **config: Any) -> LLM:
    settings = {"model": "m", "base_url": server.url, "backoff_s": 0.01, "max_backoff_s": 0.05, "max_retries": 2,
                **config}
    return LLM(OpenAIBackend(OpenAIConfig(**settings)))


BAD_BODIES = [
    # (what, headers, body, retryable)
    ("invalid JSON", {}, b'{"id": "x", "choices": [', True),
    ("an empty object", {}, b"{}", False),
    ("no choices", {}, json.dumps({"id": "x", "object": "chat.completion", "choices": []}).encode(), True),
    ("an HTML page", {"Content-Type": "text/html"}, b"<html><body>502 Bad Gateway from the proxy</body></html>", True),
    ("a choice without a message", {}, json.dumps({"id": "x", "choices": [{"index": 0}]}).encode(), False),
    ("content that is not text", {}, json.dumps({"id": "x", "choices": [{"index": 0, "message": {"content": 5}}]}).encode(), False),
]


@pytest.mark.parametrize(("what", "headers", "body", "retryable"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_200_that_is_not_a_completion_is_a_backend_error(server: FaultServer, what: str, headers: dict[str, str],
                                                          body: bytes, retryable: bool) -> None:
    server.serve((200, headers, body))
    llm = client(server)
    with pytest.raises(BackendError) as info:
        llm.generate_sync([LLMRequest.chat("Capital of France?")])
    message = str(info.value)
    assert "HTTP 200" in message and "not a completion" in message, message
    assert repr(body.decode()[:40])[1:-1] in message, "the start of the body is quoted"
    assert info.value.retryable is retryable
    # A server that might recover is asked again (bounded); one that answers nonsense is not.
    assert len(server.arrivals) == (3 if retryable else 1)
    llm.close()


def test_a_bad_body_then_a_good_one_recovers(server: FaultServer) -> None:
    server.serve((200, {"Content-Type": "text/html"}, b"<html>busy</html>"), (200, {}, completion("Paris")))
    llm = client(server)
    (result,) = llm.generate_sync([LLMRequest.chat("Capital of France?")])
    assert result.text == "Paris" and len(server.arrivals) == 2
    llm.close()


def test_a_score_reply_that_is_not_a_completion_is_a_backend_error(server: FaultServer) -> None:
    server.serve((200, {}, b"[1, 2, 3]"))
    llm = client(server, max_retries=0)
    with pytest.raises(BackendError, match="not a completion"):
        llm.score_choices_sync([LLMRequest.chat("Is Paris in France?", choices=["Yes", "No"], max_tokens=1)])
    llm.close()


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("header", ["1", "date"])
def test_retry_after_is_honoured(server: FaultServer, status: int, header: str) -> None:
    from email.utils import formatdate

    value = "1" if header == "1" else formatdate(time.time() + 2, usegmt=True)
    error = json.dumps({"error": {"message": "slow down", "type": "x"}}).encode()
    server.serve((status, {"Retry-After": value}, error), (200, {}, completion()))
    llm = client(server, backoff_s=0.01, max_backoff_s=5.0)
    (result,) = llm.generate_sync([LLMRequest.chat("Capital of France?")])
    assert result.text == "Paris"
    gap = server.arrivals[1] - server.arrivals[0]
    # An HTTP date has one-second resolution: "in 2 s" may be 1.0 s away when it is sent.
    assert gap >= 0.9, f"retried {gap:.2f} s after Retry-After: {value}"
    assert gap < 4.0
    llm.close()


def test_retry_after_is_bounded(server: FaultServer) -> None:
    error = json.dumps({"error": {"message": "come back tomorrow", "type": "x"}}).encode()
    server.serve((429, {"Retry-After": "86400"}, error), (200, {}, completion()))
    llm = client(server, max_backoff_s=0.5)
    started = time.monotonic()
    (result,) = llm.generate_sync([LLMRequest.chat("Capital of France?")])
    assert result.text == "Paris" and time.monotonic() - started < 5
    assert server.arrivals[1] - server.arrivals[0] >= 0.45
    llm.close()


def test_credentials_in_the_url_are_refused_and_never_printed(server: FaultServer, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Any) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"backends": {"default": {"type": "openai.v1", "model": "m",
                                               "base_url": "http://user:sk-secret123@127.0.0.1:9/v1"}}})
    assert "sk-secret123" not in str(info.value) and info.value.key == "backends.default.base_url"
    # As an environment reference the URL is the user's choice; messages still never show it.
    dead = "http://user:sk-secret123@127.0.0.1:9/v1"
    monkeypatch.setenv("KGJUDGE_TEST_BASE_URL", dead)
    config = parse_config({"backends": {"default": {"type": "openai.v1", "model": "m", "max_retries": 0,
                                                    "base_url": "${env:KGJUDGE_TEST_BASE_URL}"}}})
    llm = llm_from_config(config)
    with pytest.raises(BackendError) as failed:
        llm.generate_sync([LLMRequest.chat("hi")])
    assert "sk-secret123" not in str(failed.value) and "127.0.0.1:9" in str(failed.value)
    llm.close()


def test_a_missing_environment_variable_names_the_file_and_the_full_key(tmp_path: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from kgjudge import load_config

    monkeypatch.delenv("KGJUDGE_TEST_UNSET_KEY", raising=False)
    path = tmp_path / "cfg.yaml"
    path.write_text("backends:\n  default:\n    type: openai.v1\n    model: m\n    api_key: ${env:KGJUDGE_TEST_UNSET_KEY}\n")
    with pytest.raises(ConfigError) as info:
        llm_from_config(load_config(path))
    assert info.value.file == str(path) and info.value.key == "backends.default.api_key"
    assert str(info.value).startswith(f"{path}: key 'backends.default.api_key': environment variable KGJUDGE_TEST_UNSET_KEY")
