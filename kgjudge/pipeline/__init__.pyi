"""The names of kgjudge.pipeline (see __init__.py); each is imported from its module on first use."""

from kgjudge._build_folder import (
    BuildFolder as BuildFolder,
    output_store_slot as output_store_slot,
)
from ._batch import (
    BatchResult as BatchResult,
    StageRunner as StageRunner,
)
from ._build import (
    Build as Build,
    build as build,
    BuildSummary as BuildSummary,
    prompt_versions as prompt_versions,
    STAGE_FILES as STAGE_FILES,
)
