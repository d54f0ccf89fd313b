"""Accuracy of answering "London" to every question (the original's baseline: 5.0% on the real dev set).

    python scripts/london_baseline.py --eval_corpus_path ../shared/data/cs224n-a5/birth_dev.tsv
"""

from dataclasses import dataclass, field

from hf_birthplace.evaluation import constant_baseline
from hf_birthplace.training import parse_args


@dataclass
class BaselineArguments:
    eval_corpus_path: str = field(metadata={"help": "Questions with gold places, `Where was X born?<TAB>PLACE`."})
    place: str = field(default="London", metadata={"help": "The answer given to every question."})
    outputs_path: str | None = field(default=None, metadata={"help": "Predictions file to write (optional)."})


def main(args: list[str] | None = None) -> dict:
    (baseline_args,) = parse_args((BaselineArguments,), args)
    return constant_baseline(baseline_args.eval_corpus_path, baseline_args.place, baseline_args.outputs_path)


if __name__ == "__main__":
    main()
