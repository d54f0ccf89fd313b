# Two commands do everything on a fresh machine: `make demo` (the whole experiment on the built-in world) and
# `make test` (the default test suite). Both install what they need first.
PYTHON ?= python3
DATA_DIR ?= ../shared/data/cs224n-a5
OUT ?= outputs

.PHONY: setup test test-slow demo reproduce reproduce-side-by-side reproduce-continue reproduce-save benchmark

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

REPRODUCE = $(PYTHON) scripts/reproduce.py --data_dir $(DATA_DIR) --output_dir $(OUT)/reproduce --recipe scripts/configs/reproduce_faithful.json

reproduce: setup
	$(REPRODUCE)

# The same table, the two variants trained at once with one thread each: more work per hour on a 2-core CPU (see
# docs/performance.md). Both processes share $(OUT)/reproduce and resume from it; either command alone continues its own.
reproduce-side-by-side: setup
	OMP_NUM_THREADS=1 $(REPRODUCE) --variants vanilla & vanilla=$$!; \
	OMP_NUM_THREADS=1 $(REPRODUCE) --variants synthesizer; synthesizer=$$?; \
	wait $$vanilla && test $$synthesizer -eq 0

# A faithful run continued from a copy of its output directory in docs/results/reproduce/ (a machine's outputs/ does
# not outlive it): each pretraining resumes from the newer of the copy's and the local checkpoints; the recorded rows
# (London, no pretraining) are kept, not rerun.
CONTINUE = $(REPRODUCE) --continue_from docs/results/reproduce

reproduce-continue: setup
	OMP_NUM_THREADS=1 $(CONTINUE) --variants vanilla --stages vanilla.pretrain,vanilla.finetune & vanilla=$$!; \
	OMP_NUM_THREADS=1 $(CONTINUE) --variants synthesizer --stages synthesizer.pretrain,synthesizer.finetune; \
	synthesizer=$$?; wait $$vanilla && test $$synthesizer -eq 0

# The newest checkpoint of each unfinished pretraining under $(OUT)/reproduce, copied into docs/results/reproduce with
# the optimizer state in bfloat16 (~26 MB each), or a finished one's final model, to commit before the machine goes;
# reproduce-continue reads it back.
reproduce-save:
	$(PYTHON) scripts/reproduce.py --output_dir $(OUT)/reproduce --export_to docs/results/reproduce

benchmark: setup
	$(PYTHON) scripts/benchmark.py --data_dir $(DATA_DIR)
