"""Publishing a CharGPT checkpoint to the Hugging Face Hub: the repository folder, its model card, the upload.

    # the folder that would be uploaded, written locally (nothing leaves the machine):
    python scripts/push_to_hub.py outputs/vanilla.finetune --repo_id USER/NAME \
        --results outputs/vanilla.dev.predictions.metrics.json --dry_run outputs/vanilla.hub

    # the upload (token from `hf auth login` or $HF_TOKEN):
    python scripts/push_to_hub.py outputs/vanilla.finetune --repo_id USER/NAME \
        --results outputs/vanilla.dev.predictions.metrics.json [--private]

The repository holds exactly what loads the model without hf_birthplace (`trust_remote_code=True`): the safetensors
weights, `config.json` with its `auto_map`, the configuration and modeling code, `generation_config.json`, the tokenizer
files, and a README rendered from `model_cards/char_gpt_{vanilla,synthesizer}.md` with `huggingface_hub.ModelCard`.
Training by-products (trainer state, pickled arguments, loss curve) are not uploaded.

The card states what the checkpoint folder records and assumes nothing:
- the recipe of each training stage, from `training_recipe.json` when the workflow wrote one (see `RECIPE_FILE`), else
  from the Trainer's `training_args.bin` and `trainer_state.json`; a fine-tuned model's pretraining stage is read from
  the checkpoint it started from, when that folder can still be found;
- the model's shape, from `config.json`;
- the dev-set accuracy, from the metrics JSON that `scripts/evaluate.py` writes (`--results`, or `eval_results.json`
  in the checkpoint folder), as a `model-index` entry; and how its answers spread over places, when the predictions
  file is still beside that JSON;
- the checkpoint's own answers to the card's two example questions, one about a real person and one about an invented
  one.

`Trainer.push_to_hub` (`--push_to_hub --hub_model_id USER/NAME`) writes the same card: `CharTrainer.create_model_card`
calls `write_trainer_model_card`.
"""

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2  # huggingface_hub's HTTP client; its transport errors mean the Hub was never reached
import torch
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData, constants, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
from huggingface_hub.utils import validate_repo_id as hf_validate_repo_id
from transformers import AutoTokenizer

from .evaluation import predict_places, read_eval_lines
from .modeling_char_gpt import CharGPTForCausalLM
from .tokenization_char import MASK_CHAR
from .trainer import (
    ADAM_BETAS,
    FINETUNE_BATCH_SIZE,
    FINETUNE_EPOCHS_PRETRAINED,
    FINETUNE_EPOCHS_SCRATCH,
    FINETUNE_LR,
    GRAD_CLIP,
    PRETRAIN_BATCH_SIZE,
    PRETRAIN_EPOCHS,
    PRETRAIN_LR,
    WARMUP_TOKENS,
    WEIGHT_DECAY,
)

logger = logging.getLogger(__name__)

# What a repository needs so that `AutoModelForCausalLM`/`AutoTokenizer` load it with trust_remote_code alone.
MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "configuration_char_gpt.py",
    "modeling_char_gpt.py",
    "tokenizer.json",
    "tokenizer_config.json",
)
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"  # large models are sharded; ours fit one file, but allow it
OPTIONAL_FILES = ("special_tokens_map.json",)  # older tokenizers write it; transformers 5 does not
CARD_FILE = "README.md"

# The arguments of a training run, as JSON, written by the workflow beside the checkpoint:
#   {"stage": "pretrain" | "finetune", "model_args": {ModelArguments}, "data_args": {DataArguments},
#    "training_args": TrainingArguments.to_dict()}
RECIPE_FILE = "training_recipe.json"
# Dev-set metrics picked up when no results are given (the Trainer.push_to_hub path): the JSON of scripts/evaluate.py.
RESULTS_FILE = "eval_results.json"

# The templates live in the repository's model_cards/ (an editable install reads them there); a wheel that ships them
# as package data would put them in hf_birthplace/model_cards/, looked at first.
_PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIRS = (_PACKAGE_DIR / "model_cards", _PACKAGE_DIR.parent / "model_cards")
TEMPLATES = {"vanilla": "char_gpt_vanilla.md", "synthesizer": "char_gpt_synthesizer.md"}
DEFAULT_LICENSE = "mit"  # the project's license; pass another with --license
# A dev-set person (gold: Berlin) and a person who exists nowhere in wiki.txt.
EXAMPLE_QUESTION = "Where was Ralf Wadephul born?"
INVENTED_QUESTION = "Where was Ilsa Vantorp born?"
EXAMPLE_REPO_ID = "USER/NAME"  # stands in for the repo id in a card written without one
COMMIT_MESSAGE = "Upload CharGPT checkpoint (hf_birthplace)"
CARD_TAGS = ("char-gpt", "character-level", "custom_code", "cs224n", "knowledge-probing")

# The course's files, by content (sha256 from /work/shared/data/cs224n-a5/README.md), so the card can say whether a
# run used them: the synthetic world of `hf_birthplace.world` also names its corpus wiki.txt.
COURSE_FILES = {
    "823bb536fca77c8b5a15b34b0dead6355d0cf1f806e822464bca28806c2fd055": "wiki.txt",
    "02364dfca78e23d2583a19f03a2d8cddd90ee3e1a3795ddec7f0addadea30b0d": "birth_places_train.tsv",
    "101a56073eba0db9aad5e2aaf1aa9bf8bdae966ae3aaed8fc8cda5edfa7856da": "birth_dev.tsv",
    "5ccd3b2a1682e0daf90d59488aef8805ef21b9d35795cc3bdabdea79d293aa1f": "birth_test_inputs.tsv",
}
COURSE_DEV_NAME = "CS224N birth_dev"

LOGIN_HINT = (
    "log in with `hf auth login` (formerly `huggingface-cli login`) or set HF_TOKEN to a token with write access "
    "from https://huggingface.co/settings/tokens"
)


class HubError(Exception):
    """An error a user can fix; the message says how. `scripts/push_to_hub.py` prints it without a traceback."""


class RepoIdError(HubError, ValueError):
    pass


class CheckpointError(HubError, FileNotFoundError):
    pass


class ResultsError(HubError, ValueError):
    pass


class HubAuthError(HubError, PermissionError):
    pass


class HubUnreachableError(HubError, ConnectionError):
    pass


# ---------------------------------------------------------------------------------------------------------------------
# Checking what the user gave, before any network call.


def validate_repo_id(repo_id: str) -> str:
    """`repo_id` if it is `USER/NAME` (or `ORG/NAME`) as the Hub accepts it; a `RepoIdError` saying what is wrong."""
    example = "expected USER/NAME, e.g. --repo_id alice/char-gpt-birthplace-vanilla"
    if not isinstance(repo_id, str) or not repo_id:
        raise RepoIdError(f"no repo id given; {example}")
    if repo_id.startswith(("http://", "https://", "hf.co/", "huggingface.co/")):
        raise RepoIdError(f"repo id {repo_id!r} is a URL; {example} (the part after huggingface.co/)")
    if repo_id.count("/") != 1:
        namespace = "no namespace" if "/" not in repo_id else f"{repo_id.count('/')} slashes"
        raise RepoIdError(f"repo id {repo_id!r} has {namespace}; {example}")
    try:
        hf_validate_repo_id(repo_id)
    except HFValidationError as error:
        raise RepoIdError(f"repo id {repo_id!r} is not valid on the Hub ({error}); {example}") from None
    return repo_id


def checkpoint_files(checkpoint_dir: str | os.PathLike) -> list[str]:
    """The files of `checkpoint_dir` that go to the Hub, relative names, sorted; a `CheckpointError` naming every file
    that is missing, and how to write it."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if (folder / WEIGHTS_INDEX_FILE).is_file():
        index = _read_json(folder / WEIGHTS_INDEX_FILE)
        weights = [WEIGHTS_INDEX_FILE, *sorted(set(index.get("weight_map", {}).values()))]
        missing += [name for name in weights if not (folder / name).is_file()]
    elif (folder / WEIGHTS_FILE).is_file():
        weights = [WEIGHTS_FILE]
    else:
        weights = []
        other = [n for n in ("pytorch_model.bin", "model.pt") if (folder / n).is_file()]
        missing.append(WEIGHTS_FILE + (f" (found {other[0]}: the Hub repository takes safetensors)" if other else ""))
    if missing:
        hints = []
        if any(name.endswith(".py") or name.startswith(("config", "generation", "model")) for name in missing):
            hints.append(
                "save the model with hf_birthplace imported (`model.save_pretrained(dir)` writes the weights as "
                "safetensors, config.json with auto_map, generation_config.json and the two .py files)"
            )
        if any(name.startswith("tokenizer") for name in missing):
            hints.append("save the tokenizer beside it (`tokenizer.save_pretrained(dir)`)")
        raise CheckpointError(
            f"{folder}: missing {', '.join(missing)}; a checkpoint to publish needs "
            f"{', '.join((*MODEL_FILES, WEIGHTS_FILE))}. To fix: {'; '.join(hints)}."
        )
    auto_map = _read_json(folder / "config.json").get("auto_map") or {}
    if "AutoModelForCausalLM" not in auto_map:
        raise CheckpointError(
            f"{folder / 'config.json'}: no auto_map entry for AutoModelForCausalLM, so trust_remote_code cannot find "
            "the model class. Load and re-save the checkpoint with hf_birthplace imported: "
            "`CharGPTForCausalLM.from_pretrained(dir).save_pretrained(dir)`."
        )
    optional = [name for name in OPTIONAL_FILES if (folder / name).is_file()]
    return sorted([*MODEL_FILES, *weights, *optional])


# ---------------------------------------------------------------------------------------------------------------------
# What the checkpoint folder records about its training.


@dataclass
class TrainingStage:
    """One training run, as its checkpoint folder records it."""

    kind: str  # "pretraining", "fine-tuning", or "training" when the folder does not say which
    recorded_in: list[str]  # the files it was read from
    training_args: dict  # TrainingArguments.to_dict()
    model_args: dict | None = None  # ModelArguments / DataArguments: only training_recipe.json holds them
    data_args: dict | None = None
    log_history: list[dict] = field(default_factory=list)
    global_step: int | None = None
    epoch: float | None = None  # epochs completed, from the trainer state

    @property
    def init_from(self) -> str | None:
        return (self.model_args or {}).get("model_name_or_path")


STAGE_KINDS = {"pretrain": "pretraining", "finetune": "fine-tuning"}
ARGUMENT_CLASS_KINDS = {"PretrainingArguments": "pretraining", "FinetuningArguments": "fine-tuning"}


def read_training_stage(checkpoint_dir: str | os.PathLike) -> TrainingStage | None:
    """The run that wrote `checkpoint_dir`, from `training_recipe.json` or else the Trainer's own files; None when the
    folder records no run (a converted original checkpoint, say)."""
    folder = Path(checkpoint_dir)
    state_path = folder / "trainer_state.json"
    state = _read_json(state_path) if state_path.is_file() else {}
    from_state = {
        "log_history": state.get("log_history", []),
        "global_step": state.get("global_step"),
        "epoch": state.get("epoch"),
    }
    state_files = [state_path.name] if state else []
    if (folder / RECIPE_FILE).is_file():
        recipe = _read_json(folder / RECIPE_FILE)
        if not isinstance(recipe.get("training_args"), dict):
            raise CheckpointError(
                f"{folder / RECIPE_FILE}: no 'training_args' object; expected "
                '{"stage": ..., "model_args": {...}, "data_args": {...}, "training_args": {...}}'
            )
        kind = STAGE_KINDS.get(recipe.get("stage"), recipe.get("stage") or "training")
        return TrainingStage(
            kind,
            [RECIPE_FILE, *state_files],
            recipe["training_args"],
            recipe.get("model_args"),
            recipe.get("data_args"),
            **from_state,
        )
    if (folder / "training_args.bin").is_file():
        # The Trainer pickles its arguments. Unpickling runs code, but this is the user's own checkpoint folder (the
        # one being published), and it is read only when the workflow wrote no JSON recipe.
        args = torch.load(folder / "training_args.bin", map_location="cpu", weights_only=False)
        kind = ARGUMENT_CLASS_KINDS.get(type(args).__name__, "training")
        return TrainingStage(kind, ["training_args.bin", *state_files], args.to_dict(), **from_state)
    if state:
        return TrainingStage("training", state_files, {}, **from_state)
    return None


def read_training_recipe(checkpoint_dir: str | os.PathLike) -> list[TrainingStage]:
    """Every training stage behind `checkpoint_dir`, earliest first: the run that started from another checkpoint
    (fine-tuning a pretrained model) is preceded by that checkpoint's run, when its folder can still be found."""
    stage = read_training_stage(checkpoint_dir)
    if stage is None:
        return []
    stages = [stage]
    parent = stage.init_from
    if parent and Path(parent).is_dir() and Path(parent).resolve() != Path(checkpoint_dir).resolve():
        earlier = read_training_stage(parent)
        if earlier is not None:
            stages.insert(0, earlier)
    return stages


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation results.


@dataclass
class DevResults:
    """Exact-match accuracy on a question file, and where it came from."""

    accuracy: float
    correct: int | None
    total: int | None
    dataset_name: str
    source: str  # the metrics file, or "given" for a dict
    answer_spread: dict | None = None  # see `answer_spread`


def read_results(
    results: str | os.PathLike | dict | None, checkpoint_dir: str | os.PathLike | None = None
) -> DevResults | None:
    """Dev-set results from the metrics JSON of `scripts/evaluate.py` (`{"accuracy", "correct", "total",
    "eval_corpus_path", ...}`; `eval_accuracy` is accepted too), a dict of the same, or, when `results` is None,
    `checkpoint_dir/eval_results.json` if it exists."""
    source = "given"
    if results is None:
        if checkpoint_dir is None or not (Path(checkpoint_dir) / RESULTS_FILE).is_file():
            return None
        results = Path(checkpoint_dir) / RESULTS_FILE
    if not isinstance(results, dict):
        source = str(results)
        if not Path(results).is_file():
            raise ResultsError(f"{results}: no such results file (expected the metrics JSON of scripts/evaluate.py)")
        try:
            results = _read_json(results)
        except CheckpointError as error:
            raise ResultsError(str(error)) from None
    accuracy = results.get("accuracy", results.get("eval_accuracy"))
    if not isinstance(accuracy, (int, float)) or not 0 <= accuracy <= 1:
        found = f"accuracy={accuracy!r}" if accuracy is not None else f"keys {sorted(results)}"
        raise ResultsError(
            f"{source}: expected an 'accuracy' between 0 and 1 (the metrics JSON of scripts/evaluate.py, "
            f"OUTPUTS.metrics.json), found {found}"
        )
    eval_path = results.get("eval_corpus_path")
    return DevResults(
        accuracy=float(accuracy),
        correct=results.get("correct"),
        total=results.get("total"),
        dataset_name=_dataset_name(eval_path),
        source=source,
        answer_spread=answer_spread(source, eval_path) if source != "given" else None,
    )


def answer_spread(metrics_path: str, eval_path: str | None) -> dict | None:
    """How the model's answers spread over places, against the gold answers: the most frequent predicted place, how
    often it was predicted and how often it is right, and the number of distinct places in each. Read from the
    predictions file that `scripts/evaluate.py` writes beside its metrics (`OUTPUTS` for `OUTPUTS.metrics.json`);
    None when that file or the question file is gone."""
    predictions_path = metrics_path.removesuffix(".metrics.json")
    if predictions_path == metrics_path or not eval_path:
        return None
    if not (Path(predictions_path).is_file() and Path(eval_path).is_file()):
        return None
    predictions = Path(predictions_path).read_text(encoding="utf-8").split("\n")[:-1]
    gold = [line.gold for line in read_eval_lines(eval_path)]
    if len(predictions) != len(gold):
        lines = (predictions_path, len(predictions), eval_path, len(gold))
        logger.warning("%s has %d lines, %s has %d: answer spread left out", *lines)
        return None
    pairs = [(p, g) for p, g in zip(predictions, gold) if g is not None]
    if not pairs:
        return None
    predicted = Counter(p for p, _ in pairs)
    gold_counts = Counter(g for _, g in pairs)
    place, count = predicted.most_common(1)[0]
    return {
        "place": place,
        "predicted": count,
        "gold": gold_counts[place],
        "total": len(pairs),
        "distinct_predicted": len(predicted),
        "distinct_gold": len(gold_counts),
    }


# ---------------------------------------------------------------------------------------------------------------------
# The model card.


def build_model_card(
    checkpoint_dir: str | os.PathLike,
    results: str | os.PathLike | dict | None = None,
    repo_id: str | None = None,
    *,
    license: str = DEFAULT_LICENSE,
    example_question: str = EXAMPLE_QUESTION,
) -> ModelCard:
    """The card of `checkpoint_dir`: `model_cards/char_gpt_<attention_type>.md` rendered with `ModelCard.from_template`,
    its metadata (and `model-index`, when there are results) built with `ModelCardData`/`EvalResult`."""
    folder = Path(checkpoint_dir)
    checkpoint_files(folder)
    config = _read_json(folder / "config.json")
    attention_type = config.get("attention_type", "vanilla")
    template = template_path(attention_type)
    stages = read_training_recipe(folder)
    dev = read_results(results, folder)
    name = repo_id.split("/")[-1] if repo_id else folder.resolve().name
    base_model = _hub_base_model(stages)

    eval_results = None
    if dev is not None:
        eval_results = [
            EvalResult(
                task_type="question-answering",
                task_name='Birthplace questions, closed book ("Where was X born?")',
                dataset_type="cs224n-birth-places",
                dataset_name=dev.dataset_name,
                dataset_split="dev",
                metric_type="accuracy",
                metric_name="Exact-match accuracy",
                metric_value=round(dev.accuracy, 4),
            )
        ]
    card_data = ModelCardData(
        language="en",
        license=license,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=[*CARD_TAGS, f"{attention_type}-attention"],
        model_name=name,
        base_model=base_model,
        eval_results=eval_results,
    )
    examples = example_answers(folder, [example_question, INVENTED_QUESTION])
    return ModelCard.from_template(
        card_data,
        template_path=str(template),
        repo_id=repo_id or EXAMPLE_REPO_ID,
        model_name=name,
        architecture=_architecture(config, examples.pop("num_parameters")),
        stages=[_stage_view(stage) for stage in stages],
        data=_data_view(stages),
        results=None if dev is None else _results_view(dev),
        example=examples["answers"][0],
        invented=examples["answers"][1],
        mask_char=MASK_CHAR,
        pretrained_only=bool(stages) and stages[-1].kind == "pretraining",
    )


def write_model_card(
    checkpoint_dir: str | os.PathLike,
    results: str | os.PathLike | dict | None = None,
    repo_id: str | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    license: str = DEFAULT_LICENSE,
    example_question: str = EXAMPLE_QUESTION,
) -> Path:
    """Write the card of `checkpoint_dir` (see `build_model_card`) to `out_dir/README.md`, by default into the
    checkpoint folder itself; returns its path."""
    card = build_model_card(checkpoint_dir, results, repo_id, license=license, example_question=example_question)
    path = Path(out_dir or checkpoint_dir) / CARD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    card.save(path)
    return path


def write_trainer_model_card(trainer) -> None:
    """The card for `Trainer.push_to_hub`, the same as `scripts/push_to_hub.py` writes: hook it in as
    `def create_model_card(self, *args, **kwargs): write_trainer_model_card(self)`."""
    if not trainer.is_world_process_zero():
        return
    # push_to_hub runs inside save_model, before the workflow saves the trainer state; the card reads it from disk,
    # as scripts/push_to_hub.py does later, so that both write the same card.
    trainer.save_state()
    write_model_card(trainer.args.output_dir, repo_id=trainer.hub_model_id)


def template_path(attention_type: str) -> Path:
    if attention_type not in TEMPLATES:
        raise CheckpointError(f"config.json: attention_type {attention_type!r} has no model-card template")
    for folder in TEMPLATE_DIRS:
        if (folder / TEMPLATES[attention_type]).is_file():
            return folder / TEMPLATES[attention_type]
    raise HubError(
        f"model-card template {TEMPLATES[attention_type]} not found in {' or '.join(map(str, TEMPLATE_DIRS))} "
        "(it lives in the repository's model_cards/ folder: install hf_birthplace editable, `pip install -e .`)"
    )


@torch.no_grad()
def example_answers(checkpoint_dir: str | os.PathLike, questions: list[str]) -> dict:
    """The checkpoint's greedy answers (and their probabilities) to `questions`, as `predict_places` gives them, and
    its parameter count."""
    model = CharGPTForCausalLM.from_pretrained(checkpoint_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir)
    predictions = predict_places(model, tokenizer, questions)
    answers = [
        {"question": q, "answer": p.place, "confidence": f"{p.confidence:.3g}", "error": p.error}
        for q, p in zip(questions, predictions)
    ]
    return {"answers": answers, "num_parameters": model.num_parameters()}


# The original recipe beside what a run used. Fine-tuning epochs depend on the start: 10 after pretraining, 75 without.
ORIGINAL = {
    "pretraining": {"epochs": PRETRAIN_EPOCHS, "batch": PRETRAIN_BATCH_SIZE, "lr": PRETRAIN_LR},
    "fine-tuning": {
        "epochs": f"{FINETUNE_EPOCHS_PRETRAINED} after pretraining, {FINETUNE_EPOCHS_SCRATCH} without",
        "batch": FINETUNE_BATCH_SIZE,
        "lr": FINETUNE_LR,
    },
}


def _batching(training_args: dict) -> str:
    """How a run formed its batches, from its recorded training arguments."""
    if training_args.get("group_by_length") is None:
        return "not recorded"
    if training_args["group_by_length"]:
        return "length-grouped, shuffled"
    order = "in the file's order" if training_args.get("train_sampling_strategy") == "sequential" else "shuffled"
    pieces = training_args.get("micro_batches") or 1
    return f"{order}, lengths mixed" + (f", run as {pieces} length-sorted micro-batches" if pieces > 1 else "")


def _stage_view(stage: TrainingStage) -> dict:
    """A stage as the template shows it: rows of (setting, this run, the original recipe)."""
    a = stage.training_args
    original = ORIGINAL.get(stage.kind, {})

    def used(key: str) -> str:
        return _fmt(a[key]) if a.get(key) is not None else "not recorded"

    rows = []
    if stage.model_args is not None:
        start = f"`{stage.init_from}`" if stage.init_from else "random initialisation"
        from_original = "random initialisation" if stage.kind == "pretraining" else "the pretrained model, or random"
        rows.append(("Started from", start, from_original))
    if stage.data_args is not None:
        course_file = "wiki.txt" if stage.kind == "pretraining" else "birth_places_train.tsv"
        rows.append(("Training file", _training_file(stage), course_file))
    batch = f"{used('per_device_train_batch_size')} x {used('gradient_accumulation_steps')}"
    epochs = used("num_train_epochs")
    if stage.epoch is not None and a.get("num_train_epochs") and stage.epoch < a["num_train_epochs"]:
        epochs += f" planned, {_fmt(round(stage.epoch, 2))} completed"  # a checkpoint saved before the end
    rows += [
        ("Epochs", epochs, _fmt(original.get("epochs", "-"))),
        ("Optimizer steps", _fmt(stage.global_step) if stage.global_step is not None else "not recorded", "-"),
        ("Batch size per process x accumulation", batch, _fmt(original.get("batch", "-"))),
        ("Batches", _batching(a), "in the file's order, lengths mixed"),
        ("Peak learning rate", used("learning_rate"), _fmt(original.get("lr", "-"))),
    ]
    if "warmup_tokens" in a:
        clamp = "floored after final_tokens" if a.get("clamp_lr_schedule") else "not clamped, as the original"
        schedule = (
            f"linear warm-up over {used('warmup_tokens')} tokens, cosine to 10% at {used('final_tokens')} tokens "
            f"({clamp})"
        )
    else:  # plain TrainingArguments: the Trainer's own schedule
        schedule = used("lr_scheduler_type")
    original_schedule = (
        f"warm-up over {WARMUP_TOKENS:,} tokens, cosine to 10% at 200 x documents x block_size tokens, not clamped"
    )
    precision = "bf16 autocast" if a.get("bf16") else "fp16 autocast" if a.get("fp16") else "fp32"
    rows += [
        ("Learning-rate schedule", schedule, original_schedule),
        (
            "AdamW betas, weight decay",
            f"({used('adam_beta1')}, {used('adam_beta2')}), {used('weight_decay')} on "
            + {"original": "every parameter but biases", "matmul": "matmul weights only"}.get(
                a.get("weight_decay_groups"), "matmul weights only (not recorded: the default then)"
            ),
            f"{ADAM_BETAS}, {WEIGHT_DECAY} on every parameter but biases (LayerNorm gains and embeddings too)",
        ),
        ("Gradient clipping", used("max_grad_norm"), _fmt(GRAD_CLIP)),
        ("Precision", precision, "fp32"),
        ("Seed", used("seed"), "-"),
    ]
    losses = [(entry["step"], entry["loss"]) for entry in stage.log_history if "loss" in entry and "step" in entry]
    if losses:
        step, loss = losses[-1]
        rows.append(("Last logged training loss", f"{loss:.4f} (step {step})", "-"))
    return {"kind": stage.kind, "recorded_in": ", ".join(f"`{f}`" for f in stage.recorded_in), "rows": rows}


def _training_file(stage: TrainingStage) -> str:
    """The file the stage trained on (the corpus for pretraining, the questions for fine-tuning), described."""
    key = "corpus_path" if stage.kind == "pretraining" else "finetune_corpus_path"
    return _describe_file(stage.data_args.get(key), stage.data_args.get("data_dir"))


def _data_view(stages: list[TrainingStage]) -> dict:
    """Which files the recorded stages trained on, and whether they are the course's."""
    files = [(stage.kind, _training_file(stage)) for stage in stages if stage.data_args is not None]
    return {"recorded": bool(files), "files": files}


def _results_view(dev: DevResults) -> dict:
    return {
        "accuracy_percent": f"{100 * dev.accuracy:.1f}",
        "correct": dev.correct,
        "total": dev.total,
        "dataset_name": dev.dataset_name,
        "is_course_dev": dev.dataset_name.startswith(COURSE_DEV_NAME),
        "spread": dev.answer_spread,
    }


def _architecture(config: dict, num_parameters: int) -> dict:
    block_size = config.get("block_size")
    synthesizer = config.get("attention_type") == "synthesizer"
    return {
        "attention_type": config.get("attention_type"),
        "n_layer": config.get("n_layer"),
        "n_head": config.get("n_head"),
        "n_embd": config.get("n_embd"),
        "block_size": block_size,
        "max_input": block_size - 1 if synthesizer and block_size else block_size,
        "vocab_size": config.get("vocab_size"),
        "dropout": _fmt(config.get("embd_pdrop")),
        "num_parameters": f"{num_parameters:,}",
        "num_parameters_millions": f"{num_parameters / 1e6:.2f}M",
    }


def _hub_base_model(stages: list[TrainingStage]) -> str | None:
    """The starting checkpoint, when it was a Hub model rather than a local folder (the Hub's `base_model`)."""
    for stage in stages:
        init = stage.init_from
        if init and not Path(init).exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", init):
            return init
    return None


def _describe_file(path: str | None, data_dir: str | None) -> str:
    """`path` as a run recorded it, saying whether its content is one of the course's files."""
    if not path:
        return "not recorded"
    candidates = [Path(path)] + ([Path(data_dir) / path] if data_dir else [])
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        return f"`{path}` (not found where this card was written, so not identified)"
    course = COURSE_FILES.get(_sha256(found))
    return f"`{found.name}`, the course's file" if course else f"`{path}` (not one of the course's files)"


def _dataset_name(eval_path: str | None) -> str:
    """The model-index dataset name: the course's dev set when the results say so (or say nothing), else the file."""
    if not eval_path:
        return COURSE_DEV_NAME
    if Path(eval_path).is_file():
        course = COURSE_FILES.get(_sha256(Path(eval_path)))
        if course == "birth_dev.tsv":
            return COURSE_DEV_NAME
        return Path(eval_path).name if course is None else f"CS224N {course.removesuffix('.tsv')}"
    return COURSE_DEV_NAME if Path(eval_path).name == "birth_dev.tsv" else Path(eval_path).name


# ---------------------------------------------------------------------------------------------------------------------
# The repository folder and the upload.


def assemble_repository(
    checkpoint_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    repo_id: str | None = None,
    results: str | os.PathLike | dict | None = None,
    *,
    license: str = DEFAULT_LICENSE,
    example_question: str = EXAMPLE_QUESTION,
) -> list[str]:
    """Write the repository folder to `out_dir`: the checkpoint's model and tokenizer files, copied byte for byte, and
    the README. Returns the file names. An existing `out_dir` may hold only files of a previous run of this."""
    files = checkpoint_files(checkpoint_dir)
    out = Path(out_dir)
    if out.resolve() == Path(checkpoint_dir).resolve():
        raise HubError(f"{out}: the repository folder must not be the checkpoint folder itself")
    if out.exists():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in {*files, CARD_FILE})
        if foreign:
            raise HubError(f"{out}: already holds {', '.join(foreign)}; give --dry_run a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copyfile(Path(checkpoint_dir) / name, out / name)
    write_model_card(
        checkpoint_dir, results, repo_id, out_dir=out, license=license, example_question=example_question
    )
    return sorted([*files, CARD_FILE])


@dataclass
class PushArguments:
    """`scripts/push_to_hub.py CHECKPOINT_DIR --repo_id USER/NAME [--private] [--results JSON] [--dry_run DIR]`."""

    repo_id: str = field(metadata={"help": "The model repository, USER/NAME or ORG/NAME; created when missing."})
    private: bool = field(default=False, metadata={"help": "Create the repository private (no effect if it exists)."})
    results: str | None = field(
        default=None,
        metadata={
            "help": "Dev-set metrics JSON of scripts/evaluate.py (OUTPUTS.metrics.json): the card's model-index. "
            f"Default: CHECKPOINT_DIR/{RESULTS_FILE} when it exists."
        },
    )
    dry_run: str | None = field(
        default=None, metadata={"help": "Write the repository folder to this directory and upload nothing."}
    )
    license: str = field(default=DEFAULT_LICENSE, metadata={"help": "License id for the card's metadata."})
    example_question: str = field(
        default=EXAMPLE_QUESTION,
        metadata={"help": "The question of the card's usage example; the card shows the checkpoint's answer to it."},
    )
    commit_message: str = field(default=COMMIT_MESSAGE, metadata={"help": "Commit message on the Hub."})


def push_to_hub(
    checkpoint_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    results: str | os.PathLike | dict | None = None,
    dry_run: str | os.PathLike | None = None,
    license: str = DEFAULT_LICENSE,
    example_question: str = EXAMPLE_QUESTION,
    commit_message: str = COMMIT_MESSAGE,
    token: str | None = None,
) -> str:
    """Publish `checkpoint_dir` as `repo_id`: check everything locally (repo id, files, results, token), assemble the
    repository folder, create the repository if needed and upload the folder in one commit. With `dry_run`, write the
    folder there and stop. Returns the repository URL, or the dry-run folder."""
    repo_id = validate_repo_id(repo_id)
    checkpoint_files(checkpoint_dir)
    if results is not None:
        read_results(results)
    card_options = {"license": license, "example_question": example_question}
    if dry_run is not None:
        assemble_repository(checkpoint_dir, dry_run, repo_id, results, **card_options)
        return str(dry_run)
    if constants.is_offline_mode():
        raise HubUnreachableError(
            "HF_HUB_OFFLINE is set, so huggingface_hub makes no network calls: unset it to upload, or pass "
            "--dry_run DIR to write the repository folder only"
        )
    token = token or get_token()
    if not token:
        raise HubAuthError(
            f"no Hugging Face token found: {LOGIN_HINT}. To write the folder without uploading, pass --dry_run DIR"
        )
    with tempfile.TemporaryDirectory(prefix="hf_birthplace_hub_") as folder:
        assemble_repository(checkpoint_dir, folder, repo_id, results, **card_options)
        api = HfApi(token=token)
        with _hub_errors(repo_id):
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message)
    return str(url)


@contextmanager
def _hub_errors(repo_id: str):
    """The Hub's failures as messages that say what to do."""
    namespace = repo_id.split("/")[0]
    try:
        yield
    except OfflineModeIsEnabled:
        raise HubUnreachableError("HF_HUB_OFFLINE is set: unset it to upload, or pass --dry_run DIR") from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 401:
            raise HubAuthError(
                f"the Hub refused the token for {repo_id} (401 Unauthorized: invalid or expired); {LOGIN_HINT}"
            ) from None
        if status == 403:
            raise HubAuthError(
                f"the token may not write to {namespace!r} (403 Forbidden): use a token with write access to that "
                f"user or organisation; {LOGIN_HINT}"
            ) from None
        raise HubError(f"the Hub answered {status} for {repo_id}: {error}") from None
    except (httpx2.TransportError, ConnectionError) as error:
        raise HubUnreachableError(
            f"could not reach the Hub at {constants.ENDPOINT} ({type(error).__name__}: {error}); nothing was "
            "uploaded, or not all of it. Check the network (proxy: HTTPS_PROXY; mirror: HF_ENDPOINT) and run again, "
            "or pass --dry_run DIR and upload later with `hf upload USER/NAME DIR`"
        ) from None


# ---------------------------------------------------------------------------------------------------------------------


def _read_json(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:g}" if not value.is_integer() else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


__all__ = [
    "HubError",
    "RepoIdError",
    "CheckpointError",
    "ResultsError",
    "HubAuthError",
    "HubUnreachableError",
    "validate_repo_id",
    "checkpoint_files",
    "TrainingStage",
    "read_training_stage",
    "read_training_recipe",
    "DevResults",
    "read_results",
    "answer_spread",
    "build_model_card",
    "write_model_card",
    "write_trainer_model_card",
    "example_answers",
    "assemble_repository",
    "PushArguments",
    "push_to_hub",
]
