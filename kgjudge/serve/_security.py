"""What every request passes before the API sees it: the host check, the access token, the
origin of writes, the body size cap; and the headers every response gets.

- Host: on a loopback address only ``localhost``, ``127.0.0.1`` and ``[::1]`` are accepted as
  the ``Host`` header, so a web page on another name that resolves to this machine (DNS
  rebinding) cannot read the API.
- Token: when one is set (always when the server listens on a non-loopback address), every
  request must carry it: ``Authorization: Bearer <token>``, the ``kgjudge_token`` cookie, or
  ``?token=`` in the URL. Opening the page with ``?token=`` sets the cookie (HttpOnly,
  SameSite=Strict) and redirects to the address without it, so the page and every call it
  makes send the token without it showing in the address bar.
- Writes (POST, ...) from a page of another origin are refused unless that origin was allowed
  with ``--cors-origin``; without such an option no CORS header is ever sent.
- Bodies over ``max_body`` bytes are refused with 413 before the API reads them.
- Responses carry a Content-Security-Policy that allows only this server's own scripts (never
  inline ones), so text a model or document produced cannot run even if it reached the page
  as markup.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from kgjudge.serve._models import ErrorBody

TOKEN_ENV = "KGJUDGE_SERVE_TOKEN"
COOKIE = "kgjudge_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random access token (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(24)


@dataclass
class Guard:
    """The request checks (see the module docstring).

    Args:
        token: the access token; None lets loopback clients in without one.
        allowed_hosts: accepted ``Host`` names; empty accepts any (a token protects the server).
        cors_origins: origins allowed to call the API from their pages.
        max_body: the largest request body, in bytes.
    """

    token: str | None = None
    allowed_hosts: Sequence[str] = field(default_factory=lambda: list(LOOPBACK_NAMES))
    cors_origins: Sequence[str] = ()
    max_body: int = 64 * 1024

    def middleware(self, app: Callable[..., Awaitable[None]]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """An ASGI middleware applying the checks in front of ``app``."""

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            await self._handle(app, scope, receive, send)

        return guarded

    async def _handle(self, app: Any, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        send = _with_headers(send, scope)
        host = _host_name(headers.get("host", ""))
        if self.allowed_hosts and host not in self.allowed_hosts:
            await _error(send, 400, f"host {host!r} is not served here; use http://127.0.0.1:<port>/")
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = _given_token(headers, query)
        if self.token is not None and not (given and hmac.compare_digest(given.encode(), self.token.encode())):
            await _error(send, 401, "a token is required: open the address kgjudge serve printed (it ends in "
                                    "?token=...), or send the header 'Authorization: Bearer <token>'")
            return
        if self.token is not None and "token" in query and scope["method"] == "GET" and not scope["path"].startswith("/api/"):
            await _redirect_without_token(send, scope, query, self.token)
            return
        method = scope["method"]
        origin = headers.get("origin")
        if method not in SAFE_METHODS and origin and origin not in self.cors_origins and not _same_origin(origin, headers):
            await _error(send, 403, f"requests from pages of {origin} are not allowed (see kgjudge serve --cors-origin)")
            return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await _error(send, 400, "invalid Content-Length header")
                return
            if int(length) > self.max_body:
                await _error(send, 413, f"the request body has {length} bytes; the limit is {self.max_body}")
                return
            await app(scope, receive, send)
            return
        if method in SAFE_METHODS:
            await app(scope, receive, send)
            return
        # A body without a length (chunked): read it up to the limit here, then hand it on.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await _error(send, 413, f"the request body is over the limit of {self.max_body} bytes")
                return
            if not message.get("more_body"):
                break
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await app(scope, replay, send)


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _given_token(headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if "cookie" in headers:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers["cookie"])
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no token
            jar = SimpleCookie()
        if COOKIE in jar:
            return jar[COOKIE].value
    values = query.get("token")
    return values[0] if values else None


def _same_origin(origin: str, headers: dict[str, str]) -> bool:
    scheme, _, rest = origin.partition("://")
    return scheme in ("http", "https") and rest == headers.get("host", "")


def _with_headers(send: Send, scope: Scope) -> Send:
    api = scope.get("path", "").startswith("/api/")

    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            extra = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                     (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
            if api:
                extra.append((b"cache-control", b"no-store"))
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


async def _error(send: Send, status: int, message: str) -> None:
    body = ErrorBody(error=message, status=status).model_dump_json().encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _redirect_without_token(send: Send, scope: Scope, query: dict[str, list[str]], token: str) -> None:
    rest = {k: v for k, v in query.items() if k != "token"}
    location = quote(scope["path"]) + (f"?{urlencode(rest, doseq=True)}" if rest else "")
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()),
                            (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
