"""Named, versioned registries of pluggable components.

A name such as ``hf.v1`` never changes meaning once published; a changed behaviour gets a new
version. Each entry pairs a factory with the pydantic model that validates its config section,
so configs are checked before anything heavy is imported. Third-party packages can add entries
through the entry-point group ``kgjudge.<kind>`` (loaded on the first unknown-name lookup).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from kgjudge._errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RegistryEntry:
    """A registered component: its name, config model and factory."""

    name: str
    config: type[BaseModel]
    factory: Callable[..., Any]


class Registry(Generic[F]):
    """A registry of one kind of component.

    Example:
        >>> backends = Registry("backends")
        >>> @backends.register("echo.v1", config=EchoConfig)
        ... def make_echo(config): ...
    """

    def __init__(self, kind: str, builtins: str | None = None) -> None:
        self.kind = kind
        self._builtins = builtins
        self._entries: dict[str, RegistryEntry] = {}
        self._plugins_loaded = False

    def _load_builtins(self) -> None:
        # The modules that register the built-in entries are imported on first use, so that
        # importing kgjudge stays cheap and free of import cycles.
        if self._builtins is not None:
            module, self._builtins = self._builtins, None
            importlib.import_module(module)

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
        """The entry for ``name``; ConfigError listing the registered names when unknown."""
        self._load_builtins()
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
        """Registered names, sorted."""
        self._load_builtins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._entries


backends: Registry[Any] = Registry("backends", builtins="kgjudge.llm")
stores: Registry[Any] = Registry("stores", builtins="kgjudge.graph")
judges: Registry[Any] = Registry("judges", builtins="kgjudge.judges")
