"""The original assignment's command line, verbatim, on top of the HF workflows.

    python scripts/run.py {pretrain,finetune,evaluate} {vanilla,synthesizer} CORPUS
        [--reading_params_path P] [--writing_params_path P] [--finetune_corpus_path P]
        [--eval_corpus_path P] [--outputs_path P] [--max_steps N]

Params paths are checkpoint directories; `--reading_params_path` also takes a `.params` state dict saved by the
original code, converted on the fly (to `P.hf/` beside it). The recipes are the original's (see
`hf_birthplace.trainer`), its optimiser groups and batches included; `--max_steps` cuts a run short for smoke tests.
"""

import argparse
import os

from .evaluation import EvalArguments, run_evaluation
from .trainer import ORIGINAL_CODE_ARGS, FinetuningArguments, PretrainingArguments
from .training import DataArguments, ModelArguments, finetune, pretrain


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", choices=["pretrain", "finetune", "evaluate"], help="What to do.")
    parser.add_argument("variant", choices=["vanilla", "synthesizer"], help="Which attention variant.")
    parser.add_argument("pretrain_corpus_path", help="The pretraining corpus (it defines the vocabulary).")
    parser.add_argument("--reading_params_path", help="Checkpoint (directory, or original .params) to load.")
    parser.add_argument("--writing_params_path", help="Checkpoint directory to write.")
    parser.add_argument("--finetune_corpus_path", help="Fine-tuning questions (TSV).")
    parser.add_argument("--eval_corpus_path", help="Questions to answer (TSV).")
    parser.add_argument("--outputs_path", help="Predictions file to write.")
    parser.add_argument("--max_steps", type=int, default=-1, help="Stop after N optimizer steps (smoke runs).")
    return parser


def readable_checkpoint(path: str, variant: str, corpus_path: str) -> str:
    """A checkpoint directory for `path`; an original `.params` file is converted once, to `path.hf/`."""
    if os.path.isdir(path):
        from transformers import AutoConfig

        found = AutoConfig.from_pretrained(path).attention_type
        if found != variant:
            raise ValueError(f"{path}: holds a {found} model; the command asks for {variant}")
        return path
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such checkpoint directory or .params file")
    from .conversion import convert_a5_checkpoint

    out = path + ".hf"
    if not os.path.isdir(out):
        convert_a5_checkpoint(path, variant=variant, corpus_path=corpus_path, output_dir=out)
    return out


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    if args.function in ("pretrain", "finetune") and not args.writing_params_path:
        raise SystemExit(f"run.py {args.function}: --writing_params_path is required")
    reading = (
        readable_checkpoint(args.reading_params_path, args.variant, args.pretrain_corpus_path)
        if args.reading_params_path
        else None
    )
    if args.function == "evaluate":
        if not (reading and args.eval_corpus_path):
            raise SystemExit("run.py evaluate: --reading_params_path and --eval_corpus_path are required")
        return run_evaluation(
            EvalArguments(model_name_or_path=reading, eval_corpus_path=args.eval_corpus_path, outputs_path=args.outputs_path)
        )
    model_args = ModelArguments(attention_type=args.variant, model_name_or_path=reading)
    data_args = DataArguments(data_dir=None, corpus_path=args.pretrain_corpus_path)
    if args.function == "pretrain":
        training_args = PretrainingArguments(
            output_dir=args.writing_params_path, max_steps=args.max_steps, **ORIGINAL_CODE_ARGS
        )
        return pretrain(model_args, data_args, training_args)
    if not args.finetune_corpus_path:
        raise SystemExit("run.py finetune: --finetune_corpus_path is required")
    data_args.finetune_corpus_path = args.finetune_corpus_path
    training_args = FinetuningArguments(
        output_dir=args.writing_params_path, max_steps=args.max_steps, **ORIGINAL_CODE_ARGS
    )
    return finetune(model_args, data_args, training_args)
