"""The judge registry's built-in entries, the factory, and judge config files.

A judge config section is a slot ``{type: graphjudger.v1 | meta_ranking.v1, backend: <name>, ...}``
whose ``backend`` names an entry of the same file's ``backends``. The file may hold other
top-level sections (a build pipeline's); only ``backends``, ``cache`` and the judge section are
read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import yaml

from kgjudge._config import KGJudgeConfig, Slot, parse_config, read_yaml, validate_slot
from kgjudge._errors import ConfigError
from kgjudge._registry import Registry, judges
from kgjudge.llm import LLM, llm_from_config
from kgjudge.judges._graphjudger import GraphJudger, GraphJudgerConfig
from kgjudge.judges._meta_ranking import MetaRanker, MetaRankingConfig

Judge = Union[GraphJudger, MetaRanker]
"""What :func:`build_judge` returns: both offer ``await judge(triples, documents)`` and
``judge_sync(triples, documents)`` returning one Judgement per triple."""


@judges.register("graphjudger.v1", config=GraphJudgerConfig)
def make_graphjudger(config: GraphJudgerConfig, llm: LLM) -> GraphJudger:
    return GraphJudger(llm, config)


@judges.register("meta_ranking.v1", config=MetaRankingConfig)
def make_meta_ranking(config: MetaRankingConfig, llm: LLM) -> MetaRanker:
    return MetaRanker(llm, config)


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
    return build_registered(judges, slot, llm, file=file, key=key)


def build_registered(
    registry: Registry, slot: Slot | dict[str, Any], llm: LLM | Mapping[str, LLM], *, file: str | None, key: str
) -> Any:
    """Validate ``slot`` against ``registry`` and build its component on the given client, or
    on the client of the slot's ``backend`` when clients are given by name."""
    config = validate_slot(slot, registry, file=file, key=key)
    if isinstance(llm, Mapping):
        name = config.backend  # type: ignore[attr-defined]
        if name not in llm:
            raise ConfigError(f"no backend named '{name}'", file=file, key=f"{key}.backend", choices=list(llm))
        llm = llm[name]
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
    backend = getattr(slot, "backend", None)
    if backend not in base.backends:
        raise ConfigError(
            f"no backend named '{backend}'", file=str(path), key=f"{section}.backend", choices=list(base.backends)
        )
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
