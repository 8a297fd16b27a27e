#!/usr/bin/env bash
# Set up and run the main job on the embedded default (the packaged SmolLM2 through transformers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/kgjudge llm --system "Answer in one short sentence." "What is a knowledge graph?"
.venv/bin/kgjudge llm "Is this statement true: Paris is the capital of France? Answer Yes or No." --choice Yes --choice No
