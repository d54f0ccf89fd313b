"""Pretrain a character-level GPT with span corruption; the original recipe (650 epochs, batch 128, lr 6e-3) by default.

    # the original's `python src/run.py pretrain vanilla wiki.txt --writing_params_path vanilla.pretrain.params`:
    python scripts/pretrain.py --data_dir ../shared/data/cs224n-a5 --attention_type vanilla \
        --output_dir outputs/vanilla.pretrain

    # a recipe file, on one or on two CPU processes (DDP):
    accelerate launch scripts/pretrain.py scripts/configs/pretrain_vanilla.json
    accelerate launch --cpu --num_processes 2 scripts/pretrain.py --data_dir data/world --output_dir outputs/p

    # an interrupted run continues where its last checkpoint stopped:
    python scripts/pretrain.py ... --resume_from_checkpoint auto
"""

from hf_birthplace.training import DataArguments, ModelArguments, parse_args, pretrain
from hf_birthplace.trainer import PretrainingArguments


def main(args: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_args((ModelArguments, DataArguments, PretrainingArguments), args)
    return pretrain(model_args, data_args, training_args)


if __name__ == "__main__":
    main()
