"""How fast our training and evaluation paths are, against the original course code's way of working (issue 6).

`run_benchmark` measures, in one process and on the same model shape:

(a) training throughput in non-padding target tokens per second, on real span-corrupted batches, through our
    `CharTrainer` (the whole Trainer path: data loading and collation, forward, backward, clipping, AdamW, the
    schedule, logging), against `OriginalGPT` + `OriginalTrainLoop`, written here as the course code works: every
    batch padded to block_size - 1 = 127 positions, explicit masked-softmax attention in fp32, eager, dropout on.
    The two are interleaved step by step: a callback runs the baseline on the very examples that our step has
    just trained on (padded to 127, in chunks of the original batch size), so that both see the same tokens and
    the same machine load, and the ratio of their times is the speed-up. Each lever (`VARIANTS`: length
    grouping, dynamic padding, SDPA vs eager, the causal kernel without a padding mask, bf16 autocast,
    torch.compile, thread count, OpenMP wait policy, dropout, batch size) is one short Trainer run of its own with
    the baseline interleaved, on batches picked to represent the epoch's lengths (`_RepresentativeBatches`);
    warm-up steps (compilation included) are timed but not counted.
(b) the time to answer the dev questions: ours (`predict_places`: left-padded, length-sorted batches, key/value
    cache, stop at the closing MASK) against `original_predict_places`, one question at a time with no cache for
    32 steps, as the course's `utils.sample`, both with the same thread setting. Both use the same weights, so
    their answers must agree.
(c) peak memory of each workload, each in a fresh process (resident set size; CUDA's max_memory_allocated on GPU).
(d) the compute ceiling (`measure_compute_ceiling`): the FLOPs that one epoch of training costs per non-padding
    target token on each side (counted by torch's FlopCounterMode over forward and backward), the rate of this
    machine's fp32 matrix multiplications at the training shapes, and the tokens/s each side would reach if every
    FLOP ran at that rate: how far any lever that keeps the arithmetic can go.

`loss_curve_check` shows whether the fast path learns the same thing: the same examples in the same order, trained
with fixed padding + eager attention, with the original loop and model, with dynamic padding + SDPA (with and
without the padding mask) and with bf16 autocast, must match step by step; length grouping, which changes the
batches, is compared by held-out loss over several batch orders.

Measured numbers and what each lever gave: docs/performance.md.
"""

import copy
import json
import logging
import math
import multiprocessing
import os
import platform
import resource
import statistics
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from transformers import TrainerCallback, set_seed
from transformers.trainer_callback import PrinterCallback

from .configuration_char_gpt import CharGPTConfig
from .conversion import convert_a5_state_dict
from .data import (
    IGNORE_INDEX,
    CharCollator,
    EpochLengthGroupedBatchSampler,
    PretrainDataset,
    apply_character_policy,
    load_corpus,
    span_corrupt,
)
from .evaluation import MAX_ANSWER_CHARS, predict_places, read_eval_lines
from .modeling_char_gpt import CharGPTForCausalLM
from .tokenization_char import MASK_CHAR, build_char_tokenizer
from .trainer import (
    ADAM_BETAS,
    GRAD_CLIP,
    PRETRAIN_EPOCHS,
    PRETRAIN_LR,
    WARMUP_TOKENS,
    WEIGHT_DECAY,
    CharTrainer,
    PretrainingArguments,
    decay_parameter_names,
    length_sorted_pieces,
    original_lr_multiplier,
)
from .training import DATA_DIR_ENV, final_tokens, resolve_path

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------------------------
# The baseline: the course code's model, training step and greedy sampler (src/model.py, src/trainer.py, src/utils.py)


class OriginalSelfAttention(nn.Module):
    """The course's `CausalSelfAttention`: separate key/query/value, the scores written out in fp32 and masked with a
    (block_size, block_size) lower-triangular buffer, softmax, dropout on the probabilities."""

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.key = nn.Linear(config.n_embd, config.n_embd)
        self.query = nn.Linear(config.n_embd, config.n_embd)
        self.value = nn.Linear(config.n_embd, config.n_embd)
        self.attn_drop = nn.Dropout(config.attn_pdrop)
        self.resid_drop = nn.Dropout(config.resid_pdrop)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        mask = torch.tril(torch.ones(config.block_size, config.block_size))
        self.register_buffer("mask", mask.view(1, 1, config.block_size, config.block_size))
        self.n_head = config.n_head

    def forward(self, x):
        B, T, C = x.size()
        # (B, T, C) -> (B, T, nh, hs) -> (B, nh, T, hs)
        k = self.key(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = self.query(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = self.value(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, T, T)
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, -1e10)
        att = F.softmax(att, dim=-1)
        att = self.attn_drop(att)
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, nh, hs) -> (B, T, C)
        return self.resid_drop(self.proj(y))


class OriginalBlock(nn.Module):
    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.attn = OriginalSelfAttention(config)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.resid_pdrop),
        )

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        return x


class OriginalGPT(nn.Module):
    """The course's vanilla `GPT`, with its parameter names (so `hf_birthplace.conversion` maps it onto
    `CharGPTForCausalLM` exactly) and its loss: cross-entropy over every position, target id 0 (PAD) ignored.

    Takes its shape and dropout from a `CharGPTConfig`; has exactly as many parameters as `CharGPTForCausalLM`.
    """

    def __init__(self, config: CharGPTConfig):
        super().__init__()
        if config.attention_type != "vanilla":
            raise ValueError(
                f"benchmark.py: OriginalGPT is the vanilla model; got attention_type={config.attention_type!r}"
            )
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, config.block_size, config.n_embd))
        self.drop = nn.Dropout(config.embd_pdrop)
        self.blocks = nn.Sequential(*[OriginalBlock(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.block_size = config.block_size
        self.pad_token_id = config.pad_token_id
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        if t > self.block_size:
            raise ValueError(f"benchmark.py: OriginalGPT reads at most {self.block_size} positions, got {t}")
        x = self.drop(self.tok_emb(idx) + self.pos_emb[:, :t, :])  # (B, T, C)
        x = self.blocks(x)
        logits = self.head(self.ln_f(x))  # (B, T, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=self.pad_token_id
            )
        return logits, loss


def ours_from_original(original: OriginalGPT, config: CharGPTConfig) -> CharGPTForCausalLM:
    """A `CharGPTForCausalLM` with exactly the weights of `original` (through the checkpoint conversion)."""
    model = CharGPTForCausalLM(config)
    model.load_state_dict(convert_a5_state_dict(original.state_dict(), config), strict=True)
    return model


def original_from_ours(model: CharGPTForCausalLM) -> OriginalGPT:
    """An `OriginalGPT` with exactly the weights of `model` (the inverse of the checkpoint conversion)."""
    from .conversion import _rename  # the conversion's own key table, read backwards

    original = OriginalGPT(model.config)
    ours = model.state_dict()
    state = {}
    for original_key, our_key in _rename("vanilla", model.config.n_layer).items():
        tensor = ours[our_key]
        state[original_key] = tensor.unsqueeze(0) if original_key == "pos_emb" else tensor  # (1, block_size, C)
    original.load_state_dict(state, strict=False)  # strict=False: the mask buffers are not in `ours`
    return original.to(next(model.parameters()).device)


def original_batch(inputs: dict, block_size: int, pad_token_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The course's (x, y) pair for the examples of a `CharCollator` batch: both (B, block_size - 1), PAD-filled.

    The original pads every corrupted string to block_size characters and takes x = s[:-1], y = s[1:]; our batch
    holds input_ids = s (unpadded or padded) and labels aligned with it (shifted inside the model), so
    x = input_ids and y = labels[:, 1:], with our ignored targets written as PAD, which the original loss ignores.
    """
    input_ids, labels = inputs["input_ids"], inputs["labels"]
    B, T = input_ids.shape
    L = block_size - 1
    if T > L:
        raise ValueError(f"benchmark.py: a batch of {T} positions does not fit the original's {L}-position examples")
    x = input_ids.new_full((B, L), pad_token_id)  # (B, L)
    y = input_ids.new_full((B, L), pad_token_id)  # (B, L)
    x[:, :T] = input_ids
    shifted = labels[:, 1:]  # (B, T - 1): position t predicts labels[t + 1]
    y[:, : T - 1] = shifted.masked_fill(shifted == IGNORE_INDEX, pad_token_id)
    return x, y


class OriginalTrainLoop:
    """The course trainer's step: forward, `loss.item()` (its progress bar), zero_grad, backward, clip at 1.0,
    AdamW step, then the learning rate for the next step from the tokens seen (every position counts, PAD included).

    The parameter groups follow `hf_birthplace.trainer.decay_parameter_names` (the position embedding, a bare
    Parameter here, is left out of weight decay as our `wpe` Embedding is), so that a run of this loop and a run of
    `CharTrainer` can be compared number for number; which parameters decay costs the same either way.
    `count_current_batch=True` sets each step's rate from the tokens including that step's batch; the course code
    (and `CharTrainer`) set it after the step, so the first step runs at the full rate (False, the default).
    """

    def __init__(
        self,
        model: OriginalGPT,
        *,
        learning_rate: float = PRETRAIN_LR,
        final_tokens: int,
        warmup_tokens: int = WARMUP_TOKENS,
        count_current_batch: bool = False,
    ):
        self.model = model
        decay = set(decay_parameter_names(model)) - {"pos_emb"}
        groups = [
            {"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": WEIGHT_DECAY},
            {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.AdamW(groups, lr=learning_rate, betas=ADAM_BETAS)
        self.learning_rate = learning_rate
        self.warmup_tokens, self.final_tokens = warmup_tokens, final_tokens
        self.count_current_batch = count_current_batch
        self.tokens = 0

    def _set_lr(self, tokens: int) -> None:
        lr = self.learning_rate * original_lr_multiplier(tokens, self.warmup_tokens, self.final_tokens)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        self.model.train()
        if self.count_current_batch:
            self._set_lr(self.tokens + y.numel())
        _, loss = self.model(x, y)
        loss_value = loss.item()
        self.model.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), GRAD_CLIP)
        self.optimizer.step()
        self.tokens += y.numel()  # the original's (y >= 0).sum(): every position
        if not self.count_current_batch:
            self._set_lr(self.tokens)
        return loss_value


@torch.no_grad()
def original_sample(model: OriginalGPT, x: torch.Tensor, steps: int) -> torch.Tensor:
    """The course's `utils.sample(model, x, steps, sample=False)`: `steps` greedy characters, each one from a full
    forward pass over the whole (cropped to block_size) context, no cache. x (1, T) -> (1, T + steps)."""
    for _ in range(steps):
        x_cond = x if x.size(1) <= model.block_size else x[:, -model.block_size :]
        logits, _ = model(x_cond)
        probs = F.softmax(logits[:, -1, :], dim=-1)  # (1, vocab_size)
        _, ix = torch.topk(probs, k=1, dim=-1)
        x = torch.cat((x, ix), dim=1)
    return x


def original_predict_places(model: OriginalGPT, tokenizer, questions: list[str], steps: int = MAX_ANSWER_CHARS):
    """The course's evaluation loop: one question at a time, `question + MASK`, 32 greedy characters, the answer
    between the first and the second MASK (`completion.split(MASK)[1]`)."""
    model.eval()
    stoi = tokenizer.get_vocab()
    itos = {i: s for s, i in stoi.items()}
    device = next(model.parameters()).device
    answers = []
    for question in questions:
        x = torch.tensor([stoi.get(s, tokenizer.pad_token_id) for s in question + MASK_CHAR], dtype=torch.long)
        pred = original_sample(model, x[None].to(device), steps)[0]
        completion = "".join(itos[int(i)] for i in pred)
        answers.append(completion.split(MASK_CHAR)[1])
    return answers


def original_data_batch(documents: list[str], stoi: dict, block_size: int, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch made the way the course's `CharCorruptionDataset` + default DataLoader make it: span corruption
    per item in `__getitem__`, a dict lookup per character, then `torch.stack`. Only timed (its cost per batch is
    added to the baseline's step): the baseline trains on our examples so that both sides see the same tokens."""
    xs, ys = [], []
    for document in documents:
        s = span_corrupt(document, block_size, rng)
        ids = [stoi.get(c, 0) for c in s]
        xs.append(torch.tensor(ids[:-1], dtype=torch.long))
        ys.append(torch.tensor(ids[1:], dtype=torch.long))
    return torch.stack(xs), torch.stack(ys)


# ---------------------------------------------------------------------------------------------------------------------
# The levers


# The OpenMP runtime reads this at start-up only, so it is measured in a fresh process. PASSIVE makes a waiting thread
# sleep at once instead of spinning, which matters when other jobs hold the cores.
OMP_PASSIVE = (("OMP_WAIT_POLICY", "PASSIVE"),)


@dataclass(frozen=True)
class Variant:
    """One way of running our training path; every field left at its default is the package's default."""

    name: str
    description: str
    group_by_length: bool = True  # batches of similar length (EpochLengthGroupedBatchSampler)
    dynamic_padding: bool = True  # pad to the longest example of the batch (False: to block_size - 1, the original)
    attention_mask: bool = True  # False: no padding mask; right padding + the causal rule make it unnecessary
    attn_implementation: str = "sdpa"
    bf16: bool = False
    compile: bool = False  # model.compile(dynamic=True): batch lengths vary
    num_threads: int | None = None  # torch.set_num_threads for both sides (None: torch's default)
    env: tuple = ()  # environment variables set at start-up, ((name, value), ...): measured in a fresh process
    dropout: float | None = None  # None: the config's 0.1
    batch_size: int | None = None  # None: the benchmark's batch size (the baseline always runs that one)
    micro_batches: int = 1  # each batch run as N length-sorted micro-batches (CharTrainingArguments.micro_batches)

    @property
    def keeps_learning(self) -> bool:
        """Whether the lever leaves what is learned unchanged (dropout off and another batch size do not)."""
        return self.dropout is None and self.batch_size is None


VARIANTS = {
    v.name: v
    for v in [
        Variant("fixed_padding", "our Trainer, every batch padded to 127 (original padding), SDPA, fp32",
                group_by_length=False, dynamic_padding=False),
        Variant("fixed_padding_eager", "as fixed_padding, eager attention", group_by_length=False,
                dynamic_padding=False, attn_implementation="eager"),
        Variant("dynamic_padding", "plain shuffle, each batch padded to its longest example", group_by_length=False),
        Variant("grouped", "length-grouped batches + dynamic padding (the package default)"),
        Variant("micro_batches_4", "plain shuffle, each batch run as 4 length-sorted micro-batches (exact)",
                group_by_length=False, micro_batches=4),
        Variant("micro_batches_8", "plain shuffle, each batch run as 8 length-sorted micro-batches (exact)",
                group_by_length=False, micro_batches=8),
        Variant("micro_batches_8_bf16", "as micro_batches_8, bf16 autocast", group_by_length=False, micro_batches=8,
                bf16=True),
        Variant("grouped_eager", "as grouped, eager attention instead of SDPA", attn_implementation="eager"),
        Variant("grouped_causal", "as grouped, no padding mask: SDPA's causal kernel", attention_mask=False),
        Variant("grouped_bf16", "as grouped, bf16 autocast", bf16=True),
        Variant("grouped_1_thread", "as grouped, torch.set_num_threads(1) (the baseline too)", num_threads=1),
        Variant("grouped_omp_passive", "as grouped, OMP_WAIT_POLICY=PASSIVE (the baseline too)", env=OMP_PASSIVE),
        Variant("grouped_no_dropout", "as grouped, dropout 0 (cost of dropout; changes training)", dropout=0.0),
        Variant("grouped_compile", "as grouped, torch.compile(dynamic=True)", compile=True),
        Variant("grouped_causal_1_thread", "as grouped_causal, 1 thread (the baseline too)", attention_mask=False,
                num_threads=1),
        Variant("grouped_causal_1_thread_compile", "as grouped_causal_1_thread, torch.compile(dynamic=True)",
                attention_mask=False, num_threads=1, compile=True),
        Variant("grouped_causal_compile", "as grouped_causal, torch.compile(dynamic=True)", attention_mask=False,
                compile=True),
        Variant("grouped_bf16_compile", "as grouped, bf16 autocast + torch.compile", bf16=True, compile=True),
        Variant("grouped_causal_bf16_compile", "as grouped_causal, bf16 + torch.compile", attention_mask=False,
                bf16=True, compile=True),
        Variant("grouped_causal_bf16_compile_bs512", "as grouped_causal_bf16_compile, batches of 512 (changes the "
                "recipe)", attention_mask=False, bf16=True, compile=True, batch_size=512),
    ]
}

DEFAULT_VARIANTS = {
    "cpu": ["fixed_padding", "fixed_padding_eager", "dynamic_padding", "grouped", "grouped_eager", "grouped_causal",
            "grouped_bf16", "grouped_1_thread", "grouped_omp_passive", "grouped_no_dropout", "grouped_compile",
            "grouped_causal_1_thread", "grouped_causal_1_thread_compile"],
    "cuda": ["fixed_padding", "grouped", "grouped_causal", "grouped_bf16", "grouped_bf16_compile",
             "grouped_causal_bf16_compile", "grouped_causal_bf16_compile_bs512"],
}
QUICK_VARIANTS = ["fixed_padding", "grouped"]


# ---------------------------------------------------------------------------------------------------------------------
# Arguments and data


@dataclass
class BenchmarkArguments:
    """What to measure and where. `--quick` shrinks everything to a tiny model and a few steps (CI)."""

    data_dir: str | None = field(
        default_factory=lambda: os.environ.get(DATA_DIR_ENV),
        metadata={"help": f"Directory holding wiki.txt and birth_dev.tsv (default: ${DATA_DIR_ENV})."},
    )
    corpus_path: str = field(default="wiki.txt", metadata={"help": "Pretraining corpus (also gives the vocabulary)."})
    eval_path: str = field(default="birth_dev.tsv", metadata={"help": "Questions to answer (`question<TAB>place`)."})
    device: str = field(default="cpu", metadata={"help": "cpu or cuda; cuda is skipped with a message when absent."})
    quick: bool = field(default=False, metadata={"help": "Tiny model, two variants, a few steps: a smoke test."})
    variants: list[str] = field(
        default_factory=list,
        metadata={"help": f"Training variants to measure (default: per device). Known: {', '.join(VARIANTS)}."},
    )
    batch_size: int = field(default=128, metadata={"help": "Training batch (original pretraining: 128)."})
    warmup_steps: int = field(default=1, metadata={"help": "Steps per variant timed but not counted (compilation)."})
    measure_steps: int = field(default=4, metadata={"help": "Counted steps per variant (baseline interleaved)."})
    n_layer: int = field(default=4, metadata={"help": "Model depth (original: 4)."})
    n_head: int = field(default=8, metadata={"help": "Heads (original: 8)."})
    n_embd: int = field(default=256, metadata={"help": "Width (original: 256)."})
    block_size: int = field(default=128, metadata={"help": "Context (original: 128)."})
    eval_questions: int | None = field(default=None, metadata={"help": "Answer only the first N questions."})
    eval_baseline_questions: int | None = field(
        default=50,
        metadata={"help": "Time the one-at-a-time baseline on N questions spread over the file and scale its time to "
                  "all of them (None: all; it takes minutes on a busy CPU)."},
    )
    eval_omp_passive: bool = field(
        default=True,
        metadata={"help": "On a CPU, also time the evaluation in a fresh process with OMP_WAIT_POLICY=PASSIVE."},
    )
    eval_repeats: int = field(default=3, metadata={"help": "Timed repeats of our evaluation (median reported)."})
    eval_model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "A trained checkpoint for the evaluation timing (default: a fresh model, which seldom "
                  "writes the closing MASK and so makes ours decode all 32 steps: our slowest case)."},
    )
    isolate_memory: bool = field(
        default=True,
        metadata={"help": "Measure each workload's peak memory in a fresh process (a few seconds each); False (the "
                  "--quick default) reports only this process's peak."},
    )
    loss_check_steps: int = field(default=40, metadata={"help": "Steps of the loss-curve check (0: skip it)."})
    loss_check_batch_size: int = field(default=32, metadata={"help": "Batch of the loss-curve check."})
    loss_check_n_embd: int = field(default=64, metadata={"help": "Width of the loss-curve check's 2-layer model."})
    loss_check_orders: int = field(
        default=3,
        metadata={"help": "Batch orders (seeds) on which the loss check compares length-grouped with plain batches."},
    )
    skip_training: bool = field(default=False, metadata={"help": "Do not time training."})
    compute_ceiling: bool = field(
        default=True, metadata={"help": "Count the FLOPs per target token and time this machine's matmuls (d)."}
    )
    skip_eval: bool = field(default=False, metadata={"help": "Do not time the evaluation."})
    output_json: str | None = field(
        default=None, metadata={"help": "Where to write the results (default docs/benchmark_results/DEVICE.json)."}
    )
    figure_path: str | None = field(
        default=None, metadata={"help": "Loss-curve PNG (default: beside output_json, DEVICE_loss_curves.png)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the models, the corruption and the batch order."})

    def __post_init__(self):
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"benchmark.py: unknown variants {unknown}; expected some of {list(VARIANTS)}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"benchmark.py: device={self.device!r}; expected 'cpu' or 'cuda'")
        if self.quick:
            self.variants = self.variants or list(QUICK_VARIANTS)
            self.batch_size, self.warmup_steps, self.measure_steps = min(self.batch_size, 8), 1, 2
            self.n_layer, self.n_head, self.n_embd = 2, 2, 32
            self.eval_questions = self.eval_questions or 8
            self.eval_baseline_questions = min(self.eval_baseline_questions or 4, 4)
            self.eval_repeats = 1
            self.loss_check_steps = min(self.loss_check_steps, 6)
            self.loss_check_batch_size, self.loss_check_n_embd = min(self.loss_check_batch_size, 8), 32
            self.loss_check_orders = min(self.loss_check_orders, 2)
            self.isolate_memory = self.eval_omp_passive = False
        self.variants = self.variants or list(DEFAULT_VARIANTS[self.device])
        if self.output_json is None:
            name = f"{self.device}_quick.json" if self.quick else f"{self.device}.json"
            self.output_json = os.path.join("docs", "benchmark_results", name)
        if self.figure_path is None:
            stem = os.path.splitext(self.output_json)[0]
            self.figure_path = f"{stem}_loss_curves.png"

    def model_config(self, vocab_size: int, **overrides) -> CharGPTConfig:
        kwargs = dict(vocab_size=vocab_size, block_size=self.block_size, n_layer=self.n_layer, n_head=self.n_head,
                      n_embd=self.n_embd)
        kwargs.update(overrides)
        return CharGPTConfig(**kwargs)


@dataclass
class BenchmarkData:
    """What every measurement reads: the corpus and its tokenizer, epoch 0 of span corruption, the questions."""

    corpus_path: str
    eval_path: str
    documents: list[str]
    tokenizer: object
    dataset: PretrainDataset  # epoch 0 drawn
    questions: list[str]

    @property
    def epoch_targets(self) -> int:
        """Non-padding targets in one epoch of span-corrupted examples (epoch 0's draw)."""
        return sum(sum(t != IGNORE_INDEX for t in labels) for labels in self.dataset.examples["labels"])


def load_benchmark_data(args: BenchmarkArguments) -> BenchmarkData:
    """Loads the corpus and the questions as the package's workflows do (same tokenizer, character policy)."""
    corpus_path = resolve_path(args.corpus_path, args.data_dir)
    eval_path = resolve_path(args.eval_path, args.data_dir)
    corpus = load_corpus(corpus_path)
    with open(corpus_path, encoding="utf-8") as f:
        tokenizer = build_char_tokenizer(f.read(), model_max_length=args.block_size)
    dataset = PretrainDataset(corpus, tokenizer, block_size=args.block_size, seed=args.seed)
    vocab = set(tokenizer.get_vocab())
    lines = read_eval_lines(eval_path)
    questions = [apply_character_policy(line.question, vocab, False) for line in lines if not line.problem]
    if args.eval_questions:
        questions = questions[: args.eval_questions]
    return BenchmarkData(corpus_path, eval_path, corpus["text"], tokenizer, dataset, questions)


# ---------------------------------------------------------------------------------------------------------------------
# Measuring


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _target_count(labels: torch.Tensor) -> int:
    return int((labels[:, 1:] != IGNORE_INDEX).sum())  # position t predicts labels[t + 1]


class _RepresentativeBatches(EpochLengthGroupedBatchSampler):
    """The package's batches of the epoch, reordered so that a few steps stand for the whole epoch: first the
    sampler's own first batch (the one holding the longest example) and `warmup - 1` others, then `measured` batches
    at evenly spaced quantiles of their longest example, then the rest. Which batches get timed changes; how each is
    formed and trained does not. (A random few would be biased: a run of short batches favours our side, whose cost
    falls with the batch's length while the baseline's does not.)"""

    def __init__(self, *args, warmup: int, measured: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.warmup, self.measured = warmup, measured

    def batches(self) -> list[list[int]]:
        batches = super().batches()
        lengths = self.lengths
        first, rest = batches[0], sorted(batches[1:], key=lambda batch: max(lengths[i] for i in batch))
        n = min(self.measured, len(rest))
        picks = {round((k + 0.5) * len(rest) / n - 0.5) for k in range(n)}
        chosen = [batch for p, batch in enumerate(rest) if p in picks]
        others = [batch for p, batch in enumerate(rest) if p not in picks]
        return [first] + others[: self.warmup - 1] + chosen + others[self.warmup - 1 :]


class _BenchmarkTrainer(CharTrainer):
    """`CharTrainer` that keeps the batch of the last step and every step's loss, for the callbacks below, does not
    print its logs (dozens of short runs), and, given `representative=(warmup, measured)`, trains on
    `_RepresentativeBatches` (otherwise on the package's batches, in their order)."""

    def __init__(self, *args, representative: tuple[int, int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.remove_callback(PrinterCallback)
        self.representative = representative
        self.last_inputs = None
        self.step_losses: list[torch.Tensor] = []

    def get_train_dataloader(self) -> DataLoader:
        if self.representative is None:
            return super().get_train_dataloader()
        warmup, measured = self.representative
        # As CharTrainer.get_train_dataloader, with the reordering sampler.
        sampler = _RepresentativeBatches(
            self.train_dataset, batch_size=self.args.per_device_train_batch_size, seed=self.args.seed,
            group_by_length=self.args.group_by_length, warmup=warmup, measured=measured,
        )
        loader = DataLoader(
            self.train_dataset, batch_sampler=sampler, collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory,
        )
        return self.accelerator.prepare(loader)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self.last_inputs = inputs
        out = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        self.step_losses.append((out[0] if return_outputs else out).detach().float())
        return out


class _Interleave(TrainerCallback):
    """Times each of our Trainer steps (from the end of the previous step to the end of this one: data loading,
    forward, backward, clipping, optimizer, schedule and logging all count), then runs the baseline on the same
    examples, padded to 127, in chunks of the original batch size, with the baseline's thread count. During our
    first `skip_baseline_steps` steps (warm-up, once the baseline itself is warm) the baseline does not run."""

    def __init__(self, trainer, baseline: OriginalTrainLoop, baseline_batch_size, block_size, device,
                 baseline_threads, baseline_data_s, skip_baseline_steps=0):
        self.trainer, self.baseline = trainer, baseline
        self.baseline_batch_size, self.block_size, self.device = baseline_batch_size, block_size, device
        self.baseline_threads, self.baseline_data_s = baseline_threads, baseline_data_s
        self.skip_baseline_steps = skip_baseline_steps
        self.steps: list[dict] = []
        self._start = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self._start is None:  # the first step: from here (the first batch is fetched already)
            self._start = (time.perf_counter(), time.process_time())

    def on_step_end(self, args, state, control, **kwargs):
        _sync(self.device)
        ours_s = time.perf_counter() - self._start[0]
        ours_cpu_s = time.process_time() - self._start[1]
        inputs = {k: v.detach() for k, v in self.trainer.last_inputs.items()}
        B, T = inputs["input_ids"].shape
        tokens = _target_count(inputs["labels"])

        baseline_s = baseline_cpu_s = None
        if state.global_step > self.skip_baseline_steps:
            our_threads = torch.get_num_threads()
            torch.set_num_threads(self.baseline_threads)
            t0, c0 = time.perf_counter(), time.process_time()
            chunks = 0
            for start in range(0, B, self.baseline_batch_size):
                chunk = {k: v[start : start + self.baseline_batch_size] for k, v in inputs.items()}
                x, y = original_batch(chunk, self.block_size)
                self.baseline.step(x, y)
                chunks += 1
            _sync(self.device)
            baseline_s = time.perf_counter() - t0 + chunks * self.baseline_data_s
            baseline_cpu_s = time.process_time() - c0
            torch.set_num_threads(our_threads)

        # Padding is counted over the positions each side computes: B x T for us (summed over the pieces with
        # micro_batches), B x 127 for the original.
        computed = B * T
        if args.micro_batches > 1:
            computed = sum(piece["input_ids"].numel() for piece in length_sorted_pieces(inputs, args.micro_batches))
        self.steps.append(dict(
            step=state.global_step, batch=B, positions=T, baseline_positions=self.block_size - 1, target_tokens=tokens,
            computed_positions=computed, padding_fraction=round(1 - tokens / computed, 4),
            baseline_padding_fraction=round(1 - tokens / (B * (self.block_size - 1)), 4),
            ours_s=round(ours_s, 4), baseline_s=None if baseline_s is None else round(baseline_s, 4),
            ours_cpu_utilization=round(ours_cpu_s / max(ours_s, 1e-9), 2),
            baseline_cpu_utilization=None if baseline_s is None else round(baseline_cpu_s / max(baseline_s, 1e-9), 2),
            loadavg_1min=round(os.getloadavg()[0], 2),
        ))
        self._start = (time.perf_counter(), time.process_time())


def _fresh(dataset: PretrainDataset) -> PretrainDataset:
    """The same drawn epoch for another run: a shallow copy shares the examples but counts its own reads, so that
    dozens of short runs on one draw do not trip the dataset's `read twice over without set_epoch` warning."""
    return copy.copy(dataset)


def _training_args(args: BenchmarkArguments, output_dir: str, *, max_steps: int, batch_size: int,
                   group_by_length: bool, bf16: bool, final: int, micro_batches: int = 1) -> PretrainingArguments:
    on_cuda = args.device == "cuda"
    return PretrainingArguments(
        output_dir=output_dir,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        group_by_length=group_by_length,
        micro_batches=min(micro_batches, batch_size),  # tiny smoke-test batches: one example a piece at most
        bf16=bf16,
        use_cpu=not on_cuda,
        dataloader_pin_memory=on_cuda,
        final_tokens=final,
        seed=args.seed,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_steps=10,
    )


def _collator(variant: Variant, tokenizer, block_size: int):
    collator = CharCollator(
        pad_token_id=tokenizer.pad_token_id, pad_to_block_size=not variant.dynamic_padding, block_size=block_size
    )
    if variant.attention_mask:
        return collator

    def without_mask(examples):
        # Right padding + the causal rule: a real position never reads a later (padding) key, and padding targets are
        # ignored; without a mask, SDPA can run its causal kernel.
        batch = collator(examples)
        batch.pop("attention_mask")
        return batch

    return without_mask


def _our_model(args: BenchmarkArguments, vocab_size: int, variant: Variant, **config_overrides) -> CharGPTForCausalLM:
    overrides = dict(config_overrides)
    if variant.dropout is not None:
        overrides.update(embd_pdrop=variant.dropout, resid_pdrop=variant.dropout, attn_pdrop=variant.dropout)
    model = CharGPTForCausalLM(args.model_config(vocab_size, **overrides))
    model.set_attn_implementation(variant.attn_implementation)
    if variant.compile:
        # In place, so that the Trainer still sees a CharGPTForCausalLM; dynamic: batch lengths vary.
        model.compile(dynamic=True)
    return model


def measure_epoch_draw(data: BenchmarkData, args: BenchmarkArguments, repeats: int = 2) -> float:
    """Seconds to draw one epoch of span corruption (`PretrainDataset.set_epoch`), paid once per epoch."""
    dataset = PretrainDataset(load_corpus(data.corpus_path), data.tokenizer, block_size=args.block_size, seed=args.seed)
    times = []
    for epoch in range(1, repeats + 1):
        t0 = time.perf_counter()
        dataset.set_epoch(epoch)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_original_data(data: BenchmarkData, args: BenchmarkArguments, repeats: int = 3) -> float:
    """Seconds for the course code's data path to build one batch (per-item corruption + encoding + stack)."""
    import random

    rng = random.Random(args.seed)
    stoi = data.tokenizer.get_vocab()
    times = []
    for _ in range(repeats):
        documents = rng.sample(data.documents, min(args.batch_size, len(data.documents)))
        t0 = time.perf_counter()
        original_data_batch(documents, stoi, args.block_size, rng)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _summarise(steps: list[dict]) -> dict:
    tokens = sum(s["target_tokens"] for s in steps)
    ours = sum(s["ours_s"] for s in steps)
    base = sum(s["baseline_s"] for s in steps)
    return dict(
        measured_steps=len(steps),
        target_tokens=tokens,
        ours_s=round(ours, 3),
        baseline_s=round(base, 3),
        ours_tokens_per_s=round(tokens / ours, 1),
        baseline_tokens_per_s=round(tokens / base, 1),
        speedup=round(base / ours, 3),
        speedup_median_of_steps=round(statistics.median(s["baseline_s"] / s["ours_s"] for s in steps), 3),
        padding_fraction=round(1 - tokens / sum(s["computed_positions"] for s in steps), 4),
        baseline_padding_fraction=round(1 - tokens / sum(s["batch"] * s["baseline_positions"] for s in steps), 4),
        ours_cpu_utilization=round(statistics.mean(s["ours_cpu_utilization"] for s in steps), 2),
        baseline_cpu_utilization=round(statistics.mean(s["baseline_cpu_utilization"] for s in steps), 2),
        loadavg_1min=round(statistics.mean(s["loadavg_1min"] for s in steps), 2),
    )


def measure_training(args: BenchmarkArguments, data: BenchmarkData, baseline_data_s: float) -> dict:
    """One short `CharTrainer` run per variant, the baseline interleaved step by step (see `_Interleave`), on
    `_RepresentativeBatches`. Compiled variants also report dynamo's counters (compilations, cache hits)."""
    from torch._dynamo.utils import counters as dynamo_counters

    vocab_size = len(data.tokenizer)
    final = final_tokens(len(data.documents), args.block_size)
    set_seed(args.seed)
    baseline_model = OriginalGPT(args.model_config(vocab_size)).to(args.device)
    baseline = OriginalTrainLoop(baseline_model, final_tokens=final)
    default_threads = torch.get_num_threads()
    results = {}
    for name in args.variants:
        variant = VARIANTS[name]
        if variant.env and not all(os.environ.get(k) == v for k, v in variant.env):
            logger.info("benchmark: training variant %s in a fresh process with %s", name, dict(variant.env))
            results[name] = _run_in_child(variant.env, _child_training, asdict(args), name, baseline_data_s)
            continue
        batch_size = variant.batch_size or args.batch_size
        threads = variant.num_threads or default_threads
        # Compiled variants warm up on two more batches of other lengths: a shape can cost one more compilation.
        warmup_steps = args.warmup_steps + (2 if variant.compile else 0)
        logger.info("benchmark: training variant %s", name)
        set_seed(args.seed)
        dynamo_counters.clear()
        model = _our_model(args, vocab_size, variant)
        with tempfile.TemporaryDirectory() as output_dir:
            training_args = _training_args(
                args, output_dir, max_steps=warmup_steps + args.measure_steps, batch_size=batch_size,
                group_by_length=variant.group_by_length, bf16=variant.bf16, final=final,
                micro_batches=variant.micro_batches,
            )
            trainer = _BenchmarkTrainer(
                model=model, args=training_args, train_dataset=_fresh(data.dataset),
                data_collator=_collator(variant, data.tokenizer, args.block_size),
                processing_class=data.tokenizer, tokens_per_example=args.block_size - 1,
                representative=(warmup_steps, args.measure_steps),
            )
            # The baseline runs with the variant's thread count: the speed-up column is the code's, and a thread
            # setting shows in both tokens/s columns. It warms up once, with the first variant.
            timer = _Interleave(trainer, baseline, args.batch_size, args.block_size, args.device, threads,
                                baseline_data_s, skip_baseline_steps=warmup_steps if results else 0)
            trainer.add_callback(timer)
            torch.set_num_threads(threads)
            try:
                trainer.train()
            finally:
                torch.set_num_threads(default_threads)
        warmup, measured = timer.steps[:warmup_steps], timer.steps[warmup_steps:]
        compiled = {}
        if variant.compile:
            compiled = dict(
                compilation={key: dict(dynamo_counters[key]) for key in ("frames", "stats", "aot_autograd")}
            )
        results[name] = dict(
            description=variant.description,
            settings={k: v for k, v in asdict(variant).items() if k not in ("name", "description")},
            keeps_learning=variant.keeps_learning,
            threads=threads,
            env=_env_label(),
            warmup_s=[s["ours_s"] for s in warmup],
            **_summarise(measured),
            **compiled,
            steps=timer.steps,
        )
        r = results[name]
        logger.info("benchmark: %s: %.0f tok/s vs baseline %.0f tok/s (x%.2f)", name, r["ours_tokens_per_s"],
                    r["baseline_tokens_per_s"], r["speedup"])
        del trainer, model
    return results


def _eval_models(args: BenchmarkArguments, data: BenchmarkData):
    """Our model and the original one with the same weights: a checkpoint's, or a fresh model's (seeded)."""
    if args.eval_model_name_or_path:
        model = CharGPTForCausalLM.from_pretrained(args.eval_model_name_or_path)
        return model.to(args.device), original_from_ours(model).to(args.device)
    set_seed(args.seed)
    config = args.model_config(len(data.tokenizer))
    original = OriginalGPT(config)
    return ours_from_original(original, config).to(args.device), original.to(args.device)


def measure_evaluation(args: BenchmarkArguments, data: BenchmarkData, thread_counts: list[int] | None = None) -> dict:
    """Our batched, cached evaluation against the one-at-a-time, no-cache greedy loop, on the same weights.

    For each thread count (default: torch's default, and 1 on a CPU), ours answers every question `eval_repeats`
    times (median reported) and the baseline answers every k-th question (`eval_baseline_questions` of them), its
    time scaled to all; the two alternate (ours, baseline part, ours, baseline part, ...). Both run with the same
    thread count, so the speed-up is the code's, not the setting's.
    """
    device = args.device
    model, original = _eval_models(args, data)
    questions = data.questions
    count = min(args.eval_baseline_questions or len(questions), len(questions))
    sample = [round(i * len(questions) / count) for i in range(count)]  # spread over the file: lengths vary
    baseline_questions = [questions[i] for i in sample]
    default_threads = torch.get_num_threads()
    if thread_counts is None:
        thread_counts = [default_threads] + ([1] if device == "cpu" and default_threads > 1 else [])
    repeats = max(args.eval_repeats, 1)
    parts = max(repeats - 1, 1)
    size = math.ceil(len(baseline_questions) / parts)
    chunks = [baseline_questions[i : i + size] for i in range(0, len(baseline_questions), size)]

    settings, agree = [], None
    for threads in thread_counts:
        torch.set_num_threads(threads)
        try:
            predict_places(model, data.tokenizer, questions[:8])  # warm-up (allocator, kernels)
            original_predict_places(original, data.tokenizer, baseline_questions[:1])
            ours_times, one_batch_times, baseline_s, answers, loads = [], [], 0.0, [], [os.getloadavg()[0]]
            for i in range(max(repeats, len(chunks))):
                if i < repeats:
                    _sync(device)
                    t0 = time.perf_counter()
                    predictions = predict_places(model, data.tokenizer, questions)
                    _sync(device)
                    ours_times.append(time.perf_counter() - t0)
                    # The lever: every question in one left-padded batch (default: batches of 256).
                    one_batch = predict_places(model, data.tokenizer, questions, batch_size=len(questions))
                    _sync(device)
                    one_batch_times.append(time.perf_counter() - t0 - ours_times[-1])
                if i < len(chunks):
                    t0 = time.perf_counter()
                    answers += original_predict_places(original, data.tokenizer, chunks[i])
                    _sync(device)
                    baseline_s += time.perf_counter() - t0
                loads.append(os.getloadavg()[0])
        finally:
            torch.set_num_threads(default_threads)
        ours_s = statistics.median(ours_times)
        scaled = baseline_s * len(questions) / len(baseline_questions)
        settings.append(dict(
            threads=threads,
            env=_env_label(),
            ours_s=round(ours_s, 3),
            ours_runs_s=[round(t, 3) for t in ours_times],
            ours_one_batch_s=round(statistics.median(one_batch_times), 3),
            baseline_timed_s=round(baseline_s, 3),
            baseline_s=round(scaled, 3),
            speedup=round(scaled / ours_s, 2),
            loadavg_1min=round(statistics.mean(loads), 2),
        ))
        agree = sum(predictions[i].place == answer for i, answer in zip(sample, answers))
        one_batch_agree = sum(p.place == q.place for p, q in zip(predictions, one_batch))
    return dict(
        questions=len(questions),
        baseline_questions=len(baseline_questions),
        baseline_time_is_scaled=len(baseline_questions) != len(questions),
        weights=args.eval_model_name_or_path or f"fresh model (seed {args.seed})",
        answers_agree=f"{agree}/{len(sample)}",
        one_batch_answers_agree=f"{one_batch_agree}/{len(questions)}",
        mean_answer_chars=round(statistics.mean(len(p.place) for p in predictions), 2),
        settings=settings,
    )


def _env_label() -> str:
    """The OpenMP environment settings in force (what the OMP_WAIT_POLICY lever changes)."""
    return " ".join(f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if k in os.environ)


def _run_in_child(env: tuple, fn, *fn_args):
    """fn(*fn_args) in a fresh (spawned) interpreter whose environment has `env` added; returns its result."""
    saved = {k: os.environ.get(k) for k, _ in env}
    os.environ.update(dict(env))
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(fn, *fn_args).result()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _child_training(args_dict: dict, variant: str, baseline_data_s: float) -> dict:
    args = BenchmarkArguments(**{**args_dict, "variants": [variant]})
    return measure_training(args, load_benchmark_data(args), baseline_data_s)[variant]


def _child_evaluation(args_dict: dict) -> dict:
    args = BenchmarkArguments(**args_dict)
    return measure_evaluation(args, load_benchmark_data(args), thread_counts=[torch.get_num_threads()])


# ---------------------------------------------------------------------------------------------------------------------
# Memory: each workload in a fresh process, its resident set sampled while it runs


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_bytes() -> int:
    """The process's peak resident set so far (setup included). VmHWM, because Linux carries ru_maxrss over from
    the parent into a spawned child, so that every child would report the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if platform.system() == "Darwin" else 1024)


def _peak_while(fn, interval_s: float = 0.002) -> dict:
    """Runs fn(), sampling the resident set every `interval_s`; returns its peak, the RSS before, ru_maxrss."""
    before = _rss_bytes()
    peak = [before or 0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            rss = _rss_bytes()
            if rss:
                peak[0] = max(peak[0], rss)
            done.wait(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    mb = 2**20
    out = dict(process_peak_rss_mb=round(_peak_rss_bytes() / mb, 1))
    if before is not None:
        out.update(rss_before_mb=round(before / mb, 1), workload_peak_rss_mb=round(peak[0] / mb, 1),
                   workload_rss_increase_mb=round((peak[0] - before) / mb, 1))
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda_max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated() / mb, 1)
    return out


def _memory_probe(args: BenchmarkArguments, workload: str, variant_name: str | None) -> dict:
    """One workload in this (fresh) process: two training steps of the baseline or a variant, or the evaluation."""
    data = load_benchmark_data(args)
    vocab_size = len(data.tokenizer)
    final = final_tokens(len(data.documents), args.block_size)
    set_seed(args.seed)
    if workload == "train_baseline":
        loop = OriginalTrainLoop(OriginalGPT(args.model_config(vocab_size)).to(args.device), final_tokens=final)
        sampler = EpochLengthGroupedBatchSampler(data.dataset, args.batch_size, seed=args.seed, group_by_length=False)
        collate = CharCollator(pad_to_block_size=True, block_size=args.block_size)
        batches = [
            original_batch(collate([data.dataset[i] for i in b]), args.block_size) for b in sampler.batches()[:2]
        ]
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        return _peak_while(lambda: [loop.step(x.to(args.device), y.to(args.device)) for x, y in batches])
    if workload == "train_ours":
        variant = VARIANTS[variant_name]
        model = _our_model(args, vocab_size, variant)
        with tempfile.TemporaryDirectory() as output_dir:
            training_args = _training_args(
                args, output_dir, max_steps=2, batch_size=variant.batch_size or args.batch_size,
                group_by_length=variant.group_by_length, bf16=variant.bf16, final=final,
                micro_batches=variant.micro_batches,
            )
            trainer = CharTrainer(model=model, args=training_args, train_dataset=data.dataset,
                                  data_collator=_collator(variant, data.tokenizer, args.block_size),
                                  processing_class=data.tokenizer, tokens_per_example=args.block_size - 1)
            if args.device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            return _peak_while(trainer.train)
    original = OriginalGPT(args.model_config(vocab_size)).to(args.device)
    if workload == "eval_baseline":
        # One question at a time: the longest questions set the peak; a few of them suffice.
        longest = sorted(data.questions, key=len)[-4:]
        return _peak_while(lambda: original_predict_places(original, data.tokenizer, longest))
    if workload == "eval_ours":
        model = ours_from_original(original, args.model_config(vocab_size)).to(args.device)
        return _peak_while(lambda: predict_places(model, data.tokenizer, data.questions))
    raise ValueError(f"benchmark.py: unknown memory workload {workload!r}")


def _memory_probe_entry(args_dict: dict, workload: str, variant_name: str | None) -> dict:
    return _memory_probe(BenchmarkArguments(**args_dict), workload, variant_name)


def measure_memory(args: BenchmarkArguments, variants: list[str]) -> dict:
    """Peak memory of the training step (baseline and each of `variants`) and of the evaluation, each workload in
    a fresh process so that one's allocations do not hide the other's."""
    workloads = [] if args.skip_training else [("train_baseline", None)] + [("train_ours", v) for v in variants]
    if not args.skip_eval:
        workloads += [("eval_baseline", None), ("eval_ours", None)]
    results = {}
    for workload, variant in workloads:
        key = f"{workload}:{variant}" if variant else workload
        logger.info("benchmark: memory of %s", key)
        results[key] = _run_in_child((), _memory_probe_entry, asdict(args), workload, variant)
    return results


# ---------------------------------------------------------------------------------------------------------------------
# Does the fast path learn the same thing?

LOSS_RUNS = {
    # name: (our variant, or None for the original loop; what it is; batch-order seed offset)
    "plain": (Variant("plain", "", group_by_length=False, dynamic_padding=False, attn_implementation="eager"),
              "our Trainer, padded to 127, eager attention, fp32", 0),
    "original_loop": (None, "OriginalGPT + OriginalTrainLoop (schedule aligned), same batches", 0),
    "dynamic_padding": (Variant("dynamic_padding", "", group_by_length=False),
                        "same batches, padded to their longest example, SDPA, fp32", 0),
    "dynamic_padding_causal": (Variant("dynamic_padding_causal", "", group_by_length=False, attention_mask=False),
                               "same batches, dynamic padding, no padding mask (causal kernel)", 0),
    "dynamic_padding_bf16": (Variant("dynamic_padding_bf16", "", group_by_length=False, bf16=True),
                             "same batches, dynamic padding, SDPA, bf16 autocast", 0),
    "micro_batches": (Variant("micro_batches", "", group_by_length=False, micro_batches=4),
                      "same batches, each run as 4 length-sorted micro-batches, SDPA, fp32", 0),
    "grouped": (Variant("grouped", ""), "length-grouped batches + dynamic padding: other batches", 0),
}
HELDOUT_EPOCH = 10**6  # a corruption draw that no run trains on


@torch.no_grad()
def _heldout_loss(state_dict: dict, config: CharGPTConfig, examples: list[dict], batch_size: int = 256) -> float:
    """Mean loss over every non-padding target of `examples` (fp32, eval mode) for the given weights."""
    model = CharGPTForCausalLM(config)
    model.load_state_dict(state_dict)
    model.eval()
    collate = CharCollator(pad_token_id=config.pad_token_id)
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start : start + batch_size])
        n = _target_count(batch["labels"])
        total += float(model(**batch).loss) * n
        count += n
    return total / count


def loss_curve_check(args: BenchmarkArguments, data: BenchmarkData) -> dict:
    """Short runs of a small model (2 layers, dropout 0 so that no random mask depends on the padded length) from the
    same initial weights; returns every step's loss, the differences to the plain run, and each run's final loss on a
    held-out corruption draw of the corpus.

    Runs on the same batches in the same order must match the plain run up to float error, step by step. Length
    grouping trains on other batches, so its steps cannot match: plain and grouped batches are then compared over
    `loss_check_orders` batch orders (seeds), by their held-out losses. Everything runs on one thread: the model is
    small, and its many small ops only wait on each other with two threads on a busy machine.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _loss_curve_check(args, data)
    finally:
        torch.set_num_threads(threads)


def _train_small(args, data, config, initial: OriginalGPT, variant: Variant, seed_offset: int, final: int):
    """One loss-check run of ours: returns every step's loss and the final weights."""
    model = ours_from_original(initial, config)
    model.set_attn_implementation(variant.attn_implementation)
    with tempfile.TemporaryDirectory() as output_dir:
        training_args = _training_args(
            args, output_dir, max_steps=args.loss_check_steps, batch_size=args.loss_check_batch_size,
            group_by_length=variant.group_by_length, bf16=variant.bf16, final=final,
            micro_batches=variant.micro_batches,
        )
        training_args.seed = args.seed + seed_offset  # the batch order; the weights are loaded, not drawn
        trainer = _BenchmarkTrainer(
            model=model, args=training_args, train_dataset=_fresh(data.dataset),
            data_collator=_collator(variant, data.tokenizer, args.block_size),
            processing_class=data.tokenizer, tokens_per_example=args.block_size - 1,
        )
        trainer.train()
    return [float(loss) for loss in trainer.step_losses], model.state_dict()


def _loss_curve_check(args: BenchmarkArguments, data: BenchmarkData) -> dict:
    vocab_size = len(data.tokenizer)
    overrides = dict(n_layer=2, n_head=4, n_embd=args.loss_check_n_embd, embd_pdrop=0.0, resid_pdrop=0.0,
                     attn_pdrop=0.0)
    config = args.model_config(vocab_size, **overrides)
    final = final_tokens(len(data.documents), args.block_size)
    heldout = _fresh(data.dataset)
    heldout.set_epoch(HELDOUT_EPOCH)
    heldout_examples = [heldout[i] for i in range(len(heldout))]
    set_seed(args.seed)
    initial = OriginalGPT(config)
    initial_state = {k: v.clone() for k, v in initial.state_dict().items()}
    runs, final_params = {}, {}
    for name, (variant, description, seed_offset) in LOSS_RUNS.items():
        logger.info("benchmark: loss check %s", name)
        if variant is None:
            original = OriginalGPT(config)
            original.load_state_dict(initial_state)
            original.to(args.device)
            loop = OriginalTrainLoop(original, final_tokens=final)
            dataset = _fresh(data.dataset)
            sampler = EpochLengthGroupedBatchSampler(dataset, args.loss_check_batch_size, seed=args.seed,
                                                     group_by_length=False)
            collate = CharCollator(pad_to_block_size=True, block_size=args.block_size)
            losses, epoch = [], 0
            while len(losses) < args.loss_check_steps:  # epoch by epoch, fresh corruption each, as the Trainer does
                sampler.set_epoch(epoch)
                for batch in sampler.batches()[: args.loss_check_steps - len(losses)]:
                    x, y = original_batch(collate([dataset[i] for i in batch]), args.block_size)
                    losses.append(loop.step(x.to(args.device), y.to(args.device)))
                epoch += 1
            params = convert_a5_state_dict(original.state_dict(), config)
        else:
            losses, params = _train_small(args, data, config, initial, variant, seed_offset, final)
        final_params[name] = {k: v.detach().float().cpu() for k, v in params.items()}
        runs[name] = dict(description=description, losses=[round(x, 6) for x in losses],
                          heldout_loss=round(_heldout_loss(final_params[name], config, heldout_examples), 5))
    plain = runs["plain"]
    for name, run in runs.items():
        diffs = [abs(a - b) for a, b in zip(run["losses"], plain["losses"])]
        run["max_abs_loss_diff_vs_plain"] = round(max(diffs), 6)
        ours, reference = final_params[name], final_params["plain"]
        run["final_max_abs_param_diff_vs_plain"] = round(
            max(float((ours[k] - reference[k]).abs().max()) for k in reference), 6
        )
        # The max above is one element, and Adam turns float noise in a near-zero gradient into a full-size step;
        # the relative distance of all the weights together says how far the models are apart.
        distance = math.sqrt(sum(float((ours[k] - reference[k]).pow(2).sum()) for k in reference))
        norm = math.sqrt(sum(float(reference[k].pow(2).sum()) for k in reference))
        run["final_relative_param_distance_vs_plain"] = float(f"{distance / norm:.3g}")
        run["heldout_loss_diff_vs_plain"] = round(run["heldout_loss"] - plain["heldout_loss"], 5)

    orders = {"plain": [plain["heldout_loss"]], "grouped": [runs["grouped"]["heldout_loss"]]}
    for offset in range(1, args.loss_check_orders):
        for name in orders:
            logger.info("benchmark: loss check %s, batch order %d", name, offset)
            _, params = _train_small(args, data, config, initial, LOSS_RUNS[name][0], offset, final)
            orders[name].append(round(_heldout_loss(params, config, heldout_examples), 5))
    order_summary = {
        name: dict(heldout_losses=losses, mean=round(statistics.mean(losses), 5),
                   stdev=round(statistics.stdev(losses), 5) if len(losses) > 1 else None)
        for name, losses in orders.items()
    }
    return dict(
        model=dict(n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd, block_size=config.block_size,
                   dropout=0.0),
        batch_size=args.loss_check_batch_size,
        steps=args.loss_check_steps,
        learning_rate=PRETRAIN_LR,
        heldout_examples=len(heldout_examples),
        runs=runs,
        batch_orders=order_summary,
    )


def save_loss_figure(check: dict, path: str) -> None:
    """Left: every run's step losses; middle: their distance to the plain run; right: held-out losses of plain and
    length-grouped batches over several batch orders."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = check["runs"]
    orders = check.get("batch_orders")
    fig, axes = plt.subplots(1, 3 if orders else 2, figsize=(17 if orders else 12, 4.2))
    ax, ax_diff = axes[0], axes[1]
    styles = {"plain": ("black", "-", 2.5), "original_loop": ("tab:gray", ":", 2.5)}
    for name, run in runs.items():
        color, style, width = styles.get(name, (None, "--", 1.2))
        steps = range(1, len(run["losses"]) + 1)
        ax.plot(steps, run["losses"], label=name, color=color, linestyle=style, linewidth=width)
        if name != "plain":
            diffs = [max(abs(a - b), 1e-9) for a, b in zip(run["losses"], runs["plain"]["losses"])]
            ax_diff.semilogy(steps, diffs, label=name, color=color, linestyle=style, linewidth=width)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (mean over non-padding targets)")
    model = check["model"]
    ax.set_title(f"{model['n_layer']}x{model['n_embd']} model, batches of {check['batch_size']}, dropout 0")
    ax.legend(fontsize=8)
    ax_diff.set_xlabel("optimizer step")
    ax_diff.set_ylabel("|loss - plain loss| (floored at 1e-9)")
    ax_diff.set_title("difference to the plain path (fixed padding, eager, fp32)")
    ax_diff.legend(fontsize=8)
    if orders:
        ax_orders = axes[2]
        for x, (name, o) in enumerate(orders.items()):
            ax_orders.scatter([x] * len(o["heldout_losses"]), o["heldout_losses"], label=name, s=40)
            ax_orders.errorbar([x + 0.15], [o["mean"]], yerr=[o["stdev"] or 0], fmt="_", color="black", capsize=4)
        ax_orders.set_xticks(range(len(orders)), list(orders))
        ax_orders.set_xlim(-0.5, len(orders) - 0.5)
        ax_orders.set_ylabel(f"held-out loss after {check['steps']} steps")
        ax_orders.set_title("batch orders (seeds): plain vs length-grouped")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------------------
# The whole benchmark


def _training_flops(model: OriginalGPT, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one forward and backward pass of `model` on (x, y), as torch's FlopCounterMode counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as counter:
        _, loss = model(x, y)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matmul_gflops(rows: int, n_embd: int, threads: int, dtype=torch.float32, repeats: int = 5) -> float:
    """This machine's rate (GFLOP/s, best of `repeats`) for the matrix products of a training step: `rows` positions
    through the attention projections (C -> 3C, C -> C) and the MLP (C -> 4C -> C), each forward as in backward."""
    shapes = [(n_embd, 3 * n_embd), (n_embd, n_embd), (n_embd, 4 * n_embd), (4 * n_embd, n_embd)]
    operands = [(torch.randn(rows, k, dtype=dtype), torch.randn(k, n, dtype=dtype)) for k, n in shapes]
    flops = sum(2 * rows * k * n for k, n in shapes)
    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for a, b in operands:  # warm-up
            a @ b
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            for a, b in operands:
                a @ b
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(default_threads)
    return flops / best / 1e9


def measure_compute_ceiling(args: BenchmarkArguments, data: BenchmarkData, thread_counts: list[int] | None = None) -> dict:
    """How many non-padding target tokens per second this machine's matrix multiplications allow each side.

    FLOPs per target token: every batch of one epoch as the package forms it (length-grouped, padded to its own
    longest example) against the original's (every example padded to 127), counted on the same model (the course's
    `OriginalGPT`: its explicit attention does the same products as SDPA's math) without dropout, which costs no
    FLOPs but memory traffic. The rate: `matmul_gflops` at the shapes of a batch of `batch_size` examples of the
    epoch's mean padded length. ceiling tokens/s = rate / FLOPs per target token: what a step would reach if
    everything but the matrix products were free and those ran as fast as this machine runs them alone.
    """
    config = args.model_config(len(data.tokenizer), embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0)
    set_seed(args.seed)
    model = OriginalGPT(config)
    collator = CharCollator(pad_token_id=data.tokenizer.pad_token_id, pad_to_block_size=False,
                            block_size=args.block_size)
    sampler = EpochLengthGroupedBatchSampler(data.dataset, batch_size=args.batch_size, seed=args.seed)
    ours_flops = ours_positions = targets = 0
    for indices in sampler.batches():
        batch = collator([data.dataset[i] for i in indices])
        x, y = original_batch(batch, args.block_size)
        T = batch["input_ids"].shape[1]
        ours_flops += _training_flops(model, x[:, :T].contiguous(), y[:, :T].contiguous())
        ours_positions += x.shape[0] * T
        targets += _target_count(batch["labels"])
    x, y = original_batch(collator([data.dataset[i] for i in range(min(args.batch_size, len(data.dataset)))]),
                          args.block_size)
    baseline_flops = _training_flops(model, x, y) * len(data.dataset) / x.shape[0]
    rows = args.batch_size * round(ours_positions / len(data.dataset))
    thread_counts = thread_counts or sorted({1, torch.get_num_threads()})
    rates = {str(n): round(matmul_gflops(rows, args.n_embd, n), 1) for n in thread_counts}
    ours_per_target, baseline_per_target = ours_flops / targets, baseline_flops / targets
    return dict(
        epoch_target_tokens=targets,
        flops_per_target_ours=round(ours_per_target),
        flops_per_target_baseline=round(baseline_per_target),
        matmul_rows=rows,
        matmul_gflops=rates,
        ceiling_tokens_per_s_ours={n: round(r * 1e9 / ours_per_target) for n, r in rates.items()},
        ceiling_tokens_per_s_baseline={n: round(r * 1e9 / baseline_per_target) for n, r in rates.items()},
    )


def machine_description(device: str) -> dict:
    info = dict(platform=platform.platform(), python=platform.python_version(), torch=torch.__version__,
                torch_threads=torch.get_num_threads(), cpu_count=os.cpu_count(), nice=os.nice(0))
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
        flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
        info["cpu"] = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                            if line.startswith("model name")), platform.processor())
        info["cpu_flags"] = sorted(f for f in flags if f.startswith(("amx", "avx512_bf16", "avx512f", "avx2")))
    except OSError:
        info["cpu"] = platform.processor()
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def projected_pretraining_hours(tokens_per_s: float, epoch_targets: int, per_epoch_overhead_s: float = 0.0) -> float:
    """Hours for the original 650-epoch pretraining at this throughput (plus a fixed cost per epoch)."""
    return round(PRETRAIN_EPOCHS * (epoch_targets / tokens_per_s + per_epoch_overhead_s) / 3600, 2)


def run_benchmark(args: BenchmarkArguments) -> dict:
    """Runs every measurement, prints the tables, writes the JSON (and the loss-curve PNG); returns the results."""
    if args.device == "cuda" and not torch.cuda.is_available():
        message = "benchmark.py: --device cuda asked for, but torch sees no CUDA device; nothing measured."
        logger.warning(message)
        print(message)
        return {"skipped": message}
    started = time.time()
    load_start = os.getloadavg()
    data = load_benchmark_data(args)
    results = dict(
        machine=machine_description(args.device),
        arguments=asdict(args),
        loadavg_at_start=[round(x, 2) for x in load_start],
        model=dict(n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, block_size=args.block_size,
                   parameters=sum(p.numel() for p in OriginalGPT(args.model_config(len(data.tokenizer))).parameters())),
    )
    epoch_draw_s = measure_epoch_draw(data, args)
    baseline_data_s = measure_original_data(data, args)
    epoch_targets = data.epoch_targets
    batches_per_epoch = math.ceil(len(data.dataset) / args.batch_size)
    results["data"] = dict(
        documents=len(data.documents), epoch_target_tokens=epoch_targets, batches_per_epoch=batches_per_epoch,
        epoch_draw_s=round(epoch_draw_s, 3), original_data_s_per_batch=round(baseline_data_s, 4),
    )
    training = {} if args.skip_training else measure_training(args, data, baseline_data_s)
    for name, r in training.items():
        r["projected_pretraining_hours"] = projected_pretraining_hours(r["ours_tokens_per_s"], epoch_targets,
                                                                        epoch_draw_s)
        r["baseline_projected_pretraining_hours"] = projected_pretraining_hours(r["baseline_tokens_per_s"],
                                                                                epoch_targets)
    results["training"] = training
    if args.compute_ceiling and args.device == "cpu":
        ceiling = results["compute_ceiling"] = measure_compute_ceiling(args, data)
        for r in training.values():
            r["ours_achieved_gflops"] = round(r["ours_tokens_per_s"] * ceiling["flops_per_target_ours"] / 1e9, 1)
            r["baseline_achieved_gflops"] = round(
                r["baseline_tokens_per_s"] * ceiling["flops_per_target_baseline"] / 1e9, 1
            )
            if str(r["threads"]) in ceiling["ceiling_tokens_per_s_ours"]:
                r["ceiling_speedup"] = round(ceiling["ceiling_tokens_per_s_ours"][str(r["threads"])]
                                             / r["baseline_tokens_per_s"], 2)
    if not args.skip_eval:
        results["evaluation"] = measure_evaluation(args, data)
        if args.device == "cpu" and args.eval_omp_passive:
            logger.info("benchmark: evaluation in a fresh process with OMP_WAIT_POLICY=PASSIVE")
            passive = _run_in_child(OMP_PASSIVE, _child_evaluation, asdict(args))
            results["evaluation"]["settings"] += passive["settings"]
    if args.isolate_memory:
        memory_variants = [v for v in ("grouped", "fixed_padding") if v in args.variants] or args.variants[:1]
        results["memory"] = measure_memory(args, memory_variants)
    else:
        results["memory"] = {"this_process": _peak_while(lambda: None)}
    if args.loss_check_steps:
        results["loss_check"] = loss_curve_check(args, data)
        save_loss_figure(results["loss_check"], args.figure_path)
        results["loss_check"]["figure"] = args.figure_path
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["wall_s"] = round(time.time() - started, 1)
    results["table"] = format_tables(results)
    print(results["table"])
    os.makedirs(os.path.dirname(os.path.abspath(args.output_json)), exist_ok=True)
    with open(args.output_json, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return results


def format_tables(results: dict) -> str:
    """Markdown tables of the results (what docs/performance.md shows)."""
    lines = []
    machine = results["machine"]
    lines.append(f"Machine: {machine.get('cpu')} ({machine.get('cpu_count')} cores visible, torch threads "
                 f"{machine.get('torch_threads')}, flags {' '.join(machine.get('cpu_flags', []))})"
                 + (f", GPU {machine['gpu']}" if "gpu" in machine else "")
                 + f"; torch {machine['torch']}; load average at start {results['loadavg_at_start']}, at end "
                 f"{results.get('loadavg_at_end')}.")
    model = results["model"]
    lines.append(f"Model: {model['n_layer']} layers x {model['n_embd']} wide, {model['n_head']} heads, block_size "
                 f"{model['block_size']}, {model['parameters']:,} parameters.")
    if results["training"]:
        lines.append("")
        lines.append("| variant | ours tokens/s | baseline tokens/s | speed-up (sum / median of steps) | padding ours "
                     "/ baseline | first step s | same learning | projected 650 epochs, ours / baseline (h) | load |")
        lines.append("|---|---:|---:|---:|---:|---:|:---:|---:|---:|")
    for name, r in results["training"].items():
        lines.append(
            f"| {name} | {r['ours_tokens_per_s']:,.0f} | {r['baseline_tokens_per_s']:,.0f} | "
            f"x{r['speedup']:.2f} / x{r['speedup_median_of_steps']:.2f} | "
            f"{r['padding_fraction']:.0%} / {r['baseline_padding_fraction']:.0%} | "
            f"{', '.join(f'{s:.1f}' for s in r['warmup_s'])} | {'yes' if r['keeps_learning'] else 'no'} | "
            f"{r['projected_pretraining_hours']:.1f} / {r['baseline_projected_pretraining_hours']:.1f} | "
            f"{r['loadavg_1min']:.1f} |"
        )
    ceiling = results.get("compute_ceiling")
    if ceiling:
        lines.append("")
        lines.append(f"Compute ceiling: {ceiling['flops_per_target_ours'] / 1e6:.1f} MFLOP per target token for ours, "
                     f"{ceiling['flops_per_target_baseline'] / 1e6:.1f} for the baseline (forward + backward, one "
                     f"epoch); matmuls of {ceiling['matmul_rows']:,} rows run at "
                     + ", ".join(f"{r} GFLOP/s on {n} thread{'s' if n != '1' else ''}"
                                 for n, r in ceiling["matmul_gflops"].items()) + ".")
        lines.append("")
        lines.append("| threads | ceiling tokens/s, ours | ceiling tokens/s, baseline | ours at the ceiling / baseline "
                     "measured |")
        lines.append("|---|---:|---:|---:|")
        measured = {r["threads"]: r["baseline_tokens_per_s"] for r in results["training"].values()}
        for n in ceiling["matmul_gflops"]:
            ours, base = ceiling["ceiling_tokens_per_s_ours"][n], ceiling["ceiling_tokens_per_s_baseline"][n]
            ratio = f"x{ours / measured[int(n)]:.2f}" if int(n) in measured else "-"
            lines.append(f"| {n} | {ours:,} | {base:,} | {ratio} |")
    if "evaluation" in results:
        e = results["evaluation"]
        scaled = f", timed on {e['baseline_questions']} and scaled" if e["baseline_time_is_scaled"] else ""
        lines.append("")
        lines.append(f"| evaluation, {e['questions']} questions (both sides with the same settings) | ours s "
                     f"(predict_places) | baseline s{scaled} | speed-up | lever: all in one batch s (speed-up) "
                     "| load |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for r in e["settings"]:
            label = f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}" + (f", {r['env']}" if r["env"] else "")
            lines.append(f"| {label} | {r['ours_s']:.2f} | {r['baseline_s']:.1f} | x{r['speedup']:.1f} | "
                         f"{r['ours_one_batch_s']:.2f} (x{r['baseline_s'] / r['ours_one_batch_s']:.1f}) | "
                         f"{r['loadavg_1min']:.1f} |")
        lines.append(f"\nAnswers ({e['weights']}): ours and the baseline agree on {e['answers_agree']} questions; "
                     f"the one-batch lever and ours on {e['one_batch_answers_agree']}.")
    memory = results.get("memory", {})
    if memory:
        lines.append("")
        lines.append("| memory | peak RSS during the workload (MB) | increase over the process before it (MB) | "
                     "process peak RSS (MB) | CUDA max allocated (MB) |")
        lines.append("|---|---:|---:|---:|---:|")
        for key, m in memory.items():
            lines.append(f"| {key} | {m.get('workload_peak_rss_mb', '-')} | {m.get('workload_rss_increase_mb', '-')} | "
                         f"{m['process_peak_rss_mb']} | {m.get('cuda_max_memory_allocated_mb', '-')} |")
    check = results.get("loss_check")
    if check:
        lines.append("")
        lines.append(f"| loss check ({check['steps']} steps) | max abs step-loss diff vs plain | final weights: "
                     "max abs diff / relative distance vs plain | held-out loss "
                     f"({check['heldout_examples']} examples) | held-out diff vs plain |")
        lines.append("|---|---:|---:|---:|---:|")
        for name, run in check["runs"].items():
            lines.append(f"| {name} | {run['max_abs_loss_diff_vs_plain']:.2e} | "
                         f"{run['final_max_abs_param_diff_vs_plain']:.2e} / "
                         f"{run.get('final_relative_param_distance_vs_plain', float('nan')):.1e} | "
                         f"{run['heldout_loss']:.4f} | {run['heldout_loss_diff_vs_plain']:+.4f} |")
        orders = check.get("batch_orders", {})
        if orders and len(orders["plain"]["heldout_losses"]) > 1:
            lines.append("")
            lines.append(f"| held-out loss over {len(orders['plain']['heldout_losses'])} batch orders | per order | "
                         "mean | stdev |")
            lines.append("|---|---|---:|---:|")
            for name, o in orders.items():
                per_order = ", ".join(f"{x:.4f}" for x in o["heldout_losses"])
                lines.append(f"| {name} | {per_order} | {o['mean']:.4f} | {o['stdev']:.4f} |")
    return "\n".join(lines)


__all__ = [
    "OriginalGPT",
    "OriginalTrainLoop",
    "original_batch",
    "original_sample",
    "original_predict_places",
    "ours_from_original",
    "original_from_ours",
    "Variant",
    "VARIANTS",
    "BenchmarkArguments",
    "load_benchmark_data",
    "measure_training",
    "measure_evaluation",
    "measure_compute_ceiling",
    "matmul_gflops",
    "measure_memory",
    "loss_curve_check",
    "run_benchmark",
    "format_tables",
]
