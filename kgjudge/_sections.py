"""Bases of every config model (no other kgjudge imports, so any module can use them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every config section: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")


class Slot(Section):
    """Base of the config model of a registered component; ``type`` picks the component."""

    type: str
