"""Attention entropy of saved checkpoints on plain corpus text: is a model's attention collapsed?

For each checkpoint: the language-model loss on COUNT corpus lines cut to LENGTH characters, and per layer and head
the mean entropy of the attention rows (queries at positions >= FIRST_QUERY) and their mean largest weight, beside
the entropy of a uniform causal row, and where the largest weight lands: how far back, and the character most often
there. Entropies near 0 with largest weights near 1 mean a collapsed head (hf_birthplace/analysis/attention_entropy.py). Writes the numbers as JSON when --output_json is given.

    python scripts/attention_entropy.py --data_dir ../shared/data/cs224n-a5 \
        --model_paths outputs/reproduce/vanilla.pretrain/epoch-50 outputs/reproduce/synthesizer.pretrain/epoch-50
"""

import json
import os
from dataclasses import dataclass, field

from transformers import AutoModelForCausalLM, AutoTokenizer

from hf_birthplace.analysis.attention_entropy import attention_entropy, sample_lines
from hf_birthplace.analysis.knowledge import read_documents
from hf_birthplace.training import DATA_DIR_ENV, parse_args, resolve_path


@dataclass
class AttentionEntropyArguments:
    model_paths: list[str] = field(metadata={"help": "Checkpoints (directories with a saved model) to measure."})
    data_dir: str | None = field(
        default_factory=lambda: os.environ.get(DATA_DIR_ENV),
        metadata={"help": f"Directory holding corpus_path (default: ${DATA_DIR_ENV})."},
    )
    corpus_path: str = field(default="wiki.txt", metadata={"help": "The text to read (relative to data_dir)."})
    length: int = field(default=127, metadata={"help": "Characters per line read (block_size - 1 for the original)."})
    count: int = field(default=8, metadata={"help": "Lines read, drawn from those with LENGTH+ characters."})
    seed: int = field(default=0, metadata={"help": "Seed of the draw."})
    first_query: int = field(default=20, metadata={"help": "Rows of earlier queries are left out (few keys)."})
    output_json: str | None = field(default=None, metadata={"help": "Also write the results here."})


def main(args: list[str] | None = None) -> dict:
    (a,) = parse_args((AttentionEntropyArguments,), args)
    corpus = resolve_path(a.corpus_path, a.data_dir)
    texts = sample_lines(read_documents(corpus), a.length, a.count, a.seed)
    results = {"corpus_path": corpus, "length": a.length, "count": a.count, "seed": a.seed,
               "first_query": a.first_query, "models": {}}
    for path in a.model_paths:
        model = AutoModelForCausalLM.from_pretrained(path)
        measured = attention_entropy(model, AutoTokenizer.from_pretrained(path), texts, a.first_query)
        results["models"][path] = {"attention_type": model.config.attention_type, **measured}
        print(f"{path} ({model.config.attention_type}): LM loss {measured['lm_loss']:.3f}; "
              f"uniform rows would have entropy {measured['uniform_entropy']:.2f}")
        for i, layer in enumerate(measured["layers"]):
            heads = " ".join(f"{e:.2f}" for e in layer["entropy"])
            top = sum(layer["max_weight"]) / len(layer["max_weight"])
            print(f"  layer {i}: entropy per head {heads}; mean largest weight {top:.2f}")
            lands = " ".join(f"{c!r}{share:.0%}@{d:.0f}" for (c, share), d in zip(layer["top_key"], layer["mean_distance"]))
            print(f"    largest weight most often on (share of rows, mean distance back): {lands}")
    if a.output_json:
        os.makedirs(os.path.dirname(os.path.abspath(a.output_json)), exist_ok=True)
        with open(a.output_json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
    return results


if __name__ == "__main__":
    main()
