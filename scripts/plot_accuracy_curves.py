"""One figure from several `scripts/accuracy_vs_epochs.py` results: dev accuracy and pretraining loss against epochs,
one colour per label; a run and its continuations (`--epoch_offset`) share a label.

    python scripts/plot_accuracy_curves.py --output_path docs/results/better_4x256_accuracy_vs_epochs.png \
        --curves outputs/better_4x256/vanilla.rank_curve/accuracy_vs_epochs.json \
                 outputs/better_4x256/vanilla_more.rank_curve/accuracy_vs_epochs.json \
                 outputs/better_4x256/synthesizer.rank_curve/accuracy_vs_epochs.json \
        --labels vanilla vanilla synthesizer
"""

import json
from dataclasses import dataclass, field

from hf_birthplace.reproduce import plot_accuracy_curves
from hf_birthplace.training import parse_args


@dataclass
class PlotArguments:
    curves: list[str] = field(metadata={"help": "accuracy_vs_epochs.json files."})
    labels: list[str] = field(metadata={"help": "One label per file; files with the same label are one line."})
    output_path: str = field(metadata={"help": "The PNG to write."})


def main(args: list[str] | None = None) -> dict:
    (plot_args,) = parse_args((PlotArguments,), args)
    if len(plot_args.labels) != len(plot_args.curves):
        raise ValueError(f"{len(plot_args.curves)} curves but {len(plot_args.labels)} labels: give one label per file")
    curves: dict[str, list[dict]] = {}
    for path, label in zip(plot_args.curves, plot_args.labels):
        with open(path, encoding="utf-8") as f:
            curves.setdefault(label, []).append(json.load(f))
    plot_accuracy_curves(curves, plot_args.output_path)
    return curves


if __name__ == "__main__":
    main()
