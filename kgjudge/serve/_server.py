"""Starting the server: the address, the token, the caps, uvicorn."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence

from kgjudge._errors import ConfigError
from kgjudge._extras import require
from kgjudge.serve._app import create_app
from kgjudge.serve._explorer import Explorer
from kgjudge.serve._security import LOOPBACK_NAMES, TOKEN_ENV, Guard, is_loopback, new_token

def guard_for(host: str, *, token: str | None, cors_origins: Sequence[str] = (), max_body: int) -> Guard:
    """The request checks for a server listening on ``host``."""
    hosts = list(LOOPBACK_NAMES) if is_loopback(host) else []
    return Guard(token=token, allowed_hosts=hosts, cors_origins=list(cors_origins), max_body=max_body)


def choose_token(host: str) -> tuple[str | None, str]:
    """(token, where it came from): ``$KGJUDGE_SERVE_TOKEN`` when set; a new random one when
    ``host`` is not loopback; none otherwise."""
    given = os.environ.get(TOKEN_ENV)
    if given:
        return given, f"from ${TOKEN_ENV}"
    if not is_loopback(host):
        return new_token(), "generated"
    return None, ""


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port) for uvicorn to serve on.

    Raises:
        ConfigError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle's algorithm off (TCP_NODELAY) only for sockets
    # that say they are TCP, and with it on every keep-alive response waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}", key="--port") from exc
    return sock


def serve(
    explorer: Explorer,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    cors_origins: Sequence[str] = (),
    echo: Callable[[str], None] = print,
) -> None:
    """Serve ``explorer`` until interrupted; prints the address (with the token when one is
    needed) once the port is bound."""
    uvicorn = require("uvicorn", "serve")
    token, origin = choose_token(host)
    app = create_app(explorer, guard_for(host, token=token, cors_origins=cors_origins,
                                         max_body=explorer.limits.max_body))
    sock = listening_socket(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    url = f"http://{shown}:{bound}/"
    mode = "editable (--allow-edit)" if explorer.allow_edit else "read-only"
    echo(f"kgjudge serve: {explorer.folder.name} ({mode})")
    if token is not None:
        echo(f"open {url}?token={token}  (token {origin}; every request must carry it)")
    else:
        echo(f"open {url}")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
