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
"""

from dataclasses import dataclass, field

from hf_birthplace.reproduce import accuracy_against_epochs
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


def main(args: list[str] | None = None) -> dict:
    curve_args, data_args = parse_args((CurveArguments, DataArguments), args)
    finetune = {
        "learning_rate": curve_args.learning_rate,
        "num_train_epochs": curve_args.num_train_epochs,
        "per_device_train_batch_size": curve_args.per_device_train_batch_size,
        "seed": curve_args.seed,
        **(ORIGINAL_CODE_ARGS if curve_args.original_code_args else {}),
    }
    rank = {"prompt": curve_args.rank_prompt, "pmi_weight": curve_args.rank_pmi_weight}
    return accuracy_against_epochs(
        curve_args.pretrain_dir, data_args, curve_args.dev_path, curve_args.output_dir, finetune_overrides=finetune,
        rank_settings=rank if curve_args.readout == "rank" else None, epoch_offset=curve_args.epoch_offset,
        epochs=curve_args.epochs,
    )


if __name__ == "__main__":
    main()
