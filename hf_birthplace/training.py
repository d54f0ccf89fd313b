"""The experiment's two training stages as functions: `pretrain` (span corruption on a corpus) and `finetune`
(birthplace questions, from scratch or from a pretrained checkpoint). Scripts parse arguments and call these.

Both write a complete Hub-style checkpoint to `output_dir` (safetensors weights, config with `auto_map`, the model
code for `trust_remote_code`, the tokenizer) and return the `Trainer`'s metrics.
"""

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field

from transformers import HfArgumentParser, set_seed
from transformers.trainer_utils import get_last_checkpoint

from .configuration_char_gpt import CharGPTConfig
from .data import CharCollator, PretrainDataset, build_finetune_dataset, load_corpus, load_qa
from .modeling_char_gpt import CharGPTForCausalLM
from .tokenization_char import build_char_tokenizer
from .trainer import (
    FINAL_TOKENS_EPOCHS,
    FINETUNE_EPOCHS_PRETRAINED,
    FINETUNE_EPOCHS_SCRATCH,
    CharTrainer,
    CharTrainingArguments,
    FinetuningArguments,
)

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "HF_BIRTHPLACE_DATA_DIR"
_DEFAULTS = CharGPTConfig()


@dataclass
class ModelArguments:
    """The model: a fresh one shaped by these fields, or a checkpoint from `model_name_or_path`."""

    attention_type: str = field(
        default=_DEFAULTS.attention_type,
        metadata={"help": "Attention variant of a fresh model.", "choices": ["vanilla", "synthesizer"]},
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Checkpoint directory (or Hub id) to start from; a fresh model when not given."},
    )
    n_layer: int = field(default=_DEFAULTS.n_layer, metadata={"help": "Transformer blocks (original: 4)."})
    n_head: int = field(default=_DEFAULTS.n_head, metadata={"help": "Attention heads (original: 8)."})
    n_embd: int = field(default=_DEFAULTS.n_embd, metadata={"help": "Model width (original: 256)."})
    block_size: int = field(default=_DEFAULTS.block_size, metadata={"help": "Context length (original: 128)."})
    dropout: float = field(
        default=_DEFAULTS.embd_pdrop, metadata={"help": "Embedding, residual and attention dropout (original: 0.1)."}
    )


@dataclass
class DataArguments:
    """Where the data is. Relative paths are looked up as given, then under `data_dir`."""

    data_dir: str | None = field(
        default_factory=lambda: os.environ.get(DATA_DIR_ENV),
        metadata={"help": f"Directory holding the data files (default: ${DATA_DIR_ENV})."},
    )
    corpus_path: str = field(
        default="wiki.txt",
        metadata={
            "help": "Pretraining corpus, one document per line. It also defines the vocabulary of a fresh model and "
            "the schedule's final_tokens, as in the original."
        },
    )
    finetune_corpus_path: str = field(
        default="birth_places_train.tsv", metadata={"help": "Fine-tuning questions: `Where was X born?<TAB>PLACE`."}
    )
    ascii_only: bool = field(
        default=False,
        metadata={
            "help": "Strip every non-ASCII character from the question files, exactly as the original. Default: "
            "keep every character of the vocabulary (so `Naïma Azough` still matches the corpus)."
        },
    )
    question_template: str | None = field(
        default=None,
        metadata={
            "help": "Fine-tuning only: what the model reads instead of each `Where was NAME born?`, with `{name}` "
            "filled in; `{name}.` asks the way every wiki.txt document opens. It is saved in the model's config, "
            "so evaluation asks the same way. Default: the template of the model being fine-tuned (none: the "
            "question as written, as the original)."
        },
    )

    def __post_init__(self):
        if self.question_template is not None and "{name}" not in self.question_template:
            raise ValueError(f"question_template={self.question_template!r} has no `{{name}}` for the person's name")


def resolve_path(path: str, data_dir: str | None) -> str:
    """`path` itself when it exists, else `data_dir/path`; a clear error naming both otherwise."""
    if os.path.exists(path):
        return path
    if data_dir and os.path.exists(os.path.join(data_dir, path)):
        return os.path.join(data_dir, path)
    where = f" nor in data_dir {data_dir!r}" if data_dir else f" (set --data_dir or ${DATA_DIR_ENV})"
    raise FileNotFoundError(f"{path}: no such file here{where}")


def parse_args(dataclass_types, args: list[str] | None = None):
    """Parse CLI arguments into the dataclasses; a single `.json`/`.yaml` argument loads them from that file."""
    parser = HfArgumentParser(dataclass_types)
    args = sys.argv[1:] if args is None else args
    if len(args) == 1 and args[0].endswith(".json"):
        return parser.parse_json_file(os.path.abspath(args[0]))
    if len(args) == 1 and args[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(os.path.abspath(args[0]))
    return parser.parse_args_into_dataclasses(args)


def resume_checkpoint(training_args: CharTrainingArguments) -> str | bool | None:
    """`--resume_from_checkpoint auto` resumes from the last checkpoint in output_dir when there is one."""
    resume = training_args.resume_from_checkpoint
    if resume == "auto":
        return get_last_checkpoint(training_args.output_dir) if os.path.isdir(training_args.output_dir) else None
    if isinstance(resume, str) and resume.lower() in ("true", "last"):
        return True
    return resume


def final_tokens(corpus_documents: int, block_size: int) -> int:
    """The original's `final_tokens = 200 * len(pretraining corpus) * block_size`, used by both stages."""
    return FINAL_TOKENS_EPOCHS * corpus_documents * block_size


def new_model(model_args: ModelArguments, vocab_size: int) -> CharGPTForCausalLM:
    config = CharGPTConfig(
        vocab_size=vocab_size,
        block_size=model_args.block_size,
        n_layer=model_args.n_layer,
        n_head=model_args.n_head,
        n_embd=model_args.n_embd,
        embd_pdrop=model_args.dropout,
        resid_pdrop=model_args.dropout,
        attn_pdrop=model_args.dropout,
        attention_type=model_args.attention_type,
    )
    return CharGPTForCausalLM(config)


def load_model_and_tokenizer(model_args: ModelArguments, corpus_path: str):
    """A checkpoint's model and tokenizer, or a fresh model with the vocabulary of the corpus."""
    if model_args.model_name_or_path:
        from transformers import AutoTokenizer

        model = CharGPTForCausalLM.from_pretrained(model_args.model_name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
        return model, tokenizer
    with open(corpus_path, encoding="utf-8") as f:
        tokenizer = build_char_tokenizer(f.read())
    return new_model(model_args, vocab_size=len(tokenizer)), tokenizer


def save_recipe(stage: str, model_args, data_args, training_args: CharTrainingArguments) -> None:
    """Write output_dir/training_recipe.json: what the model card states as the recipe actually used."""
    if not training_args.should_save:
        return
    model_args = asdict(model_args)
    if model_args["model_name_or_path"] and os.path.isdir(model_args["model_name_or_path"]):
        # Absolute, so that a fine-tuned model's card can find its pretraining stage later.
        model_args["model_name_or_path"] = os.path.abspath(model_args["model_name_or_path"])
    os.makedirs(training_args.output_dir, exist_ok=True)
    recipe = {
        "stage": stage,
        "model_args": model_args,
        "data_args": asdict(data_args),
        "training_args": training_args.to_dict(),
    }
    with open(os.path.join(training_args.output_dir, "training_recipe.json"), "w") as f:
        json.dump(recipe, f, indent=2, default=str)
        f.write("\n")


def _train(model, tokenizer, dataset, training_args: CharTrainingArguments) -> dict:
    block_size = model.config.block_size
    collator = CharCollator(
        pad_token_id=tokenizer.pad_token_id,
        pad_to_block_size=not training_args.group_by_length,
        block_size=block_size,
    )
    trainer = CharTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,
        tokens_per_example=block_size - 1,
    )
    result = trainer.train(resume_from_checkpoint=resume_checkpoint(training_args))
    trainer.save_model(training_args.output_dir)
    trainer.save_metrics("train", result.metrics)
    trainer.save_state()
    return result.metrics


def pretrain(model_args: ModelArguments, data_args: DataArguments, training_args: CharTrainingArguments) -> dict:
    """Span-corruption pretraining on `corpus_path`, fresh corruption every epoch."""
    set_seed(training_args.seed)
    corpus_path = resolve_path(data_args.corpus_path, data_args.data_dir)
    corpus = load_corpus(corpus_path)
    model, tokenizer = load_model_and_tokenizer(model_args, corpus_path)
    block_size = model.config.block_size
    if training_args.final_tokens is None:
        training_args.final_tokens = final_tokens(len(corpus), block_size)
    dataset = PretrainDataset(
        corpus,
        tokenizer,
        block_size=block_size,
        seed=training_args.seed,
        max_position_offset=getattr(training_args, "max_position_offset", 0),
    )
    save_recipe("pretrain", model_args, data_args, training_args)
    return _train(model, tokenizer, dataset, training_args)


def finetune(model_args: ModelArguments, data_args: DataArguments, training_args: CharTrainingArguments) -> dict:
    """Fine-tuning on birthplace questions; from `model_name_or_path` when given, else from scratch."""
    set_seed(training_args.seed)
    corpus_path = resolve_path(data_args.corpus_path, data_args.data_dir)
    model, tokenizer = load_model_and_tokenizer(model_args, corpus_path)
    block_size = model.config.block_size
    if training_args.num_train_epochs < 0:
        pretrained = model_args.model_name_or_path is not None
        training_args.num_train_epochs = FINETUNE_EPOCHS_PRETRAINED if pretrained else FINETUNE_EPOCHS_SCRATCH
    if training_args.final_tokens is None:
        training_args.final_tokens = final_tokens(len(load_corpus(corpus_path)), block_size)
    qa = load_qa(
        resolve_path(data_args.finetune_corpus_path, data_args.data_dir),
        require_answers=True,
        vocab=set(tokenizer.get_vocab()),
        ascii_only=data_args.ascii_only,
    )
    if data_args.question_template is not None:
        model.config.question_template = data_args.question_template
    dataset = build_finetune_dataset(qa, tokenizer, block_size, question_template=model.config.question_template)
    save_recipe("finetune", model_args, data_args, training_args)
    return _train(model, tokenizer, dataset, training_args)


def finetune_quietly(
    model_name_or_path: str, data_args: DataArguments, output_dir: str, **training_overrides
) -> str:
    """`finetune` a checkpoint into `output_dir` without resumable checkpoints, reports or progress bars (for studies
    that fine-tune many models: learning-rate selection, accuracy against epochs); returns `output_dir`."""
    training_args = FinetuningArguments(
        output_dir=output_dir, save_strategy="no", report_to="none", disable_tqdm=True, **training_overrides
    )
    finetune(ModelArguments(model_name_or_path=model_name_or_path), data_args, training_args)
    return output_dir
