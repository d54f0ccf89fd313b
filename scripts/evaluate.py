"""Answer every question of a file with a fine-tuned checkpoint; score the answers when the file has gold places.

Writes exactly one prediction line per input line (an unreadable line gets an empty prediction and is reported),
a `.confidence.tsv` beside it, and a metrics JSON; prints the original's `Correct: X out of Y: Z%`.

    python scripts/evaluate.py --model_name_or_path outputs/vanilla.finetune \
        --eval_corpus_path ../shared/data/cs224n-a5/birth_dev.tsv --outputs_path outputs/vanilla.pretrain.dev.predictions

    # selective answering: say "unknown" when the answer's probability is under 0.5
    python scripts/evaluate.py ... --abstain_below 0.5
"""

from hf_birthplace.evaluation import EvalArguments, run_evaluation
from hf_birthplace.training import parse_args


def main(args: list[str] | None = None) -> dict:
    (eval_args,) = parse_args((EvalArguments,), args)
    return run_evaluation(eval_args)


if __name__ == "__main__":
    main()
