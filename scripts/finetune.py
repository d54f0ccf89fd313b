"""Fine-tune on "Where was X born?" questions: from a pretrained checkpoint (10 epochs) or from scratch (75 epochs).

    # the original's no-pretraining run:
    python scripts/finetune.py --data_dir ../shared/data/cs224n-a5 --output_dir outputs/vanilla.nopretrain

    # from a pretrained checkpoint:
    python scripts/finetune.py --data_dir ../shared/data/cs224n-a5 \
        --model_name_or_path outputs/vanilla.pretrain --output_dir outputs/vanilla.finetune

    accelerate launch scripts/finetune.py scripts/configs/finetune_vanilla.json
"""

from hf_birthplace.training import DataArguments, ModelArguments, finetune, parse_args
from hf_birthplace.trainer import FinetuningArguments


def main(args: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_args((ModelArguments, DataArguments, FinetuningArguments), args)
    return finetune(model_args, data_args, training_args)


if __name__ == "__main__":
    main()
