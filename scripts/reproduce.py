"""The original assignment's results table on the real data, resumable: London baseline, vanilla without
pretraining, vanilla and synthesizer pretrain + finetune; dev accuracy for each, test predictions written.

    make reproduce DATA_DIR=../shared/data/cs224n-a5          # the faithful recipe (hours on a CPU)
    python scripts/reproduce.py --data_dir ../shared/data/cs224n-a5 --output_dir outputs/reproduce
    python scripts/reproduce.py --data_dir ... --recipe scripts/configs/reproduce_smoke.json   # minutes
    python scripts/reproduce.py --table outputs/reproduce/results.json                         # README table
    python scripts/reproduce.py --progress outputs/reproduce              # epoch, loss, time left of each training
    python scripts/reproduce.py --data_dir ... --stages vanilla.pretrain,vanilla.finetune   # only these stages
    python scripts/reproduce.py --data_dir ... --continue_from docs/results/reproduce   # from its committed checkpoints
    python scripts/reproduce.py --export_to docs/results/reproduce     # to commit: compact checkpoints, final models
    python scripts/reproduce.py --record_losses docs/results/reproduce/pretrain_losses.json \
        --loss_run original_batches_s20 --loss_run_description "session 20: ..."   # the epochs this session added

Run it again after an interruption: finished stages are skipped and a training stage resumes from its last
checkpoint.
"""

import json
import os
from dataclasses import dataclass, field

from hf_birthplace.reproduce import (
    export_checkpoints,
    markdown_table,
    progress,
    progress_table,
    record_losses,
    run_reproduction,
    stage_names,
)
from hf_birthplace.training import DATA_DIR_ENV, parse_args


@dataclass
class ReproduceArguments:
    data_dir: str | None = field(
        default_factory=lambda: os.environ.get(DATA_DIR_ENV), metadata={"help": "The four CS224N data files."}
    )
    output_dir: str = field(default="outputs/reproduce", metadata={"help": "Checkpoints, predictions, results.json."})
    recipe: str | None = field(default=None, metadata={"help": "JSON overrides per stage (default: the original)."})
    variants: str = field(default="vanilla,synthesizer", metadata={"help": "Comma-separated attention variants."})
    stages: str | None = field(
        default=None,
        metadata={"help": "Comma-separated stages to run, e.g. vanilla.pretrain,vanilla.finetune (default: all)."},
    )
    continue_from: str | None = field(
        default=None,
        metadata={
            "help": "First copy in what this copy of a run's output directory holds and --output_dir lacks: newer "
            "checkpoints of the stages to run, rows of results.json (e.g. docs/results/reproduce)."
        },
    )
    export_to: str | None = field(
        default=None,
        metadata={
            "help": "Only copy the newest checkpoint of each unfinished training stage under --output_dir into this "
            "directory, its optimizer state in bfloat16 (half the size), and each finished pretraining's final model "
            "in place of its checkpoints there, for --continue_from on another machine."
        },
    )
    record_losses: str | None = field(
        default=None,
        metadata={
            "help": "Only add to this losses file (docs/results/reproduce/pretrain_losses.json) the per-epoch "
            "pretraining losses under --output_dir after the last epoch its continued_run records, as --loss_run."
        },
    )
    loss_run: str | None = field(default=None, metadata={"help": "With --record_losses: the new run's name."})
    loss_run_description: str = field(
        default="", metadata={"help": "With --record_losses: what the new run is (session, where it continued from)."}
    )
    table: str | None = field(default=None, metadata={"help": "Only print the markdown table of this results.json."})
    progress: str | None = field(
        default=None,
        metadata={"help": "Only print where each training stage under this output directory stands (running or not)."},
    )


def main(args: list[str] | None = None) -> dict:
    (a,) = parse_args((ReproduceArguments,), args)
    if a.progress:
        if not os.path.isdir(a.progress):
            raise SystemExit(f"reproduce.py: no output directory {a.progress}")
        rows = progress(a.progress)
        print(progress_table(rows))
        return {"progress": rows}
    if a.export_to:
        stages = a.stages.split(",") if a.stages else stage_names(tuple(a.variants.split(",")))
        written = export_checkpoints(a.output_dir, a.export_to, stages)
        print("\n".join(written) or f"nothing newer than {a.export_to} holds")
        return {"exported": written}
    if a.record_losses:
        if not a.loss_run:
            raise SystemExit("reproduce.py: --record_losses needs --loss_run, the new run's name")
        variants = tuple(a.variants.split(","))
        added = record_losses(a.output_dir, a.record_losses, a.loss_run, a.loss_run_description, variants)
        print("\n".join(f"{variant}: epochs {first}-{last}" for variant, (first, last) in added.items()))
        return {"recorded": added}
    if a.table:
        with open(a.table) as f:
            results = json.load(f)
    else:
        if not a.data_dir:
            raise SystemExit(f"reproduce.py: give --data_dir or set ${DATA_DIR_ENV}")
        recipe = None
        if a.recipe:
            with open(a.recipe) as f:
                recipe = json.load(f)
        results = run_reproduction(
            a.data_dir,
            a.output_dir,
            recipe,
            variants=tuple(a.variants.split(",")),
            recipe_source=a.recipe or "recipe",
            stages=a.stages.split(",") if a.stages else None,
            continue_from=a.continue_from,
        )
    print(markdown_table(results))
    return results


if __name__ == "__main__":
    main()
