import math

import pytest
import torch
from torch import nn

from hf_birthplace import CharGPTForCausalLM
from hf_birthplace.conversion import _rename
from hf_birthplace.trainer import (
    FINAL_TOKENS_EPOCHS,
    WARMUP_TOKENS,
    CharTrainer,
    CharTrainingArguments,
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
    # The original's code: every parameter but the biases.
    assert sorted(decay_parameter_names(Toy(), "original")) == ["b2", "fc.weight", "ln.weight", "w2", "wte.weight"]
    with pytest.raises(ValueError, match="'adam'"):
        decay_parameter_names(Toy(), "adam")


def test_original_groups_decay_what_the_course_trainer_decays(tiny_config):
    """The course trainer decays `not any(nd in n for nd in ["bias", "LayerNorm.weight"])` of the original's names;
    mapped through the checkpoint conversion's key table, that is exactly our "original" group."""
    model = CharGPTForCausalLM(tiny_config)
    renamed = _rename(tiny_config.attention_type, tiny_config.n_layer)
    assert set(renamed.values()) == {name for name, _ in model.named_parameters()}
    course = {ours for theirs, ours in renamed.items() if not any(nd in theirs for nd in ["bias", "LayerNorm.weight"])}
    assert set(decay_parameter_names(model, "original")) == course
    assert "transformer.h.0.ln_1.weight" in course and "transformer.wpe.weight" in course


def test_trainer_optimizer_follows_weight_decay_groups(tiny_config_factory, tmp_path):
    model = CharGPTForCausalLM(tiny_config_factory("synthesizer"))
    decayed = {}
    for groups in ("matmul", "original"):
        args = CharTrainingArguments(output_dir=str(tmp_path), report_to="none", weight_decay_groups=groups)
        optimizer = CharTrainer(model=model, args=args, tokens_per_example=15).create_optimizer()
        ids = {id(p) for group in optimizer.param_groups if group["weight_decay"] == 0.1 for p in group["params"]}
        decayed[groups] = {name for name, p in model.named_parameters() if id(p) in ids}
    assert decayed["matmul"] == set(decay_parameter_names(model))
    assert decayed["original"] == set(decay_parameter_names(model, "original"))
    assert "transformer.ln_f.weight" in decayed["original"] - decayed["matmul"]


def test_unknown_weight_decay_groups_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="weight_decay_groups must be one of"):
        CharTrainingArguments(output_dir=str(tmp_path), weight_decay_groups="all")
