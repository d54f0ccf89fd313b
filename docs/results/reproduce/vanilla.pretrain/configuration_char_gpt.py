"""CharGPT configuration: the character-level minGPT of CS224N's assignment 5, as a `transformers` config.

This file ships to the Hub beside the weights (trust_remote_code), so it imports nothing from hf_birthplace.
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

ATTENTION_TYPES = ("vanilla", "synthesizer")


@strict
class CharGPTConfig(PreTrainedConfig):
    r"""
    Configuration of [`CharGPTModel`] / [`CharGPTForCausalLM`]. The defaults are the original recipe of the course
    code (`src/model.py`, `src/run.py`): a 4-layer, 8-head, 256-wide character-level GPT over a 128-character window.
    Field names are the GPT ones (`n_embd`, `n_layer`, `n_head`, `block_size`); `attribute_map` exposes the
    Hugging Face names (`hidden_size`, `num_hidden_layers`, `num_attention_heads`, `max_position_embeddings`).

    Args:
        vocab_size (`int`, defaults to 256):
            Number of characters the model knows. 256 because the original vocabulary is PAD + MASK + the 254
            distinct characters of wiki.txt (newline included); keeping it lets original checkpoints load as they are.
        block_size (`int`, defaults to 128):
            Context window in characters, the number of learned absolute positions. 128 is the original's. The
            vanilla model reads up to `block_size` tokens; the synthesizer up to `block_size - 1`, because its
            `w2`/`b2` have one column per key position and the original gave them `block_size - 1` columns
            (its training examples are `block_size - 1` characters long).
        n_layer (`int`, defaults to 4):
            Number of transformer blocks (original recipe).
        n_head (`int`, defaults to 8):
            Number of attention heads; `n_embd` must be divisible by it (original recipe: head size 32).
        n_embd (`int`, defaults to 256):
            Width of the residual stream (original recipe).
        embd_pdrop (`float`, defaults to 0.1):
            Dropout on token + position embeddings (original minGPT value).
        resid_pdrop (`float`, defaults to 0.1):
            Dropout on the output of each attention and MLP branch (original minGPT value).
        attn_pdrop (`float`, defaults to 0.1):
            Dropout on the attention probabilities (original minGPT value).
        attention_type (`str`, defaults to `"vanilla"`):
            `"vanilla"`: causal multi-head self-attention softmax(QK^T/sqrt(d/h))V. `"synthesizer"`: the handout's
            eq. 5, scores synthesized from each query alone, ReLU(X A_i + b1) B + b2, with one B shared by all heads.
            Vanilla is the default because it is the assignment's main model.
        layer_norm_epsilon (`float`, defaults to 1e-5):
            Epsilon of every LayerNorm; 1e-5 is `torch.nn.LayerNorm`'s default, which the original uses.
        initializer_range (`float`, defaults to 0.02):
            Std of the normal init of Linear and token-embedding weights (minGPT's `_init_weights`).
        synthesizer_init_range (`float`, defaults to 0.001):
            The synthesizer's `w2` starts U(-r, r); 0.001 is what the original `SynthesizerAttention` uses, so that
            the synthesized scores start near uniform attention.
        use_cache (`bool`, defaults to `True`):
            Whether forward returns the cache (keys/values for vanilla, values for the synthesizer) so that
            `generate()` decodes one character per step instead of re-reading the prefix.
        pad_token_id (`int`, defaults to 0):
            Id of PAD_CHAR U+25A1, fixed at 0 by the original vocabulary.
        mask_token_id (`int`, defaults to 1):
            Id of MASK_CHAR U+2047, fixed at 1 by the original vocabulary. Span corruption brackets the masked span
            with it, and fine-tuning examples read `question⁇answer⁇`.
        eos_token_id (`int`, defaults to 1):
            Generation stops at this id. It is the MASK id because the model answers `question⁇` with `place⁇`:
            the closing MASK ends the answer.
        bos_token_id (`int`, *optional*, defaults to `None`):
            The original has no beginning-of-sequence character.
        tie_word_embeddings (`bool`, defaults to `False`):
            The original head is a separate `Linear(n_embd, vocab_size, bias=False)`, not tied to `tok_emb`.
        question_template (`str`, *optional*, defaults to `None`):
            What a fine-tuned model reads instead of each `Where was NAME born?`: this template with `{name}`
            filled in, e.g. `"{name}."`, the way every wiki.txt document opens. Fine-tuning writes it here so that
            every later reader of the checkpoint asks its questions the same way. `None` (the original): the
            question as written.

    Example:

    ```python
    >>> from hf_birthplace import CharGPTConfig, CharGPTForCausalLM
    >>> config = CharGPTConfig(attention_type="synthesizer")
    >>> model = CharGPTForCausalLM(config)
    ```
    """

    model_type = "char_gpt"
    attribute_map = {
        "hidden_size": "n_embd",
        "num_hidden_layers": "n_layer",
        "num_attention_heads": "n_head",
        "max_position_embeddings": "block_size",
    }

    vocab_size: int = 256
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 8
    n_embd: int = 256
    embd_pdrop: float | int = 0.1
    resid_pdrop: float | int = 0.1
    attn_pdrop: float | int = 0.1
    attention_type: str = "vanilla"
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    synthesizer_init_range: float = 0.001
    use_cache: bool = True
    pad_token_id: int | None = 0
    mask_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 1
    bos_token_id: int | None = None
    tie_word_embeddings: bool = False
    question_template: str | None = None

    def __post_init__(self, **kwargs):
        if self.attention_type not in ATTENTION_TYPES:
            raise ValueError(
                f"CharGPTConfig: attention_type={self.attention_type!r} is not valid; "
                f"expected one of {ATTENTION_TYPES}."
            )
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"CharGPTConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head} "
                "(every head gets n_embd // n_head dimensions)."
            )
        if self.attention_type == "synthesizer" and self.block_size < 2:
            raise ValueError(
                f"CharGPTConfig: the synthesizer needs block_size >= 2 (its w2 has block_size - 1 columns), "
                f"got block_size={self.block_size}."
            )
        if self.question_template is not None and "{name}" not in self.question_template:
            raise ValueError(
                f"CharGPTConfig: question_template={self.question_template!r} has no `{{name}}` "
                "for the person's name."
            )
        super().__post_init__(**kwargs)

    @property
    def max_sequence_length(self) -> int:
        """The longest input the model accepts: `block_size` (vanilla) or `block_size - 1` (synthesizer)."""
        return self.block_size - 1 if self.attention_type == "synthesizer" else self.block_size


__all__ = ["CharGPTConfig"]
