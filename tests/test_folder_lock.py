"""One writer per output folder: a second ``kgjudge build`` or ``kgjudge filter`` on a folder in
use fails at once with an error naming the holder's pid and touches nothing; the first finishes
with everything it would have written alone; a holder killed with kill -9 leaves a lock the
next command takes over; a curation write of ``kgjudge serve`` waits for no one and says who
holds the folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kgjudge import FolderBusyError
from kgjudge._folder_lock import LOCK_FILE, FolderLock

KGJUDGE = [str(Path(sys.executable).parent / "kgjudge")]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def _holder(path: Path) -> dict:
    """The record the lock's holder wrote (empty while there is none yet)."""
    try:
        return json.loads((path / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _wait_for_holder(path: Path, proc: subprocess.Popen, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = _holder(path)
        if holder.get("pid") == proc.pid:
            return holder
        assert proc.poll() is None, f"the first command ended before it took the folder: {proc.communicate()}"
        time.sleep(0.05)
    raise AssertionError("the first command never took the folder")


def _files(out: Path, names: list[str]) -> dict[str, list[str]]:
    return {n: sorted((out / n).read_text().splitlines()) for n in names}


def test_a_second_holder_is_refused_naming_the_first_and_a_dead_ones_lock_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = f"from kgjudge._folder_lock import FolderLock; import time; FolderLock({str(out)!r}, 'holder-cmd').acquire(); print('ready', flush=True); time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(FolderBusyError, match=rf"in use by pid {proc.pid} \(holder-cmd\)") as info:
            FolderLock(out).acquire()
        assert info.value.pid == proc.pid and info.value.command == "holder-cmd"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The holder died without letting go: its record stays in the file, the lock does not.
    assert _holder(out)["pid"] == proc.pid
    lock = FolderLock(out, "next").acquire()
    try:
        assert lock.took_over is not None and lock.took_over["pid"] == proc.pid
        assert _holder(out)["pid"] == os.getpid() and _holder(out)["command"] == "next"
    finally:
        lock.release()


@pytest.mark.slow
def test_two_builds_on_one_folder(tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": f"Person {i} was born in City {i}. City {i} is in Land {i}."}) + "\n"
                            for i in range(8)))
    cfg = {"backends": {"default": {"type": "fake.v1", "latency_s": 0.3,
                                    "default_reply": json.dumps([["Person", "born in", "City"]])}},
           "cache": {"enabled": False}, "pipeline": {"batch_size": 1, "denoise": {"enabled": False}},
           "judge": {"type": "graphjudger.v1", "threshold": 0.5}}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(cfg))
    reference = tmp_path / "reference"
    subprocess.run([*KGJUDGE, "build", str(docs), "-c", str(config), "-o", str(reference), "--no-progress"],
                   check=True, env=ENV, capture_output=True)

    out = tmp_path / "out"
    command = [*KGJUDGE, "build", str(docs), "-c", str(config), "-o", str(out), "--no-progress"]
    first = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_holder(out, first)
    # Mid-build: a batch committed, others to come.
    deadline = time.monotonic() + 120
    while not (out / "progress.jsonl").exists() or not (out / "progress.jsonl").read_text().strip():
        assert time.monotonic() < deadline and first.poll() is None, "the first build committed no batch"
        time.sleep(0.05)
    progress_before = (out / "progress.jsonl").read_text()
    second = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert second.returncode == 2, second.stderr
    assert f"in use by pid {first.pid}" in second.stderr and "kgjudge build" in second.stderr
    assert "Traceback" not in second.stderr
    # The second one touched nothing: the first one's progress went on from where it was.
    assert (out / "progress.jsonl").read_text().startswith(progress_before)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    names = ["triples.jsonl", "judgements.jsonl", "rejected.jsonl", "chunks.jsonl"]
    assert _files(out, names) == _files(reference, names)
    assert json.loads((out / "manifest.json").read_text())["finished"] is True


@pytest.mark.slow
def test_two_filters_on_one_folder(tmp_path: Path) -> None:
    rows = [{"instruction": f"What is {i} + {i}?", "input": "", "output": str(2 * i)} for i in range(12)]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {"backends": {"default": {"type": "fake.v1", "latency_s": 0.3}}, "cache": {"enabled": False},
           "filter": {"judges": [{"type": "direct.v1"}], "batch_size": 1}}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    command = [*KGJUDGE, "filter", str(data), "-c", str(config), "-o", str(out), "--no-progress"]
    first = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_holder(out, first)
    second = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert second.returncode == 2 and f"in use by pid {first.pid}" in second.stderr, second.stderr
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    decisions = [json.loads(line) for line in (out / "decisions.jsonl").read_text().splitlines()]
    pairs = [(d.get("id", d.get("example_id")), d.get("round")) for d in decisions]
    assert len(pairs) == len(set(pairs)) == len(rows), "one decision per example and round"
    kept, rejected = ((out / f).read_text().splitlines() for f in ("kept.jsonl", "rejected.jsonl"))
    assert len(kept) + len(rejected) == len(rows)


@pytest.mark.slow
def test_a_curation_write_while_a_build_holds_the_folder_names_it(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("spacy")
    sys.path.insert(0, str(Path(__file__).parent / "serve"))
    from _serving import client_for, make_build

    out = make_build(tmp_path)
    tid = json.loads((out / "triples.jsonl").read_text().splitlines()[0])["id"]
    code = f"from kgjudge._folder_lock import FolderLock; import time; FolderLock({str(out)!r}, 'kgjudge build more -o out').acquire(); print('ready', flush=True); time.sleep(600)"
    for api in client_for(out, allow_edit=True):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            r = api.post(f"/api/curation/{tid}", json={"action": "reject"})
            assert r.status_code == 409 and f"pid {proc.pid}" in r.json()["error"], r.text
            assert not (out / "curation.jsonl").exists()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert api.post(f"/api/curation/{tid}", json={"action": "reject"}).status_code == 200
