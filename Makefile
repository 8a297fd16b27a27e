.PHONY: setup demo test test-fast
setup:
	scripts/setup.sh
demo:
	scripts/demo.sh
test:
	scripts/test.sh
test-fast:
	scripts/setup.sh && HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m "not slow and not vllm and not bolt"
