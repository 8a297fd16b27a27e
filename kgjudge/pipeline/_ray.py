"""The Ray worker: a process-local StageRunner answering one batch at a time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kgjudge._config import parse_config
from kgjudge._records import Document
from kgjudge.pipeline._batch import StageRunner


class RayWorker:
    """Holds its own backends (and model weights) for the life of the Ray actor."""

    def __init__(self, config_json: str) -> None:
        self.runner = StageRunner(parse_config(json.loads(config_json)))
        self._loop = asyncio.new_event_loop()

    def process(self, documents: list[dict[str, Any]]) -> dict[str, Any]:
        docs = [Document.model_validate(d) for d in documents]
        result = self._loop.run_until_complete(self.runner.process(docs))
        return result.model_dump(mode="json")
