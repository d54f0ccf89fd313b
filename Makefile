# Two commands do everything on a fresh machine: `make demo` (the whole experiment on the built-in world) and
# `make test` (the default test suite). Both install what they need first.
PYTHON ?= python3
DATA_DIR ?= ../shared/data/cs224n-a5
OUT ?= outputs

.PHONY: setup test test-slow demo reproduce benchmark

# torch first, pinned: asking pip for plain `torch` with none installed pulls a multi-GB CUDA build.
setup:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install -q "torch==2.13.0"
	@$(PYTHON) -m pip install -q -e ".[test]"

test: setup
	HF_BIRTHPLACE_DATA_DIR=$(DATA_DIR) $(PYTHON) -m pytest -q

test-slow: setup
	HF_BIRTHPLACE_DATA_DIR=$(DATA_DIR) $(PYTHON) -m pytest -q -m slow

demo: setup
	$(PYTHON) scripts/demo.py --output_dir $(OUT)/demo

reproduce: setup
	$(PYTHON) scripts/reproduce.py --data_dir $(DATA_DIR) --output_dir $(OUT)/reproduce --recipe scripts/configs/reproduce_faithful.json

benchmark: setup
	$(PYTHON) scripts/benchmark.py --data_dir $(DATA_DIR)
