"""A real Bolt/Cypher server without a Neo4j install: ArcadeDB from ``arcadedb-embedded``.

Used by the tests and benchmarks of the Neo4j store, and handy for local development. The
server runs in a child process (its JVM writes ``./log`` into the working folder, so that is a
temporary folder) and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kgjudge._errors import MissingExtraError, StoreError

READY = "kgjudge-bolt-ready"
_SERVER = """
import os, sys
from arcadedb_embedded import ArcadeDBServer
root, bolt_port, http_port, database = sys.argv[1:5]
server = ArcadeDBServer(root_path=root, root_password=os.environ["KGJUDGE_BOLT_PASSWORD"], config={
    "host": "127.0.0.1", "http_port": int(http_port),
    "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin", "bolt_port": int(bolt_port)})
server.start()
server.create_database(database)
print("%s", flush=True)
sys.stdin.read()  # serve until the parent closes stdin
server.stop()
""" % READY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ArcadeDBBoltServer:
    """ArcadeDB serving Bolt on 127.0.0.1 in a child process, with one empty database.

    On start it sets ``KGJUDGE_BOLT_URI``, ``KGJUDGE_BOLT_USER`` and ``KGJUDGE_BOLT_PASSWORD``
    (a fresh random password) in this process's environment, which :meth:`store_config`
    refers to, so no credential is written in a config.

    Example:
        >>> with ArcadeDBBoltServer() as server:
        ...     store = build_store(server.store_config())
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None, *, database: str = "kgjudge",
                 startup_timeout_s: float = 120.0) -> None:
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="kgjudge-arcadedb-"))
        self.database = database
        self.startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """The server's output."""
        return self.folder / "server.log"

    def start(self) -> ArcadeDBBoltServer:
        """Start the server and wait until it accepts Bolt connections."""
        if importlib.util.find_spec("arcadedb_embedded") is None:
            raise MissingExtraError("arcadedb_embedded", "bolt-server")
        self.folder.mkdir(parents=True, exist_ok=True)
        bolt_port, http_port = _free_port(), _free_port()
        os.environ["KGJUDGE_BOLT_URI"] = f"bolt://127.0.0.1:{bolt_port}"
        os.environ["KGJUDGE_BOLT_USER"] = "root"
        os.environ["KGJUDGE_BOLT_PASSWORD"] = secrets.token_hex(12)
        env = {**os.environ, "ARCADEDB_JVM_ERROR_FILE": str(self.folder / "hs_err_pid%p.log")}
        with self.log.open("w") as handle:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _SERVER, str(self.folder / "databases"), str(bolt_port), str(http_port),
                 self.database],
                stdin=subprocess.PIPE, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=str(self.folder),
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while READY not in self.log.read_text(errors="replace"):
            if self._proc.poll() is not None:
                raise StoreError(f"ArcadeDB exited with status {self._proc.returncode}: {self._tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise StoreError(f"ArcadeDB did not start in {self.startup_timeout_s:.0f} s: {self._tail()}")
            time.sleep(0.1)
        return self

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def store_config(self) -> dict[str, Any]:
        """A ``neo4j.v1`` config slot for this server (credentials as environment references)."""
        return {
            "type": "neo4j.v1", "uri": "${env:KGJUDGE_BOLT_URI}", "user": "${env:KGJUDGE_BOLT_USER}",
            "password": "${env:KGJUDGE_BOLT_PASSWORD}", "database": self.database,
        }

    def stop(self) -> None:
        """Stop the server (closing its stdin lets it shut down cleanly)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> ArcadeDBBoltServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
