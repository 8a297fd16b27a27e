"""What the server lets in: loopback by default, a token everywhere else, read-only unless
asked, no CORS, no oversized bodies, no foreign Host names; and text stays text."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _serving import client_for, running_server

from kgjudge.serve import TOKEN_ENV, Guard, guard_for, open_explorer
from kgjudge.serve._app import STATIC
from kgjudge.serve._server import choose_token

TOKEN = "s3cret-token-for-tests"


def test_loopback_needs_no_token_but_refuses_foreign_host_names(api) -> None:  # noqa: ANN001
    assert api.get("/api/stats").status_code == 200
    for host in ("localhost:8765", "[::1]:8765", "127.0.0.1"):
        assert api.get("/api/stats", headers={"host": host}).status_code == 200
    # a page on another name that resolves here (DNS rebinding) cannot read the API
    r = api.get("/api/stats", headers={"host": "evil.example:8765"})
    assert r.status_code == 400 and r.json()["error"].startswith("host 'evil.example' is not served here")


def test_a_token_is_required_on_every_request_when_set(build_copy: Path) -> None:
    for api in client_for(build_copy, guard=Guard(token=TOKEN, allowed_hosts=[])):
        for path in ("/", "/api/stats", "/api/openapi.json", "/static/app.js", "/api/triples/x"):
            r = api.get(path)
            assert r.status_code == 401 and "token is required" in r.json()["error"], path
        assert api.get("/api/stats", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert api.get("/api/stats", params={"token": "wrong"}).status_code == 401
        assert api.get("/api/stats", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert api.get("/api/stats", params={"token": TOKEN}).status_code == 200
        # opening the page with the token sets an HttpOnly, SameSite=Strict cookie and drops it from the URL
        page = api.get("/", params={"token": TOKEN}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/"
        cookie = page.headers["set-cookie"]
        assert f"kgjudge_token={TOKEN}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        api.cookies.set("kgjudge_token", TOKEN)
        assert api.get("/").status_code == 200 and api.get("/static/app.js").status_code == 200
        assert api.get("/api/stats").status_code == 200


def test_the_token_comes_from_the_environment_or_is_generated_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert choose_token("127.0.0.1") == (None, "") and choose_token("::1") == (None, "")
    token, origin = choose_token("0.0.0.0")
    assert token and len(token) >= 32 and origin == "generated" and choose_token("0.0.0.0")[0] != token
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert choose_token("127.0.0.1") == (TOKEN, f"from ${TOKEN_ENV}")
    assert choose_token("10.1.2.3")[0] == TOKEN
    assert guard_for("0.0.0.0", token=TOKEN, max_body=10).allowed_hosts == []
    assert "localhost" in guard_for("127.0.0.1", token=None, max_body=10).allowed_hosts


def test_serve_on_a_public_address_prints_a_token_and_refuses_requests_without_it(built: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != TOKEN_ENV}
    kgjudge = str(Path(sys.executable).with_name("kgjudge"))
    proc = subprocess.Popen([kgjudge, "serve", "--out", str(built), "--host", "0.0.0.0", "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "token=" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()  # type: ignore[union-attr]
            assert line or proc.poll() is None, "kgjudge serve exited"
        match = re.search(r"http://0\.0\.0\.0:(\d+)/\?token=(\S+)", line)
        assert match, line
        port, token = match.groups()
        url = f"http://127.0.0.1:{port}/api/stats"
        for _ in range(100):
            try:
                r = httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert r.status_code == 401
        assert httpx.get(url, headers={"authorization": f"Bearer {token}"}, timeout=5).json()["triples"] == 9
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_read_only_unless_allow_edit(api, build_copy: Path) -> None:  # noqa: ANN001
    tid = api.get("/api/neighbourhood", params={"entity": "Warsaw"}).json()["facts"][0]["triple"]["id"]
    r = api.post(f"/api/curation/{tid}", json={"action": "accept"})
    assert r.status_code == 403 and "read-only" in r.json()["error"]
    assert api.get("/api/info").json()["allow_edit"] is False


def test_no_cors_by_default_and_no_writes_from_foreign_pages(editable) -> None:  # noqa: ANN001
    api = editable
    r = api.get("/api/stats", headers={"origin": "http://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = api.options("/api/query", headers={"origin": "http://evil.example", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
    tid = api.get("/api/neighbourhood", params={"entity": "Warsaw"}).json()["facts"][0]["triple"]["id"]
    r = api.post(f"/api/curation/{tid}", json={"action": "reject"}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and "evil.example" in r.json()["error"]
    same = api.post(f"/api/curation/{tid}", json={"action": "accept"}, headers={"origin": "http://127.0.0.1"})
    assert same.status_code == 200


def test_cors_only_for_the_origins_given(build_copy: Path) -> None:
    guard = Guard(cors_origins=["http://tools.example"])
    for api in client_for(build_copy, guard=guard):
        r = api.get("/api/stats", headers={"origin": "http://tools.example"})
        assert r.headers["access-control-allow-origin"] == "http://tools.example"
        r = api.get("/api/stats", headers={"origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_oversized_requests_are_refused(api) -> None:  # noqa: ANN001
    big = {"question": "x" * 70_000}
    r = api.post("/api/query", json=big)
    assert r.status_code == 413 and "limit is 65536" in r.json()["error"]

    def chunks():  # no Content-Length: the body arrives in chunks
        yield b'{"question": "'
        for _ in range(100):
            yield b"y" * 1000
        yield b'"}'

    r = api.post("/api/query", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over the limit" in r.json()["error"]
    r = api.post("/api/query", json={"question": "q" * 2001})
    assert r.status_code == 422 and "question" in r.json()["error"]
    r = api.get("/api/entities", params={"q": "x" * 201})
    assert r.status_code == 422


def test_pages_and_answers_carry_a_strict_content_security_policy(api) -> None:  # noqa: ANN001
    for path in ("/", "/api/stats", "/static/app.js", "/api/nothing"):
        headers = api.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp and headers["x-content-type-options"] == "nosniff"


def test_the_page_never_parses_data_as_markup() -> None:
    """Every string from the API goes through text nodes: no markup sinks in the page's code,
    and no script or style from elsewhere."""
    code = (STATIC / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setTimeout(\"", "srcdoc", "javascript:"):
        assert sink not in code, sink
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'src="([^"]+)"', page) == ["/static/vendor/cytoscape.min.js", "/static/app.js"]
    assert "<script>" not in page and "http" not in page.replace("http-equiv", "")
    assert (STATIC / "vendor" / "cytoscape.LICENSE").read_text().startswith("Copyright (c)")


def test_connections_are_served_without_nagle_delays() -> None:
    """Keep-alive responses (headers, then body) waited ~40 ms for delayed ACKs when the
    listening socket did not say it was TCP: asyncio then leaves TCP_NODELAY off."""
    import asyncio
    import socket

    from kgjudge.serve._server import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    seen: list[int] = []

    async def main() -> None:
        async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname())
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    assert seen == [1]


def test_a_slow_question_does_not_block_other_requests(built: Path, tmp_path: Path) -> None:
    """Over a real uvicorn server: a question whose model takes 3 s, and a stats request
    meanwhile that must come back at once."""
    import threading

    import yaml

    config = tmp_path / "slow.yaml"
    config.write_text(yaml.safe_dump({
        "backends": {"default": {"type": "fake.v1", "latency_s": 3.0, "default_reply": "Warsaw [T1]"}},
        "cache": {"enabled": False}, "rag": {"linking": {"embeddings": False}},
    }))
    explorer = open_explorer(built, config)
    with running_server(explorer) as url, httpx.Client(base_url=url, timeout=60) as client:
        client.get("/api/stats")   # warm
        answer: dict = {}

        def ask() -> None:
            answer.update(client.post("/api/query", json={"question": "Where was Marie Curie born?"}).json())

        started = time.monotonic()
        thread = threading.Thread(target=ask)
        thread.start()
        time.sleep(0.5)             # the question is now waiting for the model
        t0 = time.monotonic()
        assert client.get("/api/stats").json()["triples"] == 9
        assert client.get("/api/neighbourhood", params={"entity": "Warsaw"}).status_code == 200
        quick = time.monotonic() - t0
        assert thread.is_alive(), "the question should still be running"
        thread.join()
        assert quick < 1.5 and time.monotonic() - started >= 3.0
        assert answer["found"] and answer["answer"] == "Warsaw"
