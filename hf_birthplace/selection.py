"""Choosing the fine-tuning learning rate without looking at dev.

`finetune_with_selection` fine-tunes a pretrained checkpoint once per candidate learning rate on the training file
minus its last `heldout_lines` lines, scores each on those held-out lines, keeps the best rate (the smallest among
ties), fine-tunes again with it on the whole training file, and writes predictions for every evaluation file
(scored where the file has gold places). Dev is read only by that last step, so a dev number reported from here was
never used to pick anything.
"""

import logging
import os
from dataclasses import asdict, dataclass, field

from .evaluation import EvalArguments, run_evaluation, write_json
from .training import DataArguments, finetune_quietly, resolve_path

logger = logging.getLogger(__name__)


@dataclass
class SelectionArguments:
    """What to fine-tune, which learning rates to try, and how much of the training file to hold out."""

    model_name_or_path: str = field(metadata={"help": "Pretrained checkpoint directory to fine-tune."})
    output_dir: str = field(metadata={"help": "Gets the split files, one folder per candidate, final/ and results."})
    learning_rates: list[float] = field(
        default_factory=lambda: [1e-4, 3e-4, 6e-4],
        metadata={"help": "Candidate fine-tuning learning rates (the original uses 6e-4)."},
    )
    heldout_lines: int = field(
        default=200, metadata={"help": "Lines at the end of the training file scored to pick the learning rate."}
    )
    num_train_epochs: float = field(default=10, metadata={"help": "Fine-tuning epochs (original: 10)."})
    per_device_train_batch_size: int = field(default=256, metadata={"help": "Batch size (original: 256)."})
    eval_paths: list[str] = field(
        default_factory=lambda: ["birth_dev.tsv", "birth_test_inputs.tsv"],
        metadata={"help": "Files to answer with the final model (looked up under data_dir too)."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of every fine-tuning run."})


def split_heldout(path: str, heldout_lines: int, output_dir: str) -> tuple[str, str]:
    """Write `path` minus its last `heldout_lines` non-blank lines, and those lines, to two files in output_dir."""
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if not 0 < heldout_lines < len(lines):
        raise ValueError(f"{path}: {len(lines)} lines, cannot hold out {heldout_lines} and still fine-tune")
    os.makedirs(output_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(path))[0]
    fit_path = os.path.join(output_dir, f"{stem}.fit.tsv")
    heldout_path = os.path.join(output_dir, f"{stem}.heldout.tsv")
    for out, part in ((fit_path, lines[:-heldout_lines]), (heldout_path, lines[-heldout_lines:])):
        with open(out, "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in part))
    return fit_path, heldout_path


def finetune_with_selection(args: SelectionArguments, data_args: DataArguments) -> dict:
    """Pick the learning rate on held-out training lines, fine-tune on the whole file with it, answer eval files."""
    train_path = resolve_path(data_args.finetune_corpus_path, data_args.data_dir)
    fit_path, heldout_path = split_heldout(train_path, args.heldout_lines, args.output_dir)

    def run(name: str, finetune_path: str, learning_rate: float) -> str:
        return finetune_quietly(
            args.model_name_or_path,
            DataArguments(**{**asdict(data_args), "finetune_corpus_path": finetune_path}),
            os.path.join(args.output_dir, name),
            learning_rate=learning_rate,
            num_train_epochs=args.num_train_epochs,
            per_device_train_batch_size=args.per_device_train_batch_size,
            seed=args.seed,
        )

    heldout = {}
    for learning_rate in args.learning_rates:
        checkpoint = run(f"lr_{learning_rate:g}", fit_path, learning_rate)
        metrics = run_evaluation(
            EvalArguments(
                model_name_or_path=checkpoint,
                eval_corpus_path=heldout_path,
                outputs_path=os.path.join(checkpoint, "heldout.predictions"),
                ascii_only=data_args.ascii_only,
            )
        )
        heldout[f"{learning_rate:g}"] = metrics["accuracy"]
        logger.info("learning rate %g: held-out accuracy %.4f", learning_rate, metrics["accuracy"])
    best = min(args.learning_rates, key=lambda lr: (-heldout[f"{lr:g}"], lr))

    final = run("final", train_path, best)
    evaluations = {}
    for eval_path in args.eval_paths:
        path = resolve_path(eval_path, data_args.data_dir)
        stem = os.path.splitext(os.path.basename(path))[0]
        evaluations[stem] = run_evaluation(
            EvalArguments(
                model_name_or_path=final,
                eval_corpus_path=path,
                outputs_path=os.path.join(args.output_dir, f"{stem}.predictions"),
                ascii_only=data_args.ascii_only,
            )
        )
    results = {
        "pretrained": args.model_name_or_path,
        "heldout_lines": args.heldout_lines,
        "heldout_accuracy": heldout,
        "learning_rate": best,
        "final_checkpoint": final,
        "evaluations": evaluations,
    }
    write_json(os.path.join(args.output_dir, "selection.json"), results)
    return results
