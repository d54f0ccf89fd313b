"""Every layer's and head's attention on one question, for a vanilla and a synthesizer checkpoint side by side.

Writes OUTPUT_DIR/PREFIXgrid.png (all maps), PREFIXquery_rows.png (the row of the question's MASK, which writes the
answer, over the question's characters), PREFIXname_swap.png (that row for the question and for the same question with
the name reversed, layer by layer) and PREFIXsummary.json: each model's answer, the share of the MASK row on the
name's characters per layer, and how much the rows move when the name's characters are reversed (positions kept):
key-query rows move, the first synthesizer layer's rows cannot (hf_birthplace/analysis/attention_maps.py says why).

    python scripts/attention_maps.py --model_paths outputs/demo/finetune outputs/synth/finetune \
        --labels vanilla synthesizer --eval_path data/world/dev.tsv --index 0 --output_dir docs/figures

    python scripts/attention_maps.py --model_paths A B --question "Where was Ann Lee born?" --answer none
"""

import json
import os
from dataclasses import dataclass, field

from transformers import AutoModelForCausalLM, AutoTokenizer

from hf_birthplace.analysis.attention_maps import (
    contrast_question,
    name_summary,
    plot_attention_grids,
    plot_name_swap,
    plot_query_rows,
    question_maps,
)
from hf_birthplace.analysis.knowledge import question_name
from hf_birthplace.evaluation import read_eval_lines
from hf_birthplace.training import parse_args


@dataclass
class AttentionMapArguments:
    model_paths: list[str] = field(metadata={"help": "Checkpoints to draw side by side (e.g. vanilla, synthesizer)."})
    labels: list[str] | None = field(default=None, metadata={"help": "A title per checkpoint (default: its path)."})
    question: str | None = field(default=None, metadata={"help": "The question, `Where was NAME born?`."})
    eval_path: str | None = field(default=None, metadata={"help": "Take the question (and gold place) from this TSV."})
    index: int = field(default=0, metadata={"help": "0-based line of EVAL_PATH to draw."})
    answer: str = field(
        default="model",
        metadata={
            "help": "What follows `question MASK`: `model` (each model's greedy answer), `gold` (the TSV's place, "
            "the same characters for every model), `none`, or any other string (read as the answer)."
        },
    )
    output_dir: str = field(default="outputs/attention_maps", metadata={"help": "Where the PNGs and JSON go."})
    prefix: str = field(default="attention_map_", metadata={"help": "Prefix of every file written."})


def main(args: list[str] | None = None) -> dict:
    (a,) = parse_args((AttentionMapArguments,), args)
    gold = None
    question = a.question
    if a.eval_path:
        line = read_eval_lines(a.eval_path)[a.index]
        question, gold = line.question, line.gold
    if not question:
        raise ValueError("scripts/attention_maps.py: pass --question or --eval_path (with --index)")
    name = question_name(question)
    answer = {"gold": gold, "none": None}.get(a.answer, a.answer)
    if a.answer == "gold" and gold is None:
        raise ValueError("scripts/attention_maps.py: --answer gold needs an --eval_path line with a gold place")
    labels = a.labels or a.model_paths

    panels, pairs, models = [], [], {}
    for label, path in zip(labels, a.model_paths, strict=True):
        model = AutoModelForCausalLM.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        maps = question_maps(model, tokenizer, question, label, answer)
        panels.append(maps)
        models[label] = {"path": path, "attention_type": model.config.attention_type, "answer": maps.answer}
        if name:
            models[label].update(name_summary(model, tokenizer, maps, name))
            pairs.append((maps, question_maps(model, tokenizer, contrast_question(question, name), label, maps.answer)))

    os.makedirs(a.output_dir, exist_ok=True)
    summary = {
        "question": question,
        "gold": gold,
        "answer_mode": a.answer,
        "models": models,
        "figures": [
            plot_attention_grids(panels, os.path.join(a.output_dir, a.prefix + "grid.png")),
            plot_query_rows(panels, os.path.join(a.output_dir, a.prefix + "query_rows.png")),
        ]
        + ([plot_name_swap(pairs, os.path.join(a.output_dir, a.prefix + "name_swap.png"))] if pairs else []),
    }
    with open(os.path.join(a.output_dir, a.prefix + "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


if __name__ == "__main__":
    main()
