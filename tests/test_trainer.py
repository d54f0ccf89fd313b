import math

import pytest
import torch
from torch import nn

from hf_birthplace.trainer import (
    FINAL_TOKENS_EPOCHS,
    WARMUP_TOKENS,
    decay_parameter_names,
    examples_after_steps,
    original_lr_multiplier,
)

# The original pretraining recipe on wiki.txt: 2,937 documents, block_size 128.
FINAL = FINAL_TOKENS_EPOCHS * 2937 * 128


@pytest.mark.parametrize(
    "tokens, expected",
    [
        (0, 0.0),
        (WARMUP_TOKENS / 2, 0.5),
        (WARMUP_TOKENS, 1.0),
        (WARMUP_TOKENS + (FINAL - WARMUP_TOKENS) / 2, 0.5),
        (WARMUP_TOKENS + (FINAL - WARMUP_TOKENS) / 4, 0.5 * (1 + math.cos(math.pi / 4))),
        (FINAL, 0.1),  # the cosine reaches 0 there; the floor holds it at 0.1
        (WARMUP_TOKENS + 1.5 * (FINAL - WARMUP_TOKENS), 0.5),  # unclamped: rising again
        (WARMUP_TOKENS + 2 * (FINAL - WARMUP_TOKENS), 1.0),  # back to the peak after 2x final_tokens
    ],
)
def test_original_schedule(tokens, expected):
    assert original_lr_multiplier(tokens, WARMUP_TOKENS, FINAL) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("progress", [1.0, 1.5, 2.0, 3.2])
def test_clamped_schedule_stays_at_floor(progress):
    tokens = WARMUP_TOKENS + progress * (FINAL - WARMUP_TOKENS)
    assert original_lr_multiplier(tokens, WARMUP_TOKENS, FINAL, clamp=True) == pytest.approx(0.1)


def test_examples_after_steps_counts_partial_last_batches():
    # 10 examples, batches of 4: 4, 8, 10 | 14, 18, 20 | ...
    assert [examples_after_steps(s, 10, 4) for s in range(7)] == [0, 4, 8, 10, 14, 18, 20]


def test_decay_only_matmul_weights():
    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(5, 4)
            self.ln = nn.LayerNorm(4)
            self.fc = nn.Linear(4, 4)
            self.w2 = nn.Parameter(torch.zeros(4, 3))  # a matmul weight outside nn.Linear (the synthesizer's B)
            self.b2 = nn.Parameter(torch.zeros(3))

    assert sorted(decay_parameter_names(Toy())) == ["fc.weight", "w2"]
