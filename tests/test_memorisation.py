"""The memorisation probe: batched greedy continuations equal one-at-a-time ones, and the counts follow the rules."""

import json

import pytest
import torch

from hf_birthplace import CharGPTForCausalLM
from hf_birthplace.analysis import memorisation
from hf_birthplace.analysis.memorisation import (
    ProbeArguments,
    checkpoint_epoch,
    greedy_continuations,
    load_probe_questions,
    run_probe,
    title_probe,
)


@pytest.mark.parametrize("attention_type", ["vanilla", "synthesizer"])
def test_batched_continuations_equal_one_at_a_time(tiny_config_factory, char_tokenizer, attention_type):
    torch.manual_seed(0)
    model = CharGPTForCausalLM(tiny_config_factory(attention_type)).eval()
    prompts = ["Ann Lee.", "Bob.", "Cyd Moe was"]
    together = greedy_continuations(model, char_tokenizer, prompts, max_new_tokens=6, batch_size=8)
    alone = [greedy_continuations(model, char_tokenizer, [p], max_new_tokens=6)[0] for p in prompts]
    assert together == alone
    # Writing the MASK (the model's end-of-answer id) does not end a continuation.
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.weight[char_tokenizer.mask_token_id] = 1.0
        model.lm_head.weight[char_tokenizer.mask_token_id, 0] = 0.0
    masks = greedy_continuations(model, char_tokenizer, ["Bob."], max_new_tokens=5)
    assert len(masks[0]) == 5
    # Never past the model's positions: "Cyd Moe was" (11 characters) leaves 16 - 11 (vanilla) or 15 - 11.
    assert len(together[2]) == model.config.max_sequence_length - 11
    with pytest.raises(ValueError, match="leave no room"):
        greedy_continuations(model, char_tokenizer, ["x" * 20])


def test_probe_counts_whole_places_outside_the_name(tmp_path, monkeypatch):
    corpus = tmp_path / "wiki.txt"
    corpus.write_text(
        "Ann Lee. Ann Lee was born in Paris.\nJack London. Jack London was born in Oakland.\nBo Ek. Bo Ek sings.\n",
        encoding="utf-8",
    )
    dev = tmp_path / "dev.tsv"
    dev.write_text(
        "Where was Ann Lee born?\tParis\nWhere was Jack London born?\tLondon\nWhere was Bo Ek born?\tRome\n"
        "Where was Zed born?\tOslo\n",
        encoding="utf-8",
    )
    written = {
        "Ann Lee.": " Ann Lee was born in Paris.",  # found
        "Jack London.": " Jack London was born in Londonderry.",  # the name and a longer word: not found
        "Bo Ek.": " Bo Ek was born in Rome.",  # found, though the document never says it
    }
    monkeypatch.setattr(memorisation, "greedy_continuations", lambda m, t, prompts, **kw: [written[p] for p in prompts])
    probe = load_probe_questions(str(dev), str(corpus))
    r = title_probe(None, None, probe)
    assert (r["questions"], r["titled"], r["gold_in_document"], r["gold_in_continuation"]) == (4, 3, 1, 2)
    assert r["gold_first"] == 0
    assert r["gold_in_continuation_share"] == 0.5 and r["gold_in_continuation_when_in_document"] == 1.0
    # Chance: Ann's Paris in Jack's continuation? no; Jack's London in Bo's? no; Bo's Rome in Ann's? no.
    assert r["gold_in_other_continuation"] == 0
    written["Ann Lee."] = " Ann Lee was born in Rome."
    assert title_probe(None, None, probe)["gold_in_other_continuation"] == 1  # Bo's Rome, Ann's text
    # Another prompt: the place first ("Londonderry" does not start with the place "London").
    written.update({"Ann Lee. Born in": " Paris, Ann", "Jack London. Born in": "Londonderry", "Bo Ek. Born in": "Rome."})
    r = title_probe(None, None, probe, prompt="{name}. Born in")
    assert (r["prompt"], r["gold_first"], r["gold_in_continuation"]) == ("{name}. Born in", 2, 2)
    assert [e["found"] for e in r["examples"]] == [True, False, True]


def test_probe_script_writes_every_checkpoint(tmp_path, tiny_config_factory, char_tokenizer):
    (tmp_path / "wiki.txt").write_text("Ann Lee. Ann Lee was born in Paris.\n", encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("Where was Ann Lee born?\tParis\n", encoding="utf-8")
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        path = tmp_path / "run" / f"epoch-{10 * (seed + 1)}"
        CharGPTForCausalLM(tiny_config_factory("vanilla")).save_pretrained(path)
        char_tokenizer.save_pretrained(path)
        paths.append(str(path))
    out = tmp_path / "probe.json"
    results = run_probe(
        ProbeArguments(model_name_or_paths=paths, data_dir=str(tmp_path), eval_path="dev.tsv", output_json=str(out),
                       figure_path=str(tmp_path / "probe.png"))
    )
    assert list(results) == paths and json.loads(out.read_text(encoding="utf-8")) == results
    assert all(list(r) == ["{name}."] for r in results.values())
    assert all(r["{name}."]["titled"] == 1 and r["{name}."]["gold_in_document"] == 1 for r in results.values())
    assert [checkpoint_epoch(p) for p in paths] == [10.0, 20.0] and (tmp_path / "probe.png").stat().st_size > 0
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "trainer_state.json").write_text('{"epoch": 30.0}', encoding="utf-8")
    assert checkpoint_epoch(str(tmp_path / "final")) == 30.0 and checkpoint_epoch(str(tmp_path)) is None
