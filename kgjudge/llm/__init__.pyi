"""The names of kgjudge.llm (see __init__.py); each is imported from its module on first use."""

from kgjudge._cache import (
    ResponseCache as ResponseCache,
)
from ._base import (
    check_json as check_json,
    extract_json as extract_json,
    LLM as LLM,
    LLMBackend as LLMBackend,
    report_finished as report_finished,
    reporting as reporting,
    run_sync as run_sync,
)
from ._build import (
    build_backend as build_backend,
    build_cache as build_cache,
    build_llm as build_llm,
    llm_from_config as llm_from_config,
)
from ._fake import (
    FakeBackend as FakeBackend,
    FakeConfig as FakeConfig,
    FakeRule as FakeRule,
)
from ._hf import (
    HFBackend as HFBackend,
    HFConfig as HFConfig,
)
from ._models import (
    DEFAULT_MODEL as DEFAULT_MODEL,
    hf_model_dir as hf_model_dir,
    model_store_dir as model_store_dir,
    ModelSource as ModelSource,
    resolve_adapter as resolve_adapter,
    resolve_model as resolve_model,
)
from ._openai import (
    OpenAIBackend as OpenAIBackend,
    OpenAIConfig as OpenAIConfig,
)
from ._types import (
    Capabilities as Capabilities,
    ChoiceScores as ChoiceScores,
    GenerationResult as GenerationResult,
    LLMRequest as LLMRequest,
    Usage as Usage,
)
from ._vllm import (
    VLLMBackend as VLLMBackend,
    VLLMConfig as VLLMConfig,
)
