import math

import pytest
import torch
from torch import nn

from hf_birthplace import CharGPTForCausalLM
from hf_birthplace.conversion import _rename
from hf_birthplace.data import CharCollator
from hf_birthplace.trainer import (
    FINAL_TOKENS_EPOCHS,
    WARMUP_TOKENS,
    CharTrainer,
    CharTrainingArguments,
    decay_parameter_names,
    examples_after_steps,
    length_sorted_pieces,
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


def _padded_batch(vocab_size, lengths, width, seed=0):
    """A pretraining-like batch padded to `width` by the package's collator: random ids, every real position a
    target."""
    g = torch.Generator().manual_seed(seed)
    examples = []
    for n in lengths:
        ids = torch.randint(3, vocab_size, (n,), generator=g).tolist()
        examples.append({"input_ids": ids, "labels": ids})
    return CharCollator(pad_to_block_size=True, block_size=width + 1)(examples)


def test_length_sorted_pieces_hold_every_example_once_cut_to_their_longest():
    batch = _padded_batch(20, [3, 9, 1, 7, 5, 15, 2], width=15)
    pieces = length_sorted_pieces(batch, 3)
    assert [p["attention_mask"].sum(1).tolist() for p in pieces] == [[15, 9, 7], [5, 3], [2, 1]]
    assert [p["input_ids"].shape[1] for p in pieces] == [15, 5, 2]
    rows = {tuple(r[r != -100].tolist()) for p in pieces for r in p["labels"]}
    assert rows == {tuple(r[r != -100].tolist()) for r in batch["labels"]}
    assert len(length_sorted_pieces(batch, 7)) == 7 and len(length_sorted_pieces(batch, 1)) == 1


@pytest.mark.parametrize("num_items", [None, "trainer"])
def test_micro_batches_give_the_whole_batchs_loss_and_gradient(tiny_config_factory, tmp_path, num_items):
    torch.manual_seed(0)
    model = CharGPTForCausalLM(tiny_config_factory("vanilla", embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0))
    batch = _padded_batch(model.config.vocab_size, [3, 15, 8, 1, 11, 6, 14, 2], width=15)
    count = (batch["labels"][:, 1:] != -100).sum() if num_items else None  # what the Trainer passes
    results = []
    for micro_batches in (1, 3):
        args = CharTrainingArguments(
            output_dir=str(tmp_path), report_to="none", per_device_train_batch_size=8, micro_batches=micro_batches
        )
        trainer = CharTrainer(model=model, args=args, tokens_per_example=15)
        model.zero_grad()
        model.train()
        loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=count)
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (whole, whole_grads), (pieces, piece_grads) = results
    torch.testing.assert_close(pieces, whole)
    for name, grad in whole_grads.items():
        torch.testing.assert_close(piece_grads[name], grad, msg=name)


def test_micro_batches_outside_the_batch_are_an_error(tmp_path):
    for bad in (0, 9):
        with pytest.raises(ValueError, match=f"micro_batches={bad}: between 1 and per_device_train_batch_size"):
            CharTrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=8, micro_batches=bad)
