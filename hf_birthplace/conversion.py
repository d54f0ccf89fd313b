"""Convert checkpoints of the original course code (`torch.save(model.state_dict(), path)`) to CharGPT.

Original key                                   -> CharGPT key
tok_emb.weight                                 -> transformer.wte.weight
pos_emb (1, block_size, n_embd)                -> transformer.wpe.weight (block_size, n_embd)
blocks.{i}.ln1.{weight,bias}                   -> transformer.h.{i}.ln_1.*
blocks.{i}.ln2.{weight,bias}                   -> transformer.h.{i}.ln_2.*
blocks.{i}.attn.{query,key,value,proj}.*       -> transformer.h.{i}.attn.{q_proj,k_proj,v_proj,o_proj}.*  (vanilla)
blocks.{i}.attn.{w1.*,w2,b2,value.*,proj.*}    -> transformer.h.{i}.attn.{w1.*,w2,b2,v_proj.*,o_proj.*}   (synthesizer)
blocks.{i}.attn.mask                           -> dropped (a constant causal-mask buffer)
blocks.{i}.mlp.0.* / blocks.{i}.mlp.2.*        -> transformer.h.{i}.mlp.c_fc.* / .c_proj.*
ln_f.*                                         -> transformer.ln_f.*
head.weight                                    -> lm_head.weight

The config is read off the shapes (vocab_size, n_embd, block_size, n_layer); n_head is not visible in a vanilla
checkpoint (8 in the original recipe, or pass it), and is n_embd // w2.shape[0] in a synthesizer one.
"""

import os
import re
from pathlib import Path

import torch

from .configuration_char_gpt import ATTENTION_TYPES, CharGPTConfig
from .modeling_char_gpt import CharGPTForCausalLM
from .tokenization_char import build_char_tokenizer

ORIGINAL_N_HEAD = 8

_ATTENTION_KEYS = {
    "vanilla": {"query": "q_proj", "key": "k_proj", "value": "v_proj", "proj": "o_proj"},
    "synthesizer": {"w1": "w1", "value": "v_proj", "proj": "o_proj"},
}
_BLOCK_KEYS = {"ln1": "ln_1", "ln2": "ln_2", "mlp.0": "mlp.c_fc", "mlp.2": "mlp.c_proj"}


def _rename(variant: str, n_layer: int) -> dict[str, str]:
    """Original key -> CharGPT key, for every tensor the original model holds (mask buffers excluded)."""
    names = {
        "tok_emb.weight": "transformer.wte.weight",
        "pos_emb": "transformer.wpe.weight",
        "ln_f.weight": "transformer.ln_f.weight",
        "ln_f.bias": "transformer.ln_f.bias",
        "head.weight": "lm_head.weight",
    }
    for i in range(n_layer):
        modules = {**_BLOCK_KEYS, **{f"attn.{k}": f"attn.{v}" for k, v in _ATTENTION_KEYS[variant].items()}}
        for original, ours in modules.items():
            for leaf in ("weight", "bias"):
                names[f"blocks.{i}.{original}.{leaf}"] = f"transformer.h.{i}.{ours}.{leaf}"
        if variant == "synthesizer":
            names[f"blocks.{i}.attn.w2"] = f"transformer.h.{i}.attn.w2"
            names[f"blocks.{i}.attn.b2"] = f"transformer.h.{i}.attn.b2"
    return names


def _require(state_dict, key, what):
    if key not in state_dict:
        raise ValueError(f"conversion.py: the original checkpoint has no {key!r} ({what}).")
    return state_dict[key]


def _strip_module_prefix(state_dict):
    # A model saved from inside nn.DataParallel has every key under "module.".
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module.") :]: v for k, v in state_dict.items()}
    return dict(state_dict)


def config_from_a5_state_dict(state_dict, variant: str, n_head: int | None = None, **config_kwargs) -> CharGPTConfig:
    """Infer the CharGPTConfig of an original state dict from its shapes.

    `n_head` defaults to the original recipe's 8 for vanilla and is read off `w2` for the synthesizer (a disagreeing
    value is an error). `config_kwargs` go to CharGPTConfig (e.g. dropout values for further training).
    """
    if variant not in ATTENTION_TYPES:
        raise ValueError(f"conversion.py: variant={variant!r} is not valid; expected one of {ATTENTION_TYPES}.")
    state_dict = _strip_module_prefix(state_dict)
    vocab_size, n_embd = _require(state_dict, "tok_emb.weight", "the token embedding (vocab_size, n_embd)").shape
    pos_emb = _require(state_dict, "pos_emb", "the position embedding (1, block_size, n_embd)")
    if pos_emb.dim() != 3 or pos_emb.shape[0] != 1 or pos_emb.shape[2] != n_embd:
        raise ValueError(
            f"conversion.py: 'pos_emb' has shape {tuple(pos_emb.shape)}; expected (1, block_size, {n_embd}) "
            f"with n_embd={n_embd} from 'tok_emb.weight'."
        )
    block_size = pos_emb.shape[1]
    layers = {int(m.group(1)) for k in state_dict if (m := re.match(r"blocks\.(\d+)\.", k))}
    n_layer = len(layers)
    if layers != set(range(n_layer)):
        raise ValueError(f"conversion.py: block indices {sorted(layers)} are not 0..{n_layer - 1}; a block is missing.")

    # The first block tells the variants apart: query/key for vanilla, w1 for the synthesizer (both have value/proj).
    distinctive = {"vanilla": "blocks.0.attn.query.weight", "synthesizer": "blocks.0.attn.w1.weight"}
    other = "synthesizer" if variant == "vanilla" else "vanilla"
    if distinctive[other] in state_dict and distinctive[variant] not in state_dict:
        expected = ", ".join(f"blocks.0.attn.{name}" for name in _ATTENTION_KEYS[variant])
        raise ValueError(
            f"conversion.py: variant={variant!r} expects {expected}, but the checkpoint holds a {other} model's "
            f"attention ({distinctive[other]!r}); convert it with variant={other!r}."
        )

    if variant == "synthesizer":
        w2 = _require(state_dict, "blocks.0.attn.w2", "the synthesizer's B (n_embd // n_head, block_size - 1)")
        head_dim = w2.shape[0]
        if w2.dim() != 2 or n_embd % head_dim != 0:
            raise ValueError(
                f"conversion.py: 'blocks.0.attn.w2' has shape {tuple(w2.shape)}; expected (n_embd // n_head, "
                f"block_size - 1) = (a divisor of {n_embd}, {block_size - 1})."
            )
        inferred = n_embd // head_dim
        if n_head is not None and n_head != inferred:
            raise ValueError(
                f"conversion.py: n_head={n_head} disagrees with 'blocks.0.attn.w2' of shape {tuple(w2.shape)}, "
                f"which means n_head = {n_embd} // {head_dim} = {inferred}."
            )
        n_head = inferred
    elif n_head is None:
        n_head = ORIGINAL_N_HEAD

    return CharGPTConfig(
        vocab_size=vocab_size,
        block_size=block_size,
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        attention_type=variant,
        **config_kwargs,
    )


def convert_a5_state_dict(state_dict, config: CharGPTConfig) -> dict[str, torch.Tensor]:
    """Rename an original state dict to CharGPTForCausalLM's keys, checking every key and shape against `config`.

    Raises ValueError for a missing key, an unexpected key or a shape that disagrees, naming the original key and
    what was expected.
    """
    state_dict = _strip_module_prefix(state_dict)
    names = _rename(config.attention_type, config.n_layer)
    with torch.device("meta"):  # shapes only: no memory, no init
        expected_shapes = {k: v.shape for k, v in CharGPTForCausalLM(config).state_dict().items()}

    converted = {}
    for original, ours in names.items():
        shape = (1, *expected_shapes[ours]) if original == "pos_emb" else tuple(expected_shapes[ours])
        tensor = _require(state_dict, original, f"expected for a {config.attention_type} model, shape {shape}")
        if original == "pos_emb":
            tensor = tensor.squeeze(0)  # (1, block_size, n_embd) -> (block_size, n_embd)
        if tensor.shape != expected_shapes[ours]:
            raise ValueError(
                f"conversion.py: {original!r} has shape {tuple(state_dict[original].shape)}; expected "
                f"{tuple(expected_shapes[ours])} for {ours!r} (config: n_layer={config.n_layer}, "
                f"n_head={config.n_head}, n_embd={config.n_embd}, block_size={config.block_size}, "
                f"vocab_size={config.vocab_size})."
            )
        converted[ours] = tensor.detach().clone().contiguous()

    unexpected = sorted(k for k in state_dict if k not in names and not re.fullmatch(r"blocks\.\d+\.attn\.mask", k))
    if unexpected:
        raise ValueError(
            f"conversion.py: keys {unexpected} are not part of an original {config.attention_type} model "
            f"with {config.n_layer} layers; expected only the keys listed in hf_birthplace/conversion.py."
        )
    return converted


def load_a5_state_dict(params_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a `.params` file written by the original `torch.save(model.state_dict(), path)` (tensors only)."""
    return torch.load(params_path, map_location="cpu", weights_only=True)


def load_a5_checkpoint(
    params_path: str | os.PathLike, variant: str, n_head: int | None = None, **config_kwargs
) -> CharGPTForCausalLM:
    """An original `.params` file as a CharGPTForCausalLM (in eval mode), without writing anything to disk."""
    state_dict = load_a5_state_dict(params_path)
    try:
        config = config_from_a5_state_dict(state_dict, variant, n_head=n_head, **config_kwargs)
        converted = convert_a5_state_dict(state_dict, config)
    except ValueError as error:
        raise ValueError(f"{params_path}: {error}") from error
    model = CharGPTForCausalLM(config)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def convert_a5_checkpoint(
    params_path: str | os.PathLike,
    variant: str,
    corpus_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    n_head: int | None = None,
) -> Path:
    """Write a full Hugging Face checkpoint (config, safetensors weights, generation config, tokenizer, model code)
    for an original `.params` file. The tokenizer is built from the corpus the original vocabulary came from."""
    model = load_a5_checkpoint(params_path, variant, n_head=n_head)
    corpus_text = Path(corpus_path).read_text(encoding="utf-8")
    tokenizer = build_char_tokenizer(corpus_text, model_max_length=model.config.block_size)
    if len(tokenizer) != model.config.vocab_size:
        raise ValueError(
            f"conversion.py: the corpus {str(corpus_path)!r} gives {len(tokenizer)} characters (PAD and MASK "
            f"included), "
            f"but 'tok_emb.weight' has {model.config.vocab_size} rows; use the corpus the checkpoint was trained on."
        )
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


__all__ = [
    "config_from_a5_state_dict",
    "convert_a5_state_dict",
    "load_a5_state_dict",
    "load_a5_checkpoint",
    "convert_a5_checkpoint",
]
