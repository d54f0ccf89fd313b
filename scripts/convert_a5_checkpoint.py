"""Convert a checkpoint of the original CS224N course code to a Hugging Face CharGPT checkpoint.

The original saves `torch.save(model.state_dict(), path)` (a `.params` file); this writes config.json,
model.safetensors, generation_config.json, the tokenizer (built from the corpus the vocabulary came from) and the
model code, so that the result loads with `AutoModelForCausalLM.from_pretrained(DIR)` after `import hf_birthplace`,
or with `trust_remote_code=True` anywhere.

    python scripts/convert_a5_checkpoint.py vanilla.finetune.params --variant vanilla \
        --corpus ../shared/data/cs224n-a5/wiki.txt --output_dir outputs/vanilla-finetune
    python scripts/convert_a5_checkpoint.py synthesizer.finetune.params --variant synthesizer \
        --corpus ../shared/data/cs224n-a5/wiki.txt --output_dir outputs/synthesizer-finetune
"""

import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from hf_birthplace.conversion import convert_a5_checkpoint


@dataclass
class ConvertArguments:
    params: str = field(metadata={"help": "The original state dict, as saved by torch.save(model.state_dict())."})
    variant: str = field(metadata={"help": "Attention of the checkpoint.", "choices": ["vanilla", "synthesizer"]})
    corpus: str = field(metadata={"help": "The pretraining corpus the vocabulary was built from (wiki.txt)."})
    output_dir: str = field(metadata={"help": "Directory to write the Hugging Face checkpoint to."})
    n_head: int | None = field(
        default=None,
        metadata={"help": "Number of heads; vanilla default 8 (the original recipe), synthesizer: read off w2."},
    )


def parse_args(argv: list[str] | None = None) -> ConvertArguments:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The checkpoint may come first without its flag (`convert_a5_checkpoint.py PARAMS ...`); HfArgumentParser only
    # knows options.
    if argv and not argv[0].startswith("-"):
        argv = ["--params", *argv]
    (args,) = HfArgumentParser(ConvertArguments).parse_args_into_dataclasses(args=argv)
    return args


def main(args: ConvertArguments) -> dict:
    output_dir = convert_a5_checkpoint(args.params, args.variant, args.corpus, args.output_dir, n_head=args.n_head)
    print(f"wrote {output_dir}")
    return {"output_dir": str(output_dir)}


if __name__ == "__main__":
    main(parse_args())
