"""A ``kgjudge build`` output folder: the one owner of its files.

``Build`` writes it; ``kgjudge query``, evaluation, export and serving read it, all through
:class:`BuildFolder`, so where a file lives and how the config is kept is said once:

- ``<name>.jsonl`` per stage output (``documents``, ``chunks``, ``denoised``, ``triples``,
  ``judgements``, ``rejected``, ``failures``: the fields of ``kgjudge.pipeline.BatchResult``),
  appended batch by batch;
- ``rejects.jsonl`` (bad input documents of the last run), ``gold.jsonl`` (aligned gold triples,
  per document);
- ``progress.jsonl``, ``.pending.json`` and ``manifest.json`` (see :mod:`kgjudge._run_folder`);
  the manifest's ``config`` is :func:`~kgjudge.config_to_dict` of the config the build ran,
  its ``runs`` what each run added, changed and removed;
- ``counts.json``: running counts behind the build summary (read again from the files when they
  are older than the progress lines);
- ``curation.jsonl``: people's decisions about triples (``kgjudge serve --allow-edit``);
- ``.rejudge.jsonl``: the judgements of an unfinished ``kgjudge rejudge``;
- the graph store of the config's ``store:``; a file store without a ``path`` lives here
  (``graph.oxigraph``, ``graph.json``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from kgjudge._config import KGJudgeConfig, build_slot, config_to_dict, parse_config
from kgjudge._errors import InputError
from kgjudge._jsonl import iter_json_lines, iter_jsonl
from kgjudge._records import Document, Judgement, Triple
from kgjudge._registry import stores
from kgjudge._run_folder import MANIFEST, PROGRESS, RunFolder

T = TypeVar("T", bound=BaseModel)

MANIFEST_FORMAT = 2
"""Version of manifest.json. 2: ``config`` is :func:`~kgjudge.config_to_dict` of the config
the build ran. Manifests without ``format`` (version 1) wrote the store and judge sections with
their ``type`` only."""

FILE_STORES = {"rdf.v1": "graph.oxigraph", "networkx.v1": "graph.json"}
"""File-backed stores, and the file a build keeps them in when their ``path`` is not given."""

REJECTS = "rejects.jsonl"
GOLD = "gold.jsonl"
COUNTS = "counts.json"
CURATION = "curation.jsonl"
REJUDGE = ".rejudge.jsonl"


def output_store_slot(config: KGJudgeConfig, out: str | os.PathLike[str]) -> Any:
    """The store a build into ``out`` writes: the config's store, where a file-backed store
    without an explicit path lives in ``out``."""
    slot = config.store
    inside = FILE_STORES.get(getattr(slot, "type", ""))
    if slot is not None and inside and "path" not in slot.model_fields_set:
        slot = slot.model_copy(update={"path": str(Path(out) / inside)})
    return slot


class BuildFolder(RunFolder):
    """The output folder of one build.

    Example:
        >>> folder = BuildFolder("out/demo")
        >>> config = folder.config()
        >>> with folder.open_store() as store:
        ...     store.stats()
    """

    def __init__(self, out: str | os.PathLike[str]) -> None:
        super().__init__(Path(out), "build")

    @staticmethod
    def file(name: str) -> str:
        """The file of stage output ``name`` (``triples`` -> ``triples.jsonl``)."""
        return f"{name}.jsonl"

    # -- reading -----------------------------------------------------------------------------

    def records(self, name: str, model: type[T] | None = None) -> list[Any]:
        """The records of stage output ``name`` (as ``model`` when given), in file order; none
        when the file is missing. Unreadable lines are skipped."""
        path = self.out / self.file(name)
        return list(iter_jsonl(path, model, errors=[])) if path.is_file() else []

    def rows(self, file: str) -> Iterator[dict[str, Any]]:
        """The JSON objects of one of the folder's files (``triples.jsonl``), in file order,
        without validating them; none when the file is missing. Unreadable lines are skipped."""
        path = self.out / file
        if not path.is_file():
            return
        for _, value in iter_json_lines(path):
            if isinstance(value, dict):
                yield value

    def documents(self) -> list[Document]:
        """The documents the build read."""
        return self.records("documents", Document)

    def sources(self) -> dict[str, str | None]:
        """Document id -> where it came from (file or URI), to name it in citations."""
        return {d.id: d.source for d in self.documents()}

    def triples(self) -> list[Triple]:
        """The kept triples (every extracted one without a judge)."""
        return self.records("triples", Triple)

    def judgements(self) -> list[Judgement]:
        """Every judge decision of the build."""
        return [Judgement.model_validate(r["judgement"]) for r in self.records("judgements")]

    def revision(self) -> int:
        """How many steps (batches, removals, new judges) the folder has committed: it changes
        whenever the build's content does, and reading it costs one small file."""
        return self.progress_lines()

    def config(self) -> KGJudgeConfig:
        """The config the build ran, read back from its manifest.

        A version-1 manifest kept only the ``type`` of the store and judge sections: its judge is
        left out (it held none of the judge's settings), and a store written outside the folder
        is found again from the summary's store line ("<type> at <where>").

        Raises:
            InputError: the folder holds no build, or its manifest is unreadable (naming it).
            ConfigError: the manifest's config does not validate.
        """
        path = self.out / MANIFEST
        try:
            manifest = self.manifest()
            if manifest is None:
                raise InputError("not a kgjudge build output (manifest.json is missing)", file=str(self.out))
            data = dict(manifest["config"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"unreadable build manifest: {exc}", file=str(path)) from exc
        if manifest.get("format") is None:
            data.pop("judge", None)
            data["store"] = _version_1_store(data.get("store"), manifest.get("summary") or {})
        return parse_config(data, file=str(path))

    def store_slot(self, config: KGJudgeConfig | None = None) -> Any:
        """The store the build wrote (of ``config``, else of the build's own config)."""
        return output_store_slot(config or self.config(), self.out)

    def open_store(self, config: KGJudgeConfig | None = None, *, file: str | None = None) -> Any:
        """Open the store the build wrote; see :meth:`store_slot`. ``file`` is the config file
        named in errors."""
        return build_slot(stores, self.store_slot(config), file=file, key="store")

    # -- writing -----------------------------------------------------------------------------

    def describe(self, config: KGJudgeConfig) -> dict[str, Any]:
        """The manifest's account of the config: its format and the config itself."""
        return {"format": MANIFEST_FORMAT, "config": config_to_dict(config)}


def _version_1_store(store: Any, summary: dict[str, Any]) -> Any:
    """A version-1 manifest's store section, with the location the summary names when the store
    was written outside the folder."""
    label = summary.get("store") or ""
    if not (isinstance(store, dict) and set(store) == {"type"} and label.startswith(f"{store['type']} at ")):
        return store
    where = label[len(f"{store['type']} at ") :]
    inside = FILE_STORES.get(store["type"])
    if inside and where != "memory" and where != str(Path(summary.get("out") or "") / inside):
        return {**store, "path": where}
    if store["type"] == "neo4j.v1":
        return {**store, "uri": where}
    return store
