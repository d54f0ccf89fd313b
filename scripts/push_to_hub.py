"""Publish a checkpoint to the Hugging Face Hub: weights, config, model code, tokenizer, and a model card.

    # write the repository folder and upload nothing (look at README.md before publishing):
    python scripts/push_to_hub.py outputs/vanilla.finetune --repo_id USER/char-gpt-vanilla \
        --results outputs/vanilla.dev.predictions.metrics.json --dry_run outputs/vanilla.hub

    # upload (token from `hf auth login` or $HF_TOKEN); the repository is created when missing:
    python scripts/push_to_hub.py outputs/vanilla.finetune --repo_id USER/char-gpt-vanilla \
        --results outputs/vanilla.dev.predictions.metrics.json --private

The metrics JSON is the one `scripts/evaluate.py` writes for the dev set (`OUTPUTS.metrics.json`); it becomes the
card's `model-index`. See docs/hub.md.
"""

import sys

from hf_birthplace.hub import HubError, PushArguments, push_to_hub
from transformers import HfArgumentParser


def main(args: list[str] | None = None) -> str:
    parser = HfArgumentParser(PushArguments)
    parser.add_argument("checkpoint_dir", help="Checkpoint folder written by the training workflow (save_pretrained).")
    push_args, rest = parser.parse_args_into_dataclasses(args)
    try:
        where = push_to_hub(
            rest.checkpoint_dir,
            push_args.repo_id,
            private=push_args.private,
            results=push_args.results,
            dry_run=push_args.dry_run,
            license=push_args.license,
            example_question=push_args.example_question,
            commit_message=push_args.commit_message,
        )
    except HubError as error:
        sys.exit(f"push_to_hub.py: error: {error}")
    print(f"{'Wrote the repository folder to' if push_args.dry_run else 'Published'} {where}")
    return where


if __name__ == "__main__":
    main()
