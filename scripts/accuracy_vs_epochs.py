"""When does knowledge access appear? Fine-tune and score every saved epoch of a pretraining run.

Pretrain with `--save_model_every_epochs N` (the scripts/configs/cpu_hour_* recipes do), then:

    python scripts/accuracy_vs_epochs.py --data_dir ../shared/data/cs224n-a5 \
        --pretrain_dir outputs/cpu_hour_4x64/vanilla.pretrain --output_dir outputs/cpu_hour_4x64/curve \
        --learning_rate 3e-4

Every `epoch-N` model (and the final one) is fine-tuned with the given settings (the original's otherwise) and
answers dev; OUTPUT_DIR/accuracy_vs_epochs.json and .png hold dev accuracy and the pretraining loss against epochs.
A rerun skips the epochs already scored. `--readout rank` ranks the training file's places instead of fine-tuning
(hf_birthplace/ranking.py; choose `--rank_prompt` and `--rank_pmi_weight` with scripts/rank_places.py on held-out
training lines first):

    python scripts/accuracy_vs_epochs.py --data_dir ../shared/data/cs224n-a5 \
        --pretrain_dir outputs/better_4x256/vanilla.pretrain --output_dir outputs/better_4x256/vanilla.rank_curve \
        --readout rank --rank_pmi_weight 0.25

`--original_code_args` fine-tunes as `make reproduce` does, so a faithful run's saved models give its result early:

    python scripts/accuracy_vs_epochs.py --data_dir ../shared/data/cs224n-a5 \
        --pretrain_dir outputs/reproduce/vanilla.pretrain --output_dir outputs/faithful_finetune/vanilla \
        --original_code_args --epochs 200

`--record_into FILE --record_session N` also adds the points, with the command, to a record of one run's readouts
across sessions (docs/results/reproduce/faithful_{rank,finetune}_vs_epochs.json; `reproduce.record_readout`).
"""

import os
import shlex
import sys
from dataclasses import dataclass, field

from hf_birthplace.reproduce import accuracy_against_epochs, record_readout
from hf_birthplace.trainer import ORIGINAL_CODE_ARGS
from hf_birthplace.training import DataArguments, parse_args


@dataclass
class CurveArguments:
    pretrain_dir: str = field(metadata={"help": "Pretraining output directory holding epoch-N models."})
    output_dir: str = field(metadata={"help": "Gets one fine-tuned model per epoch and the JSON and PNG."})
    dev_path: str = field(default="birth_dev.tsv", metadata={"help": "Questions with gold places to score."})
    learning_rate: float = field(default=6e-4, metadata={"help": "Fine-tuning learning rate (original: 6e-4)."})
    num_train_epochs: float = field(default=10, metadata={"help": "Fine-tuning epochs (original: 10)."})
    per_device_train_batch_size: int = field(default=256, metadata={"help": "Fine-tuning batch size (original: 256)."})
    seed: int = field(default=0, metadata={"help": "Seed of every fine-tuning run."})
    original_code_args: bool = field(
        default=False,
        metadata={"help": "Fine-tune as `make reproduce` does: also trainer.ORIGINAL_CODE_ARGS (the original's weight-"
                          "decay groups, batches in the file's order); a faithful run's result before it finishes."},
    )
    readout: str = field(
        default="finetune",
        metadata={"help": "How each model answers: fine-tuned, or ranking the training file's places.",
                  "choices": ["finetune", "rank"]},
    )
    rank_prompt: str = field(default="{name}. Born in ", metadata={"help": "With --readout rank: the prompt."})
    rank_pmi_weight: float = field(default=0.0, metadata={"help": "With --readout rank: the no-name prior's weight."})
    epochs: list[int] | None = field(
        default=None, metadata={"help": "Only these saved epochs (the run's own numbering); default: every one."}
    )
    epoch_offset: int = field(
        default=0, metadata={"help": "Epochs the run's starting checkpoint was already pretrained (continued runs)."}
    )
    record_into: str | None = field(
        default=None,
        metadata={"help": "Also add the points to this readout record of a run across sessions (e.g. docs/results/"
                          "reproduce/faithful_rank_vs_epochs.json), with the command; needs --record_session."},
    )
    record_session: int | None = field(default=None, metadata={"help": "With --record_into: the session's number."})
    record_variant: str | None = field(
        default=None, metadata={"help": "With --record_into: the record's variant (default: PRETRAIN_DIR's name up "
                                        "to its first dot, e.g. vanilla)."}
    )


def _command(args: list[str]) -> str:
    """The command line that produced the points, without the --record_* options (with OMP_NUM_THREADS if set)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("--record_"):
            skip = "=" not in arg
        else:
            kept.append(arg)
    threads = os.environ.get("OMP_NUM_THREADS")
    prefix = [f"OMP_NUM_THREADS={shlex.quote(threads)}"] if threads else []
    return " ".join([*prefix, "python scripts/accuracy_vs_epochs.py", *map(shlex.quote, kept)])


def main(args: list[str] | None = None) -> dict:
    args = sys.argv[1:] if args is None else args
    curve_args, data_args = parse_args((CurveArguments, DataArguments), args)
    if curve_args.record_into and curve_args.record_session is None:
        raise ValueError("--record_into needs --record_session, the session the points come from")
    finetune = {
        "learning_rate": curve_args.learning_rate,
        "num_train_epochs": curve_args.num_train_epochs,
        "per_device_train_batch_size": curve_args.per_device_train_batch_size,
        "seed": curve_args.seed,
        **(ORIGINAL_CODE_ARGS if curve_args.original_code_args else {}),
    }
    rank = {"prompt": curve_args.rank_prompt, "pmi_weight": curve_args.rank_pmi_weight}
    results = accuracy_against_epochs(
        curve_args.pretrain_dir, data_args, curve_args.dev_path, curve_args.output_dir, finetune_overrides=finetune,
        rank_settings=rank if curve_args.readout == "rank" else None, epoch_offset=curve_args.epoch_offset,
        epochs=curve_args.epochs,
    )
    if curve_args.record_into:
        variant = curve_args.record_variant or os.path.basename(os.path.normpath(curve_args.pretrain_dir)).split(".")[0]
        added = record_readout(curve_args.record_into, variant, results, curve_args.record_session, _command(args))
        print(f"{curve_args.record_into}: {variant} epochs {added or 'none (already recorded)'} added")
    return results


if __name__ == "__main__":
    main()
