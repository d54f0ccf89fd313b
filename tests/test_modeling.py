"""CharGPT config and model: behaviour of both attention variants on tiny configs."""

import json
import os
import textwrap

import pytest
import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, DynamicCache

from hf_birthplace import CharGPTConfig, CharGPTForCausalLM, CharGPTModel
from hf_birthplace.modeling_char_gpt import CharGPTSynthesizerAttention

from remote_code import run_without_hf_birthplace


def make_model(config, seed=0, perturb=0.2):
    """A model in eval mode whose every parameter is off its init (the zero position embedding and the near-zero
    synthesizer w2 would hide position bugs)."""
    torch.manual_seed(seed)
    model = CharGPTForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * perturb)
    return model.eval()


def random_ids(config, B, T, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(2, config.vocab_size, (B, T), generator=g)


# --- config ----------------------------------------------------------------------------------------------------------


def test_config_defaults_are_the_original_recipe():
    c = CharGPTConfig()
    assert (c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd) == (256, 128, 4, 8, 256)
    assert (c.embd_pdrop, c.resid_pdrop, c.attn_pdrop) == (0.1, 0.1, 0.1)
    assert c.attention_type == "vanilla" and c.model_type == "char_gpt"
    assert (c.pad_token_id, c.mask_token_id, c.eos_token_id) == (0, 1, 1)
    assert c.tie_word_embeddings is False


def test_config_exposes_hf_names():
    c = CharGPTConfig(hidden_size=64, num_hidden_layers=3, num_attention_heads=2, max_position_embeddings=32)
    assert (c.n_embd, c.n_layer, c.n_head, c.block_size) == (64, 3, 2, 32)
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.max_position_embeddings) == (64, 3, 2, 32)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="vanilla.*synthesizer"):
        CharGPTConfig(attention_type="linear")
    with pytest.raises(ValueError, match="divisible"):
        CharGPTConfig(n_embd=30, n_head=4)


def test_config_round_trip(tmp_path, tiny_config):
    tiny_config.save_pretrained(tmp_path)
    loaded = CharGPTConfig.from_pretrained(tmp_path)
    assert loaded.to_diff_dict() == tiny_config.to_diff_dict()


# --- architecture ----------------------------------------------------------------------------------------------------


def test_shapes_and_outputs(tiny_config):
    model = make_model(tiny_config)
    B, T = 3, 10
    out = model(random_ids(tiny_config, B, T), output_hidden_states=True, output_attentions=True)
    assert out.logits.shape == (B, T, tiny_config.vocab_size)
    assert len(out.hidden_states) == tiny_config.n_layer + 1
    assert all(h.shape == (B, T, tiny_config.n_embd) for h in out.hidden_states)
    assert len(out.attentions) == tiny_config.n_layer
    att = out.attentions[0]
    assert att.shape == (B, tiny_config.n_head, T, T)
    torch.testing.assert_close(att.sum(-1), torch.ones(B, tiny_config.n_head, T))
    assert (att.triu(diagonal=1) == 0).all()  # causal
    base = CharGPTModel(tiny_config).eval()
    assert base(random_ids(tiny_config, B, T)).last_hidden_state.shape == (B, T, tiny_config.n_embd)


def test_original_layout_and_init(tiny_config):
    torch.manual_seed(0)
    model = CharGPTForCausalLM(tiny_config)
    t = model.transformer
    assert t.wpe.weight.shape == (tiny_config.block_size, tiny_config.n_embd)
    assert (t.wpe.weight == 0).all()  # the original pos_emb starts at zeros
    assert model.lm_head.bias is None and model.lm_head.weight is not t.wte.weight
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.bias is not None:
            assert (module.bias == 0).all(), name
        if isinstance(module, nn.LayerNorm):
            assert (module.weight == 1).all() and (module.bias == 0).all(), name
    assert abs(model.lm_head.weight.std().item() - 0.02) < 0.004
    assert abs(t.wte.weight.std().item() - 0.02) < 0.004
    mlp = t.h[0].mlp
    assert mlp.c_fc.weight.shape == (4 * tiny_config.n_embd, tiny_config.n_embd)
    assert isinstance(mlp.act, nn.GELU) and mlp.act.approximate == "none"
    if tiny_config.attention_type == "synthesizer":
        attn = t.h[0].attn
        assert isinstance(attn, CharGPTSynthesizerAttention)
        assert attn.w2.shape == (tiny_config.n_embd // tiny_config.n_head, tiny_config.block_size - 1)
        assert attn.b2.shape == (tiny_config.block_size - 1,)
        assert attn.w2.abs().max() <= 0.001 and attn.w2.abs().max() > 0
        assert (attn.b2 == 0).all()


def test_weight_decay_rule_hits_linear_weights_and_w2(tiny_config):
    """The training code decays params with ndim >= 2 outside nn.Embedding/nn.LayerNorm: exactly the Linear weights
    (and the synthesizer's w2)."""
    model = CharGPTForCausalLM(tiny_config)
    decayed = set()
    for module_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            if p.ndim >= 2 and not isinstance(module, (nn.Embedding, nn.LayerNorm)):
                decayed.add(f"{module_name}.{name}")
    expected = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    if tiny_config.attention_type == "synthesizer":
        expected |= {f"transformer.h.{i}.attn.w2" for i in range(tiny_config.n_layer)}
    assert decayed == expected


# --- behaviour -------------------------------------------------------------------------------------------------------


def test_causality(tiny_config):
    model = make_model(tiny_config)
    T, t = tiny_config.max_sequence_length, 6
    ids = random_ids(tiny_config, 2, T)
    changed = ids.clone()
    changed[:, t + 1 :] = random_ids(tiny_config, 2, T - t - 1, seed=7)
    with torch.no_grad():
        a, b = model(ids).logits, model(changed).logits
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], rtol=0, atol=1e-6)
    assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])


def test_loss_shifts_labels_and_ignores_minus_100(tiny_config):
    model = make_model(tiny_config)
    ids = random_ids(tiny_config, 2, 9)
    labels = ids.clone()
    labels[0, :4] = -100
    labels[1, 7] = -100
    out = model(ids, labels=labels)
    logits = out.logits[:, :-1].reshape(-1, tiny_config.vocab_size)
    targets = labels[:, 1:].reshape(-1)
    keep = targets != -100
    expected = nn.functional.cross_entropy(logits[keep], targets[keep])
    torch.testing.assert_close(out.loss, expected)
    # What sits at an ignored position does not matter.
    other = labels.clone()
    other[other == -100] = -100
    other[0, :4] = -100
    assert torch.equal(model(ids, labels=other).loss, out.loss)
    # Trainer's gradient-accumulation contract: sum over targets / num_items_in_batch.
    n = int(keep.sum())
    torch.testing.assert_close(model(ids, labels=labels, num_items_in_batch=torch.tensor(2 * n)).loss, expected / 2)
    assert CharGPTForCausalLM.accepts_loss_kwargs is True


def test_right_padding_leaves_real_logits_unchanged(tiny_config):
    model = make_model(tiny_config)
    lengths = [5, 9]
    T = max(lengths) + 3
    ids = random_ids(tiny_config, 2, T)
    mask = torch.zeros(2, T, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
        ids[i, n:] = tiny_config.pad_token_id
    with torch.no_grad():
        batched = model(ids, attention_mask=mask).logits
        for i, n in enumerate(lengths):
            alone = model(ids[i : i + 1, :n]).logits
            torch.testing.assert_close(batched[i : i + 1, :n], alone, rtol=0, atol=1e-5)
        # Causal attention already hides right padding from real tokens: no mask gives the same real logits.
        torch.testing.assert_close(model(ids).logits[0, :5], batched[0, :5], rtol=0, atol=1e-5)


def test_left_padding_with_position_ids_matches_unpadded(tiny_config):
    model = make_model(tiny_config)
    ids = random_ids(tiny_config, 1, 7)
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), ids], dim=1)
    mask = torch.tensor([[0, 0, 0] + [1] * 7])
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        alone = model(ids).logits
        left = model(padded, attention_mask=mask, position_ids=position_ids).logits
    torch.testing.assert_close(left[:, 3:], alone, rtol=0, atol=1e-5)


def test_sdpa_matches_eager(tiny_config):
    model = make_model(tiny_config)
    assert model.config._attn_implementation == "sdpa"
    ids = random_ids(tiny_config, 2, tiny_config.max_sequence_length)
    mask = torch.ones_like(ids)
    mask[1, -4:] = 0
    with torch.no_grad():
        sdpa = [model(ids).logits, model(ids, attention_mask=mask).logits]
        model.set_attn_implementation("eager")
        assert model.config._attn_implementation == "eager"
        eager = [model(ids).logits, model(ids, attention_mask=mask).logits]
    for s, e in zip(sdpa, eager):
        torch.testing.assert_close(s, e, rtol=0, atol=1e-5)


def test_cached_forward_matches_full_forward(tiny_config):
    model = make_model(tiny_config)
    ids = random_ids(tiny_config, 2, 12)
    with torch.no_grad():
        full = model(ids).logits
        out = model(ids[:, :5], use_cache=True)
        assert isinstance(out.cache, DynamicCache) and out.cache.get_seq_length() == 5
        chunk = model(ids[:, 5:9], cache=out.cache, use_cache=True)  # a multi-token step after a prefix
        steps = [chunk.logits]
        cache = chunk.cache
        for t in range(9, 12):
            step = model(ids[:, t : t + 1], cache=cache, use_cache=True)
            cache = step.cache
            steps.append(step.logits)
    torch.testing.assert_close(torch.cat([out.logits, *steps], dim=1), full, rtol=0, atol=1e-5)


def test_deprecated_past_key_values_name_still_works(tiny_config):
    model = make_model(tiny_config)
    ids = random_ids(tiny_config, 1, 6)
    with torch.no_grad():
        cache = model(ids[:, :5], use_cache=True).cache
        with pytest.warns(FutureWarning, match="past_key_values"):
            step = model(ids[:, 5:], past_key_values=cache, use_cache=True)
    torch.testing.assert_close(step.logits[:, -1], model(ids).logits[:, -1], rtol=0, atol=1e-5)


def test_too_long_inputs_raise(tiny_config):
    model = make_model(tiny_config)
    limit = tiny_config.max_sequence_length
    assert limit == (tiny_config.block_size - (tiny_config.attention_type == "synthesizer"))
    model(random_ids(tiny_config, 1, limit))
    with pytest.raises(ValueError, match="positions"):
        model(random_ids(tiny_config, 1, limit + 1))
    cache = model(random_ids(tiny_config, 1, limit), use_cache=True).cache
    with pytest.raises(ValueError, match="cached"):
        model(random_ids(tiny_config, 1, 1), cache=cache)
    with pytest.raises(ValueError, match="position_ids"):
        model(random_ids(tiny_config, 1, 2), position_ids=torch.tensor([[0, limit]]))
    with pytest.raises(ValueError, match="positions"):
        model.generate(random_ids(tiny_config, 1, limit - 2), max_new_tokens=5, eos_token_id=None)


# --- generation ------------------------------------------------------------------------------------------------------


def until_eos(ids, eos=1):
    ids = ids.tolist()
    return ids[: ids.index(eos) + 1] if eos in ids else ids


def test_generation_config_defaults(tiny_config):
    g = CharGPTForCausalLM(tiny_config).generation_config
    assert (g.eos_token_id, g.pad_token_id, g.do_sample, g.max_new_tokens) == (1, 0, False, 32)


def test_generate_with_cache_equals_without(tiny_config):
    model = make_model(tiny_config)
    prompt = random_ids(tiny_config, 2, 4)
    n = tiny_config.max_sequence_length - 4
    cached = model.generate(prompt, max_new_tokens=n, use_cache=True, eos_token_id=None)
    uncached = model.generate(prompt, max_new_tokens=n, use_cache=False, eos_token_id=None)
    assert cached.shape == (2, tiny_config.max_sequence_length)
    assert torch.equal(cached, uncached)


def test_left_padded_batched_generation_equals_one_at_a_time(tiny_config):
    model = make_model(tiny_config)
    prompts = [random_ids(tiny_config, 1, n, seed=n)[0] for n in (3, 6, 5)]
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), tiny_config.pad_token_id)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = p
        mask[i, width - len(p) :] = 1
    n = tiny_config.max_sequence_length - width
    batched = model.generate(ids, attention_mask=mask, max_new_tokens=n)
    for i, p in enumerate(prompts):
        alone = model.generate(p[None], max_new_tokens=n)
        assert until_eos(batched[i, width:]) == until_eos(alone[0, len(p) :]), i


# --- training, precision, compilation --------------------------------------------------------------------------------


def test_training_step_changes_every_parameter(tiny_config):
    torch.manual_seed(0)
    model = CharGPTForCausalLM(tiny_config).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ids = random_ids(tiny_config, 4, tiny_config.max_sequence_length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loss = model(ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    assert unchanged == []


def test_gradient_checkpointing_gives_the_same_gradients(tiny_config):
    grads = []
    for checkpointing in (False, True):
        model = make_model(tiny_config)
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0  # same forward both times
        if checkpointing:
            model.activation_checkpointing_enable()
        model.train()
        ids = random_ids(tiny_config, 2, 8)
        model(ids, labels=ids).loss.backward()
        grads.append(model.lm_head.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_bf16_autocast(tiny_config):
    model = make_model(tiny_config)
    ids = random_ids(tiny_config, 2, 10)
    mask = torch.ones_like(ids)
    mask[0, -3:] = 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(ids, attention_mask=mask, labels=ids)
        generated = model.generate(ids[:, :4], max_new_tokens=4, eos_token_id=None)
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)
    out.loss.backward()
    assert generated.shape == (2, 8)
    reference = model(ids, attention_mask=mask).logits
    assert (out.logits.float() - reference).abs().max() < 0.25


def test_torch_compile_runs(tiny_config):
    model = make_model(tiny_config)
    ids = random_ids(tiny_config, 2, 10)
    compiled = torch.compile(model, backend="eager")  # dynamo tracing only: seconds, not minutes
    with torch.no_grad():
        torch.testing.assert_close(compiled(ids).logits, model(ids).logits)


@pytest.mark.slow
def test_torch_compile_inductor(tiny_config):
    model = make_model(tiny_config)
    model.train()
    ids = random_ids(tiny_config, 2, 10)
    compiled = torch.compile(model)
    compiled(ids, labels=ids).loss.backward()


# --- saving and loading ----------------------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path, tiny_config):
    model = make_model(tiny_config)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert {"configuration_char_gpt.py", "modeling_char_gpt.py"} <= set(os.listdir(tmp_path))
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_char_gpt.CharGPTConfig",
        "AutoModel": "modeling_char_gpt.CharGPTModel",
        "AutoModelForCausalLM": "modeling_char_gpt.CharGPTForCausalLM",
    }
    generation = json.loads((tmp_path / "generation_config.json").read_text())
    assert (generation["eos_token_id"], generation["pad_token_id"], generation["max_new_tokens"]) == (1, 0, 32)
    ids = random_ids(tiny_config, 2, 8)
    loaded = CharGPTForCausalLM.from_pretrained(tmp_path).eval()
    assert loaded.config.to_diff_dict() == model.config.to_diff_dict()
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)


def test_auto_classes_load_after_import(tmp_path, tiny_config, char_tokenizer):
    model = make_model(tiny_config)
    model.save_pretrained(tmp_path)
    char_tokenizer.save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), CharGPTConfig)
    # The local classes, not a remote-code copy, and no trust_remote_code needed.
    causal = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(causal) is CharGPTForCausalLM
    base = AutoModel.from_pretrained(tmp_path).eval()
    assert type(base) is CharGPTModel
    ids = random_ids(tiny_config, 1, 8)
    with torch.no_grad():
        assert torch.equal(causal(ids).logits, model(ids).logits)
        torch.testing.assert_close(
            base(ids).last_hidden_state, model.transformer(ids).last_hidden_state, rtol=0, atol=0
        )
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer("Ann Lee")["input_ids"] == char_tokenizer("Ann Lee")["input_ids"]


REMOTE_SCRIPT = textwrap.dedent(
    """
    import json, torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    reports = {}
    for path in sys.argv[1:]:
        config = AutoConfig.from_pretrained(path, trust_remote_code=True)
        model = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True).eval()
        base = AutoModel.from_pretrained(path, trust_remote_code=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=True)
        ids = tokenizer("Ann Lee was", return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = model(ids).logits
            hidden = base(ids).last_hidden_state
        generated = model.generate(ids, max_new_tokens=3, eos_token_id=None)
        reports[path] = {
            "config": type(config).__name__,
            "attention_type": config.attention_type,
            "model": type(model).__name__,
            "module": type(model).__module__,
            "base": type(base).__name__,
            "logits": logits[0, -1].tolist(),
            "hidden": hidden[0, -1].tolist(),
            "generated": generated[0].tolist(),
        }
    reports["loaded_modules"] = sorted(m for m in sys.modules if m.startswith("hf_birthplace"))
    print(json.dumps(reports))
    """
)


def test_trust_remote_code_without_hf_birthplace(tmp_path, tiny_config_factory, char_tokenizer):
    """Both variants load through auto_map + the saved .py files in a process that cannot import hf_birthplace."""
    models = {}
    for attention_type in ("vanilla", "synthesizer"):
        models[attention_type] = make_model(tiny_config_factory(attention_type))
        models[attention_type].save_pretrained(tmp_path / attention_type)
        char_tokenizer.save_pretrained(tmp_path / attention_type)
    paths = [str(tmp_path / a) for a in models]
    result = run_without_hf_birthplace(REMOTE_SCRIPT, paths, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = json.loads(result.stdout.strip().splitlines()[-1])
    assert reports.pop("loaded_modules") == []
    ids = char_tokenizer("Ann Lee was", return_tensors="pt")["input_ids"]
    for (attention_type, model), path in zip(models.items(), paths):
        report = reports[path]
        assert report["config"] == "CharGPTConfig" and report["attention_type"] == attention_type
        assert report["model"] == "CharGPTForCausalLM" and report["base"] == "CharGPTModel"
        assert not report["module"].startswith("hf_birthplace")
        with torch.no_grad():
            torch.testing.assert_close(torch.tensor(report["logits"]), model(ids).logits[0, -1], rtol=0, atol=1e-5)
            torch.testing.assert_close(
                torch.tensor(report["hidden"]), model.transformer(ids).last_hidden_state[0, -1], rtol=0, atol=1e-5
            )
        assert report["generated"] == model.generate(ids, max_new_tokens=3, eos_token_id=None)[0].tolist()
