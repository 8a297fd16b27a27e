"""YAML configuration validated into pydantic models.

Every pluggable slot is a mapping ``{type: <registered name>, ...}`` whose other keys are
validated by the model registered for that name. Unknown keys are errors that list the valid
ones. Secrets are never written in a config: keys that hold them (``api_key``, ``password``,
``token``, ``secret``) accept only environment references ``${env:NAME}``, which are resolved
when a component is built, not when the file is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, PrivateAttr, SerializeAsAny, ValidationError

from kgjudge._errors import ConfigError
from kgjudge._filter_config import FilterConfig
from kgjudge._jsonl import MAX_DEPTH, check_value
from kgjudge._pipeline_config import PipelineConfig
from kgjudge._rag_config import RAGConfig
from kgjudge._registry import Registry, backends, filter_judges, judges, stores
from kgjudge._sections import Section, Slot
from kgjudge._text import redact_urls, url_credentials

T = TypeVar("T")

ENV_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
SECRET_KEYS = re.compile(r"(api_key|password|passwd|token|secret)$", re.IGNORECASE)


class CacheConfig(Section):
    """The on-disk response cache."""

    enabled: bool = True
    path: str | None = Field(
        default=None, description="cache folder; default $KGJUDGE_CACHE_DIR or ~/.cache/kgjudge/responses"
    )
    size_limit_gb: float = Field(default=8.0, gt=0)


class ResolutionConfig(Section):
    """Entity resolution: when two names are merged into one entity.

    Names with the same normal form (NFKC, case, punctuation, whitespace) always merge; others
    merge when their string similarity (rapidfuzz ``token_sort_ratio``, 0-100) reaches
    ``string_threshold``, or when their embeddings' cosine similarity reaches
    ``embedding_threshold`` and their string similarity is at least ``embedding_min_string``.
    """

    string_threshold: float = Field(default=90.0, ge=0, le=100)
    use_embeddings: bool = True
    embedding_threshold: float = Field(default=0.9, ge=-1, le=1)
    embedding_min_string: float = Field(default=50.0, ge=0, le=100)
    embedding_model: str | None = Field(
        default=None, description="sentence-transformers model folder; the packaged all-MiniLM-L6-v2 if none"
    )


class KGJudgeConfig(Section):
    """The whole configuration.

    Example:
        >>> cfg = parse_config({"backends": {"default": {"type": "fake.v1"}}})
        >>> cfg.backends["default"].type
        'fake.v1'
    """

    # SerializeAsAny: a slot is written with the keys of its component's model, not just
    # those of the Slot base (which would keep only ``type``).
    backends: dict[str, SerializeAsAny[Slot]] = Field(default_factory=dict)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    store: SerializeAsAny[Slot] | None = Field(default=None, description="graph store; rdf.v1 when absent")
    judge: SerializeAsAny[Slot] | None = Field(
        default=None, description="judge of kgjudge build's triples; none when absent"
    )
    resolution: ResolutionConfig = Field(default_factory=ResolutionConfig)
    rag: RAGConfig = Field(default_factory=RAGConfig)
    filter: dict[str, Any] | None = Field(
        default=None, description="kgjudge filter's judges, rounds and selection (see kgjudge.judges.FilterConfig)"
    )
    _source: str | None = PrivateAttr(default=None)

    @property
    def source_file(self) -> str | None:
        """The file the config was read from (named in errors raised while building from it)."""
        return self._source

    def __eq__(self, other: object) -> bool:
        # Where a config was read from is not part of it: a manifest's config parses back equal.
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


def resolve_env(value: str | None, *, key: str = "", file: str | None = None) -> str | None:
    """Resolve ``${env:NAME}`` to the variable's value; other strings pass through."""
    if value is None:
        return None
    match = ENV_REF.match(value)
    if not match:
        return value
    name = match.group(1)
    if name not in os.environ:
        raise ConfigError(f"environment variable {name} is not set", file=file, key=key or None)
    return os.environ[name]


def _check_secrets(node: Any, path: str, file: str | None) -> None:
    if isinstance(node, str) and url_credentials(node):
        raise ConfigError(
            f"credentials must not be written in URLs ({redact_urls(node)}); put them in the "
            "component's api_key / user / password keys as environment references, or make the "
            "whole URL one, such as ${env:OPENAI_BASE_URL}",
            file=file,
            key=path or None,
        )
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and SECRET_KEYS.search(k) and v is not None:
                if not (isinstance(v, str) and ENV_REF.match(v)):
                    raise ConfigError(
                        "secrets must not be written in configs; use an environment reference "
                        "such as ${env:OPENAI_API_KEY}",
                        file=file,
                        key=key,
                    )
            _check_secrets(v, key, file)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_secrets(v, f"{path}[{i}]", file)


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the key at ``loc`` (best effort, for listing valid keys)."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return current
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def validation_error(
    exc: ValidationError, model: type[BaseModel], *, file: str | None, prefix: str
) -> ConfigError:
    """The ConfigError for the first error of a pydantic ValidationError."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc)
    if err["type"] == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        valid = sorted(owner.model_fields) if owner else None
        return ConfigError("unknown key", file=file, key=key, choices=valid)
    if err["type"] == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return ConfigError(f"invalid value {err.get('input')!r}; expected {expected}", file=file, key=key)
    more = f" (and {len(exc.errors()) - 1} more errors)" if len(exc.errors()) > 1 else ""
    return ConfigError(f"{err['msg']} (got {err.get('input')!r}){more}", file=file, key=key)


def validate_slot(
    raw: Any, registry: Registry[Any], *, file: str | None = None, key: str = ""
) -> Slot:
    """Validate one ``{type: ...}`` mapping against the model registered for its type."""
    if isinstance(raw, Slot):
        raw = raw.model_dump()
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping with a 'type' key, got {type(raw).__name__}", file=file, key=key)
    if "type" not in raw:
        raise ConfigError("missing 'type'", file=file, key=key, choices=registry.names())
    entry = registry.get(str(raw["type"]), file=file, key=f"{key}.type" if key else "type")
    try:
        return entry.config.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, entry.config, file=file, prefix=key) from exc


def build_slot(registry: Registry[Any], slot: Any, *args: Any, file: str | None = None, key: str = "") -> Any:
    """Validate ``slot`` against ``registry`` and build its component (the factory gets the
    validated config, then ``args``); only that component's module is imported."""
    config = validate_slot(slot, registry, file=file, key=key)
    return registry.build(config, *args, file=file, key=key)


def backend_of(backends: Mapping[str, T], name: str, *, key: str, file: str | None = None) -> T:
    """The backend (slot, client, ...) named ``name``: the one check of every ``backend:`` key.

    Raises:
        ConfigError: no backend has that name (naming ``key`` and listing the backends).
    """
    if name not in backends:
        raise ConfigError(f"no backend named '{name}'", file=file, key=key, choices=list(backends))
    return backends[name]


def parse_config(raw: Any, *, file: str | None = None) -> KGJudgeConfig:
    """Validate a config mapping (as loaded from YAML) into :class:`KGJudgeConfig`.

    Only the modules of the components the config names are imported (see
    :mod:`kgjudge._registry`).
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"the config must be a mapping, got {type(raw).__name__}", file=file)
    _check_secrets(raw, "", file)
    slots = {}
    for name, slot in (raw.get("backends") or {}).items():
        slots[name] = validate_slot(slot, backends, file=file, key=f"backends.{name}")
    store = validate_slot(raw.get("store") or {"type": "rdf.v1"}, stores, file=file, key="store")
    judge = raw.get("judge")
    judge = validate_slot(judge, judges, file=file, key="judge") if judge is not None else None
    rest = {k: v for k, v in raw.items() if k not in ("backends", "store", "judge")}
    try:
        config = KGJudgeConfig.model_validate(rest)
    except ValidationError as exc:
        raise validation_error(exc, KGJudgeConfig, file=file, prefix="") from exc
    config.backends = slots
    config.store = store
    config.judge = judge
    config._source = file
    if judge is not None:
        backend_of(config.backends, judge.backend, file=file, key="judge.backend")  # type: ignore[attr-defined]
    if config.filter is not None:
        _filter_section(config.filter, config, file=file)
    return config


def _filter_section(section: Any, base: KGJudgeConfig, *, file: str | None) -> FilterConfig:
    if not isinstance(section, dict):
        raise ConfigError("expected a mapping", file=file, key="filter")
    slots = section.get("judges")
    if not isinstance(slots, list) or not slots:
        raise ConfigError("a non-empty list of judges is required", file=file, key="filter.judges",
                          choices=filter_judges.names())
    found = [validate_slot(s, filter_judges, file=file, key=f"filter.judges[{i}]") for i, s in enumerate(slots)]
    for i, slot in enumerate(found):
        backend_of(base.backends, slot.backend, file=file, key=f"filter.judges[{i}].backend")  # type: ignore[attr-defined]
    try:
        return FilterConfig.model_validate({**section, "judges": found})
    except ValidationError as exc:
        raise validation_error(exc, FilterConfig, file=file, prefix="filter") from exc


def parse_filter_config(raw: Any, *, file: str | None = None) -> tuple[KGJudgeConfig, FilterConfig]:
    """The backends/cache part and the validated ``filter:`` section of a config mapping.

    Raises:
        ConfigError: naming the file and key (and the choices, where there is a closed set).
    """
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping", file=file)
    if "filter" not in raw:
        raise ConfigError("no 'filter' section", file=file, key="filter")
    base = parse_config({k: raw[k] for k in ("backends", "cache") if k in raw}, file=file)
    return base, _filter_section(raw["filter"], base, file=file)


def load_filter_config(path: str | os.PathLike[str]) -> tuple[KGJudgeConfig, FilterConfig]:
    """Read and validate a filter config file; see :func:`parse_filter_config`."""
    return parse_filter_config(read_yaml(path), file=str(path))


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """The parsed content of a YAML file.

    Raises:
        ConfigError: naming the file, and the line and column of a syntax error.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=str(path)) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"not valid UTF-8 at line {line} (byte {exc.start}: {exc.reason})", file=str(path)) from exc
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"invalid YAML{where}: {getattr(exc, 'problem', exc)}", file=str(path)) from exc
    except RecursionError:
        raise ConfigError(f"invalid YAML: nested more than {MAX_DEPTH} levels deep", file=str(path)) from None
    problem = check_value(value)
    if problem is not None:
        raise ConfigError(f"invalid YAML: {problem}", file=str(path))
    return value


def load_config(path: str | os.PathLike[str]) -> KGJudgeConfig:
    """Read and validate a YAML config file.

    Raises:
        ConfigError: naming the file, the key and, where there is a closed set, the choices.
    """
    return parse_config(read_yaml(path), file=str(path))


def default_config() -> KGJudgeConfig:
    """The embedded default: the packaged SmolLM2 model through transformers, cache on."""
    return parse_config({"backends": {"default": {"type": "hf.v1"}}})


def config_to_dict(config: KGJudgeConfig, *, defaults: bool = False) -> dict[str, Any]:
    """The config as JSON data that :func:`parse_config` turns back into an equal config.

    This is the one way a config is written (build manifests, Ray workers, ``kgjudge config
    show``). By default only the keys that were given are written, so which keys were given
    survives the round trip too (a build's file store without a ``path`` lives in the build
    folder, wherever that folder is later found); with ``defaults`` every default is filled in.
    Secrets stay environment references either way.

    Example:
        >>> cfg = parse_config({"backends": {"default": {"type": "fake.v1", "replies": ["x"]}}})
        >>> parse_config(config_to_dict(cfg)) == cfg
        True
    """
    return config.model_dump(mode="json", exclude_unset=not defaults)


def dump_config(config: KGJudgeConfig) -> str:
    """The config as YAML with every default filled in (secrets stay environment references)."""
    return yaml.safe_dump(config_to_dict(config, defaults=True), sort_keys=False)
