"""What in a config shapes a build's output, and how two configs differ in it.

Three parts: what shapes extraction (the ``pipeline:`` section, the ``store:`` section and the
backends the stages use), what shapes judging (the ``judge:`` section and its backend), and the
rest (``cache``, ``rag``, ``filter``, ``resolution``: how answers are found, not what the build
holds). Documents may be added to a build of the same extraction and judge; another judge is
``kgjudge rejudge``'s work; other extraction needs a new build.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml
from pydantic import BaseModel

from kgjudge._config import KGJudgeConfig, config_to_dict, dump_config
from kgjudge._prompts import prompt_fields
from kgjudge.pipeline._batch import stage_sections


# Options added after builds were made, by component type: at their defaults they leave a
# config's hash as it was, so existing output folders keep opening.
_LATER_DEFAULTS: dict[str, dict[str, Any]] = {
    "hf.v1": {"constrain_json": True, "op_dtypes": {}},
    "graphjudger.v1": {"context": "document", "require_in_context": False, "min_match": 90.0},
}
_LATER_STAGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "extract": {"relations": None, "min_triples": 0},
    "denoise": {"rewrite": True},
}
"""The same for the stages under ``pipeline:``."""


def config_hash(config: KGJudgeConfig) -> str:
    """The hash of a build's config as earlier versions recorded it: everything but the
    ``rag:`` (queries) and ``filter:`` (instruction data) sections, and options added later
    left out at their defaults."""
    data = yaml.safe_load(dump_config(config))
    data.pop("rag", None)
    data.pop("filter", None)
    for slot in [*data.get("backends", {}).values(), data.get("judge") or {}]:
        for key, default in _LATER_DEFAULTS.get(slot.get("type"), {}).items():
            if slot.get(key) == default:
                slot.pop(key)
    for stage, later in _LATER_STAGE_DEFAULTS.items():
        section = data.get("pipeline", {}).get(stage) or {}
        for key, default in later.items():
            if key in section and section[key] == default:
                section.pop(key)
    return hashlib.sha256(yaml.safe_dump(data, sort_keys=False).encode()).hexdigest()[:16]


def prompt_versions(config: KGJudgeConfig) -> dict[str, Any]:
    """The prompt versions a build uses, per stage and for the judge: every ``*prompt`` setting
    (one: the version; several: a list; a disabled stage: none), so a new stage's prompts are
    recorded without a change here."""

    def versions(section: BaseModel) -> Any:
        found = list(prompt_fields(section).values())
        return found[0] if len(found) == 1 else found

    out: dict[str, Any] = {}
    for name, section in stage_sections(config).items():
        enabled = getattr(section, "enabled", True)
        if not enabled or prompt_fields(section):
            out[name] = versions(section) if enabled else []
    if config.judge is not None:
        out["judge"] = versions(config.judge)
    return out


def stage_backends(config: KGJudgeConfig) -> set[str]:
    """The backends the extraction stages use."""
    pipeline = config.pipeline
    names = {pipeline.extract.backend}
    if pipeline.denoise.enabled:
        names.add(pipeline.denoise.backend)
    return names


def extraction_part(config: KGJudgeConfig) -> dict[str, Any]:
    """What shapes extraction, as config keys."""
    data = config_to_dict(config, defaults=True)
    backends = data.get("backends") or {}
    return {"pipeline": data.get("pipeline"), "store": data.get("store"),
            "backends": {n: backends.get(n) for n in sorted(stage_backends(config))}}


def judge_part(config: KGJudgeConfig) -> dict[str, Any]:
    """What shapes judging, as config keys (the judge section and its backend)."""
    data = config_to_dict(config, defaults=True)
    judge = data.get("judge")
    if judge is None:
        return {"judge": None}
    name = judge.get("backend")
    return {"judge": judge, "backends": {name: (data.get("backends") or {}).get(name)}}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The dotted keys whose values differ, each with both values ("key: old -> new")."""
    a, b = _flat(old), _flat(new)
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<unset>") != b.get(key, "<unset>"):
            out.append(f"{key}: {_show(a.get(key, '<unset>'))} -> {_show(b.get(key, '<unset>'))}")
    return out


def _show(value: Any) -> str:
    text = value if value == "<unset>" else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def listed(found: list[str], limit: int = 6) -> str:
    """``found`` joined for a message, the first ``limit`` of them."""
    more = f"; and {len(found) - limit} more" if len(found) > limit else ""
    return "; ".join(found[:limit]) + more
