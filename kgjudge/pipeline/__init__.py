"""``kgjudge build``: the document-to-KG pipeline, local or on Ray, resumable and cached."""

from kgjudge.pipeline._batch import BatchResult, StageRunner
from kgjudge.pipeline._build import STAGE_FILES, Build, BuildSummary, build, manifest_config, output_store_slot

__all__ = sorted(["BatchResult", "Build", "BuildSummary", "STAGE_FILES", "StageRunner", "build", "manifest_config", "output_store_slot"])
