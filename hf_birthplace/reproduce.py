"""The original assignment's results table, end to end and resumable.

Stages (each skipped when its output is complete, each training resumed from its last checkpoint when interrupted):

    london                      the London baseline on dev
    vanilla.nopretrain          fine-tune from scratch (75 epochs), evaluate dev and test
    vanilla.pretrain            span-corruption pretraining (650 epochs), then
    vanilla.finetune            fine-tune from it (10 epochs), evaluate dev and test
    synthesizer.pretrain / synthesizer.finetune   the same for the synthesizer

Every stage trains with the original's optimiser groups (`weight_decay_groups="original"`: weight decay on every
parameter but the biases) and the original's batches: the file's order, the same examples in a batch every epoch,
each step's loss over all its targets (`train_sampling_strategy="sequential"`, `group_by_length=False`), run as
length-sorted micro-batches that give the same gradient for less compute (`micro_batches`); see
`trainer.ORIGINAL_CODE_ARGS`. A recipe file (JSON) may override any `TrainingArguments`/`ModelArguments` field per
stage, e.g. for the CPU-budget recipe or a smoke run: {"model": {...}, "pretrain": {...}, "finetune_pretrained":
{...}, "finetune_scratch": {...}}.
Every stage's wall time (summed over the runs it took, interrupted ones up to their last checkpoint) and the machine
that finished it, the last machine and the commit go to `results.json`; `markdown_table` renders it. `stages` runs
only the named stages and keeps the others' rows. Two processes may share an output directory, one variant each
(`variants=("synthesizer",)` in the second): each merges only the stages it ran into `results.json`.
`continue_from` seeds the output directory from a copy of another run's (e.g. one committed from another machine), so
that the run continues from that copy's newest checkpoints (or takes its finished pretrainings' models);
`export_checkpoints` writes such a copy, small enough to commit.
"""

import json
import os
import platform
import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal

from transformers.trainer_utils import get_last_checkpoint

from .evaluation import (
    EvalArguments,
    answer_statistics,
    constant_baseline,
    load_checkpoint,
    read_eval_lines,
    run_evaluation,
    write_json,
)
from .trainer import ORIGINAL_CODE_ARGS, FinetuningArguments, PretrainingArguments, saved_wall_seconds
from .training import DataArguments, ModelArguments, finetune, finetune_quietly, pretrain, resolve_path

DEV, TEST, TRAIN, CORPUS = "birth_dev.tsv", "birth_test_inputs.tsv", "birth_places_train.tsv", "wiki.txt"
ROWS = [
    ("london", "London baseline"),
    ("vanilla.nopretrain", "vanilla, no pretraining"),
    ("vanilla.finetune", "vanilla, pretrain + finetune"),
    ("synthesizer.finetune", "synthesizer, pretrain + finetune"),
]


def machine() -> str:
    """The GPU's name, or the CPU's model with the vector instructions torch uses (two VMs may share a model name and
    differ there, e.g. AVX2 and AVX512) and its core count."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    name = platform.processor() or platform.machine()  # "x86_64" on Linux: the model name is in /proc/cpuinfo
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name} ({torch.backends.cpu.get_cpu_capability()}), {os.cpu_count()} CPU cores"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def _done(path: str) -> bool:
    return os.path.exists(os.path.join(path, "model.safetensors"))


RECIPE_SECTIONS = ("model", "training", "pretrain", "finetune_pretrained", "finetune_scratch")


def check_recipe(recipe: dict, source: str = "recipe") -> None:
    """Raise if a recipe has a section or field that no stage would read (a typo would otherwise be ignored)."""
    unknown = sorted(set(recipe) - set(RECIPE_SECTIONS))
    if unknown:
        raise ValueError(f"{source}: unknown sections {unknown}; expected some of {list(RECIPE_SECTIONS)}")
    try:
        ModelArguments(**recipe.get("model", {}))
        for section, args_cls in (
            ("pretrain", PretrainingArguments),
            ("finetune_pretrained", FinetuningArguments),
            ("finetune_scratch", FinetuningArguments),
        ):
            args_cls(output_dir="unused", **{**recipe.get("training", {}), **recipe.get(section, {})})
    except TypeError as e:  # an unknown field: "__init__() got an unexpected keyword argument 'x'"
        raise ValueError(f"{source}: {e}") from None


def run_reproduction(
    data_dir: str,
    output_dir: str,
    recipe: dict | None = None,
    variants=("vanilla", "synthesizer"),
    recipe_source: str = "recipe",
    stages=None,
    continue_from: str | None = None,
):
    """Run (or resume) every stage, or only those named in `stages`; `recipe_source` names the recipe (its file) in
    errors; `continue_from`, a directory laid out as `output_dir` is, seeds it first (see `seed_output_dir`)."""
    recipe = recipe or {}
    check_recipe(recipe, recipe_source)
    known = stage_names(variants)
    selected = set(known if stages is None else stages)
    if not selected <= set(known):
        raise ValueError(f"unknown stages {sorted(selected - set(known))}; the variants {list(variants)} have {known}")
    os.makedirs(output_dir, exist_ok=True)
    if continue_from:
        seed_output_dir(continue_from, output_dir, [name for name in known if name in selected])
    results_path = os.path.join(output_dir, "results.json")
    results = _read_results(results_path)
    results.update(machine=machine(), commit=commit(), data_dir=data_dir, recipe=recipe)
    data_args = DataArguments(data_dir=data_dir, corpus_path=CORPUS, finetune_corpus_path=TRAIN)
    common = {
        "report_to": "none",
        "resume_from_checkpoint": "auto",
        **ORIGINAL_CODE_ARGS,
        **recipe.get("training", {}),
    }
    ours = set()  # the stages this process has written

    def record(name, **entry):
        results["stages"].setdefault(name, {}).update(entry)
        ours.add(name)
        _merge_results(results_path, results, ours)

    def train(name, fn, model_args, args_cls, section):
        out = os.path.join(output_dir, name)
        if name not in selected:
            return out
        if not _done(out):
            metrics = fn(model_args, data_args, args_cls(output_dir=out, **{**common, **recipe.get(section, {})}))
            # Summed over every run that this stage resumed from (see CharTrainer's wall clock); the machine is the one
            # that finished it.
            record(name, seconds=metrics["wall_seconds"], machine=machine())
        return out

    def evaluate(name, checkpoint):
        if name not in selected:
            return
        for split, path in (("dev", DEV), ("test", TEST)):
            metrics = run_evaluation(
                EvalArguments(
                    model_name_or_path=checkpoint,
                    eval_corpus_path=os.path.join(data_dir, path),
                    outputs_path=os.path.join(output_dir, f"{name}.{split}.predictions"),
                )
            )
            if split == "dev":
                record(name, dev_accuracy=metrics["accuracy"])

    for variant in variants:
        pretrained = os.path.join(output_dir, f"{variant}.pretrain")
        if f"{variant}.finetune" in selected and f"{variant}.pretrain" not in selected and not _done(pretrained):
            raise ValueError(f"{variant}.finetune needs {pretrained}, which is not finished: add {variant}.pretrain")
    if "london" in selected:
        london = constant_baseline(os.path.join(data_dir, DEV), "London")
        record("london", dev_accuracy=london["accuracy"])
    shape = recipe.get("model", {})
    for variant in variants:
        if variant == "vanilla":
            scratch = train(
                "vanilla.nopretrain", finetune, ModelArguments(attention_type="vanilla", **shape),
                FinetuningArguments, "finetune_scratch",
            )
            evaluate("vanilla.nopretrain", scratch)
        pretrained = train(
            f"{variant}.pretrain", pretrain, ModelArguments(attention_type=variant, **shape),
            PretrainingArguments, "pretrain",
        )
        finetuned = train(
            f"{variant}.finetune", finetune, ModelArguments(model_name_or_path=pretrained),
            FinetuningArguments, "finetune_pretrained",
        )
        evaluate(f"{variant}.finetune", finetuned)
    return _read_results(results_path)


def _step(checkpoint: str) -> int:
    return int(checkpoint.rsplit("-", 1)[1])


def _newer_checkpoint(source_dir: str, target_dir: str) -> str | None:
    """`source_dir`'s newest checkpoint when `target_dir` (either may be missing) has none as new, else None."""
    source = get_last_checkpoint(source_dir) if os.path.isdir(source_dir) else None
    target = get_last_checkpoint(target_dir) if os.path.isdir(target_dir) else None
    if source is None or (target is not None and _step(target) >= _step(source)):
        return None
    return source


def seed_output_dir(source: str, output_dir: str, stages) -> list[str]:
    """Copy into `output_dir` what another copy of a run holds and it lacks; returns the checkpoints copied.

    For each unfinished training stage of `stages`, `source`'s final model when `source` finished it (its own files,
    no checkpoints), else `source`'s newest checkpoint when it is newer than `output_dir`'s (a resumed stage continues
    from the newest); and the rows of `source`'s results.json that `output_dir`'s lacks (a
    stage recorded there, e.g. `--stages` leaving it out, keeps its row). Nothing of `output_dir` is overwritten.
    """
    if not os.path.isdir(source):
        raise ValueError(f"continue_from: no directory {source}")
    copied = []
    for name in stages:
        theirs_dir, ours_dir = os.path.join(source, name), os.path.join(output_dir, name)
        if name in TRAINING_STAGES and _done(theirs_dir) and not _done(ours_dir):  # a finished pretraining's model
            _copy_final_model(theirs_dir, ours_dir)
            copied.append(ours_dir)
            continue
        theirs = _newer_checkpoint(theirs_dir, ours_dir)
        if name not in TRAINING_STAGES or theirs is None or _done(ours_dir):
            continue
        target = os.path.join(ours_dir, os.path.basename(theirs))
        shutil.copytree(theirs, target)
        copied.append(target)
    recorded = _read_results(os.path.join(source, "results.json"))
    results_path = os.path.join(output_dir, "results.json")
    results = _read_results(results_path)
    missing = set(recorded.get("stages", {})) - set(results["stages"])
    if missing:
        merged = {**{k: v for k, v in recorded.items() if k != "stages"}, **results}
        merged["stages"] = {**results["stages"], **{name: recorded["stages"][name] for name in missing}}
        _merge_results(results_path, merged, missing)
    return copied


def compact_checkpoint(checkpoint: str, target: str) -> None:
    """Copy a Trainer checkpoint with the optimizer's moments in bfloat16: half its size (~26 MB instead of ~39 MB for
    4 layers x 256), small enough to commit. torch casts an optimizer's saved state to its parameters' dtype on
    loading, so resuming from the copy needs nothing else; Adam's moments lose precision beyond bfloat16's 8 bits, the
    weights, the schedule's step and the random states none."""
    import torch

    if os.path.exists(target):
        raise ValueError(f"compact_checkpoint: {target} exists")
    optimizer = os.path.join(checkpoint, "optimizer.pt")
    if not os.path.isfile(optimizer) or not os.path.isfile(os.path.join(checkpoint, "trainer_state.json")):
        raise ValueError(f"compact_checkpoint: {checkpoint} has no optimizer.pt or trainer_state.json (being written?)")
    shutil.copytree(checkpoint, target, ignore=shutil.ignore_patterns("optimizer.pt"))
    state = torch.load(optimizer, map_location="cpu", weights_only=True)
    for moments in state["state"].values():
        for key, value in moments.items():
            if key != "step" and torch.is_tensor(value) and value.is_floating_point():
                moments[key] = value.to(torch.bfloat16)
    torch.save(state, os.path.join(target, "optimizer.pt"))


def _copy_final_model(stage_dir: str, target_dir: str) -> None:
    """A finished stage's own files (its final model, trainer_state.json, train_results.json, training recipe), not
    its checkpoint-N or epoch-N folders."""
    os.makedirs(target_dir, exist_ok=True)
    for name in sorted(os.listdir(stage_dir)):
        if os.path.isfile(os.path.join(stage_dir, name)):
            shutil.copy2(os.path.join(stage_dir, name), os.path.join(target_dir, name))


def _drop_checkpoints(stage_dir: str, keep: str | None = None) -> None:
    for old in os.listdir(stage_dir):
        if old.startswith("checkpoint-") and os.path.join(stage_dir, old) != keep:
            shutil.rmtree(os.path.join(stage_dir, old))


def export_checkpoints(output_dir: str, dest: str, stages) -> list[str]:
    """Put each unfinished training stage's newest checkpoint under `output_dir` into `dest` (laid out as `output_dir`
    is, e.g. docs/results/reproduce) as a `compact_checkpoint`, replacing dest's older ones of that stage, and each
    finished pretraining's final model (without its checkpoints) in place of dest's checkpoints of it: the hours of a
    run, so that another machine only fine-tunes. Returns what was written. `seed_output_dir` (`--continue_from dest`)
    reads them back on another machine."""
    written = []
    for name in stages:
        ours_dir, theirs_dir = os.path.join(output_dir, name), os.path.join(dest, name)
        if name.endswith(".pretrain") and _done(ours_dir):
            if not _done(theirs_dir):
                _copy_final_model(ours_dir, theirs_dir)
                _drop_checkpoints(theirs_dir)
                written.append(theirs_dir)
            continue
        ours = _newer_checkpoint(ours_dir, theirs_dir)
        if name not in TRAINING_STAGES or ours is None or _done(ours_dir):
            continue
        target = os.path.join(theirs_dir, os.path.basename(ours))
        compact_checkpoint(ours, target)
        _drop_checkpoints(theirs_dir, keep=target)
        written.append(target)
    return written


def stage_names(variants=("vanilla", "synthesizer")) -> list[str]:
    """Every stage of the table for these attention variants, in the order they run."""
    names = ["london"]
    for variant in variants:
        if variant == "vanilla":
            names.append("vanilla.nopretrain")
        names += [f"{variant}.pretrain", f"{variant}.finetune"]
    return names


def _load_json(path: str) -> dict:
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:  # e.g. a run killed while writing it
            raise ValueError(f"{path}: not valid JSON ({e})") from None


def _read_results(path: str) -> dict:
    return _load_json(path) if os.path.exists(path) else {"stages": {}}


def _merge_results(path: str, results: dict, stages: set[str]) -> None:
    """Write `results` to `path`, keeping the stages that another process (the other variant) wrote there since.

    The file is read again and only `stages`, this process's own, are replaced; the new file is renamed into place, so
    a reader never sees half a file.
    """
    merged = _read_results(path)
    merged.update({key: value for key, value in results.items() if key != "stages"})
    merged.setdefault("stages", {}).update({name: results["stages"][name] for name in stages})
    _replace_json(path, merged)


def _replace_json(path: str, payload: dict) -> None:
    """Write `payload` beside `path` and rename it into place, so that a reader never sees half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def markdown_table(results: dict) -> str:
    """The README's results table, from a results.json."""
    stages = results["stages"]
    rows = []
    for key, label in ROWS:
        if key not in stages or "dev_accuracy" not in stages[key]:
            continue
        trained = [key] if key != "london" else []
        if key.endswith(".finetune"):
            trained.insert(0, key.replace(".finetune", ".pretrain"))
        seconds = sum(stages.get(name, {}).get("seconds", 0) for name in trained)
        machines = dict.fromkeys(stages.get(name, {}).get("machine", results["machine"]) for name in trained)
        wall = f"{seconds / 3600:.2f} h" if trained else "-"
        rows.append((label, f"{stages[key]['dev_accuracy'] * 100:.1f}%", wall, " + ".join(machines) or "-"))
    trained_on = {row[3] for row in rows} - {"-"}
    if len(trained_on) > 1:  # stages trained on different machines: say which
        lines = ["| model | dev accuracy | training wall time | trained on |", "| --- | --- | --- | --- |"]
        lines += [f"| {' | '.join(row)} |" for row in rows]
        footer = f"Commit {results['commit']}."
    else:
        lines = ["| model | dev accuracy | training wall time |", "| --- | --- | --- |"]
        lines += [f"| {' | '.join(row[:3])} |" for row in rows]
        footer = f"Machine: {next(iter(trained_on), results['machine'])}; commit {results['commit']}."
    return "\n".join([*lines, "", footer])


TRAINING_STAGES = (
    "vanilla.nopretrain", "vanilla.pretrain", "vanilla.finetune", "synthesizer.pretrain", "synthesizer.finetune"
)


def progress(output_dir: str, recent_epochs: int = 10) -> list[dict]:
    """Where each training stage of a reproduction stands, running or stopped, from its newest trainer_state.json.

    A finished stage reads the state saved beside its model, an unfinished one that of its newest checkpoint (what a
    resumed run continues from). Each row: stage, done, epoch, epochs, loss (the last logged), wall_seconds (summed
    over the runs it took), and seconds_per_epoch over the last `recent_epochs` logged epochs (None with fewer than
    two logs), from which `eta_hours` at that pace follows.
    """
    rows = []
    for name in TRAINING_STAGES:
        path = os.path.join(output_dir, name)
        if not os.path.isdir(path):
            continue
        done = _done(path)
        state_path = _state_path(path)
        if state_path is None:
            rows.append({"stage": name, "done": done, "epoch": 0.0, "epochs": None, "loss": None,
                         "wall_seconds": 0.0, "seconds_per_epoch": None, "eta_hours": None})
            continue
        state = _load_json(state_path)
        logs = [e for e in state["log_history"] if "loss" in e and "wall_seconds" in e]
        # A finished stage's total is in train_results.json; a checkpoint's in the wall clock's saved state.
        wall = saved_wall_seconds(state.get("stateful_callbacks", {}))
        results_path = os.path.join(path, "train_results.json")
        if done and os.path.exists(results_path):
            wall = _load_json(results_path).get("wall_seconds", wall)
        if wall is None:
            wall = logs[-1]["wall_seconds"] if logs else 0.0
        recent = [e for e in logs if e["epoch"] >= logs[-1]["epoch"] - recent_epochs] if logs else []
        pace = None
        if len(recent) >= 2 and recent[-1]["epoch"] > recent[0]["epoch"]:
            pace = (recent[-1]["wall_seconds"] - recent[0]["wall_seconds"]) / (recent[-1]["epoch"] - recent[0]["epoch"])
        epochs = state.get("num_train_epochs")
        eta = 0.0 if done else (pace * (epochs - state["epoch"]) / 3600 if pace is not None and epochs else None)
        rows.append({"stage": name, "done": done, "epoch": state["epoch"], "epochs": epochs,
                     "loss": logs[-1]["loss"] if logs else None, "wall_seconds": wall,
                     "seconds_per_epoch": pace, "eta_hours": eta})
    return rows


def _state_path(stage_dir: str) -> str | None:
    """The trainer_state.json of a finished stage, or of an unfinished one's newest checkpoint (what a resumed run
    continues from); None before the first checkpoint."""
    folder = stage_dir if _done(stage_dir) else get_last_checkpoint(stage_dir)
    path = folder and os.path.join(folder, "trainer_state.json")
    return path if path and os.path.exists(path) else None


def record_losses(output_dir: str, losses_path: str, run: str, description: str, variants=("vanilla", "synthesizer")):
    """Add to `losses_path` (like docs/results/reproduce/pretrain_losses.json) run `run`: the per-epoch pretraining
    losses (the Trainer's logged mean over an epoch, 4 decimals) of each variant's pretraining under `output_dir` that
    come after the last epoch the file's `continued_run` (the sessions the running run is made of, in order) records,
    and append `run` to that list. Returns {variant: [first epoch,
    last epoch]} of what was added."""
    losses = _load_json(losses_path)
    if run in losses["runs"]:
        raise ValueError(f"{losses_path}: run {run!r} is already recorded")
    earlier = losses.setdefault("continued_run", [])
    entry, added = {"description": description}, {}
    for variant in variants:
        stage_dir = os.path.join(output_dir, f"{variant}.pretrain")
        state_path = _state_path(stage_dir) if os.path.isdir(stage_dir) else None
        if state_path is None:
            raise ValueError(f"record_losses: {stage_dir} has no trainer_state.json to read losses from")
        recorded = [int(e) for name in earlier for e in losses["runs"][name].get(variant, {})]
        after = max(recorded, default=0)
        epochs = {
            int(log["epoch"]): round(log["loss"], 4)
            for log in _load_json(state_path)["log_history"]
            if "loss" in log and float(log["epoch"]).is_integer() and log["epoch"] > after
        }
        if not epochs:
            raise ValueError(f"record_losses: {state_path} logs no epoch after {after}, the last one recorded")
        entry[variant] = {str(e): epochs[e] for e in sorted(epochs)}
        added[variant] = [min(epochs), max(epochs)]
    losses["runs"][run] = entry
    earlier.append(run)
    _replace_json(losses_path, losses)
    return added


def progress_table(rows: list[dict]) -> str:
    """`progress` as markdown."""
    lines = [
        "| stage | epoch | loss | wall time | s/epoch lately | left at that pace |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        epoch = f"{round(row['epoch'], 2):g}" + (f" / {row['epochs']:g}" if row["epochs"] else "")
        loss = "-" if row["loss"] is None else f"{row['loss']:.3f}"
        pace = "-" if row["seconds_per_epoch"] is None else f"{row['seconds_per_epoch']:.0f}"
        left = "done" if row["done"] else ("-" if row["eta_hours"] is None else f"{row['eta_hours']:.1f} h")
        lines.append(f"| {row['stage']} | {epoch} | {loss} | {row['wall_seconds'] / 3600:.2f} h | {pace} | {left} |")
    return "\n".join(lines)


def accuracy_against_epochs(
    pretrain_dir: str,
    data_args: DataArguments,
    dev_path: str,
    output_dir: str,
    finetune_overrides: dict | None = None,
    rank_settings: dict | None = None,
    epoch_offset: int = 0,
    epochs: list[int] | None = None,
) -> dict:
    """When does knowledge access appear? Read out every `epoch-N` model of a pretraining run and score dev.

    `pretrain_dir` is a pretraining output with `--save_model_every_epochs` models in `epoch-N/` (its final model
    counts as the last epoch). By default each is fine-tuned with `FinetuningArguments(**finetune_overrides)` into
    `output_dir/epoch-N/` (training file and corpus from `data_args`) and answers `dev_path` there. With
    `rank_settings` ({"prompt": ..., "pmi_weight": ...}) each ranks the training file's places instead
    (`hf_birthplace.ranking`): no training, a minute or two per model. `epoch_offset` is how many epochs the run's
    starting checkpoint had already been pretrained (a continued run), added to every epoch reported. `epochs` keeps
    only those saved models (the run's own numbering).
    Each point also carries `evaluation.answer_statistics` of its answers (does the answer depend on the person?).
    A checkpoint already scored is skipped, so an interrupted study resumes. Writes
    `output_dir/accuracy_vs_epochs.json` and `.png` (dev accuracy and the pretraining loss against epochs) and returns
    the JSON.
    """
    from .ranking import answer_file, read_places

    models = {
        int(name.split("-", 1)[1]): os.path.join(pretrain_dir, name)
        for name in os.listdir(pretrain_dir)
        if name.startswith("epoch-") and name.split("-", 1)[1].isdigit()
    }
    state_path = os.path.join(pretrain_dir, "trainer_state.json")
    finished = os.path.exists(state_path)
    if not finished:  # a run still going (or stopped): its latest checkpoint's log, and no final model yet
        latest = get_last_checkpoint(pretrain_dir)
        if latest is None:
            raise FileNotFoundError(f"{pretrain_dir}: no trainer_state.json and no checkpoint-N folder")
        state_path = os.path.join(latest, "trainer_state.json")
    with open(state_path) as f:
        state = json.load(f)
    if finished:
        models.setdefault(round(state["epoch"]), pretrain_dir)
    if epochs:
        missing = sorted(set(epochs) - set(models))
        if missing:
            raise ValueError(f"{pretrain_dir}: no model saved at epochs {missing}; saved: {sorted(models)}")
        models = {epoch: models[epoch] for epoch in epochs}
    dev_path = resolve_path(dev_path, data_args.data_dir)
    gold_lines = read_eval_lines(dev_path)
    if rank_settings is not None:
        places = read_places(resolve_path(data_args.finetune_corpus_path, data_args.data_dir))
    points = []
    for epoch in sorted(models):
        out = os.path.join(output_dir, f"epoch-{epoch + epoch_offset}")
        metrics_path = os.path.join(out, "dev.predictions.metrics.json")
        if not os.path.exists(metrics_path) and rank_settings is not None:
            model, tokenizer = load_checkpoint(models[epoch])
            answer_file(
                [(model, tokenizer)], dev_path, places, [rank_settings["prompt"]], rank_settings["pmi_weight"],
                os.path.join(out, "dev.predictions"),
            )
        elif not os.path.exists(metrics_path):
            finetune_quietly(models[epoch], data_args, out, **(finetune_overrides or {}))
            run_evaluation(
                EvalArguments(
                    model_name_or_path=out, eval_corpus_path=dev_path, outputs_path=os.path.join(out, "dev.predictions")
                )
            )
        with open(metrics_path) as f:
            point = {"epoch": epoch + epoch_offset, "dev_accuracy": json.load(f)["accuracy"]}
        with open(os.path.join(out, "dev.predictions"), encoding="utf-8") as f:
            answers = f.read().splitlines()
        point.update(answer_statistics(answers, [line.gold for line in gold_lines]))
        finetune_state = os.path.join(out, "trainer_state.json")
        if rank_settings is None and os.path.exists(finetune_state):
            logged = [log["loss"] for log in _load_json(finetune_state)["log_history"] if "loss" in log]
            if logged:
                point["finetune_final_loss"] = round(logged[-1], 4)
        points.append(point)
    losses = [
        {"epoch": e["epoch"] + epoch_offset, "loss": e["loss"]}
        for e in state["log_history"]
        if "loss" in e and "epoch" in e
    ]
    results = {
        "pretrain_dir": os.path.abspath(pretrain_dir),
        "readout": {"rank": rank_settings} if rank_settings is not None else {"finetune": finetune_overrides or {}},
        "epoch_offset": epoch_offset,
        "dev": dev_path,
        "points": points,
        "pretraining_loss": losses,
        "machine": machine(),
        "commit": commit(),
    }
    write_json(os.path.join(output_dir, "accuracy_vs_epochs.json"), results)
    _plot_accuracy_against_epochs(results, os.path.join(output_dir, "accuracy_vs_epochs.png"))
    return results


def record_readout(record_path: str, variant: str, results: dict, session: int, command: str) -> list[int]:
    """Add the points of an `accuracy_against_epochs` result to `record_path`, a readout record of one run across
    sessions like docs/results/reproduce/faithful_rank_vs_epochs.json (`variants[variant]["points"]`, `commands`).

    Each point is marked with `session` and put in epoch order; a point that an earlier session recorded at the same
    epoch with another score or other answer statistics moves to `replaced_points` (a run continued from another copy
    can differ), one recorded with the same stays. `command` (what produced the points) is appended to `commands` once. The record's
    readout settings must equal the result's. Returns the epochs added.
    """
    record = _load_json(record_path)
    if variant not in record["variants"]:
        raise ValueError(f"{record_path}: no variant {variant!r}; it has {sorted(record['variants'])}")
    entry = record["variants"][variant]
    recorded_readout = entry.get("readout", record.get("readout"))
    if recorded_readout is not None and recorded_readout != results["readout"]:
        raise ValueError(f"{record_path}: records readout {recorded_readout}, not this one's {results['readout']}")
    by_epoch = {point["epoch"]: point for point in entry["points"]}
    added = []
    for point in results["points"]:
        old = by_epoch.get(point["epoch"])
        same = old is not None and all(
            old.get(key) == value for key, value in point.items() if key != "finetune_final_loss"
        )
        if same:
            continue
        if old is not None:
            entry.setdefault("replaced_points", []).append(old)
        by_epoch[point["epoch"]] = {**point, "session": session}
        added.append(point["epoch"])
    entry["points"] = [by_epoch[epoch] for epoch in sorted(by_epoch)]
    if added:
        line = f"{command}  (session {session})"
        if line not in record.setdefault("commands", []):
            record["commands"].append(line)
        _replace_json(record_path, record)
    return added


def _plot_accuracy_against_epochs(results: dict, path: str) -> None:
    title = os.path.join(*os.path.normpath(results["pretrain_dir"]).split(os.sep)[-2:])
    plot_accuracy_curves({title: [results]}, path)


def plot_accuracy_curves(curves: dict[str, list[dict]], path: str, styles: dict[str, dict] | None = None) -> None:
    """Dev accuracy (points, left axis) and pretraining loss (thin line, right axis) against epochs, one colour per
    label unless `styles` gives a label its own line style (`color`, `linestyle`); each label's list holds
    `accuracy_against_epochs` results (a run and its continuations)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, acc_ax = plt.subplots(figsize=(7, 4))
    loss_ax = acc_ax.twinx()
    readouts = set()
    for (label, runs), color in zip(curves.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        style = {"color": color, "linestyle": "-", **(styles or {}).get(label, {})}
        points = sorted((p["epoch"], 100 * p["dev_accuracy"]) for r in runs for p in r["points"])
        losses = sorted((e["epoch"], e["loss"]) for r in runs for e in r["pretraining_loss"])
        acc_ax.plot([e for e, _ in points], [a for _, a in points], marker="o", label=label, **style)
        loss_ax.plot([e for e, _ in losses], [v for _, v in losses], color=style["color"], linewidth=0.8, alpha=0.5)
        readouts.update("ranking the training places" if "rank" in r.get("readout", {}) else "fine-tuning" for r in runs)
    acc_ax.set_xlabel("pretraining epochs")
    acc_ax.set_ylabel(f"dev accuracy after {readouts.pop()} (%)" if len(readouts) == 1 else "dev accuracy (%)")
    loss_ax.set_ylabel("pretraining loss (thin lines)")
    if len(curves) > 1:
        acc_ax.legend(loc="upper left")
    else:
        acc_ax.set_title(next(iter(curves)))
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def readout_curves(
    readouts: dict[str, dict], losses: dict, loss_runs: list[str]
) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """`plot_accuracy_curves` input for a run read out several ways, from the committed files that gather it:
    `readouts` maps a readout's name to a file like `docs/results/reproduce/faithful_rank_vs_epochs.json` (points per
    variant), and the variant's pretraining loss is `losses["runs"][run][variant]` ({epoch: loss}, as in
    `pretrain_losses.json`) joined over `loss_runs` in order, a later run's epochs replacing an earlier one's. One
    label per variant and readout; the loss line goes with each variant's first readout. Returns the curves and their
    styles: one colour per variant, one line style per readout."""
    import matplotlib.pyplot as plt

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    linestyles = ["-", "--", ":", "-."]
    curves: dict[str, list[dict]] = {}
    styles: dict[str, dict] = {}
    variants = list(dict.fromkeys(v for readout in readouts.values() for v in readout["variants"]))
    for color, variant in zip(colors, variants):
        joined: dict[int, float] = {}
        for run in loss_runs:
            if run not in losses["runs"]:
                raise KeyError(f"no run {run!r} in the losses file; it has {sorted(losses['runs'])}")
            joined.update({int(e): loss for e, loss in losses["runs"][run].get(variant, {}).items()})
        loss_line = [{"epoch": e, "loss": joined[e]} for e in sorted(joined)]
        for linestyle, (name, readout) in zip(linestyles, readouts.items()):
            if variant not in readout["variants"]:
                continue
            points = readout["variants"][variant]["points"]
            kind = "rank" if name.startswith("rank") else "finetune"
            label = f"{variant}, {name}"
            curves[label] = [{"points": points, "pretraining_loss": loss_line, "readout": {kind: {}}}]
            styles[label] = {"color": color, "linestyle": linestyle}
            loss_line = []
    return curves, styles


def readout_table(readouts: dict[str, dict]) -> str:
    """The README's table of one readout file per name in `readouts` (like `readout_curves`'): a row per variant and
    readout, a column per epoch any of them scored, each cell `accuracy (right answers; right if shuffled)`, where
    the last is `expected_correct_if_shuffled`, what the same answers would get right shuffled among the people."""
    rows = {
        f"{variant}, {name}": {point["epoch"]: point for point in entry["points"]}
        for name, readout in readouts.items()
        for variant, entry in readout["variants"].items()
    }
    epochs = sorted({epoch for points in rows.values() for epoch in points})
    lines = [
        "| pretraining epochs | " + " | ".join(map(str, epochs)) + " |",
        "| --- |" + " --- |" * len(epochs),
    ]
    for label, points in rows.items():
        cells = [
            f"{_one_decimal(100 * p['dev_accuracy'])}% ({p['correct']}; "
            f"{_one_decimal(p['expected_correct_if_shuffled'])})" if (p := points.get(epoch)) else "–"
            for epoch in epochs
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _one_decimal(value: float) -> str:
    """`value` to one decimal, halves up as written (23.65 -> 23.7, where the float's own digits give 23.6)."""
    return str(Decimal(repr(value)).quantize(Decimal("0.1"), ROUND_HALF_UP))
