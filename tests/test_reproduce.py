"""The results-table pipeline at smoke size on the real data: every stage, resumable, a table from results.json."""

import json
import os
import runpy
from pathlib import Path

import pytest
import torch

from hf_birthplace.reproduce import _merge_results, check_recipe, machine, markdown_table

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


def test_machine_names_the_cpu_model_where_linux_tells_it():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists() or torch.cuda.is_available():
        pytest.skip("no /proc/cpuinfo, or a GPU names the machine")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
    assert names and machine() == f"{names[0]}, {os.cpu_count()} CPU cores"


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
