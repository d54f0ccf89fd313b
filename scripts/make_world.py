"""Write the synthetic world (wiki.txt, train.tsv, dev.tsv, test.tsv) that the demo trains on.

The committed files under data/world/ are exactly what the default settings write:

    python scripts/make_world.py                      # -> data/world/ (byte for byte the committed files)
    python scripts/make_world.py --output_dir /tmp/w --n_people 2000 --seed 1

See hf_birthplace/world.py for why the world looks the way it does, and data/README.md for the files.
"""

from dataclasses import dataclass, field

from transformers import HfArgumentParser

from hf_birthplace.world import WorldConfig, make_world, write_world


@dataclass
class ScriptArguments:
    output_dir: str = field(default="data/world", metadata={"help": "Folder to write the world's files into."})


def main(script_args: ScriptArguments, world_config: WorldConfig) -> dict:
    world = make_world(world_config)
    paths = write_world(world, script_args.output_dir)
    summary = {
        "output_dir": script_args.output_dir,
        "people": len(world.people),
        "documents": len(world.documents),
        "train": len(world.train),
        "dev": len(world.dev),
        "test": len(world.test),
        "majority_place": world.majority_place(),
        "majority_dev_accuracy": round(world.majority_accuracy("dev"), 4),
    }
    for name, path in paths.items():
        print(f"wrote {path}")
    print(summary)
    return summary


if __name__ == "__main__":
    script_args, world_config = HfArgumentParser((ScriptArguments, WorldConfig)).parse_args_into_dataclasses()
    main(script_args, world_config)
