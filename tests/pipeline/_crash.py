"""Kill a command at a chosen step: the command runs in a child process that sends itself
SIGKILL just before or just after the n-th call of any of the functions that write a build
folder or its store (journal entries, commits, record files, store batches, deletes and
flushes, counts and manifest), so a test can walk every step of a command and check what a
later run makes of it.

Children come from a fork server (a fresh interpreter with kgjudge imported): forking the test
process itself would copy it without the threads an on-disk store left running there, and a
child opening a store could wait for them forever.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

STEPS: list[tuple[str, str, str]] = [
    ("kgjudge._run_folder", "RunFolder", "begin"),
    ("kgjudge._run_folder", "RunFolder", "end"),
    ("kgjudge._run_folder", "RunFolder", "commit"),
    ("kgjudge._run_folder", "RunFolder", "cut_back"),
    ("kgjudge._run_folder", "RunFolder", "drop_records"),
    ("kgjudge._run_folder", "RunFolder", "write_manifest"),
    ("kgjudge._run_folder", "RunFolder", "_write_json"),
    ("kgjudge._run_folder", "", "write_jsonl"),
    ("kgjudge.pipeline._build", "", "write_jsonl"),
    ("kgjudge.pipeline._folder_run", "", "write_jsonl"),
    ("kgjudge.pipeline._rejudge", "", "write_jsonl"),
    ("kgjudge.graph._base", "GraphStore", "upsert"),
    ("kgjudge.graph._rdf", "RDFStore", "_write_batch"),
    ("kgjudge.graph._networkx", "NetworkXStore", "_write_batch"),
    ("kgjudge.graph._rdf", "RDFStore", "delete_document"),
    ("kgjudge.graph._networkx", "NetworkXStore", "delete_document"),
    ("kgjudge.graph._rdf", "RDFStore", "delete_triples"),
    ("kgjudge.graph._networkx", "NetworkXStore", "delete_triples"),
    ("kgjudge.graph._networkx", "NetworkXStore", "flush"),
]
"""(module, class or "" for a module function, name) of every function a kill point sits
before and after."""


def _install(point: int | None, trace: list[str]) -> None:
    import importlib

    def wrap(fn: Any, label: str) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            trace.append(f"before {label}")
            if len(trace) == point:
                os.kill(os.getpid(), signal.SIGKILL)
            result = fn(*args, **kwargs)
            trace.append(f"after {label}")
            if len(trace) == point:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        return step

    for module_name, owner_name, name in STEPS:
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name) if owner_name else module
        original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        if original is not None:
            setattr(owner, name, wrap(original, f"{owner_name or module_name.rsplit('.', 1)[-1]}.{name}"))


def _child(point: int | None, spec: tuple[Any, ...], conn: Any) -> None:
    trace: list[str] = []
    try:
        _install(point, trace)
        perform(spec)
    except BaseException:  # noqa: BLE001 - reported to the parent
        conn.send(("error", traceback.format_exc()))
        sys.exit(3)
    conn.send(("done", trace))


def perform(spec: tuple[Any, ...]) -> Any:
    """Run one command described as data: ``("build", out, documents, cfg[, sync])``,
    ``("remove", out, ids)`` or ``("rejudge", out, judge_file)``."""
    from _folders import backend, grow

    from kgjudge import InputError
    from kgjudge.pipeline import Rejudge, Remove

    kind, out, *args = spec
    if kind == "build":
        documents, cfg, *rest = args
        return grow(Path(out), documents, cfg, sync=bool(rest and rest[0]))
    if kind == "remove":
        try:
            return Remove(out).run(args[0])
        except InputError:
            # Killed after it finished (its manifest written): removing the same documents
            # again is the error any second removal gets.
            runs = json.loads((Path(out) / "manifest.json").read_text()).get("runs") or [{}]
            if runs[-1].get("command") == "remove" and runs[-1].get("finished") and runs[-1].get("removed") == list(args[0]):
                return None
            raise
    if kind == "rejudge":
        return Rejudge(out, args[0], progress=False, backends={"default": backend(), "default-judge": backend()}).run()
    raise ValueError(f"unknown command {kind!r}")


_CONTEXT: Any = None


def _context() -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["_crash", "_folders", "kgjudge.pipeline._build", "kgjudge.graph._rdf",
                                         "kgjudge.graph._networkx", "kgjudge.stages", "spacy"])
    return _CONTEXT


def run_killed_at(point: int | None, spec: tuple[Any, ...]) -> tuple[bool, list[str]]:
    """Run the command ``spec`` (see :func:`perform`) in a child that kills itself at kill
    point ``point`` (1-based: before the first step is 1, after it 2, before the second 3, ...;
    None: never).

    Returns:
        (whether the child was killed, the kill points it passed when it was not, each named
        "before X.y" or "after X.y").
    """
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(point, spec, child))
    proc.start()
    child.close()
    message = None
    if parent.poll(600):
        try:
            message = parent.recv()
        except EOFError:  # killed: nothing was sent
            pass
    proc.join(600)
    if proc.exitcode == -signal.SIGKILL:
        return True, []
    if message is None:
        raise AssertionError(f"the child neither finished nor was killed (exit {proc.exitcode})")
    if message[0] == "error":
        raise AssertionError(f"the command failed in the child:\n{message[1]}")
    return False, list(message[1])
