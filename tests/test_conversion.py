"""Conversion of original course checkpoints: a re-implementation of the original model (its key names, its forward
pass) is saved with torch.save, converted, and must give the same logits."""

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from hf_birthplace import CharGPTForCausalLM, convert_a5_checkpoint, convert_a5_state_dict, load_a5_checkpoint
from hf_birthplace.conversion import config_from_a5_state_dict
from hf_birthplace.tokenization_char import char_vocab

REPO_ROOT = Path(__file__).resolve().parents[1]

# --- the original model (CS224N a5 src/model.py, src/attention.py), key names and forward pass as written there ------


class OriginalConfig:
    embd_pdrop = resid_pdrop = attn_pdrop = 0.1

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, synthesizer):
        self.vocab_size, self.block_size = vocab_size, block_size
        self.n_layer, self.n_head, self.n_embd = n_layer, n_head, n_embd
        self.synthesizer = synthesizer


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.key = nn.Linear(config.n_embd, config.n_embd)
        self.query = nn.Linear(config.n_embd, config.n_embd)
        self.value = nn.Linear(config.n_embd, config.n_embd)
        self.attn_drop = nn.Dropout(config.attn_pdrop)
        self.resid_drop = nn.Dropout(config.resid_pdrop)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        mask = torch.tril(torch.ones(config.block_size, config.block_size))
        self.register_buffer("mask", mask.view(1, 1, config.block_size, config.block_size))
        self.n_head = config.n_head

    def forward(self, x):
        B, T, C = x.size()
        k = self.key(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = self.query(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = self.value(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, -1e10)
        att = F.softmax(att, dim=-1)
        att = self.attn_drop(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_drop(self.proj(y))


class SynthesizerAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.w1 = nn.Linear(config.n_embd, config.n_embd)
        self.w2 = nn.Parameter(torch.zeros(config.n_embd // config.n_head, config.block_size - 1))
        self.b2 = nn.Parameter(torch.zeros(config.block_size - 1))
        self.value = nn.Linear(config.n_embd, config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.attn_drop = nn.Dropout(config.attn_pdrop)
        self.resid_drop = nn.Dropout(config.resid_pdrop)
        mask = torch.tril(torch.ones(config.block_size, config.block_size))
        self.register_buffer("mask", mask.view(1, 1, config.block_size, config.block_size))
        self.n_head = config.n_head
        self.block_size = config.block_size
        nn.init.uniform_(self.w2, -0.001, 0.001)

    def forward(self, x):
        B, T, C = x.size()
        a = F.relu(self.w1(x)).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = self.value(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = a @ self.w2[:, :T] + self.b2[:T]
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, -1e10)
        att = F.softmax(att, dim=-1)
        att = self.attn_drop(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.attn = SynthesizerAttention(config) if config.synthesizer else CausalSelfAttention(config)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.resid_pdrop),
        )

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        return x


class OriginalGPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, config.block_size, config.n_embd))
        self.drop = nn.Dropout(config.embd_pdrop)
        self.blocks = nn.Sequential(*[Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.block_size = config.block_size

    def forward(self, idx):
        b, t = idx.size()
        assert t <= self.block_size, "Cannot forward, model block size is exhausted."
        x = self.drop(self.tok_emb(idx) + self.pos_emb[:, :t, :])
        x = self.blocks(x)
        x = self.ln_f(x)
        return self.head(x)


# --- fixtures --------------------------------------------------------------------------------------------------------

BLOCK_SIZE, N_LAYER, N_HEAD, N_EMBD = 16, 2, 4, 32


@pytest.fixture(scope="module", params=["vanilla", "synthesizer"])
def original(request, tmp_path_factory, tiny_corpus):
    """(variant, original model in eval mode, path of its torch.save'd state dict), every parameter random."""
    variant = request.param
    torch.manual_seed(0)
    config = OriginalConfig(len(char_vocab(tiny_corpus)), BLOCK_SIZE, N_LAYER, N_HEAD, N_EMBD, variant == "synthesizer")
    model = OriginalGPT(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    path = tmp_path_factory.mktemp(variant) / f"{variant}.params"
    torch.save(model.state_dict(), path)
    return variant, model.eval(), path


def inputs(vocab_size, lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab_size, (2, n), generator=g) for n in lengths]


# --- equivalence -----------------------------------------------------------------------------------------------------


def test_config_is_inferred_from_shapes(original):
    variant, model, path = original
    state_dict = torch.load(path, weights_only=True)
    config = config_from_a5_state_dict(state_dict, variant, n_head=N_HEAD if variant == "vanilla" else None)
    assert (config.vocab_size, config.block_size, config.n_layer, config.n_head, config.n_embd) == (
        model.tok_emb.num_embeddings,
        BLOCK_SIZE,
        N_LAYER,
        N_HEAD,
        N_EMBD,
    )
    assert config.attention_type == variant
    if variant == "vanilla":  # n_head is invisible in a vanilla checkpoint: the original recipe's 8 by default
        assert config_from_a5_state_dict(state_dict, variant).n_head == 8


def test_converted_logits_equal_the_originals(original):
    variant, model, path = original
    converted = load_a5_checkpoint(path, variant, n_head=N_HEAD)
    assert not converted.training
    lengths = [1, 5, BLOCK_SIZE - 1] + ([BLOCK_SIZE] if variant == "vanilla" else [])
    with torch.no_grad():
        for ids in inputs(model.tok_emb.num_embeddings, lengths):
            torch.testing.assert_close(converted(ids).logits, model(ids), rtol=0, atol=1e-4)


def test_state_dict_api_and_data_parallel_prefix(original):
    variant, model, path = original
    state_dict = {f"module.{k}": v for k, v in torch.load(path, weights_only=True).items()}
    config = config_from_a5_state_dict(state_dict, variant, n_head=N_HEAD)
    ours = CharGPTForCausalLM(config).eval()
    ours.load_state_dict(convert_a5_state_dict(state_dict, config), strict=True)
    ids = inputs(config.vocab_size, [7])[0]
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, model(ids), rtol=0, atol=1e-4)


def test_full_checkpoint_loads_with_auto_classes(original, tmp_path, tiny_corpus):
    variant, model, path = original
    corpus = tmp_path / "wiki.txt"
    corpus.write_text(tiny_corpus, encoding="utf-8")
    out = convert_a5_checkpoint(path, variant, corpus, tmp_path / "hf", n_head=N_HEAD)
    assert (out / "model.safetensors").exists() and (out / "modeling_char_gpt.py").exists()
    hf = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert hf.generation_config.eos_token_id == tokenizer.mask_token_id == 1
    ids = tokenizer(["Ann Lee was bo", "Where was Cyd "], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, model(ids), rtol=0, atol=1e-4)


def test_script(original, tmp_path, tiny_corpus):
    variant, model, path = original
    spec = importlib.util.spec_from_file_location("convert_script", REPO_ROOT / "scripts" / "convert_a5_checkpoint.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    corpus = tmp_path / "wiki.txt"
    corpus.write_text(tiny_corpus, encoding="utf-8")
    argv = [str(path), "--variant", variant, "--corpus", str(corpus), "--output_dir", str(tmp_path / "out")]
    argv += ["--n_head", str(N_HEAD)]
    result = script.main(script.parse_args(argv))
    hf = AutoModelForCausalLM.from_pretrained(result["output_dir"]).eval()
    ids = inputs(hf.config.vocab_size, [9])[0]
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, model(ids), rtol=0, atol=1e-4)


# --- bad input -------------------------------------------------------------------------------------------------------


def test_missing_key_is_named(original):
    variant, _, path = original
    state_dict = torch.load(path, weights_only=True)
    del state_dict["blocks.1.ln2.bias"]
    config = config_from_a5_state_dict(state_dict, variant, n_head=N_HEAD)
    with pytest.raises(ValueError, match=r"'blocks\.1\.ln2\.bias'.*shape \(32,\)"):
        convert_a5_state_dict(state_dict, config)


def test_wrong_variant_is_named(original):
    variant, _, path = original
    other = "synthesizer" if variant == "vanilla" else "vanilla"
    with pytest.raises(ValueError, match=f"variant='{other}'.*{variant}"):
        load_a5_checkpoint(path, other)
    with pytest.raises(ValueError, match="vanilla.*synthesizer"):
        load_a5_checkpoint(path, "linear")


def test_disagreeing_shapes_are_named(original):
    variant, _, path = original
    state_dict = torch.load(path, weights_only=True)
    config = config_from_a5_state_dict(state_dict, variant, n_head=N_HEAD)
    bad = dict(state_dict, **{"head.weight": state_dict["head.weight"][:-1]})
    with pytest.raises(ValueError, match=r"'head\.weight'.*expected \(%d, 32\)" % config.vocab_size):
        convert_a5_state_dict(bad, config)
    bad = dict(state_dict, **{"pos_emb": state_dict["pos_emb"][0]})
    with pytest.raises(ValueError, match=r"'pos_emb'.*\(1, block_size, 32\)"):
        config_from_a5_state_dict(bad, variant)
    bad = dict(state_dict, **{"blocks.0.extra": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"blocks\.0\.extra"):
        convert_a5_state_dict(bad, config)


def test_synthesizer_head_count_is_checked(original):
    variant, _, path = original
    if variant != "synthesizer":
        pytest.skip("only the synthesizer's w2 reveals n_head")
    with pytest.raises(ValueError, match=r"n_head=2 .*blocks\.0\.attn\.w2"):
        load_a5_checkpoint(path, variant, n_head=2)


def test_corpus_must_match_the_vocabulary(original, tmp_path):
    variant, _, path = original
    corpus = tmp_path / "other.txt"
    corpus.write_text("abc", encoding="utf-8")
    with pytest.raises(ValueError, match="tok_emb.weight"):
        convert_a5_checkpoint(path, variant, corpus, tmp_path / "hf", n_head=N_HEAD)


def test_run_py_reads_an_original_params_file(original, tmp_path, tiny_corpus):
    """`run.py evaluate --reading_params_path X.params` converts the original checkpoint once, to X.params.hf/."""
    variant, _, path = original
    params = tmp_path / path.name
    params.write_bytes(path.read_bytes())
    corpus = tmp_path / "wiki.txt"
    corpus.write_text(tiny_corpus, encoding="utf-8")
    questions = tmp_path / "dev.tsv"
    questions.write_text("Ann?\tParis\nBob?\tOslo\n", encoding="utf-8")
    if variant == "vanilla":
        pytest.skip("run.py, like the original, assumes 8 vanilla heads (not inferable); this tiny original has 4")
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "run.py"), "evaluate", variant, str(corpus),
         "--reading_params_path", str(params), "--eval_corpus_path", str(questions), "--outputs_path", "preds"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Correct: " in proc.stdout and " out of 2: " in proc.stdout
    assert (tmp_path / f"{path.name}.hf" / "model.safetensors").exists()
    assert len((tmp_path / "preds").read_text(encoding="utf-8").split("\n")) - 1 == 2
