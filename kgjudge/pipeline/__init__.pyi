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
    STAGE_FILES as STAGE_FILES,
)
from ._rejudge import (
    Rejudge as Rejudge,
    rejudge as rejudge,
    RejudgeSummary as RejudgeSummary,
    with_judge as with_judge,
)
from ._remove import (
    Remove as Remove,
    RemoveSummary as RemoveSummary,
)
from ._shape import (
    prompt_versions as prompt_versions,
)
from ._verify import (
    Verify as Verify,
    verify as verify,
    VerifyReport as VerifyReport,
)
