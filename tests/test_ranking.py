"""Ranking the training file's places: cached scores equal full-sequence ones, and held-out lines choose the settings."""

import json
from types import SimpleNamespace

import pytest
import torch

from hf_birthplace import CharGPTForCausalLM
from hf_birthplace import ranking
from hf_birthplace.ranking import RankArguments, place_logprobs, read_places, run_ranking
from hf_birthplace.training import parse_args


@pytest.mark.parametrize("attention_type", ["vanilla", "synthesizer"])
def test_place_logprobs_equal_one_sequence_at_a_time(tiny_config_factory, char_tokenizer, attention_type):
    torch.manual_seed(0)
    model = CharGPTForCausalLM(tiny_config_factory(attention_type, block_size=32)).eval()
    prompts = ["Ann. Born in ", "Bo Ek was "]
    places = ["Rome", "Oslo", "a", "Paris"]
    fast = place_logprobs(model, char_tokenizer, prompts, places, batch_size=3)  # two batches, right padding
    vocab = char_tokenizer.get_vocab()
    ends = [i for char, i in vocab.items() if not char.isalnum()]
    with torch.no_grad():
        for n, prompt in enumerate(prompts):
            for k, place in enumerate(places):
                ids = char_tokenizer(prompt + place, add_special_tokens=False)["input_ids"]
                logprobs = model(torch.tensor([ids])).logits[0].log_softmax(-1)  # (T, V)
                expected = sum(logprobs[j - 1, ids[j]] for j in range(len(prompt), len(ids)))
                expected = expected + logprobs[-1, ends].logsumexp(-1)
                torch.testing.assert_close(fast[n, k], expected, rtol=1e-4, atol=1e-4)


def test_a_place_outside_the_vocabulary_is_never_chosen(tiny_config_factory, char_tokenizer):
    model = CharGPTForCausalLM(tiny_config_factory(block_size=32)).eval()
    scores = place_logprobs(model, char_tokenizer, ["Ann. Born in "], ["Rome", "Zürich\u2603"])
    assert torch.isfinite(scores[0, 0]) and scores[0, 1] == float("-inf")
    with pytest.raises(ValueError, match="exceed"):
        place_logprobs(model, char_tokenizer, ["x" * 29], ["Rome"])


GOLD = {"Ann": "Rome", "Bo": "Oslo", "Cy": "Lima", "Di": "Rome", "Ed": "Oslo", "Fay": "Lima", "Gus": "Bern"}


def fake_logprobs(model, tokenizer, prompts, places, **kwargs):
    """Every named prompt prefers London a little over its own place; the no-name prompt prefers London a lot."""
    rows = []
    for prompt in prompts:
        name = prompt.split(".")[0]
        if not name:
            rows.append([-0.5 if p == "London" else -6.0 for p in places])
        else:
            rows.append([-1.0 if p == "London" else -2.0 if p == GOLD.get(name) else -6.0 for p in places])
    return torch.tensor(rows)


def test_heldout_lines_choose_the_prior_weight_and_every_line_gets_one_prediction(tmp_path, monkeypatch):
    monkeypatch.setattr(ranking, "place_logprobs", fake_logprobs)
    train = "".join(f"Where was {n} born?\t{p}\n" for n, p in GOLD.items() if n not in ("Fay", "Gus"))
    train += "Where was Zed born?\tLondon\nWhere was Fay born?\tLima\nWhere was Gus born?\tBern\n"
    (tmp_path / "train.tsv").write_text(train, encoding="utf-8")
    dev = "Where was Ann born?\tRome\nnot a question\tRome\n\nWhere was Gus born?\tBern\nWhere was Cy born?\tLima\n"
    dev += f"Where was {'Long' * 8} born?\tRome\n"  # the prompt and "London" exceed the 40 positions
    (tmp_path / "dev.tsv").write_text(dev, encoding="utf-8")
    (tmp_path / "test.tsv").write_text("Where was Bo born?\nWhere was Ed born?\n", encoding="utf-8")
    args = RankArguments(
        model_name_or_path=["unused"], output_dir=str(tmp_path / "out"), data_dir=str(tmp_path),
        train_path="train.tsv", eval_paths=["dev.tsv", "test.tsv"], heldout_lines=2, pmi_weights=[0.0, 1.0],
    )
    monkeypatch.setattr(ranking, "load_checkpoint", lambda path: (FAKE_MODEL, _Vocab()))
    result = run_ranking(args)

    # Held out: Fay (Lima) and Gus (Bern, not among the other lines' places, so never right).
    assert [h["accuracy"] for h in result["heldout"]] == [0.0, 0.5]
    assert result["pmi_weight"] == 1.0 and result["candidates"] == 5
    dev_lines = (tmp_path / "out" / "dev.predictions").read_text(encoding="utf-8").split("\n")
    assert dev_lines == ["Rome", "", "", "Bern", "Lima", "", ""]
    assert result["evaluations"]["dev"]["correct"] == 3 and result["evaluations"]["dev"]["unreadable_lines"] == 3
    confidence = (tmp_path / "out" / "dev.predictions.confidence.tsv").read_text(encoding="utf-8").splitlines()
    assert "dev.tsv:2" in confidence[2] and "dev.tsv:3" in confidence[3]
    assert "dev.tsv:6: the name is 32 characters" in confidence[6] and "40 positions" in confidence[6]
    assert (tmp_path / "out" / "test.predictions").read_text(encoding="utf-8") == "Oslo\nOslo\n"
    assert json.loads((tmp_path / "out" / "selection.json").read_text())["prompts"] == ["{name}. Born in "]


def test_leave_one_out_ranks_each_training_line_among_the_places_of_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr(ranking, "place_logprobs", fake_logprobs)
    monkeypatch.setattr(ranking, "load_checkpoint", lambda path: (FAKE_MODEL, _Vocab()))
    train = "".join(f"Where was {n} born?\t{p}\n" for n, p in GOLD.items()) + "Where was Zed born?\tLondon\n"
    (tmp_path / "train.tsv").write_text(train, encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("Where was Ann born?\tRome\n", encoding="utf-8")
    args = RankArguments(model_name_or_path=["unused"], output_dir=str(tmp_path / "out"), data_dir=str(tmp_path),
                         train_path="train.tsv", eval_paths=["dev.tsv"], heldout_lines=8, pmi_weights=[0.0, 1.0],
                         leave_one_out=True)
    result = run_ranking(args)
    # All 8 lines choose. Gus (Bern) and Zed (London) answer places no other line answers: never right. Without
    # the prior every name says London; with it, the other six are right.
    assert [h["accuracy"] for h in result["heldout"]] == [0.0, 0.75]
    assert result["pmi_weight"] == 1.0 and result["leave_one_out"] and result["evaluations"]["dev"]["correct"] == 1
    assert not (tmp_path / "out" / "train.fit.tsv").exists()
    args.heldout_lines = 3  # Fay (Lima, also Cy's), Gus and Zed
    assert [h["accuracy"] for h in run_ranking(args)["heldout"]] == [0.0, 1 / 3]


FAKE_MODEL = SimpleNamespace(config=SimpleNamespace(max_sequence_length=40))


class _Vocab:
    def get_vocab(self):
        return {chr(c): c for c in range(32, 127)}


def test_read_places_names_the_line_without_a_place(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("Where was Ann born?\tRome\nWhere was Bo born?\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train.tsv:2: no place"):
        read_places(str(path))
    path.write_text("Where was Ann born?\tRome\nWhere was Bo born?\tOslo\nWhere was Cy born?\tRome\n")
    assert read_places(str(path)) == ["Rome", "Oslo"]


def test_heldout_lines_0_answers_with_the_one_setting_given(tmp_path, monkeypatch):
    monkeypatch.setattr(ranking, "place_logprobs", fake_logprobs)
    monkeypatch.setattr(ranking, "load_checkpoint", lambda path: (FAKE_MODEL, _Vocab()))
    (tmp_path / "train.tsv").write_text("Where was Zed born?\tLondon\nWhere was Cy born?\tLima\n", encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("Where was Cy born?\tLima\n", encoding="utf-8")
    args = RankArguments(model_name_or_path=["unused"], output_dir=str(tmp_path / "out"), data_dir=str(tmp_path),
                         train_path="train.tsv", eval_paths=["dev.tsv"], heldout_lines=0, pmi_weights=[0.0])
    assert run_ranking(args)["evaluations"]["dev"]["correct"] == 0  # London, without the prior
    args.pmi_weights = [1.0]
    assert run_ranking(args)["evaluations"]["dev"]["correct"] == 1
    assert not (tmp_path / "out" / "train.heldout.tsv").exists()
    metrics = json.loads((tmp_path / "out" / "dev.predictions.metrics.json").read_text())
    assert metrics["accuracy"] == 1.0 and metrics["gold_among_candidates"] == 1
    args.pmi_weights = [0.0, 1.0]
    with pytest.raises(ValueError, match="heldout_lines 0"):
        run_ranking(args)


def test_an_ensemble_adds_its_models_scores(tmp_path, monkeypatch):
    def logprobs(model, tokenizer, prompts, places, **kwargs):
        """Each model puts its own place first for every name, the name's gold place second."""
        golds = [GOLD.get(prompt.split(".")[0]) for prompt in prompts]
        return torch.tensor([[-1.0 if p == model.likes else -1.5 if p == g else -6.0 for p in places] for g in golds])

    checkpoints = {"a": SimpleNamespace(likes="Oslo", config=FAKE_MODEL.config),
                   "b": SimpleNamespace(likes="Lima", config=FAKE_MODEL.config)}
    monkeypatch.setattr(ranking, "place_logprobs", logprobs)
    monkeypatch.setattr(ranking, "load_checkpoint", lambda path: (checkpoints[path], _Vocab()))
    train = "Where was Ann born?\tRome\nWhere was Bo born?\tOslo\nWhere was Cy born?\tLima\n"
    (tmp_path / "train.tsv").write_text(train, encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("Where was Ann born?\tRome\nWhere was Di born?\tRome\n", encoding="utf-8")
    args = RankArguments(model_name_or_path=["a"], output_dir=str(tmp_path / "out"), data_dir=str(tmp_path),
                         train_path="train.tsv", eval_paths=["dev.tsv"], heldout_lines=0, pmi_weights=[0.0])
    # Alone, each model answers its own favourite; together, the place both rank second (the gold) wins.
    assert run_ranking(args)["evaluations"]["dev"]["correct"] == 0
    assert (tmp_path / "out" / "dev.predictions").read_text(encoding="utf-8") == "Oslo\nOslo\n"
    args.model_name_or_path = ["a", "b"]
    result = run_ranking(args)
    assert result["evaluations"]["dev"]["correct"] == 2 and result["model_name_or_path"] == ["a", "b"]
    assert (tmp_path / "out" / "dev.predictions").read_text(encoding="utf-8") == "Rome\nRome\n"


def test_an_ensemble_needs_one_vocabulary(monkeypatch):
    class Other(_Vocab):
        def get_vocab(self):
            return {"a": 0}

    monkeypatch.setattr(ranking, "load_checkpoint", lambda path: (FAKE_MODEL, Other() if path == "b" else _Vocab()))
    with pytest.raises(ValueError, match="b and a have different ones"):
        ranking.load_ensemble(["a", "b"])


def test_the_command_line_takes_several_checkpoints():
    (args,) = parse_args((RankArguments,), ["--model_name_or_path", "a", "b", "--output_dir", "out"])
    assert args.model_name_or_path == ["a", "b"]
