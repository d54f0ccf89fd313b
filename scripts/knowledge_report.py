"""Knowing versus making up: accuracy by what the corpus says about each person, the places predicted, selective
prediction (accuracy against coverage as the confidence threshold varies) and confidence histograms, from the files
`scripts/evaluate.py` writes. See hf_birthplace/analysis/knowledge.py for every measurement and matching rule.

Writes OUTPUT_DIR/PREFIXreport.json, PREFIXreport.md and four PNG figures (accuracy_coverage, confidence_hist, places,
splits); prints the Markdown.

    # the demo's two models on the synthetic world
    python scripts/knowledge_report.py --eval_path data/world/dev.tsv --corpus_path data/world/wiki.txt \
        --train_path data/world/train.tsv --titled_corpus false \
        --predictions_paths outputs/demo/pretrained.dev.predictions outputs/demo/no_pretraining.dev.predictions \
        --labels pretrained no_pretraining --output_dir docs/figures

    # a CS224N run (evaluate without --abstain_below: the report draws every threshold itself)
    python scripts/evaluate.py --model_name_or_path outputs/vanilla.finetune \
        --eval_corpus_path ../shared/data/cs224n-a5/birth_dev.tsv --outputs_path outputs/vanilla.dev.predictions
    python scripts/knowledge_report.py --eval_path ../shared/data/cs224n-a5/birth_dev.tsv \
        --corpus_path ../shared/data/cs224n-a5/wiki.txt --train_path ../shared/data/cs224n-a5/birth_places_train.tsv \
        --predictions_paths outputs/vanilla.dev.predictions --output_dir outputs/knowledge
"""

from dataclasses import dataclass, field

from hf_birthplace.analysis.knowledge import report_markdown, run_report
from hf_birthplace.training import parse_args


@dataclass
class KnowledgeReportArguments:
    eval_path: str = field(metadata={"help": "The evaluated questions with gold places, `question<TAB>place`."})
    predictions_paths: list[str] = field(
        metadata={
            "help": "One or more predictions files written by scripts/evaluate.py on EVAL_PATH (each with its "
            "PATH.confidence.tsv beside it, or the .confidence.tsv itself)."
        }
    )
    corpus_path: str = field(metadata={"help": "The pretraining corpus (wiki.txt), one document per line."})
    train_path: str | None = field(
        default=None, metadata={"help": "The fine-tuning TSV: its most frequent place is the fallback to look for."}
    )
    labels: list[str] | None = field(
        default=None, metadata={"help": "A name per predictions file (default: the file names)."}
    )
    output_dir: str = field(default="outputs/knowledge", metadata={"help": "Where the JSON, Markdown and PNGs go."})
    prefix: str = field(default="knowledge_", metadata={"help": "Prefix of every file written."})
    top_k: int = field(default=10, metadata={"help": "Places listed in the predicted-vs-gold table."})
    titled_corpus: bool = field(
        default=True,
        metadata={
            "help": "Every corpus line starts with `Name.` (wiki.txt). False for the synthetic world, whose biographies "
            "have no title: a person's documents are then those that mention the full name."
        },
    )


def main(args: list[str] | None = None) -> dict:
    (script_args,) = parse_args((KnowledgeReportArguments,), args)
    summary = run_report(
        script_args.eval_path,
        script_args.predictions_paths,
        script_args.corpus_path,
        labels=script_args.labels,
        train_path=script_args.train_path,
        output_dir=script_args.output_dir,
        prefix=script_args.prefix,
        top_k=script_args.top_k,
        titled_corpus=script_args.titled_corpus,
    )
    print(report_markdown(summary))
    return summary


if __name__ == "__main__":
    main()
