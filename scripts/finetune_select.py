"""Fine-tune a pretrained checkpoint with the learning rate chosen on held-out training lines, never on dev.

Each candidate rate fine-tunes on birth_places_train.tsv minus its last 200 lines and is scored on those 200; the
best one fine-tunes on the whole file, and the result answers dev (scored) and test (predictions only):

    python scripts/finetune_select.py --data_dir ../shared/data/cs224n-a5 \
        --model_name_or_path outputs/cpu_hour_4x64/vanilla.pretrain --output_dir outputs/cpu_hour_4x64/select \
        --learning_rates 1e-4 3e-4 6e-4

OUTPUT_DIR/selection.json holds the held-out accuracy of every rate, the chosen one and the dev metrics.
"""

from hf_birthplace.selection import SelectionArguments, finetune_with_selection
from hf_birthplace.training import DataArguments, parse_args


def main(args: list[str] | None = None) -> dict:
    selection_args, data_args = parse_args((SelectionArguments, DataArguments), args)
    return finetune_with_selection(selection_args, data_args)


if __name__ == "__main__":
    main()
