"""The judge contract, the factory, and judge config files.

A judge config section is a slot ``{type: graphjudger.v1 | meta_ranking.v1, backend: <name>, ...}``
whose ``backend`` names an entry of the same file's ``backends``. The file may hold other
top-level sections (a build pipeline's); only ``backends``, ``cache`` and the judge section are
read here. Judges are found through :data:`kgjudge._registry.judges` (an entry point can add
one); whatever a factory returns only has to meet :class:`Judge`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from kgjudge._config import KGJudgeConfig, Slot, backend_of, parse_config, read_yaml, validate_slot
from kgjudge._errors import ConfigError
from kgjudge._records import Judgement, Triple
from kgjudge._registry import Registry, judges
from kgjudge.llm import LLM, llm_from_config


@runtime_checkable
class Judge(Protocol):
    """What ``kgjudge build`` asks of a triple judge: one :class:`~kgjudge.Judgement` per triple,
    in order, ``label`` True to keep it. ``documents`` maps each triple's ``document_id`` to its
    text. :class:`GraphJudger` and :class:`MetaRanker` are judges; a judge an entry point adds to
    :data:`kgjudge._registry.judges` is one too.

    Example:
        >>> judge: Judge = build_judge({"type": "graphjudger.v1"}, llm)
        >>> judgements = await judge.judge(triples, {"d1": "Paris is the capital of France."})
    """

    name: str

    async def judge(self, triples: Sequence[Triple], documents: Mapping[str, str]) -> list[Judgement]: ...

    def judge_sync(self, triples: Sequence[Triple], documents: Mapping[str, str]) -> list[Judgement]: ...


def build_judge(
    slot: Slot | dict[str, Any], llm: LLM | Mapping[str, LLM], *, file: str | None = None, key: str = "judge"
) -> Judge:
    """Build the judge a config slot describes.

    Args:
        slot: ``{type: graphjudger.v1, ...}`` (validated against the registered config model).
        llm: the client to use, or clients by backend name (the slot's ``backend`` picks one).

    Example:
        >>> judge = build_judge({"type": "graphjudger.v1", "adapter": "judge"}, llm)
        >>> judgements = judge.judge_sync(triples, {"d1": text})
    """
    return build_registered(judges, slot, llm, file=file, key=key)  # type: ignore[no-any-return]


def build_registered(
    registry: Registry, slot: Slot | dict[str, Any], llm: LLM | Mapping[str, LLM], *, file: str | None, key: str
) -> Any:
    """Validate ``slot`` against ``registry`` and build its component on the given client, or
    on the client of the slot's ``backend`` when clients are given by name."""
    config = validate_slot(slot, registry, file=file, key=key)
    if isinstance(llm, Mapping):
        llm = backend_of(llm, config.backend, file=file, key=f"{key}.backend")  # type: ignore[attr-defined]
    return registry.build(config, llm, file=file, key=key)


def _read_yaml(path: Path) -> dict[str, Any]:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping", file=str(path))
    return raw


def load_judge_file(path: str | Path, section: str = "judge") -> tuple[KGJudgeConfig, Slot]:
    """The backends/cache part and the validated judge section of a config file."""
    path = Path(path)
    raw = _read_yaml(path)
    if section not in raw:
        raise ConfigError(f"no '{section}' section", file=str(path), key=section)
    base = parse_config({k: raw[k] for k in ("backends", "cache") if k in raw}, file=str(path))
    slot = validate_slot(raw[section], judges, file=str(path), key=section)
    backend_of(base.backends, slot.backend, file=str(path), key=f"{section}.backend")  # type: ignore[attr-defined]
    return base, slot


def judge_from_file(path: str | Path, section: str = "judge") -> Judge:
    """Build the judge of a config file's ``section`` with its backend and the file's cache."""
    base, slot = load_judge_file(path, section)
    llm = llm_from_config(base, slot.backend)  # type: ignore[attr-defined]
    return build_judge(slot, llm, file=str(path), key=section)


def write_threshold(path: str | Path, threshold: float, calibration: dict[str, Any], section: str = "judge") -> None:
    """Set ``<section>.threshold`` (and ``<section>.calibration``, how it was chosen) in a config
    file, leaving every other key as it was. The file is rewritten by PyYAML, so comments are
    not kept."""
    path = Path(path)
    raw = _read_yaml(path)
    if not isinstance(raw.get(section), dict):
        raise ConfigError(f"no '{section}' section", file=str(path), key=section)
    raw[section]["threshold"] = round(float(threshold), 6)
    raw[section]["calibration"] = calibration
    validate_slot(raw[section], judges, file=str(path), key=section)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(path)
