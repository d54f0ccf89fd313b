"""The faithful run's figure: dev accuracy of its saved pretraining models, ranked and fine-tuned, with the
pretraining loss, against epochs, from the committed results; prints the README's table of each readout.

    python scripts/plot_readout_curves.py --output_path docs/results/reproduce/faithful_vs_epochs.png
"""

import json
import os
from dataclasses import dataclass, field

from hf_birthplace.reproduce import plot_accuracy_curves, readout_curves, readout_table
from hf_birthplace.training import parse_args

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "results", "reproduce")


@dataclass
class ReadoutPlotArguments:
    output_path: str = field(metadata={"help": "The PNG to write."})
    readouts: list[str] = field(
        default_factory=lambda: [
            os.path.join(RESULTS, "faithful_rank_vs_epochs.json"),
            os.path.join(RESULTS, "faithful_finetune_vs_epochs.json"),
        ],
        metadata={"help": "Files with points per variant, as scripts/accuracy_vs_epochs.py's results gathered."})
    names: list[str] = field(
        default_factory=lambda: ["ranked", "fine-tuned"],
        metadata={"help": "One name per readout file; a name starting with 'rank' marks a ranking readout."})
    losses: str = field(
        default=os.path.join(RESULTS, "pretrain_losses.json"), metadata={"help": "Per-epoch pretraining losses."})
    loss_runs: list[str] | None = field(
        default=None,
        metadata={"help": "The losses file's runs that make up this run, in order (a continuation after its start); "
                          "default: the file's continued_run, which scripts/reproduce.py --record_losses extends."})


def main(args: list[str] | None = None) -> dict:
    (plot_args,) = parse_args((ReadoutPlotArguments,), args)
    if len(plot_args.names) != len(plot_args.readouts):
        raise ValueError(f"{len(plot_args.readouts)} readout files but {len(plot_args.names)} names: give one each")
    readouts = {}
    for name, path in zip(plot_args.names, plot_args.readouts):
        with open(path, encoding="utf-8") as f:
            readouts[name] = json.load(f)
    with open(plot_args.losses, encoding="utf-8") as f:
        losses = json.load(f)
    curves, styles = readout_curves(readouts, losses, plot_args.loss_runs or losses["continued_run"])
    plot_accuracy_curves(curves, plot_args.output_path, styles)
    for name, readout in readouts.items():
        print(f"{readout_table({name: readout})}\n")
    return curves


if __name__ == "__main__":
    main()
