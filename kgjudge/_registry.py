"""Named, versioned registries of pluggable components, and the catalogue of the built-in ones.

A name such as ``hf.v1`` never changes meaning once published; a changed behaviour gets a new
version. Each entry pairs a factory with the pydantic model that validates its config section,
so configs are checked before anything heavy is imported.

The catalogue at the end of this module is the one list of built-in components: each name maps
to the module that defines and registers it, so looking ``rdf.v1`` up imports that one module
and nothing else (as rdflib's plugin list does). Third-party packages add components through
the entry-point group ``kgjudge.<kind>`` (loaded on the first lookup of a name the catalogue
does not hold).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from kgjudge._errors import ConfigError, KGJudgeError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RegistryEntry:
    """A registered component: its name, config model and factory."""

    name: str
    config: type[BaseModel]
    factory: Callable[..., Any]


class Registry(Generic[F]):
    """A registry of one kind of component.

    Args:
        kind: what the components are (``backends``); also names the entry-point group.
        catalogue: built-in names and the module that registers each, imported on first lookup.

    Example:
        >>> echoes = Registry("echoes")
        >>> @echoes.register("echo.v1", config=EchoConfig)
        ... def make_echo(config): ...
    """

    def __init__(self, kind: str, catalogue: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.catalogue = dict(catalogue or {})
        self._entries: dict[str, RegistryEntry] = {}
        self._plugins_loaded = False

    def register(self, name: str, *, config: type[BaseModel]) -> Callable[[F], F]:
        """Decorator registering ``factory`` under ``name``."""

        def decorate(factory: F) -> F:
            existing = self._entries.get(name)
            if existing is not None and existing.factory is not factory:
                raise ConfigError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = RegistryEntry(name, config, factory)
            return factory

        return decorate

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=f"kgjudge.{self.kind}"):
            ep.load()

    def get(self, name: str, *, file: str | None = None, key: str | None = None) -> RegistryEntry:
        """The entry for ``name``, importing the module the catalogue names for it.

        Raises:
            ConfigError: an unknown name, listing the known ones.
        """
        if name not in self._entries and name in self.catalogue:
            module = self.catalogue[name]
            importlib.import_module(module)
            if name not in self._entries:
                raise KGJudgeError(f"{module} does not register {self.kind} '{name}' as the catalogue says")
        if name not in self._entries:
            self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} type '{name}'", file=file, key=key, choices=self.names()
            ) from None

    def build(self, config: BaseModel, *args: Any, file: str | None = None, key: str = "") -> Any:
        """Call the factory of ``config.type`` with ``config`` and ``args``.

        A ConfigError the component raises about one of its own keys (``api_key``, a missing
        environment variable) is raised again naming the config file and the full key
        (``backends.default.api_key``).
        """
        entry = self.get(config.type, file=file, key=f"{key}.type" if key else "type")  # type: ignore[attr-defined]
        try:
            return entry.factory(config, *args)
        except ConfigError as exc:
            if type(exc) is not ConfigError:  # MissingExtraError and kin are complete as they are
                raise
            raise exc.within(file=file, key=key) from exc

    def names(self) -> list[str]:
        """Known names (catalogued and registered), sorted; nothing is imported."""
        return sorted(self.catalogue.keys() | self._entries.keys())

    def __contains__(self, name: object) -> bool:
        return name in self.catalogue or name in self._entries


# -- the catalogue --------------------------------------------------------------------------

backends: Registry[Any] = Registry("backends", {
    "fake.v1": "kgjudge.llm._fake",
    "hf.v1": "kgjudge.llm._hf",
    "openai.v1": "kgjudge.llm._openai",
    "vllm.v1": "kgjudge.llm._vllm",
})
stores: Registry[Any] = Registry("stores", {
    "neo4j.v1": "kgjudge.graph._neo4j",
    "networkx.v1": "kgjudge.graph._networkx",
    "rdf.v1": "kgjudge.graph._rdf",
})
judges: Registry[Any] = Registry("judges", {
    "graphjudger.v1": "kgjudge.judges.triples._graphjudger",
    "meta_ranking.v1": "kgjudge.judges.triples._meta_ranking",
})
filter_judges: Registry[Any] = Registry("filter_judges", {
    "direct.v1": "kgjudge.judges.filter._judges",
    "kg_grounded.v1": "kgjudge.judges.filter._judges",
    "meta_ranking.v1": "kgjudge.judges.filter._judges",
})
PACKAGED_ADAPTERS = ("kgjudge.judges", "adapters")
"""The LoRA adapters shipped with kgjudge (``packaged:<name>`` in a backend's ``adapters``):
the package and the folder inside it."""
