"""Attention entropy: exact on hand-set attention, collapse visible, script end to end on a tiny checkpoint."""

import json
import math
import runpy
from collections import Counter
from pathlib import Path

import pytest
import torch

from hf_birthplace import CharGPTForCausalLM
from hf_birthplace.analysis.attention_entropy import attention_entropy, sample_lines

ROOT = Path(__file__).resolve().parents[1]


def _texts(tiny_corpus, length=12, count=3):
    return sample_lines(tiny_corpus.splitlines(), length, count)


def test_uniform_attention_has_the_uniform_entropy(tiny_config_factory, char_tokenizer, tiny_corpus):
    # Zero query weights and biases: every score is 0, every causal row uniform, its entropy log(t + 1).
    model = CharGPTForCausalLM(tiny_config_factory("vanilla"))
    with torch.no_grad():
        for layer in model.transformer.h:
            layer.attn.q_proj.weight.zero_()
            layer.attn.q_proj.bias.zero_()
    texts = _texts(tiny_corpus)
    measured = attention_entropy(model, char_tokenizer, texts, first_query=4)
    uniform = sum(math.log(t + 1) for t in range(4, 12)) / 8
    assert measured["uniform_entropy"] == pytest.approx(uniform, abs=1e-4)
    # Every weight of a row ties; the largest is taken as the first key, so it lands on each text's first character.
    [(first, count)] = Counter(t[0] for t in texts).most_common(1)
    for layer in measured["layers"]:
        assert layer["entropy"] == pytest.approx([uniform] * 4, abs=1e-3)
        assert layer["max_weight"] == pytest.approx([sum(1 / (t + 1) for t in range(4, 12)) / 8] * 4, abs=1e-3)
        assert layer["mean_distance"] == [7.5] * 4  # the mean query position, 4..11
        assert layer["top_key"] == [[first, round(count / 3, 4)]] * 4


def test_large_scores_collapse_the_rows(tiny_config_factory, char_tokenizer, tiny_corpus):
    torch.manual_seed(0)
    model = CharGPTForCausalLM(tiny_config_factory("vanilla"))
    with torch.no_grad():
        for layer in model.transformer.h:
            layer.attn.q_proj.weight.mul_(1e3)
            layer.attn.k_proj.weight.mul_(1e3)
    measured = attention_entropy(model, char_tokenizer, _texts(tiny_corpus), first_query=4)
    # One-hot rows but where two keys tie (a repeated character): far below the uniform rows' entropy (~2.1 here).
    entropies = [e for layer in measured["layers"] for e in layer["entropy"]]
    assert sum(entropies) / len(entropies) < 0.1 * measured["uniform_entropy"]
    assert min(w for layer in measured["layers"] for w in layer["max_weight"]) > 0.8
    for layer in measured["layers"]:
        assert all(0 <= d <= 11 for d in layer["mean_distance"])
        assert all(len(c) == 1 and 1 / 3 / 8 <= share <= 1 for c, share in layer["top_key"])


def test_texts_of_different_lengths_and_too_few_lines_are_errors(tiny_config_factory, char_tokenizer):
    model = CharGPTForCausalLM(tiny_config_factory("synthesizer"))
    with pytest.raises(ValueError, match="one length"):
        attention_entropy(model, char_tokenizer, ["abcdefgh", "abcdefghij"], first_query=2)
    with pytest.raises(ValueError, match="first_query=9"):
        attention_entropy(model, char_tokenizer, ["abcdefgh"], first_query=9)
    with pytest.raises(ValueError, match="1 documents have 5\\+ characters; 2 asked"):
        sample_lines(["abcde", "abc"], 5, 2)


def test_script_writes_every_model(tiny_config_factory, char_tokenizer, tiny_corpus, tmp_path):
    paths = []
    for kind in ("vanilla", "synthesizer"):
        path = tmp_path / kind
        CharGPTForCausalLM(tiny_config_factory(kind)).save_pretrained(path)
        char_tokenizer.save_pretrained(path)
        paths.append(str(path))
    main = runpy.run_path(str(ROOT / "scripts" / "attention_entropy.py"), run_name="not_main")["main"]
    out = tmp_path / "entropy.json"
    corpus = tmp_path / "wiki.txt"
    corpus.write_text(tiny_corpus, encoding="utf-8")
    main(["--model_paths", *paths, "--corpus_path", str(corpus), "--length", "12", "--count", "3",
          "--first_query", "4", "--output_json", str(out)])
    written = json.loads(out.read_text())
    assert list(written["models"]) == paths
    assert [m["attention_type"] for m in written["models"].values()] == ["vanilla", "synthesizer"]
    assert all(len(m["layers"]) == 2 and len(m["layers"][0]["entropy"]) == 4 for m in written["models"].values())
