"""The results-table pipeline at smoke size on the real data: every stage, resumable, a table from results.json."""

import json
import os
import runpy
from pathlib import Path

import pytest
import torch

from hf_birthplace.evaluation import load_checkpoint
from hf_birthplace.reproduce import (
    _merge_results,
    check_recipe,
    export_checkpoints,
    machine,
    markdown_table,
    progress,
    progress_table,
    readout_curves,
    readout_table,
    run_reproduction,
    seed_output_dir,
    stage_names,
)
from hf_birthplace.trainer import ORIGINAL_CODE_ARGS

ROOT = Path(__file__).resolve().parents[1]


def test_markdown_table_adds_pretraining_time_to_finetuned_rows():
    results = {
        "machine": "test box",
        "commit": "abc123",
        "stages": {
            "london": {"dev_accuracy": 0.05},
            "vanilla.nopretrain": {"dev_accuracy": 0.018, "seconds": 1800},
            "vanilla.pretrain": {"seconds": 7200},
            "vanilla.finetune": {"dev_accuracy": 0.25, "seconds": 1800},
        },
    }
    table = markdown_table(results)
    assert "| London baseline | 5.0% | - |" in table
    assert "| vanilla, no pretraining | 1.8% | 0.50 h |" in table
    assert "| vanilla, pretrain + finetune | 25.0% | 2.50 h |" in table
    assert "synthesizer" not in table and "test box; commit abc123" in table


def test_markdown_table_names_each_rows_machines_when_stages_trained_on_different_ones():
    results = {
        "machine": "new box",
        "commit": "abc123",
        "stages": {
            "london": {"dev_accuracy": 0.05},
            "vanilla.nopretrain": {"dev_accuracy": 0.028, "seconds": 3600, "machine": "old box"},
            "vanilla.pretrain": {"seconds": 7200, "machine": "new box"},
            "vanilla.finetune": {"dev_accuracy": 0.25, "seconds": 1800, "machine": "new box"},
            "synthesizer.pretrain": {"seconds": 7200, "machine": "old box"},
            "synthesizer.finetune": {"dev_accuracy": 0.1, "seconds": 1800, "machine": "new box"},
        },
    }
    table = markdown_table(results)
    assert "| London baseline | 5.0% | - | - |" in table
    assert "| vanilla, no pretraining | 2.8% | 1.00 h | old box |" in table
    assert "| vanilla, pretrain + finetune | 25.0% | 2.50 h | new box |" in table
    assert "| synthesizer, pretrain + finetune | 10.0% | 2.50 h | old box + new box |" in table
    assert table.endswith("\nCommit abc123.")
    for stage in results["stages"].values():
        stage["machine"] = "new box"
    assert markdown_table(results).endswith("\nMachine: new box; commit abc123.")


def test_two_processes_sharing_an_output_dir_keep_each_others_stages(tmp_path):
    # One process per variant: each read results.json when it started and writes only the stages it ran.
    path = str(tmp_path / "results.json")
    start = {"machine": "box", "commit": "a", "stages": {"london": {"dev_accuracy": 0.05}}}
    _merge_results(path, start, {"london"})
    vanilla = json.loads(Path(path).read_text())
    synthesizer = json.loads(Path(path).read_text())
    vanilla["stages"]["vanilla.pretrain"] = {"seconds": 100.0}
    _merge_results(path, vanilla, {"london", "vanilla.pretrain"})
    synthesizer["commit"] = "b"
    synthesizer["stages"]["synthesizer.pretrain"] = {"seconds": 200.0}
    _merge_results(path, synthesizer, {"london", "synthesizer.pretrain"})
    vanilla["stages"]["vanilla.finetune"] = {"seconds": 10.0, "dev_accuracy": 0.25}
    _merge_results(path, vanilla, {"london", "vanilla.pretrain", "vanilla.finetune"})

    merged = json.loads(Path(path).read_text())
    assert merged["stages"] == {
        "london": {"dev_accuracy": 0.05},
        "vanilla.pretrain": {"seconds": 100.0},
        "vanilla.finetune": {"seconds": 10.0, "dev_accuracy": 0.25},
        "synthesizer.pretrain": {"seconds": 200.0},
    }
    assert merged["commit"] == "a"  # the last writer's
    assert sorted(os.listdir(tmp_path)) == ["results.json"]  # no temporary file left behind


def _trainer_state(folder: Path, epoch: float, epochs: int, logs: list[tuple[float, float, float]], wall: float):
    folder.mkdir(parents=True)
    state = {
        "epoch": epoch,
        "num_train_epochs": epochs,
        "log_history": [{"epoch": e, "loss": loss, "wall_seconds": w} for e, loss, w in logs],
        "stateful_callbacks": {"_WallClock": {"args": {}, "attributes": {"before": wall}}},
    }
    (folder / "trainer_state.json").write_text(json.dumps(state))


def test_progress_reads_finished_stages_and_the_newest_checkpoint_of_running_ones(tmp_path):
    done = tmp_path / "vanilla.nopretrain"
    _trainer_state(done, 75.0, 75, [(74.0, 0.3, 2700.0), (75.0, 0.25, 2736.0)], 2736.0)
    (done / "model.safetensors").write_bytes(b"")
    (done / "train_results.json").write_text(json.dumps({"wall_seconds": 2737.0}))  # the final total wins
    running = tmp_path / "vanilla.pretrain"
    _trainer_state(running / "checkpoint-23", 1.0, 650, [(1.0, 3.5, 60.0)], 61.0)
    # Epochs 10..30 logged, 100 s each of late; the newest checkpoint is 690, not the lexically last 92.
    logs = [(epoch, 3.0 - epoch / 100, 100.0 * epoch) for epoch in range(10, 31)]
    _trainer_state(running / "checkpoint-690", 30.0, 650, logs, 3005.0)
    _trainer_state(running / "checkpoint-92", 4.0, 650, [(4.0, 3.2, 400.0)], 401.0)
    (tmp_path / "synthesizer.pretrain").mkdir()  # started, no checkpoint yet

    rows = {row["stage"]: row for row in progress(str(tmp_path))}
    assert list(rows) == ["vanilla.nopretrain", "vanilla.pretrain", "synthesizer.pretrain"]
    assert rows["vanilla.nopretrain"]["done"] and rows["vanilla.nopretrain"]["eta_hours"] == 0.0
    pretrain = rows["vanilla.pretrain"]
    assert (pretrain["epoch"], pretrain["loss"], pretrain["wall_seconds"]) == (30.0, 2.7, 3005.0)
    assert pretrain["seconds_per_epoch"] == pytest.approx(100.0)
    assert pretrain["eta_hours"] == pytest.approx(620 * 100 / 3600)
    assert rows["synthesizer.pretrain"]["epoch"] == 0.0 and rows["synthesizer.pretrain"]["eta_hours"] is None
    table = progress_table(list(rows.values()))
    assert "| vanilla.pretrain | 30 / 650 | 2.700 | 0.83 h | 100 | 17.2 h |" in table
    assert "| vanilla.nopretrain | 75 / 75 | 0.250 | 0.76 h | 36 | done |" in table
    assert rows["vanilla.nopretrain"]["wall_seconds"] == 2737.0


def test_progress_names_a_truncated_trainer_state(tmp_path):
    folder = tmp_path / "vanilla.pretrain" / "checkpoint-23"
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text('{"epoch": 1.0, "log_hi')
    with pytest.raises(ValueError, match=r"checkpoint-23/trainer_state.json: not valid JSON"):
        progress(str(tmp_path))


def test_record_losses_adds_the_epochs_after_the_continued_run_and_extends_it(tmp_path):
    out, losses_path = tmp_path / "out", tmp_path / "pretrain_losses.json"
    earlier = {"vanilla": {"1": 3.0, "2": 2.5}, "synthesizer": {"1": 2.9}}
    other = {"vanilla": {"1": 9.0, "2": 9.0, "3": 9.0}}  # not part of the continued run: ignored
    losses_path.write_text(json.dumps({"continued_run": ["start"], "runs": {"start": earlier, "other": other}}))
    # The newest checkpoint logs every epoch since the start, and an older one is left beside it.
    _trainer_state(out / "vanilla.pretrain" / "checkpoint-92", 4.0, 650,
                   [(1.0, 3.0, 60.0), (2.0, 2.5, 120.0), (3.0, 2.345678, 180.0), (4.0, 2.2, 240.0)], 241.0)
    _trainer_state(out / "vanilla.pretrain" / "checkpoint-69", 3.0, 650, [(3.0, 7.0, 180.0)], 181.0)
    _trainer_state(out / "synthesizer.pretrain" / "checkpoint-69", 3.0, 650,
                   [(1.0, 2.9, 60.0), (1.5, 2.7, 90.0), (2.0, 2.6, 120.0), (3.0, 2.4, 180.0)], 181.0)
    reproduce = runpy.run_path(str(ROOT / "scripts" / "reproduce.py"), run_name="not_main")["main"]

    args = ["--output_dir", str(out), "--record_losses", str(losses_path), "--loss_run", "more"]
    recorded = reproduce([*args, "--loss_run_description", "continued"])

    assert recorded == {"recorded": {"vanilla": [3, 4], "synthesizer": [2, 3]}}
    losses = json.loads(losses_path.read_text())
    assert losses["continued_run"] == ["start", "more"]
    assert losses["runs"]["more"] == {
        "description": "continued",
        "vanilla": {"3": 2.3457, "4": 2.2},
        "synthesizer": {"2": 2.6, "3": 2.4},  # whole epochs only
    }
    assert losses["runs"]["start"] == earlier and losses["runs"]["other"] == other
    assert sorted(os.listdir(tmp_path)) == ["out", "pretrain_losses.json"]  # no temporary file left behind
    with pytest.raises(ValueError, match="run 'more' is already recorded"):
        reproduce(args)
    with pytest.raises(ValueError, match=r"checkpoint-92/trainer_state.json logs no epoch after 4"):
        reproduce([*args[:-1], "again"])
    with pytest.raises(ValueError, match=r"nowhere/vanilla.pretrain has no trainer_state.json"):
        reproduce(["--output_dir", str(tmp_path / "nowhere"), *args[2:-1], "elsewhere"])
    with pytest.raises(SystemExit, match="needs --loss_run"):
        reproduce(args[:-2])
    assert json.loads(losses_path.read_text()) == losses  # a refused call writes nothing


def test_seed_output_dir_copies_only_newer_checkpoints_and_missing_rows(tmp_path):
    source, out = tmp_path / "committed", tmp_path / "out"
    _trainer_state(source / "vanilla.pretrain" / "checkpoint-230", 10.0, 650, [(10.0, 2.9, 600.0)], 601.0)
    (source / "vanilla.pretrain" / "checkpoint-230" / "optimizer.pt").write_bytes(b"adam")
    _trainer_state(source / "synthesizer.pretrain" / "checkpoint-230", 10.0, 650, [(10.0, 2.1, 600.0)], 601.0)
    recorded = {"london": {"dev_accuracy": 0.05}, "vanilla.nopretrain": {"dev_accuracy": 0.028}}
    (source / "results.json").write_text(json.dumps({"machine": "old box", "stages": recorded}))
    _trainer_state(out / "vanilla.pretrain" / "checkpoint-23", 1.0, 650, [(1.0, 3.7, 60.0)], 61.0)  # older: seeded
    _trainer_state(out / "synthesizer.pretrain" / "checkpoint-460", 20.0, 650, [(20.0, 1.9, 1200.0)], 1201.0)  # newer
    (out / "results.json").write_text(json.dumps({"machine": "new box", "stages": {"london": {"dev_accuracy": 0.5}}}))

    stages = ["london", "vanilla.nopretrain", "vanilla.pretrain", "vanilla.finetune", "synthesizer.pretrain"]
    copied = seed_output_dir(str(source), str(out), stages)

    assert copied == [str(out / "vanilla.pretrain" / "checkpoint-230")]
    assert (out / "vanilla.pretrain" / "checkpoint-230" / "optimizer.pt").read_bytes() == b"adam"
    assert [row["stage"] for row in progress(str(out)) if row["epoch"] == 10.0] == ["vanilla.pretrain"]
    assert not (out / "synthesizer.pretrain" / "checkpoint-230").exists()
    results = json.loads((out / "results.json").read_text())
    assert results["machine"] == "new box"
    assert results["stages"] == {"london": {"dev_accuracy": 0.5}, "vanilla.nopretrain": {"dev_accuracy": 0.028}}
    assert seed_output_dir(str(source), str(out), stages) == []  # seeding twice copies nothing more
    with pytest.raises(ValueError, match="no directory"):
        seed_output_dir(str(tmp_path / "nowhere"), str(out), stages)


def _checkpoint_with_adam(folder: Path, epoch: float) -> None:
    _trainer_state(folder, epoch, 650, [(epoch, 2.0, 60.0 * epoch)], 60.0 * epoch)
    layer = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(layer.parameters())
    layer(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    torch.save(optimizer.state_dict(), folder / "optimizer.pt")


def test_export_checkpoints_writes_each_unfinished_stages_newest_compact_and_drops_older_copies(tmp_path):
    out, dest = tmp_path / "out", tmp_path / "committed"
    for step in (230, 253):
        _checkpoint_with_adam(out / "vanilla.pretrain" / f"checkpoint-{step}", step / 23)
    _checkpoint_with_adam(out / "synthesizer.pretrain" / "checkpoint-46", 2.0)
    _checkpoint_with_adam(dest / "synthesizer.pretrain" / "checkpoint-69", 3.0)  # the copy is newer: kept
    _checkpoint_with_adam(dest / "vanilla.pretrain" / "checkpoint-23", 1.0)  # older: replaced
    _checkpoint_with_adam(out / "vanilla.nopretrain" / "checkpoint-9", 1.0)
    (out / "vanilla.nopretrain" / "model.safetensors").write_bytes(b"")  # finished: nothing to continue

    written = export_checkpoints(str(out), str(dest), stage_names())

    assert written == [str(dest / "vanilla.pretrain" / "checkpoint-253")]
    assert sorted(p.name for p in (dest / "vanilla.pretrain").iterdir()) == ["checkpoint-253"]
    assert sorted(p.name for p in (dest / "synthesizer.pretrain").iterdir()) == ["checkpoint-69"]
    assert not (dest / "vanilla.nopretrain").exists()
    state = torch.load(dest / "vanilla.pretrain" / "checkpoint-253" / "optimizer.pt", weights_only=True)["state"]
    assert {key: value.dtype for key, value in state[0].items()} == {
        "step": torch.float32, "exp_avg": torch.bfloat16, "exp_avg_sq": torch.bfloat16
    }
    assert export_checkpoints(str(out), str(dest), stage_names()) == []  # nothing newer the second time
    elsewhere = tmp_path / "elsewhere"
    assert seed_output_dir(str(dest), str(elsewhere), stage_names()) == [
        str(elsewhere / "vanilla.pretrain" / "checkpoint-253"), str(elsewhere / "synthesizer.pretrain" / "checkpoint-69")
    ]


def test_a_finished_pretraining_is_exported_as_its_final_model_and_seeded_as_finished(tmp_path):
    out, dest, elsewhere = tmp_path / "out", tmp_path / "committed", tmp_path / "elsewhere"
    _checkpoint_with_adam(out / "vanilla.pretrain" / "checkpoint-14950", 650.0)
    (out / "vanilla.pretrain" / "epoch-600").mkdir()
    for name, content in (("model.safetensors", b"final"), ("config.json", b"{}"), ("train_results.json", b"{}")):
        (out / "vanilla.pretrain" / name).write_bytes(content)
    _checkpoint_with_adam(dest / "vanilla.pretrain" / "checkpoint-12719", 553.0)  # the unfinished run's copy

    written = export_checkpoints(str(out), str(dest), stage_names())

    assert written == [str(dest / "vanilla.pretrain")]
    assert sorted(p.name for p in (dest / "vanilla.pretrain").iterdir()) == [
        "config.json", "model.safetensors", "train_results.json"  # no checkpoint, no epoch-N model
    ]
    assert export_checkpoints(str(out), str(dest), stage_names()) == []  # already there
    _trainer_state(elsewhere / "vanilla.pretrain" / "checkpoint-23", 1.0, 650, [(1.0, 3.7, 60.0)], 61.0)
    assert seed_output_dir(str(dest), str(elsewhere), stage_names()) == [str(elsewhere / "vanilla.pretrain")]
    assert (elsewhere / "vanilla.pretrain" / "model.safetensors").read_bytes() == b"final"  # finished: not retrained
    assert (elsewhere / "vanilla.pretrain" / "checkpoint-23").exists()  # nothing of the target is removed
    assert seed_output_dir(str(dest), str(elsewhere), stage_names()) == []


COMMITTED_PRETRAININGS = sorted(ROOT.glob("docs/results/reproduce/*.pretrain"))


@pytest.mark.parametrize("stage", COMMITTED_PRETRAININGS, ids=lambda p: p.name)
def test_the_committed_pretrainings_of_the_faithful_run_are_final_models_or_resumable_checkpoints(stage):
    # `--continue_from docs/results/reproduce` takes a finished pretraining's model as it is, and resumes an unfinished
    # one from its checkpoint: a missing optimizer state would restart Adam.
    assert stage.name in {"vanilla.pretrain", "synthesizer.pretrain"}
    checkpoints = sorted(stage.glob("checkpoint-*"))
    if (stage / "model.safetensors").exists():
        assert checkpoints == []
        state = json.loads((stage / "trainer_state.json").read_text())
        assert round(state["epoch"]) == state["num_train_epochs"] == 650
        model, _ = load_checkpoint(str(stage))
    else:
        assert len(checkpoints) == 1
        (checkpoint,) = checkpoints
        names = {p.name for p in checkpoint.iterdir()}
        assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"} <= names
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        assert state["global_step"] == int(checkpoint.name.split("-")[1])
        assert state["num_train_epochs"] == 650
        model, _ = load_checkpoint(str(checkpoint))
    assert model.config.attention_type == stage.name.split(".")[0]


def test_machine_names_the_cpu_model_where_linux_tells_it():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists() or torch.cuda.is_available():
        pytest.skip("no /proc/cpuinfo, or a GPU names the machine")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
    capability = torch.backends.cpu.get_cpu_capability()
    assert names and machine() == f"{names[0]} ({capability}), {os.cpu_count()} CPU cores"


@pytest.mark.parametrize("recipe", sorted((ROOT / "scripts" / "configs").glob("reproduce_*.json")), ids=lambda p: p.name)
def test_every_reproduce_recipe_names_only_fields_that_a_stage_reads(recipe):
    check_recipe(json.loads(recipe.read_text()), recipe.name)


def test_a_recipe_typo_is_an_error_that_names_the_recipe():
    with pytest.raises(ValueError, match=r"my.json: unknown sections \['pretraining'\]"):
        check_recipe({"pretraining": {"max_steps": 3}}, "my.json")
    with pytest.raises(ValueError, match="my.json: .*num_epochs"):
        check_recipe({"training": {"num_epochs": 3}}, "my.json")


def test_the_readme_table_is_the_one_generated_from_the_recorded_results():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- reproduce-table -->\n", 1)[1].split("\n<!-- /reproduce-table -->", 1)[0]
    results = json.loads((ROOT / "docs" / "results" / "reproduce" / "results.json").read_text())
    assert table == markdown_table(results), "regenerate: python scripts/reproduce.py --table docs/results/reproduce/results.json"


def test_readout_curves_join_a_continued_runs_losses_and_style_each_variant_and_readout():
    point = {"epoch": 50, "dev_accuracy": 0.05}
    ranked = {"variants": {"vanilla": {"points": [point]}, "synthesizer": {"points": [point]}}}
    tuned = {"variants": {"vanilla": {"points": [{"epoch": 50, "dev_accuracy": 0.03}]}}}
    losses = {"runs": {
        "start": {"vanilla": {"1": 3.0, "2": 2.5}, "synthesizer": {"1": 2.9}},
        "more": {"vanilla": {"2": 2.4, "3": 2.2}},
    }}
    curves, styles = readout_curves({"ranked": ranked, "fine-tuned": tuned}, losses, ["start", "more"])
    assert list(curves) == ["vanilla, ranked", "vanilla, fine-tuned", "synthesizer, ranked"]
    (vanilla,) = curves["vanilla, ranked"]
    joined = [{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 2.4}, {"epoch": 3, "loss": 2.2}]  # "more" replaces epoch 2
    assert vanilla["pretraining_loss"] == joined
    assert vanilla["readout"] == {"rank": {}} and curves["vanilla, fine-tuned"][0]["readout"] == {"finetune": {}}
    assert curves["vanilla, fine-tuned"][0]["pretraining_loss"] == []  # one loss line per variant
    assert curves["synthesizer, ranked"][0]["pretraining_loss"] == [{"epoch": 1, "loss": 2.9}]
    colors = [styles[label]["color"] for label in curves]
    assert colors[0] == colors[1] != colors[2]
    assert styles["vanilla, ranked"]["linestyle"] != styles["vanilla, fine-tuned"]["linestyle"]
    with pytest.raises(KeyError, match="no run 'lost'"):
        readout_curves({"ranked": ranked}, losses, ["start", "lost"])


def test_readout_table_has_a_column_per_epoch_scored_and_a_dash_where_a_row_has_none():
    def point(epoch, correct, shuffled):
        return {"epoch": epoch, "dev_accuracy": correct / 500, "correct": correct, "expected_correct_if_shuffled": shuffled}

    ranked = {"variants": {"vanilla": {"points": [point(100, 27, 23.65)]},
                           "synthesizer": {"points": [point(50, 25, 24.5), point(100, 34, 20.4)]}}}
    assert readout_table({"ranked": ranked}).splitlines() == [
        "| pretraining epochs | 50 | 100 |",
        "| --- | --- | --- |",
        "| vanilla, ranked | – | 5.4% (27; 23.7) |",  # halves round up, as written, not as the float's digits
        "| synthesizer, ranked | 5.0% (25; 24.5) | 6.8% (34; 20.4) |",
    ]


def test_the_faithful_runs_figure_and_readme_tables_come_from_the_committed_results(tmp_path, capsys):
    plot = runpy.run_path(str(ROOT / "scripts" / "plot_readout_curves.py"), run_name="not_main")["main"]
    figure = tmp_path / "faithful.png"
    curves = plot(["--output_path", str(figure)])
    assert {"vanilla, ranked", "vanilla, fine-tuned", "synthesizer, ranked", "synthesizer, fine-tuned"} <= set(curves)
    assert figure.stat().st_size > 0
    tables = capsys.readouterr().out.strip().split("\n\n")
    assert len(tables) == 2 and tables[0].startswith("| pretraining epochs | 50 | 100 |")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for table in tables:
        assert table in readme, f"README.md lacks this readout table (scripts/plot_readout_curves.py):\n{table}"
    with pytest.raises(ValueError, match="give one each"):
        plot(["--output_path", str(figure), "--names", "ranked"])


def test_stages_runs_only_the_named_stages_and_keeps_recorded_rows(a5_data_dir, tmp_path):
    recorded = {"stages": {"vanilla.nopretrain": {"seconds": 3395.3, "dev_accuracy": 0.028}}}
    (tmp_path / "results.json").write_text(json.dumps(recorded))
    results = run_reproduction(str(a5_data_dir), str(tmp_path), stages=["london"])
    assert results["stages"] == {"london": {"dev_accuracy": 0.05}, **recorded["stages"]}
    assert sorted(os.listdir(tmp_path)) == ["results.json"]  # nothing trained


def test_stages_rejects_unknown_names_and_a_finetune_without_its_pretraining(a5_data_dir, tmp_path):
    assert stage_names(("synthesizer",)) == ["london", "synthesizer.pretrain", "synthesizer.finetune"]
    with pytest.raises(ValueError, match=r"unknown stages \['vanilla.pretrain'\]"):
        run_reproduction(str(a5_data_dir), str(tmp_path), variants=("synthesizer",), stages=["vanilla.pretrain"])
    with pytest.raises(ValueError, match="vanilla.finetune needs .*vanilla.pretrain, which is not finished"):
        run_reproduction(str(a5_data_dir), str(tmp_path), stages=["vanilla.finetune"])
    assert not (tmp_path / "vanilla.finetune").exists()


@pytest.mark.slow  # ~2 minutes on a quiet 2-core machine: three models answer 937 questions each
def test_reproduce_smoke_then_rerun_skips_finished_stages(a5_data_dir, tmp_path, capsys):
    main = runpy.run_path(str(ROOT / "scripts" / "reproduce.py"), run_name="not_main")["main"]
    args = ["--data_dir", str(a5_data_dir), "--output_dir", str(tmp_path),
            "--recipe", str(ROOT / "scripts" / "configs" / "reproduce_smoke.json")]
    results = main(args)
    stages = results["stages"]
    assert stages["london"]["dev_accuracy"] == 0.05  # 25 of 500, the documented baseline
    for name in ("vanilla.nopretrain", "vanilla.finetune", "synthesizer.finetune"):
        assert 0.0 <= stages[name]["dev_accuracy"] <= 1.0
        dev = (tmp_path / f"{name}.dev.predictions").read_text(encoding="utf-8").split("\n")
        test = (tmp_path / f"{name}.test.predictions").read_text(encoding="utf-8").split("\n")
        assert len(dev) - 1 == 500 and len(test) - 1 == 437
    table = capsys.readouterr().out
    assert "| London baseline | 5.0% | - |" in table and "synthesizer, pretrain + finetune" in table

    seconds = {k: v.get("seconds") for k, v in stages.items()}
    again = main(args)["stages"]
    assert {k: v.get("seconds") for k, v in again.items()} == seconds  # nothing retrained
    assert json.loads((tmp_path / "results.json").read_text())["stages"].keys() == again.keys()
    rows = progress(str(tmp_path))
    assert [row["stage"] for row in rows] == [
        "vanilla.nopretrain", "vanilla.pretrain", "vanilla.finetune", "synthesizer.pretrain", "synthesizer.finetune"
    ]
    assert all(row["done"] and row["epoch"] > 0 and row["wall_seconds"] > 0 for row in rows)
    for row in rows:  # every stage with the course trainer's optimiser groups and batches
        recipe = json.loads((tmp_path / row["stage"] / "training_recipe.json").read_text())
        assert ORIGINAL_CODE_ARGS.items() <= recipe["training_args"].items(), row["stage"]
