"""The whole experiment in minutes on the built-in synthetic world: pretrain -> finetune -> evaluate, beside the
no-pretraining and majority baselines. Prints a table and writes OUTPUT_DIR/results.json.

    make demo                                   # sets everything up, then runs this
    python scripts/demo.py --output_dir outputs/demo
    python scripts/demo.py --recipe scripts/configs/demo.json --world_dir data/world
"""

import json
import os
from dataclasses import dataclass, field

from hf_birthplace.demo import run_demo
from hf_birthplace.training import parse_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class DemoArguments:
    output_dir: str = field(default="outputs/demo", metadata={"help": "Checkpoints, predictions and results.json."})
    world_dir: str = field(
        default=os.path.join(ROOT, "data", "world"), metadata={"help": "wiki.txt, train.tsv and dev.tsv of a world."}
    )
    recipe: str = field(
        default=os.path.join(ROOT, "scripts", "configs", "demo.json"),
        metadata={"help": "JSON recipe: model shape and the three training stages' arguments."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of every stage."})


def main(args: list[str] | None = None) -> dict:
    (demo_args,) = parse_args((DemoArguments,), args)
    with open(demo_args.recipe) as f:
        recipe = json.load(f)
    return run_demo(demo_args.world_dir, demo_args.output_dir, recipe, seed=demo_args.seed)


if __name__ == "__main__":
    main()
