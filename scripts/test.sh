#!/usr/bin/env bash
# Set up everything and run the whole test suite, real components included:
#   1. .venv: unit tests, the packaged SmolLM2 through transformers, the OpenAI backend against a
#      real vLLM OpenAI server started from .venv-vllm;
#   2. .venv-vllm: the in-process vLLM engine backend.
# The page of kgjudge serve is tested in a real headless Chromium (installed here with apt-get).
# Extra arguments go to both pytest runs (e.g. -m "not slow and not vllm" for the fast set).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --vllm --browser
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 KGJUDGE_STRICT=1
export KGJUDGE_VLLM_PYTHON="$PWD/.venv-vllm/bin/python"

status=0
.venv/bin/python -m pytest -p no:cacheprovider "$@" || status=$?
if [ $status -ne 0 ] && [ $status -ne 5 ]; then exit $status; fi
vstatus=0
.venv-vllm/bin/python -m pytest -p no:cacheprovider -m vllm_engine tests/llm/test_vllm_engine.py tests/pipeline/test_vllm_gpu_config.py "$@" || vstatus=$?
if [ $vstatus -ne 0 ] && [ $vstatus -ne 5 ]; then exit $vstatus; fi
if [ $status -eq 5 ] && [ $vstatus -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi
exit 0
