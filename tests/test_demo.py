"""The demo end to end at a reduced size (`scripts/configs/demo_ci.json`, fewer pretraining epochs than
`scripts/configs/demo.json`): every stage runs on the built-in world, writes what the README promises, and shows the
pretraining effect, so that a regression anywhere in span corruption, training or evaluation fails this test."""

import json
import runpy
from collections import Counter
from pathlib import Path

from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "data" / "world"


def test_demo_shows_the_pretraining_effect_and_writes_results(tmp_path):
    main = runpy.run_path(str(ROOT / "scripts" / "demo.py"), run_name="not_main")["main"]
    results = main(["--output_dir", str(tmp_path), "--recipe", str(ROOT / "scripts" / "configs" / "demo_ci.json")])
    written = json.loads((tmp_path / "results.json").read_text())
    assert written == results
    assert set(results) >= {"pretrained", "no_pretraining", "majority", "seconds", "total_seconds"}
    for key in ("pretrained", "no_pretraining", "majority"):
        assert 0.0 <= results[key] <= 1.0
    # The finding: only the pretrained model answers for people it was never fine-tuned on. The margins leave room
    # for run-to-run noise (see the recorded runs in README.md) and none for a broken pipeline, where every model
    # falls back to about the majority place's 11%.
    assert results["no_pretraining"] <= 0.2 and results["majority"] <= 0.15
    assert results["pretrained"] >= 0.35
    assert results["pretrained"] >= max(results["no_pretraining"], results["majority"]) + 0.2

    dev = [line.split("\t") for line in (WORLD / "dev.tsv").read_text(encoding="utf-8").splitlines()]
    train_places = Counter(line.split("\t")[1] for line in (WORLD / "train.tsv").read_text().splitlines())
    majority = train_places.most_common(1)[0][0]
    assert results["majority_place"] == majority
    assert results["majority"] == sum(gold == majority for _, gold in dev) / len(dev)
    for key in ("pretrained", "no_pretraining"):
        predictions = (tmp_path / f"{key}.dev.predictions").read_text(encoding="utf-8").split("\n")
        assert len(predictions) - 1 == len(dev) == results["dev_questions"]
        metrics = json.loads((tmp_path / f"{key}.dev.predictions.metrics.json").read_text())
        assert metrics["accuracy"] == results[key]
    # The fine-tuned model starts from the pretrained one: same architecture, different weights.
    pretrained = AutoModelForCausalLM.from_pretrained(tmp_path / "pretrain")
    finetuned = AutoModelForCausalLM.from_pretrained(tmp_path / "finetune")
    assert pretrained.config.n_embd == finetuned.config.n_embd == 64
    assert any(
        not (a == b).all() for a, b in zip(pretrained.state_dict().values(), finetuned.state_dict().values())
    )
