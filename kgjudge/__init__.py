"""kgjudge: documents to knowledge graphs with LLMs, and LLM judges that keep only what is true.

``import kgjudge`` needs only the core dependencies; model SDKs and stores are imported when a
component that needs them is built, with an error naming the extra to install.
"""

from __future__ import annotations

from kgjudge._config import (
    CacheConfig,
    KGJudgeConfig,
    ResolutionConfig,
    Section,
    Slot,
    config_to_dict,
    default_config,
    dump_config,
    load_config,
    parse_config,
    resolve_env,
    validate_slot,
)
from kgjudge._errors import (
    BackendError,
    ConfigError,
    InputError,
    KGJudgeError,
    KGJudgeWarning,
    MissingExtraError,
    ParseError,
    StoreError,
)
from kgjudge._jsonl import iter_jsonl, read_jsonl, write_jsonl
from kgjudge._records import (
    CURATION_JUDGE,
    ChatMessage,
    Chunk,
    CurationDecision,
    Document,
    Entity,
    FilterDecision,
    InstructionExample,
    Judgement,
    ModelRef,
    Record,
    Span,
    Triple,
    stable_id,
)
from kgjudge._registry import Registry, backends, stores

__version__ = "0.1.0"

__all__ = sorted(
    [
        "BackendError",
        "CURATION_JUDGE",
        "CacheConfig",
        "ChatMessage",
        "Chunk",
        "ConfigError",
        "CurationDecision",
        "Document",
        "Entity",
        "FilterDecision",
        "InputError",
        "InstructionExample",
        "Judgement",
        "KGJudgeConfig",
        "KGJudgeError",
        "KGJudgeWarning",
        "MissingExtraError",
        "ModelRef",
        "ParseError",
        "Record",
        "Registry",
        "ResolutionConfig",
        "Section",
        "Slot",
        "Span",
        "StoreError",
        "Triple",
        "__version__",
        "backends",
        "config_to_dict",
        "default_config",
        "dump_config",
        "iter_jsonl",
        "load_config",
        "parse_config",
        "read_jsonl",
        "resolve_env",
        "stable_id",
        "stores",
        "validate_slot",
        "write_jsonl",
    ]
)
