"""The whole experiment in minutes, on the built-in synthetic world (`data/world`).

pretrain -> finetune -> evaluate, beside fine-tuning from scratch and the majority-place baseline, so the finding the
project is about shows on a laptop: pretraining lets the model answer for people it was never fine-tuned on.

A recipe is a JSON dict with four sections, each a dict of `ModelArguments`/`TrainingArguments` fields:
`model` (the fresh model's shape), `pretrain`, `finetune_pretrained`, `finetune_scratch`.
"""

import json
import logging
import os
import time
from collections import Counter

from .evaluation import EvalArguments, constant_baseline, read_eval_lines, run_evaluation
from .trainer import FinetuningArguments, PretrainingArguments
from .training import DataArguments, ModelArguments, finetune, pretrain

logger = logging.getLogger(__name__)


def majority_place(train_path: str) -> str:
    """The most frequent gold place of the fine-tuning file: the answer a model without knowledge falls back on."""
    counts = Counter(line.gold for line in read_eval_lines(train_path) if line.gold)
    return counts.most_common(1)[0][0]


def run_demo(world_dir: str, output_dir: str, recipe: dict, seed: int = 0) -> dict:
    """Run every stage of the demo; write `output_dir/results.json` and return it."""
    start = time.perf_counter()
    timings = {}
    data_args = DataArguments(data_dir=world_dir, corpus_path="wiki.txt", finetune_corpus_path="train.tsv")
    dev_path = os.path.join(world_dir, "dev.tsv")
    common = {"seed": seed, "report_to": "none", "save_strategy": "no", "disable_tqdm": True, **recipe.get("training", {})}

    def stage(name, fn, model_args, args_cls, section):
        t = time.perf_counter()
        training_args = args_cls(output_dir=os.path.join(output_dir, name), **{**common, **recipe.get(section, {})})
        fn(model_args, data_args, training_args)
        timings[name] = round(time.perf_counter() - t, 1)
        return training_args.output_dir

    shape = recipe.get("model", {})
    pretrained = stage("pretrain", pretrain, ModelArguments(**shape), PretrainingArguments, "pretrain")
    finetuned = stage(
        "finetune", finetune, ModelArguments(model_name_or_path=pretrained), FinetuningArguments, "finetune_pretrained"
    )
    scratch = stage("nopretrain", finetune, ModelArguments(**shape), FinetuningArguments, "finetune_scratch")

    accuracies = {}
    for key, checkpoint in (("pretrained", finetuned), ("no_pretraining", scratch)):
        t = time.perf_counter()
        metrics = run_evaluation(
            EvalArguments(
                model_name_or_path=checkpoint,
                eval_corpus_path=dev_path,
                outputs_path=os.path.join(output_dir, f"{key}.dev.predictions"),
            )
        )
        timings[f"evaluate_{key}"] = round(time.perf_counter() - t, 1)
        accuracies[key] = metrics["accuracy"]
    place = majority_place(os.path.join(world_dir, "train.tsv"))
    accuracies["majority"] = constant_baseline(dev_path, place)["accuracy"]

    results = {
        **accuracies,
        "majority_place": place,
        "dev_questions": len(read_eval_lines(dev_path)),
        "seconds": timings,
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    with open(os.path.join(output_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(results_table(results))
    return results


def results_table(results: dict) -> str:
    rows = [
        ("pretrain -> finetune", results["pretrained"]),
        ("finetune only (no pretraining)", results["no_pretraining"]),
        (f"majority place ({results['majority_place']})", results["majority"]),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'model'.ljust(width)}  dev accuracy ({results['dev_questions']} questions)"]
    lines += [f"{name.ljust(width)}  {acc * 100:5.1f}%" for name, acc in rows]
    lines.append(f"total time: {results['total_seconds']} s")
    return "\n".join(lines)
