"""kill -9 at every step: a build, adding and changing documents, removing them and judging
again, each killed before and after every write to the folder or the store (and the resume
killed again in its start-up window), then run to the end: the files and the store equal
those of a run never interrupted, and the store holds exactly the triples of triples.jsonl."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from _crash import run_killed_at
from _folders import config_dict, docs, grow, state


pytest.importorskip("spacy")

# A store batch of 2 triples: a batch of documents is several store writes, so some kill
# points fall in the middle of a store write.
STORES = {"rdf": {"type": "rdf.v1", "batch_size": 2}, "networkx": {"type": "networkx.v1", "batch_size": 2}}


def _cfg(kind: str, **kwargs: Any) -> dict:
    return config_dict(dict(STORES[kind]), **kwargs)


def stored_ids(out: Path, cfg: dict) -> list[str]:
    return sorted(json.loads(t)["triple"]["id"] for t in state(out, cfg)["triples"])


def file_ids(out: Path) -> list[str]:
    path = out / "triples.jsonl"
    return sorted(json.loads(line)["id"] for line in path.read_text().splitlines()) if path.exists() else []


def sweep(base: Path | None, work: Callable[[Path], tuple], reference: dict, cfg: dict, tmp_path: Path, *,
          window: int = 3, every: int = 1, full: bool = True) -> int:
    """Kill the command ``work(out)`` (on a copy of ``base``) at every ``every``-th kill point;
    then resume it killed at each of the first ``window`` points of the resume, and finally let
    it finish. Returns how many kill points the uninterrupted run passes.

    Not ``full`` (the fast set): six kill points spread over the run, among them one inside a
    store write, and one kill of each resume."""
    clean = tmp_path / "clean"
    if base is not None:
        shutil.copytree(base, clean)
    killed, trace = run_killed_at(None, work(clean))
    total = len(trace)
    assert not killed and total > 0
    assert state(clean, cfg) == reference
    shutil.rmtree(clean)
    points = list(range(1, total + 1, every))
    if not full:
        inside = [i for i, step in enumerate(trace, start=1) if step.startswith("after") and "Store." in step]
        points = sorted({*points[:: max(1, len(points) // 5)][:5], *inside[len(inside) // 2:][:1]})
        window = 1
    for point in points:
        for second in [None, *range(1, window + 1)]:
            out = tmp_path / f"killed-{point}-{second}"
            if base is not None:
                shutil.copytree(base, out)
            killed, _ = run_killed_at(point, work(out))
            assert killed, f"kill point {point} of {total} ({trace[point - 1]}) was not reached"
            if second is not None:
                run_killed_at(second, work(out))
            killed, _ = run_killed_at(None, work(out))
            assert not killed
            got = state(out, cfg)
            assert got == reference, f"killed at point {point} of {total} ({trace[point - 1]}), then at {second} of the resume"
            assert stored_ids(out, cfg) == file_ids(out), "the store holds exactly the kept triples"
            shutil.rmtree(out)
    return total


def prepared(tmp_path: Path, cfg: dict, documents: dict[str, str]) -> Path:
    base = tmp_path / "base"
    grow(base, documents, cfg)
    return base


FULL = [False, pytest.param(True, marks=pytest.mark.slow, id="every-step")]


@pytest.mark.parametrize("full", FULL)
@pytest.mark.parametrize("kind", ["rdf", "networkx"])
def test_kill_at_every_step_of_adding_and_changing_documents(kind: str, full: bool, tmp_path: Path) -> None:
    cfg = _cfg(kind)
    base = prepared(tmp_path, cfg, docs(3))
    final = {**docs(3), "d1": "Grace Hopper worked at Harvard. Harvard is in Cambridge.", **docs(2, start=3)}
    reference_dir = tmp_path / "reference"
    grow(reference_dir, final, cfg)
    reference = state(reference_dir, cfg)
    total = sweep(base, lambda out: ("build", out, final, cfg), reference, cfg, tmp_path, window=2,
                  every=1 if kind == "rdf" else 3, full=full)
    assert total > 30


@pytest.mark.slow
def test_kill_at_every_step_of_a_build_from_scratch(tmp_path: Path) -> None:
    cfg = _cfg("rdf")
    reference_dir = tmp_path / "reference"
    grow(reference_dir, docs(4), cfg)
    sweep(None, lambda out: ("build", out, docs(4), cfg), state(reference_dir, cfg), cfg, tmp_path, window=4)


@pytest.mark.parametrize("full", FULL)
@pytest.mark.parametrize("kind", ["rdf", "networkx"])
def test_kill_at_every_step_of_removing_documents(kind: str, full: bool, tmp_path: Path) -> None:
    cfg = _cfg(kind)
    base = prepared(tmp_path, cfg, docs(4))
    reference_dir = tmp_path / "reference"
    grow(reference_dir, {k: v for k, v in docs(4).items() if k not in ("d0", "d2")}, cfg)
    sweep(base, lambda out: ("remove", out, ["d0", "d2"]), state(reference_dir, cfg), cfg, tmp_path, window=3,
          full=full)


@pytest.mark.parametrize("full", FULL)
@pytest.mark.parametrize("kind", ["rdf", "networkx"])
def test_kill_at_every_step_of_judging_again(kind: str, full: bool, tmp_path: Path) -> None:
    cfg = _cfg(kind, threshold=0.5)
    base = prepared(tmp_path, cfg, docs(4))
    judge_file = tmp_path / "judge.yaml"
    judge_file.write_text(yaml.safe_dump({"backends": cfg["backends"], "judge": {**cfg["judge"], "threshold": 0.7}}))
    reference_dir = tmp_path / "reference"
    grow(reference_dir, docs(4), _cfg(kind, threshold=0.7))
    sweep(base, lambda out: ("rejudge", out, judge_file), state(reference_dir, cfg), cfg, tmp_path, window=3,
          full=full)


@pytest.mark.slow
def test_kill_at_every_step_of_a_judge_that_calls_the_model(tmp_path: Path) -> None:
    cfg = _cfg("rdf", judge=False, batch_size=1)
    base = prepared(tmp_path, cfg, docs(4))
    judged = _cfg("rdf", threshold=0.6, batch_size=1)
    judge_file = tmp_path / "judge.yaml"
    judge_file.write_text(yaml.safe_dump({"backends": judged["backends"], "judge": judged["judge"]}))
    reference_dir = tmp_path / "reference"
    grow(reference_dir, docs(4), judged)
    sweep(base, lambda out: ("rejudge", out, judge_file), state(reference_dir, judged), judged, tmp_path, window=3)


def test_a_resume_killed_between_cutting_the_files_back_and_cleaning_the_store(tmp_path: Path) -> None:
    """The reported case: a batch wrote the store but not its commit line; the resume cut the
    files back, then was killed before it removed that batch from the store. With the response
    cache on, the batch redone makes the same ids, which hid the orphans."""
    cfg = config_dict()
    cfg["cache"] = {"enabled": True, "path": str(tmp_path / "cache")}
    out = tmp_path / "out"
    reference_dir = tmp_path / "reference"
    grow(reference_dir, docs(6), cfg)
    # Killed right after the second batch's store write, before its commit line.
    _, trace = run_killed_at(None, ("build", tmp_path / "traced", docs(6), cfg))
    upserts = [i for i, step in enumerate(trace, start=1) if step == "after GraphStore.upsert"]
    assert run_killed_at(upserts[1], ("build", out, docs(6), cfg))[0]
    pending = json.loads((out / ".pending.json").read_text())
    assert pending["op"] == "batch" and pending["keys"] == ["d2", "d3"] and _in_store(out, "d2")
    # The resume cuts the files back first, then cleans the store: killed at each of its first
    # steps (between the two among them), then resumed again.
    for second in range(1, 6):
        trial = tmp_path / f"trial-{second}"
        shutil.copytree(out, trial)
        assert run_killed_at(second, ("build", trial, docs(6), cfg))[0]
        assert not run_killed_at(None, ("build", trial, docs(6), cfg))[0]
        assert stored_ids(trial, cfg) == file_ids(trial) == stored_ids(reference_dir, cfg)
        assert state(trial) == state(reference_dir)


def _in_store(out: Path, document: str) -> bool:
    from kgjudge.pipeline import BuildFolder

    with BuildFolder(out).open_store() as store:
        return any(True for _ in store.iter_triples(document))
