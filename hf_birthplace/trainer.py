"""The HF `Trainer` with the original CS224N/minGPT optimisation recipe.

This trainer knows nothing about GPT internals (minGPT's rule): it sees a causal LM that takes `input_ids` and
`labels`, a dataset, and a collator (the workflows that build those are in `hf_birthplace.training`). What it adds to `transformers.Trainer` is the original's optimisation recipe:

- AdamW with betas (0.9, 0.95) and weight decay 0.1, by default on matmul weights only (not on biases, LayerNorms,
  embeddings), as the original's comment says; its code decays every parameter but the biases, LayerNorm gains and
  embeddings included, and `weight_decay_groups="original"` does that (the faithful reproduction uses it);
- gradient clipping at 1.0;
- the learning-rate schedule of minGPT's trainer, counted in *tokens* (examples x (block_size - 1), so that
  padding choices never change it): linear warm-up over `warmup_tokens`, then
  `max(0.1, 0.5 * (1 + cos(pi * progress)))` with `progress = (tokens - warmup) / (final_tokens - warmup)`.
  The original never clamps `progress`, so past `final_tokens` its cosine rises again (the pretraining recipe runs
  650 epochs against a `final_tokens` of 200 epochs); that is the faithful default, `clamp_lr_schedule` the fix;
- fresh span corruption every epoch, through an epoch-aware, length-grouped batch sampler (`hf_birthplace.data`);
  `train_sampling_strategy="sequential"` keeps the file's order as the original's DataLoader does, and
  `micro_batches` runs each batch as length-sorted pieces that give the padded batch's gradient for less compute;
- logging of target tokens per second and the schedule's token count, and a loss-curve PNG at the end.
"""

import logging
import math
import os
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import ExportableState

logger = logging.getLogger(__name__)

# The original recipe (CS224N a5 run.py + minGPT trainer.py); one source of truth for scripts and configs.
WARMUP_TOKENS = 512 * 20
FINAL_TOKENS_EPOCHS = 200  # final_tokens = 200 * len(pretraining corpus) * block_size, for both stages
PRETRAIN_EPOCHS, PRETRAIN_BATCH_SIZE, PRETRAIN_LR = 650, 128, 6e-3
FINETUNE_EPOCHS_SCRATCH, FINETUNE_EPOCHS_PRETRAINED = 75, 10
FINETUNE_BATCH_SIZE, FINETUNE_LR = 256, 6e-4
ADAM_BETAS = (0.9, 0.95)
WEIGHT_DECAY = 0.1
GRAD_CLIP = 1.0
WEIGHT_DECAY_GROUPS = ("matmul", "original")
# Where the original's code differs from our defaults; `make reproduce` and scripts/run.py train with these. Weight
# decay on every parameter but the biases; batches in the file's order, the same examples together every epoch, mixing
# lengths, each step's loss the mean over all its targets (length-grouped batches would weigh a short example's
# targets up to 7 times a long one's), run as 8 length-sorted micro-batches: the same gradient for less compute
# (docs/benchmark_results/cpu_micro_batches.json).
ORIGINAL_CODE_ARGS = {
    "weight_decay_groups": "original",
    "train_sampling_strategy": "sequential",
    "group_by_length": False,
    "micro_batches": 8,
}


def check_weight_decay_groups(groups: str) -> None:
    if groups not in WEIGHT_DECAY_GROUPS:
        raise ValueError(f"weight_decay_groups must be one of {list(WEIGHT_DECAY_GROUPS)}, got {groups!r}")


def original_lr_multiplier(tokens: float, warmup_tokens: float, final_tokens: float, clamp: bool = False) -> float:
    """minGPT's learning-rate multiplier after `tokens` tokens (linear warm-up, then cosine floored at 0.1).

    With `clamp=False` (the original) progress is not capped at 1, so after `final_tokens` the cosine climbs back up
    towards 1 and falls again every further `final_tokens - warmup_tokens` tokens.
    """
    if tokens < warmup_tokens:
        return tokens / max(1, warmup_tokens)
    progress = (tokens - warmup_tokens) / max(1, final_tokens - warmup_tokens)
    if clamp:
        progress = min(progress, 1.0)
    return max(0.1, 0.5 * (1.0 + math.cos(math.pi * progress)))


def examples_after_steps(steps: int, num_examples: int, examples_per_step: int) -> int:
    """Examples consumed after `steps` optimizer steps when every epoch ends on a partial batch (drop_last=False)."""
    steps_per_epoch = math.ceil(num_examples / examples_per_step)
    epochs, rest = divmod(steps, steps_per_epoch)
    return epochs * num_examples + min(rest * examples_per_step, num_examples)


@dataclass
class CharTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the original recipe's optimiser settings as defaults, plus its token schedule."""

    adam_beta1: float = field(default=ADAM_BETAS[0], metadata={"help": "AdamW beta1 (original: 0.9)."})
    adam_beta2: float = field(default=ADAM_BETAS[1], metadata={"help": "AdamW beta2 (original: 0.95)."})
    weight_decay: float = field(
        default=WEIGHT_DECAY,
        metadata={"help": "Weight decay on the parameters that weight_decay_groups names (original: 0.1)."},
    )
    weight_decay_groups: str = field(
        default="matmul",
        metadata={
            "help": "Which parameters weight decay applies to. 'matmul': matmul weights only, as the original's "
            "comment ('only applied on matmul weights') and later minGPT say. 'original': every parameter whose "
            "name has no 'bias', as the original's code does, which decays LayerNorm gains and the token and "
            "position embeddings too.",
            "choices": list(WEIGHT_DECAY_GROUPS),
        },
    )
    max_grad_norm: float = field(default=GRAD_CLIP, metadata={"help": "Gradient clipping norm (original: 1.0)."})
    warmup_tokens: int = field(
        default=WARMUP_TOKENS, metadata={"help": "Linear warm-up length in tokens (original: 512*20)."}
    )
    final_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Token count at which the cosine reaches its floor. Default: 200 * len(pretraining corpus) * "
            "block_size, as the original sets it for both pretraining and fine-tuning."
        },
    )
    clamp_lr_schedule: bool = field(
        default=False,
        metadata={
            "help": "Cap the cosine's progress at 1 so the learning rate stays at its floor after final_tokens. "
            "The original does not (its schedule rises again after 200 epochs' worth of tokens)."
        },
    )
    group_by_length: bool = field(
        default=True,
        metadata={
            "help": "Batch examples of similar length and pad each batch to its own longest example only "
            "(right padding + causal attention leave every example's loss unchanged). False pads every batch to "
            "block_size - 1 as the original does."
        },
    )
    micro_batches: int = field(
        default=1,
        metadata={
            "help": "Run each batch as N micro-batches: its examples sorted by length and cut in N, each piece "
            "padded to its own longest example only, every piece's loss summed over the whole batch's targets. The "
            "gradient is the whole batch's (the original's, with group_by_length False), the compute less. 1: off."
        },
    )
    save_model_every_epochs: int = field(
        default=0,
        metadata={
            "help": "Also save a light model-only checkpoint (save_pretrained) to output_dir/epoch-N every N epochs, "
            "for accuracy-against-epochs studies. 0: off."
        },
    )
    logging_steps: float = field(default=10, metadata={"help": "Log loss, lr, tokens/s every N optimizer steps."})
    save_strategy: str = field(default="epoch", metadata={"help": "When to write resumable checkpoints."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep only the last N resumable checkpoints."})

    def __post_init__(self):
        check_weight_decay_groups(self.weight_decay_groups)
        if not 1 <= self.micro_batches <= self.per_device_train_batch_size:
            raise ValueError(
                f"micro_batches={self.micro_batches}: between 1 and per_device_train_batch_size "
                f"({self.per_device_train_batch_size}) expected"
            )
        if self.bf16 and not torch.cuda.is_available():
            # bf16 autocast runs on CPUs too (AMX makes it fast); transformers asks for use_cpu to allow it.
            self.use_cpu = True
        if not torch.cuda.is_available():
            # Pinned memory only speeds up copies to an accelerator; without one the DataLoader warns every epoch.
            self.dataloader_pin_memory = False
        super().__post_init__()
        if self.group_by_length and self.train_sampling_strategy == "random":
            self.train_sampling_strategy = "group_by_length"


@dataclass
class PretrainingArguments(CharTrainingArguments):
    """Identical to `CharTrainingArguments` except for the original pretraining recipe's defaults."""

    num_train_epochs: float = field(default=PRETRAIN_EPOCHS, metadata={"help": "Epochs (original: 650)."})
    per_device_train_batch_size: int = field(
        default=PRETRAIN_BATCH_SIZE, metadata={"help": "Batch size per process (original: 128)."}
    )
    learning_rate: float = field(default=PRETRAIN_LR, metadata={"help": "Peak learning rate (original: 6e-3)."})
    max_position_offset: int = field(
        default=0,
        metadata={
            "help": "Shift each pretraining example's position ids by a random offset in [0, N] (within "
            "block_size), drawn per document and epoch, so the learned position embeddings see names at many "
            "positions and what the model learns about a person can be read out of a question. 0: the original "
            "(positions 0..T-1). Our addition; see PretrainDataset."
        },
    )


@dataclass
class FinetuningArguments(CharTrainingArguments):
    """Identical to `CharTrainingArguments` except for the original fine-tuning recipe's defaults."""

    num_train_epochs: float = field(
        default=-1,
        metadata={"help": "Epochs; -1 picks the original's: 75 from scratch, 10 from a pretrained model."},
    )
    per_device_train_batch_size: int = field(
        default=FINETUNE_BATCH_SIZE, metadata={"help": "Batch size per process (original: 256)."}
    )
    learning_rate: float = field(default=FINETUNE_LR, metadata={"help": "Peak learning rate (original: 6e-4)."})


def decay_parameter_names(model: nn.Module, groups: str = "matmul") -> list[str]:
    """Names of the parameters that weight decay applies to.

    "matmul": parameters with 2+ dims that do not belong to an embedding or a LayerNorm.
    "original": the course trainer's rule, `not any(nd in name for nd in ["bias", "LayerNorm.weight"])`. Its
    LayerNorms are named ln1/ln2/ln_f, so the rule spares only the biases: LayerNorm gains, token and position
    embeddings and the synthesizer's b2 decay too. Our parameter names keep "bias" exactly where the original's do.
    """
    check_weight_decay_groups(groups)
    if groups == "original":
        return [name for name, _ in model.named_parameters() if "bias" not in name and "LayerNorm.weight" not in name]
    skip = (nn.Embedding, nn.LayerNorm)
    names = []
    for module_name, module in model.named_modules():
        if isinstance(module, skip):
            continue
        for param_name, param in module.named_parameters(recurse=False):
            if param.ndim >= 2:
                names.append(f"{module_name}.{param_name}" if module_name else param_name)
    return names


class CharTrainer(Trainer):
    """`Trainer` with the original recipe's optimiser groups and token-counted schedule, and epoch-fresh data.

    `tokens_per_example` is the schedule's unit (block_size - 1: the original counts every target position, padding
    included, so the schedule does not depend on how batches are padded).
    """

    def __init__(self, *args, tokens_per_example: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.tokens_per_example = tokens_per_example
        self._target_tokens = 0
        self._last_log = (time.perf_counter(), 0)
        self.add_callback(_WallClock())
        if self.args.save_model_every_epochs:
            self.add_callback(_EpochModelSaver(self))
        self.add_callback(_LossCurve())

    def create_model_card(self, *args, **kwargs):
        # `Trainer.push_to_hub` gets the same card as scripts/push_to_hub.py; hub imports this module's constants.
        from .hub import write_trainer_model_card

        write_trainer_model_card(self)

    @property
    def wall_clock(self) -> "_WallClock":
        # Looked up, not kept: `restore_callback_states_from_checkpoint` replaces the callback with a new instance.
        return next(cb for cb in self.callback_handler.callbacks if isinstance(cb, _WallClock))

    def get_decay_parameter_names(self, model) -> list[str]:
        return decay_parameter_names(model, getattr(self.args, "weight_decay_groups", "matmul"))

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            args = self.args
            num_examples = len(self.train_dataset)
            examples_per_step = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
            final_tokens = args.final_tokens or FINAL_TOKENS_EPOCHS * num_examples * (self.tokens_per_example + 1)

            def multiplier(step: int) -> float:
                # minGPT sets the learning rate after each optimizer step, from the tokens seen so far: its first
                # step runs at the base rate, step s + 1 at the rate for the tokens of the first s batches.
                if step == 0:
                    return 1.0
                tokens = examples_after_steps(step, num_examples, examples_per_step) * self.tokens_per_example
                return original_lr_multiplier(tokens, args.warmup_tokens, final_tokens, args.clamp_lr_schedule)

            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, multiplier)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def get_train_dataloader(self) -> DataLoader:
        dataset = self.train_dataset
        if not hasattr(dataset, "set_epoch"):
            return super().get_train_dataloader()
        # Span corruption is redrawn every epoch: the batch sampler receives the epoch from the Trainer and passes it
        # to the dataset before grouping the new draws by length.
        from .data import EpochLengthGroupedBatchSampler

        sampler = EpochLengthGroupedBatchSampler(
            dataset,
            batch_size=self.args.per_device_train_batch_size,
            seed=self.args.seed,
            group_by_length=self.args.group_by_length,
            shuffle=self.args.train_sampling_strategy != "sequential",
        )
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
        )
        return self.accelerator.prepare(loader)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self._target_tokens += int((inputs["labels"] != -100).sum())
        if self.args.micro_batches == 1 or return_outputs or not model.training:
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        if not self.model_accepts_loss_kwargs:
            raise ValueError("micro_batches: the model's forward must take num_items_in_batch (the batch's targets)")
        if num_items_in_batch is None:
            num_items_in_batch = int((inputs["labels"][:, 1:] != -100).sum())
        # Each piece's loss is its target sum over the whole batch's target count: the pieces add up to the batch's.
        loss = 0
        for piece in length_sorted_pieces(inputs, self.args.micro_batches):
            loss = loss + super().compute_loss(model, piece, num_items_in_batch=num_items_in_batch)
        return loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            now = time.perf_counter()
            last_time, last_tokens = self._last_log
            logs["target_tokens_per_second"] = round((self._target_tokens - last_tokens) / max(now - last_time, 1e-9), 1)
            self._last_log = (now, self._target_tokens)
            examples_per_step = self.args.train_batch_size * self.args.gradient_accumulation_steps * self.args.world_size
            logs["schedule_tokens"] = (
                examples_after_steps(self.state.global_step, len(self.train_dataset), examples_per_step)
                * self.tokens_per_example
            )
        if "loss" in logs or "train_runtime" in logs:
            logs["wall_seconds"] = self.wall_clock.seconds()
        super().log(logs, start_time)


def length_sorted_pieces(inputs: dict[str, torch.Tensor], n: int) -> list[dict[str, torch.Tensor]]:
    """A right-padded batch (input_ids, labels, attention_mask, optional position_ids; all (B, T)) as `n` pieces of
    examples of similar length, longest first, each cut to its own longest example: right padding and causal
    attention leave every example's loss unchanged, and the pieces hold every example once."""
    lengths = inputs["attention_mask"].sum(1)
    order = torch.argsort(lengths, descending=True, stable=True)
    pieces = []
    for rows in torch.tensor_split(order, n):
        if len(rows):
            longest = int(lengths[rows].max())
            pieces.append({key: value[rows, :longest] for key, value in inputs.items()})
    return pieces


def saved_wall_seconds(stateful_callbacks: dict) -> float | None:
    """The training seconds that a trainer_state.json's `stateful_callbacks` holds (see `_WallClock`); None if none."""
    return stateful_callbacks.get(_WallClock.__name__, {}).get("attributes", {}).get("before")


class _WallClock(TrainerCallback, ExportableState):
    """Training wall time summed over a run and the runs it resumed from (`train_runtime` counts only the last).

    Each checkpoint stores the seconds trained so far in its trainer_state.json (`stateful_callbacks`); a resumed run
    starts from that count, so the time a killed run spent after its last checkpoint, redone on resume, counts once.
    """

    def __init__(self):
        self.before, self.start = 0.0, None  # seconds of the earlier runs; when this run began

    def on_train_begin(self, args, state, control, **kwargs):
        # On resume the Trainer has loaded the checkpoint's state by now; in a fresh run this holds our own 0.
        saved = saved_wall_seconds(state.stateful_callbacks)
        self.before = 0.0 if saved is None else saved
        self.start = time.perf_counter()

    def seconds(self) -> float:
        running = 0.0 if self.start is None else time.perf_counter() - self.start
        return round(self.before + running, 1)

    def state(self) -> dict:
        return {"args": {}, "attributes": {"before": self.seconds()}}


class _EpochModelSaver(TrainerCallback):
    """Saves a model-only checkpoint every `save_model_every_epochs` epochs (for accuracy-against-epochs curves)."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer

    def on_epoch_end(self, args, state, control, **kwargs):
        epoch = round(state.epoch)
        if epoch % args.save_model_every_epochs == 0:
            self.trainer.save_model(os.path.join(args.output_dir, f"epoch-{epoch}"))


class _LossCurve(TrainerCallback):
    """Draws the logged training loss (and learning rate) to output_dir/loss_curve.png when training ends."""

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            save_loss_curve(state.log_history, os.path.join(args.output_dir, "loss_curve.png"))


def save_loss_curve(log_history: list[dict], path: str) -> None:
    rows = [(entry["epoch"], entry["loss"], entry.get("learning_rate")) for entry in log_history if "loss" in entry]
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs, losses, lrs = zip(*rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(epochs, losses, color="tab:blue")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="tab:blue")
    if all(lr is not None for lr in lrs):
        ax2 = ax.twinx()
        ax2.plot(epochs, lrs, color="tab:orange", alpha=0.6)
        ax2.set_ylabel("learning rate", color="tab:orange")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
