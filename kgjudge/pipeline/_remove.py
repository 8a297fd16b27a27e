"""``kgjudge remove``: documents leave a build (every record file and the store)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from kgjudge._errors import InputError
from kgjudge.pipeline._folder_run import FolderRun


class RemoveSummary(BaseModel):
    """What a removal did and what the build holds after it."""

    out: str
    removed: list[str]
    documents: int
    triples: int
    entities: int
    relations: int
    wall_seconds: float


class Remove(FolderRun):
    """Remove documents from a build output folder: their triples, judgements, chunks and
    evidence leave every file and the store, and so do the entities and relations no other
    document names. Resumable like a build (see :mod:`kgjudge._run_folder`) and holding the
    folder's lock.

    Example:
        >>> Remove("out/demo").run(["doc-3", "doc-7"])
    """

    command = "remove"

    def __init__(self, out: str | os.PathLike[str]) -> None:
        super().__init__(None, out)

    def run(self, document_ids: Sequence[str]) -> RemoveSummary:
        """Remove ``document_ids`` (each given once; order kept).

        Raises:
            InputError: a document the build does not hold (nothing is removed then).
            FolderBusyError: another command is writing the folder.
        """
        started = time.perf_counter()
        ids = list(dict.fromkeys(str(i) for i in document_ids))
        if not ids:
            raise InputError("no document ids given")

        def work() -> RemoveSummary:
            # The same removal cut off and run again: what it already removed counts as asked.
            resumed = self.unfinished_run().get("removed") or []
            missing = [i for i in ids if i not in self.ledger.documents and i not in resumed]
            if missing:
                shown = ", ".join(repr(i) for i in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                raise InputError(f"the build holds no document {shown}; nothing was removed", file=str(self.out))
            run = self.begin_run(removed=ids)
            self.drop_documents([i for i in ids if i in self.ledger.documents], run)
            counts = self.summary_counts()
            previous: dict[str, Any] = (self.folder.manifest() or {}).get("summary") or {}
            wall = time.perf_counter() - started
            self.finish_run(wall, summary={**previous, **counts, "removed": len(ids)})
            return RemoveSummary(out=str(self.out), removed=ids, documents=counts["documents"], triples=counts["triples"],
                                 entities=counts["entities"], relations=counts["relations"], wall_seconds=wall)

        return self.execute(work)
