"""hf_birthplace.analysis.attention_maps on tiny models: the maps are causal distributions for both variants, the first
synthesizer layer's rows ignore the keys' contents while key-query rows do not, and the script draws the pictures."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from hf_birthplace import MASK_CHAR, CharGPTForCausalLM
from hf_birthplace.evaluation import predict_places
from hf_birthplace.analysis.attention_maps import (
    attention_weights,
    contrast_question,
    key_content_sensitivity,
    model_input,
    name_summary,
    question_maps,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "attention_maps.py"
QUESTION = "Where was Cyd Moe born?"  # every character is in the tiny corpus
BLOCK_SIZE = 40


def sharpened_model(config_factory, attention_type, seed=0):
    """A tiny model whose attention is far from uniform: at initialisation (std 0.02) every score is near 0 and every
    row near uniform, which would make "the row did not change" hold for the wrong reason."""
    torch.manual_seed(seed)
    model = CharGPTForCausalLM(config_factory(attention_type, block_size=BLOCK_SIZE)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight", "w1.weight", ".w2", ".b2", "wte.weight", "wpe.weight")):
                p.normal_(0.0, 1.0)
    return model


@pytest.fixture
def model(tiny_config_factory, attention_type):
    return sharpened_model(tiny_config_factory, attention_type)


def test_maps_are_causal_distributions(model, char_tokenizer):
    text = model_input(QUESTION, "Rome")
    att = attention_weights(model, char_tokenizer, text)
    T = len(text)
    assert att.shape == (2, 4, T, T)
    torch.testing.assert_close(att.sum(-1), torch.ones(2, 4, T))
    assert (att.triu(diagonal=1) == 0).all()
    # Far from uniform, or the next test would prove nothing.
    assert att[0, :, -1].max() > 3 / T


def test_first_synthesizer_layer_ignores_key_contents(tiny_config_factory, char_tokenizer):
    a = model_input(QUESTION, "Rome")
    b = model_input(contrast_question(QUESTION, "Cyd Moe"), "Rome")
    assert a != b and len(a) == len(b)
    vanilla = key_content_sensitivity(sharpened_model(tiny_config_factory, "vanilla"), char_tokenizer, a, b)
    synthesizer = key_content_sensitivity(sharpened_model(tiny_config_factory, "synthesizer"), char_tokenizer, a, b)
    # Row t of a synthesizer layer is a function of x_t and of the key positions; in layer 0, x_t is the token and the
    # position at t, unchanged for these rows. Key-query rows move as soon as a key's content does.
    assert synthesizer[0] < 1e-6
    assert vanilla[0] > 1e-2
    # From layer 1 on, x_t has mixed in earlier contents: the synthesizer's rows move too, through the query alone.
    assert synthesizer[1] > 1e-4


def test_sensitivity_needs_equal_lengths(model, char_tokenizer):
    with pytest.raises(ValueError, match="expected equal lengths"):
        key_content_sensitivity(model, char_tokenizer, "abc", "abcd")


def test_too_long_input_is_an_error(model, char_tokenizer):
    with pytest.raises(ValueError, match="reads at most"):
        attention_weights(model, char_tokenizer, "a" * (BLOCK_SIZE + 1))


def test_question_maps(model, char_tokenizer):
    maps = question_maps(model, char_tokenizer, QUESTION, "m", answer="Rome")
    assert maps.chars == list(QUESTION + MASK_CHAR + "Rome" + MASK_CHAR)
    assert maps.chars[maps.query] == MASK_CHAR and maps.query == len(QUESTION)
    assert question_maps(model, char_tokenizer, QUESTION, "m", answer=None).chars == list(QUESTION + MASK_CHAR)
    # The model's own answer, cut so that its closing MASK fits in the model's positions.
    own = question_maps(model, char_tokenizer, QUESTION, "m", answer="model")
    assert len(own.chars) <= model.config.max_sequence_length and own.chars[-1] == MASK_CHAR
    long = question_maps(model, char_tokenizer, QUESTION, "m", answer="Rome" * 10)
    assert len(long.chars) == model.config.max_sequence_length
    # A model fine-tuned with a question template is shown reading what it reads: the template, its own answer.
    model.config.question_template = "{name}."
    try:
        templated = question_maps(model, char_tokenizer, QUESTION, "m", answer="model")
        (expected,) = predict_places(model, char_tokenizer, [QUESTION])
    finally:
        model.config.question_template = None
    name = QUESTION.removeprefix("Where was ").removesuffix(" born?")
    assert templated.chars[: len(name) + 2] == list(name + "." + MASK_CHAR) and templated.query == len(name) + 1
    room = model.config.max_sequence_length - (len(name) + 1) - 2
    assert expected.error is None and "".join(templated.chars[len(name) + 2 : -1]) == expected.place[:room]


def test_name_summary(model, char_tokenizer):
    maps = question_maps(model, char_tokenizer, QUESTION, "m", answer="Rome")
    summary = name_summary(model, char_tokenizer, maps, "Cyd Moe")
    assert summary["contrast_question"] == "Where was eoM dyC born?"
    for key in ("mask_row_on_name_mean_over_heads", "mask_row_on_name_max_over_heads", "max_row_change_per_layer"):
        assert len(summary[key]) == 2 and all(0.0 <= v <= 1.0 for v in summary[key])
    shares = maps.attentions[:, :, maps.query, 10:17].sum(-1)  # "Cyd Moe" is characters 10..16
    assert summary["mask_row_on_name_max_over_heads"] == pytest.approx(shares.amax(1).tolist())


def test_script(tiny_config_factory, char_tokenizer, tmp_path, capsys):
    paths = []
    for kind in ("vanilla", "synthesizer"):
        path = tmp_path / kind
        sharpened_model(tiny_config_factory, kind).save_pretrained(path)
        char_tokenizer.save_pretrained(path)
        paths.append(str(path))
    (tmp_path / "dev.tsv").write_text(f"Where was Ann Lee born?\tParis\n{QUESTION}\tRome\n")
    spec = importlib.util.spec_from_file_location("attention_maps_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    summary = script.main(
        ["--model_paths", *paths, "--labels", "vanilla", "synthesizer", "--eval_path", str(tmp_path / "dev.tsv"),
         "--index", "1", "--answer", "gold", "--output_dir", str(tmp_path / "out")]
    )  # fmt: skip
    assert summary["gold"] == "Rome"
    assert summary["models"]["synthesizer"]["max_row_change_per_layer"][0] < 1e-6
    assert summary["models"]["vanilla"]["max_row_change_per_layer"][0] > 1e-2
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [
        "attention_map_grid.png",
        "attention_map_name_swap.png",
        "attention_map_query_rows.png",
        "attention_map_summary.json",
    ]
    for name in written[:3]:
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "out" / "attention_map_summary.json").read_text())["question"] == QUESTION
    with pytest.raises(ValueError, match="--answer gold needs"):
        script.main(["--model_paths", paths[0], "--question", QUESTION, "--answer", "gold"])
