#!/usr/bin/env bash
# Set up and run the main job on the embedded default: build a knowledge graph of the bundled
# example documents with the packaged SmolLM2 (transformers, CPU or GPU) into an on-disk RDF
# store, print a summary of the graph, then ask it a question (GraphRAG, local search).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/kgjudge build examples/documents --config configs/pipelines/default.yaml --out out/demo "$@"
echo
echo "$ kgjudge query --out out/demo \"When was Marie Curie born?\" --show-context"
# Exit status 1 means "nothing found", which is an answer too.
.venv/bin/kgjudge query --out out/demo "When was Marie Curie born?" --show-context || [ $? -eq 1 ]
