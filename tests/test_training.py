"""End to end through the scripts' `main()`s, the original command line, Accelerate and resumption (tiny models)."""

import json
import os
import runpy
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from hf_birthplace.reproduce import compact_checkpoint
from hf_birthplace.trainer import ORIGINAL_CODE_ARGS

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n_layer", "2", "--n_head", "2", "--n_embd", "32", "--block_size", "64", "--dropout", "0.0"]
QUIET = ["--report_to", "none", "--disable_tqdm", "true", "--logging_steps", "1", "--seed", "0"]


def script_main(name: str):
    return runpy.run_path(str(ROOT / "scripts" / f"{name}.py"), run_name="not_main")["main"]


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    people = [("Ann Zed", "Paris"), ("Bob Yu", "Rome"), ("Cyd Xi", "Oslo"), ("Dee Wu", "Lima"), ("Eve Vo", "Paris")]
    (root / "wiki.txt").write_text(
        "".join(f"{n}. {n} was born in {p} and lived in Bern.\nBorn in {p}, {n} wrote books.\n" for n, p in people),
        encoding="utf-8",
    )
    (root / "train.tsv").write_text("".join(f"Where was {n} born?\t{p}\n" for n, p in people[:4]), encoding="utf-8")
    (root / "dev.tsv").write_text("".join(f"Where was {n} born?\t{p}\n" for n, p in people[3:]), encoding="utf-8")
    return root


def trained_parameters_changed(before: dict, model) -> list[str]:
    return [n for n, p in model.named_parameters() if torch.equal(before[n], p.detach())]


@pytest.mark.parametrize("variant", ["vanilla", "synthesizer"])
def test_pretrain_finetune_evaluate_through_main(tiny_world, tmp_path, variant):
    pre, fine, preds = tmp_path / "pre", tmp_path / "fine", tmp_path / "dev.predictions"
    data = ["--data_dir", str(tiny_world), "--corpus_path", "wiki.txt"]
    metrics = script_main("pretrain")(
        data + TINY + QUIET + ["--attention_type", variant, "--output_dir", str(pre), "--max_steps", "4",
                               "--per_device_train_batch_size", "4", "--learning_rate", "1e-3",
                               "--max_position_offset", "8"]
    )
    assert metrics["train_loss"] > 0
    assert json.loads((pre / "training_recipe.json").read_text())["training_args"]["max_position_offset"] == 8
    assert (pre / "model.safetensors").exists() and (pre / "loss_curve.png").exists()
    assert json.loads((pre / "config.json").read_text())["attention_type"] == variant

    pretrained = AutoModelForCausalLM.from_pretrained(pre)
    before = {n: p.detach().clone() for n, p in pretrained.named_parameters()}
    script_main("finetune")(
        data + QUIET + ["--finetune_corpus_path", "train.tsv", "--model_name_or_path", str(pre),
                        "--output_dir", str(fine), "--max_steps", "2", "--per_device_train_batch_size", "2"]
    )
    finetuned = AutoModelForCausalLM.from_pretrained(fine)
    assert trained_parameters_changed(before, finetuned) == []  # every parameter moved

    result = script_main("evaluate")(
        ["--model_name_or_path", str(fine), "--eval_corpus_path", str(tiny_world / "dev.tsv"),
         "--outputs_path", str(preds)]
    )
    assert result["total"] == 2 and 0.0 <= result["accuracy"] <= 1.0
    assert len(preds.read_text(encoding="utf-8").splitlines()) == 2
    assert json.loads(Path(str(preds) + ".metrics.json").read_text())["total"] == 2


def run(cmd, cwd, **kw):
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_original_command_line(tiny_world, tmp_path):
    run_py = [sys.executable, str(ROOT / "scripts" / "run.py")]
    corpus = str(tiny_world / "wiki.txt")
    run(run_py + ["finetune", "vanilla", corpus, "--writing_params_path", "vanilla.model.params",
                  "--finetune_corpus_path", str(tiny_world / "train.tsv"), "--max_steps", "1"], cwd=tmp_path)
    out = run(run_py + ["evaluate", "vanilla", corpus, "--reading_params_path", "vanilla.model.params",
                        "--eval_corpus_path", str(tiny_world / "dev.tsv"),
                        "--outputs_path", "vanilla.nopretrain.dev.predictions"], cwd=tmp_path).stdout
    assert "Correct: " in out and " out of 2: " in out
    recipe = json.loads((tmp_path / "vanilla.model.params" / "training_recipe.json").read_text())
    assert ORIGINAL_CODE_ARGS.items() <= recipe["training_args"].items()  # the course trainer's groups and batches
    assert len((tmp_path / "vanilla.nopretrain.dev.predictions").read_text().splitlines()) == 2
    wrong = subprocess.run(run_py + ["evaluate", "synthesizer", corpus, "--reading_params_path",
                                     "vanilla.model.params", "--eval_corpus_path", str(tiny_world / "dev.tsv")],
                           cwd=tmp_path, capture_output=True, text=True)
    assert wrong.returncode != 0 and "holds a vanilla model" in wrong.stderr


def test_accelerate_launch_two_cpu_processes(tiny_world, tmp_path):
    out = tmp_path / "ddp"
    run(["accelerate", "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", str(ROOT / "scripts" / "pretrain.py"), "--data_dir", str(tiny_world),
         "--output_dir", str(out), "--max_steps", "3", "--per_device_train_batch_size", "2"] + TINY + QUIET,
        cwd=tmp_path, timeout=600)
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    AutoModelForCausalLM.from_pretrained(out)


KILLER = textwrap.dedent(
    """
    import os, sys, runpy, time
    from transformers import TrainerCallback
    import hf_birthplace.trainer as t

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 2:  # time that the resumed run must still count
                time.sleep(3)
            if state.global_step == 5:  # after checkpoint-4 was written: die like a killed job
                os._exit(3)

    init = t.CharTrainer.__init__
    def patched(self, *a, **kw):
        init(self, *a, **kw)
        self.add_callback(Kill())
    t.CharTrainer.__init__ = patched
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
    """
)


def test_resume_after_kill_reaches_the_same_end(tiny_world, tmp_path):
    out = tmp_path / "pre"
    args = ["--data_dir", str(tiny_world), "--output_dir", str(out), "--max_steps", "8", "--save_strategy", "steps",
            "--save_steps", "4", "--per_device_train_batch_size", "2"] + TINY + QUIET
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    proc = subprocess.run([sys.executable, str(killer), str(ROOT / "scripts" / "pretrain.py")] + args,
                          capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert (out / "checkpoint-4").is_dir() and not (out / "model.safetensors").exists()
    run([sys.executable, str(ROOT / "scripts" / "pretrain.py")] + args + ["--resume_from_checkpoint", "auto"],
        cwd=tmp_path)
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    AutoModelForCausalLM.from_pretrained(out)
    # The wall clock carries the killed run's time up to checkpoint-4 (its 3 s sleep included) into the resumed one.
    killed = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert killed["stateful_callbacks"]["_WallClock"]["attributes"]["before"] >= 3
    metrics = json.loads((out / "train_results.json").read_text())
    assert metrics["wall_seconds"] >= 3 + metrics["train_runtime"] - 1


def test_resuming_from_a_compact_checkpoint_follows_the_uninterrupted_run(tiny_world, tmp_path):
    # A checkpoint committed to continue a run on another machine keeps Adam's moments in bfloat16 only.
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    args = ["--data_dir", str(tiny_world), "--max_steps", "8", "--save_strategy", "steps", "--save_steps", "4",
            "--per_device_train_batch_size", "2", "--warmup_tokens", "1"] + TINY + QUIET  # full rate: big steps
    script_main("pretrain")(args + ["--output_dir", str(whole)])
    compact_checkpoint(str(whole / "checkpoint-4"), str(resumed / "checkpoint-4"))
    full, compact = (torch.load(d / "checkpoint-4" / "optimizer.pt", weights_only=True) for d in (whole, resumed))
    assert {v.dtype for m in compact["state"].values() for k, v in m.items() if k != "step"} == {torch.bfloat16}
    assert [m["step"] for m in compact["state"].values()] == [m["step"] for m in full["state"].values()]
    with pytest.raises(ValueError, match="exists"):
        compact_checkpoint(str(whole / "checkpoint-4"), str(resumed / "checkpoint-4"))

    script_main("pretrain")(args + ["--output_dir", str(resumed), "--resume_from_checkpoint", "auto"])

    def after_checkpoint(out):
        logs = json.loads((out / "trainer_state.json").read_text())["log_history"]
        return [(log["step"], log["learning_rate"], log["loss"]) for log in logs if "loss" in log and log["step"] > 4]

    expected, got = after_checkpoint(whole), after_checkpoint(resumed)
    assert [(step, lr) for step, lr, _ in got] == [(step, lr) for step, lr, _ in expected] and len(got) == 4
    assert [loss for *_, loss in got] == pytest.approx([loss for *_, loss in expected], abs=1e-3)  # a fresh Adam: 0.01-0.05 off


def test_report_to_tensorboard_writes_events(tiny_world, tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "tb"
    script_main("pretrain")(
        ["--data_dir", str(tiny_world), "--output_dir", str(out), "--max_steps", "2",
         "--per_device_train_batch_size", "2", "--report_to", "tensorboard", "--logging_steps", "1",
         "--disable_tqdm", "true"] + TINY
    )
    assert list(out.glob("runs/*/events.out.tfevents.*"))


def test_question_template_is_saved_with_the_model_and_used_to_answer(tiny_world, tmp_path):
    fine, again, preds = tmp_path / "fine", tmp_path / "again", tmp_path / "train.predictions"
    world = tmp_path / "world"
    shutil.copytree(tiny_world, world)
    with open(world / "wiki.txt", "a", encoding="utf-8") as f:
        f.write("Where was it born?\n")  # the vocabulary must hold the question's characters, or they are dropped
    data = ["--data_dir", str(world), "--corpus_path", "wiki.txt", "--finetune_corpus_path", "train.tsv"]
    script_main("finetune")(
        data + TINY + QUIET + ["--output_dir", str(fine), "--question_template", "{name}.", "--max_steps", "60",
                               "--per_device_train_batch_size", "4", "--learning_rate", "1e-2"]
    )
    assert json.loads((fine / "config.json").read_text())["question_template"] == "{name}."
    result = script_main("evaluate")(
        ["--model_name_or_path", str(fine), "--eval_corpus_path", str(world / "train.tsv"),
         "--outputs_path", str(preds)]
    )
    assert result["accuracy"] == 1.0  # it learnt `Ann Zed.⁇Paris⁇`, and is asked that way
    # Fine-tuning the fine-tuned model again keeps the way it is asked.
    script_main("finetune")(
        data + QUIET + ["--model_name_or_path", str(fine), "--output_dir", str(again), "--max_steps", "1"]
    )
    assert json.loads((again / "config.json").read_text())["question_template"] == "{name}."
    with pytest.raises(ValueError, match="has no `{name}`"):
        script_main("finetune")(data + ["--output_dir", str(again), "--question_template", "Who?"])


def test_learning_rate_is_chosen_on_held_out_training_lines(tiny_world, tmp_path):
    pre, out = tmp_path / "pre", tmp_path / "select"
    data = ["--data_dir", str(tiny_world), "--corpus_path", "wiki.txt"]
    script_main("pretrain")(data + TINY + QUIET + ["--output_dir", str(pre), "--max_steps", "2"])
    results = script_main("finetune_select")(
        data + ["--finetune_corpus_path", "train.tsv", "--model_name_or_path", str(pre), "--output_dir", str(out),
                "--learning_rates", "1e-4", "1e-3", "--heldout_lines", "1", "--num_train_epochs", "1",
                "--per_device_train_batch_size", "2", "--eval_paths", "dev.tsv"]
    )
    # The rate was picked on the last training line only; dev was answered once, by the final model.
    train_lines = (tiny_world / "train.tsv").read_text(encoding="utf-8").splitlines()
    assert (out / "train.fit.tsv").read_text(encoding="utf-8").splitlines() == train_lines[:-1]
    assert (out / "train.heldout.tsv").read_text(encoding="utf-8").splitlines() == train_lines[-1:]
    assert set(results["heldout_accuracy"]) == {"0.0001", "0.001"}
    best = max(results["heldout_accuracy"].values())
    assert results["heldout_accuracy"][f"{results['learning_rate']:g}"] == best
    assert json.loads((out / "final" / "training_recipe.json").read_text())["training_args"]["learning_rate"] == (
        results["learning_rate"]
    )
    assert results["evaluations"]["dev"]["total"] == 2
    assert len((out / "dev.predictions").read_text(encoding="utf-8").splitlines()) == 2
    assert json.loads((out / "selection.json").read_text()) == results
    with pytest.raises(ValueError, match="cannot hold out 4"):
        script_main("finetune_select")(
            data + ["--finetune_corpus_path", "train.tsv", "--model_name_or_path", str(pre), "--output_dir",
                    str(out), "--heldout_lines", "4"]
        )


def test_accuracy_against_epochs_scores_every_saved_epoch_and_resumes(tiny_world, tmp_path, monkeypatch):
    import hf_birthplace.reproduce as reproduce

    pre, out = tmp_path / "pre", tmp_path / "curve"
    data = ["--data_dir", str(tiny_world), "--corpus_path", "wiki.txt"]
    script_main("pretrain")(data + TINY + QUIET + ["--output_dir", str(pre), "--num_train_epochs", "2",
                                                   "--per_device_train_batch_size", "4", "--save_model_every_epochs", "1"])
    assert (pre / "epoch-1").is_dir() and (pre / "epoch-2").is_dir()
    args = data + ["--finetune_corpus_path", "train.tsv", "--pretrain_dir", str(pre), "--output_dir", str(out),
                   "--dev_path", "dev.tsv", "--num_train_epochs", "1", "--per_device_train_batch_size", "2"]
    results = script_main("accuracy_vs_epochs")(args)
    assert [p["epoch"] for p in results["points"]] == [1, 2]
    for point in results["points"]:
        metrics = json.loads((out / f"epoch-{point['epoch']}" / "dev.predictions.metrics.json").read_text())
        assert metrics["total"] == 2 and metrics["accuracy"] == point["dev_accuracy"]
        assert point["correct"] == 2 * point["dev_accuracy"] and point["distinct_answers"] >= 1
    assert results["pretraining_loss"] and (out / "accuracy_vs_epochs.png").stat().st_size > 0
    assert json.loads((out / "accuracy_vs_epochs.json").read_text()) == results

    calls = []
    monkeypatch.setattr(reproduce, "finetune_quietly", lambda *a, **k: calls.append(a))
    assert script_main("accuracy_vs_epochs")(args)["points"] == results["points"] and calls == []

    # --original_code_args fine-tunes as make reproduce does, and the JSON says so.
    monkeypatch.undo()
    real_finetune = reproduce.finetune_quietly

    def finetune_logging_a_loss(checkpoint, data_args, output_dir, **overrides):  # too few steps here to log one
        calls.append(overrides)
        real_finetune(checkpoint, data_args, output_dir, **overrides)
        state = json.loads((Path(output_dir) / "trainer_state.json").read_text())
        state["log_history"].insert(-1, {"loss": 1.23456, "step": 1})
        (Path(output_dir) / "trainer_state.json").write_text(json.dumps(state))

    monkeypatch.setattr(reproduce, "finetune_quietly", finetune_logging_a_loss)
    args[args.index(str(out))] = str(tmp_path / "faithful")
    faithful = script_main("accuracy_vs_epochs")(
        args + ["--epochs", "2", "--original_code_args", "--per_device_train_batch_size", "8"])
    assert [p["epoch"] for p in faithful["points"]] == [2] and len(calls) == 1
    assert calls[0].items() >= ORIGINAL_CODE_ARGS.items()
    assert faithful["readout"]["finetune"].items() >= ORIGINAL_CODE_ARGS.items()
    assert faithful["points"][0]["finetune_final_loss"] == 1.2346  # the fine-tuning's last logged loss
    assert "finetune_final_loss" not in results["points"][0]  # none logged


def test_accuracy_against_epochs_can_rank_places_with_an_epoch_offset(tiny_world, tmp_path, monkeypatch):
    import hf_birthplace.reproduce as reproduce

    pre, out = tmp_path / "pre", tmp_path / "curve"
    data = ["--data_dir", str(tiny_world), "--corpus_path", "wiki.txt"]
    script_main("pretrain")(data + TINY + QUIET + ["--output_dir", str(pre), "--num_train_epochs", "2",
                                                   "--per_device_train_batch_size", "4", "--save_model_every_epochs", "1",
                                                   "--save_strategy", "epoch"])
    monkeypatch.setattr(reproduce, "finetune_quietly", lambda *a, **k: pytest.fail("ranking fine-tunes nothing"))
    args = data + ["--finetune_corpus_path", "train.tsv", "--pretrain_dir", str(pre), "--output_dir", str(out),
                   "--dev_path", "dev.tsv", "--readout", "rank", "--rank_pmi_weight", "0.5", "--epoch_offset", "100"]
    assert [p["epoch"] for p in script_main("accuracy_vs_epochs")(args + ["--epochs", "2"])["points"]] == [102]
    with pytest.raises(ValueError, match=r"no model saved at epochs \[3\]"):
        script_main("accuracy_vs_epochs")(args + ["--epochs", "2", "3"])
    results = script_main("accuracy_vs_epochs")(args)
    assert [p["epoch"] for p in results["points"]] == [101, 102]
    assert results["readout"] == {"rank": {"prompt": "{name}. Born in ", "pmi_weight": 0.5}}
    assert min(e["epoch"] for e in results["pretraining_loss"]) > 100
    train_places = {line.split("\t")[1] for line in (tiny_world / "train.tsv").read_text().splitlines()}
    for point in results["points"]:
        predictions = (out / f"epoch-{point['epoch']}" / "dev.predictions").read_text().splitlines()
        assert len(predictions) == 2 and set(predictions) <= train_places

    # A run still going has no trainer_state.json of its own yet: its latest checkpoint's log serves.
    (pre / "trainer_state.json").unlink()
    running = script_main("accuracy_vs_epochs")(args)
    assert running["points"] == results["points"] and running["pretraining_loss"]
    for checkpoint in pre.glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
    with pytest.raises(FileNotFoundError, match="no trainer_state.json and no checkpoint-N"):
        script_main("accuracy_vs_epochs")(args)

    figure = tmp_path / "both.png"
    curve = str(out / "accuracy_vs_epochs.json")
    curves = script_main("plot_accuracy_curves")(
        ["--curves", curve, curve, "--labels", "a", "b", "--output_path", str(figure)])
    assert list(curves) == ["a", "b"] and figure.stat().st_size > 0
    with pytest.raises(ValueError, match="one label per file"):
        script_main("plot_accuracy_curves")(["--curves", curve, "--labels", "a", "b", "--output_path", str(figure)])


def test_accuracy_against_epochs_records_its_points_into_a_record_across_sessions(tiny_world, tmp_path, monkeypatch):
    pre, out, record = tmp_path / "vanilla.pretrain", tmp_path / "curve", tmp_path / "record.json"
    data = ["--data_dir", str(tiny_world), "--corpus_path", "wiki.txt"]
    script_main("pretrain")(data + TINY + QUIET + ["--output_dir", str(pre), "--num_train_epochs", "2",
                                                   "--per_device_train_batch_size", "4", "--save_model_every_epochs", "1"])
    readout = {"rank": {"prompt": "{name}. Born in ", "pmi_weight": 0.0}}
    earlier = {"epoch": 2, "dev_accuracy": 1.0, "correct": 2, "session": 7}  # another copy of the run answered so
    record.write_text(json.dumps({"commands": ["an older command"], "variants": {
        "vanilla": {"readout": readout, "points": [{"epoch": 5, "dev_accuracy": 0.5, "session": 7}, earlier]}}}))
    args = data + ["--finetune_corpus_path", "train.tsv", "--pretrain_dir", str(pre), "--output_dir", str(out),
                   "--dev_path", "dev.tsv", "--readout", "rank", "--record_into", str(record)]
    with pytest.raises(ValueError, match="needs --record_session"):
        script_main("accuracy_vs_epochs")(args)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # read only for the command recorded: torch's threads are set already
    results = script_main("accuracy_vs_epochs")(args + ["--record_session", "8", "--epochs", "1", "2"])
    entry = json.loads(record.read_text())["variants"]["vanilla"]
    assert [p["epoch"] for p in entry["points"]] == [1, 2, 5]
    assert entry["points"][:2] == [{**point, "session": 8} for point in results["points"]]
    assert entry["replaced_points"] == [earlier]
    commands = json.loads(record.read_text())["commands"]
    assert commands[0] == "an older command" and len(commands) == 2
    assert commands[1].startswith("OMP_NUM_THREADS=1 python scripts/accuracy_vs_epochs.py --data_dir")
    assert "--record" not in commands[1] and commands[1].endswith("--epochs 1 2  (session 8)")

    # The same results again add nothing; another readout's points do not go into this record.
    before = record.read_text()
    script_main("accuracy_vs_epochs")(args + ["--record_session", "9"])
    assert record.read_text() == before
    with pytest.raises(ValueError, match="records readout"):
        script_main("accuracy_vs_epochs")(args + ["--record_session", "9", "--rank_pmi_weight", "0.5",
                                                  "--output_dir", str(tmp_path / "other")])
    with pytest.raises(ValueError, match="no variant 'synthesizer'"):
        script_main("accuracy_vs_epochs")(args + ["--record_session", "9", "--record_variant", "synthesizer"])


@pytest.mark.parametrize("config", sorted((ROOT / "scripts" / "configs").glob("*_finetune_*.json")) + sorted(
    (ROOT / "scripts" / "configs").glob("*_pretrain_*.json")), ids=lambda p: p.name)
def test_every_recipe_file_parses_and_continues_a_run_that_a_recipe_writes(config):
    from hf_birthplace.trainer import FinetuningArguments, PretrainingArguments
    from hf_birthplace.training import DataArguments, ModelArguments, parse_args

    stage = PretrainingArguments if "_pretrain_" in config.name else FinetuningArguments
    model_args, _, training_args = parse_args((ModelArguments, DataArguments, stage), [str(config)])  # unknown keys raise
    start = model_args.model_name_or_path
    if start is not None:
        outputs = {json.loads(p.read_text()).get("output_dir") for p in config.parent.glob("*.json")} - {None}
        assert any(start == out or start.startswith(out + "/") for out in outputs), f"{config.name}: nothing writes {start}"
    assert training_args.output_dir.startswith("outputs/")
