"""What pretraining stored, before any fine-tuning: for each dev person, does the pretrained model's greedy
continuation of `NAME.` (the way the person's wiki.txt document opens) name the birthplace?
See hf_birthplace/analysis/memorisation.py for the counts.

    python scripts/memorisation_probe.py --data_dir ../shared/data/cs224n-a5 \
        --model_name_or_paths outputs/better_4x256/vanilla.pretrain/epoch-30 outputs/better_4x256/vanilla.pretrain \
        --output_json outputs/better_4x256/probe.json --figure_path outputs/better_4x256/probe.png
"""

from hf_birthplace.analysis.memorisation import ProbeArguments, run_probe
from hf_birthplace.training import parse_args


def main(args: list[str] | None = None) -> dict:
    (probe_args,) = parse_args((ProbeArguments,), args)
    return run_probe(probe_args)


if __name__ == "__main__":
    main()
