"""Bases of every config model (no other kgjudge imports, so any module can use them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializationInfo, SerializerFunctionWrapHandler, model_serializer


class Section(BaseModel):
    """Base of every config section: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")


class Slot(Section):
    """Base of the config model of a registered component; ``type`` picks the component.

    A slot is always written with its ``type``, even when only the keys that were given are
    written (``exclude_unset``), so that what is written validates back into the same component.
    """

    type: str

    @model_serializer(mode="wrap")
    def _with_type(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if isinstance(data, dict) and "type" not in data:
            data = {"type": self.type, **data}
        return data


class BackendSlot(Slot):
    """Base of the config model of a component that calls a model: ``backend`` names an entry
    of the config's ``backends`` (checked by :func:`kgjudge._config.backend_of`)."""

    backend: str = Field(default="default", description="name of the backend in the config's backends")


def prompt_field(default: str, *, reads: str | None = None, description: str | None = None) -> Any:
    """A config field naming a prompt template version; ``reads`` says what its replies hold
    (``triples``), so the parser registered for that version and kind reads them (see
    :func:`kgjudge._prompts.reply_parser`). Choice-scored prompts read nothing."""
    return Field(default=default, description=description, json_schema_extra={"reads": reads} if reads else None)
