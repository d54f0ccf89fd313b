"""PyTorch CharGPT: the character-level minGPT of CS224N's assignment 5, with vanilla and synthesizer attention.

The architecture is the course's `src/model.py` exactly (pre-LayerNorm blocks, learned absolute positions, GELU MLP,
untied head); only the parameter names follow `transformers` (`transformer.wte`, `transformer.h.{i}.ln_1`, `lm_head`),
see `hf_birthplace.conversion` for the mapping from the original names.

This file ships to the Hub beside the weights (trust_remote_code): it imports only its configuration, torch and
transformers.
"""

import torch
from torch import nn
from torch.nn import functional as F
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils.deprecation import deprecate_kwarg

from .configuration_char_gpt import CharGPTConfig


# ---------------------------------------------------------------------------------------------------------------------
# Attention kernels. Both variants reduce to softmax(scaling * Q K^T + position_bias, masked) V, so the kernels of the
# transformers AttentionInterface serve both: vanilla passes Q = X W_q, K = X W_k; the synthesizer passes
# Q = ReLU(X A + b1), K = the columns of B at the key positions, scaling 1 and position_bias = b2 at the key positions
# (handout eq. 5). Masks are boolean, True where a query may read a key; None means plain causal (no padding, no
# cached prefix, or a single new query that may read everything before it).


def eager_attention_forward(
    module, query, key, value, attention_mask, dropout=0.0, scaling=None, position_bias=None, **kwargs
):
    """Attention written out, as the original does it; also returns the attention probabilities.

    query (B, nh, Tq, hs), key (B, nh, Tk, hs), value (B, nh, Tk, hs), attention_mask bool (B or 1, 1, Tq, Tk) or None,
    position_bias (B, 1, 1, Tk) or None. Returns y (B, Tq, nh, hs) and att (B, nh, Tq, Tk).
    """
    att = torch.matmul(query, key.transpose(-2, -1)) * scaling  # (B, nh, Tq, Tk)
    if position_bias is not None:
        att = att + position_bias
    if attention_mask is None:
        Tq, Tk = att.shape[-2:]
        # The new queries are the last Tq of the Tk positions: query i sees keys 0 .. Tk - Tq + i.
        attention_mask = torch.ones(Tq, Tk, dtype=torch.bool, device=att.device).tril(diagonal=Tk - Tq)
    # -inf rather than the original's -1e10: both give exactly 0 after softmax, -inf also in bf16/fp16. No row is
    # fully masked (a query always sees itself), so softmax never sees a row of -inf.
    att = att.masked_fill(~attention_mask, float("-inf"))
    att = F.softmax(att, dim=-1)
    y = torch.matmul(F.dropout(att, p=dropout, training=module.training), value)  # (B, nh, Tq, hs)
    return y.transpose(1, 2), att


def attention_interface(config: CharGPTConfig, output_attentions: bool):
    """The kernel for `config._attn_implementation` ("sdpa" by default, or "eager"); eager when attentions are asked
    for, since fused kernels never materialise them."""
    if output_attentions:
        return eager_attention_forward
    return ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, eager_attention_forward)


# ---------------------------------------------------------------------------------------------------------------------
# The two attention variants, chosen by `config.attention_type` through ATTENTION_CLASSES.


class CharGPTSelfAttention(nn.Module):
    """Causal multi-head self-attention: the original `CausalSelfAttention` (separate key/query/value, with bias)."""

    is_causal = True

    def __init__(self, config: CharGPTConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.q_proj = nn.Linear(config.n_embd, config.n_embd)
        self.k_proj = nn.Linear(config.n_embd, config.n_embd)
        self.v_proj = nn.Linear(config.n_embd, config.n_embd)
        self.o_proj = nn.Linear(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x, attention_mask, position_ids, cache=None, output_attentions=False):
        B, T, C = x.size()
        # (B, T, C) -> (B, T, nh, hs) -> (B, nh, T, hs)
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)  # (B, nh, past + T, hs)

        attention = attention_interface(self.config, output_attentions)
        y, att = attention(
            self,
            q,
            k,
            v,
            attention_mask,
            dropout=self.attn_dropout.p if self.training else 0.0,
            scaling=self.head_dim**-0.5,
        )
        y = y.reshape(B, T, C)  # (B, T, nh, hs) -> (B, T, C)
        return self.resid_dropout(self.o_proj(y)), att


class CharGPTSynthesizerAttention(nn.Module):
    """Identical to CharGPTSelfAttention except: the scores are synthesized from each query alone (handout eq. 5).

    Per head i: softmax(ReLU(X A_i + b1) B + b2, causal) X V_i. `w1` holds all heads' A_i and b1; `w2` is B, of
    shape (n_embd // n_head, block_size - 1), and `b2` (block_size - 1,) -- both shared by all heads, as in the
    original `SynthesizerAttention`.

    Score column j belongs to key position j: it is w2[:, pos_j] and b2[pos_j]. With no padding pos_j = j and this is
    the original `a @ w2[:, :T] + b2[:T]`; with left padding each key keeps its own learned position. Row i depends only
    on query i, so generation caches the values and, in place of keys, each key's position id (a long tensor
    (B, 1, T, 1)): all that is needed to rebuild its score column.
    """

    is_causal = True

    def __init__(self, config: CharGPTConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.w1 = nn.Linear(config.n_embd, config.n_embd)
        self.w2 = nn.Parameter(torch.empty(self.head_dim, config.block_size - 1))
        self.b2 = nn.Parameter(torch.empty(config.block_size - 1))
        self.v_proj = nn.Linear(config.n_embd, config.n_embd)
        self.o_proj = nn.Linear(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x, attention_mask, position_ids, cache=None, output_attentions=False):
        B, T, C = x.size()
        # (B, T, C) -> (B, T, nh, hs) -> (B, nh, T, hs)
        a = F.relu(self.w1(x)).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        key_positions = position_ids.expand(B, T)[:, None, :, None]  # (B, 1, T, 1)
        if cache is not None:
            key_positions, v = cache.update(key_positions, v, self.layer_idx)  # (B, 1, Tk, 1), (B, nh, Tk, hs)
        key_positions = key_positions[:, 0, :, 0]  # (B, Tk)

        # Column pos_j of w2 for every key j, the same for all heads; the kernels want K with as many heads as Q, and
        # expand() is a view. Cast: under autocast `a` is bf16, while a gathered parameter stays fp32.
        k = F.embedding(key_positions, self.w2.t()).to(a.dtype)  # (B, Tk, hs)
        k = k[:, None].expand(B, self.n_head, -1, -1)  # (B, nh, Tk, hs)
        bias = self.b2[key_positions].to(a.dtype)[:, None, None, :]  # (B, 1, 1, Tk): b2[pos_j]

        attention = attention_interface(self.config, output_attentions)
        y, att = attention(
            self,
            a,
            k,
            v,
            attention_mask,
            dropout=self.attn_dropout.p if self.training else 0.0,
            scaling=1.0,
            position_bias=bias,
        )
        y = y.reshape(B, T, C)  # (B, T, nh, hs) -> (B, T, C)
        return self.resid_dropout(self.o_proj(y)), att


ATTENTION_CLASSES = {"vanilla": CharGPTSelfAttention, "synthesizer": CharGPTSynthesizerAttention}


class CharGPTMLP(nn.Module):
    def __init__(self, config: CharGPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.act = nn.GELU()  # exact (erf) GELU, as the original's nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class CharGPTBlock(GradientCheckpointingLayer):
    """Pre-LayerNorm block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: CharGPTConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = ATTENTION_CLASSES[config.attention_type](config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = CharGPTMLP(config)

    def forward(self, x, attention_mask, position_ids, cache=None, output_attentions=False):
        attn_out, att = self.attn(self.ln_1(x), attention_mask, position_ids, cache, output_attentions)
        x = x + attn_out
        x = x + self.mlp(self.ln_2(x))
        return x, att


# ---------------------------------------------------------------------------------------------------------------------


class CharGPTPreTrainedModel(PreTrainedModel):
    config_class = CharGPTConfig
    config: CharGPTConfig
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = True
    _no_split_modules = ["CharGPTBlock"]
    _supports_sdpa = True
    _supports_flash_attn = False  # the synthesizer's score bias and our boolean masks need SDPA or eager
    _supports_flex_attn = False
    _supports_attention_backend = False

    def _init_weights(self, module):
        """minGPT's init: N(0, 0.02) for Linear and token embeddings, zero biases, LayerNorm (1, 0).

        Two parameters are not modules in the original and keep their own init there: `pos_emb` starts at zeros
        (our `wpe`), and the synthesizer's `w2` starts U(-0.001, 0.001) with `b2` at zeros.
        `transformers.initialization` skips tensors that were loaded from a checkpoint.
        """
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            if module is getattr(self, self.base_model_prefix, self).wpe:
                init.zeros_(module.weight)
            else:
                init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, CharGPTSynthesizerAttention):
            r = self.config.synthesizer_init_range
            init.uniform_(module.w2, -r, r)
            init.zeros_(module.b2)

    def save_pretrained(self, save_directory, *args, **kwargs):
        # Name both heads in auto_map, so that remote-code users can load the checkpoint with AutoModel as well as
        # AutoModelForCausalLM (transformers records only the class being saved).
        if self._auto_class is not None:
            self.config.auto_map = {
                **(getattr(self.config, "auto_map", None) or {}),
                "AutoModel": "modeling_char_gpt.CharGPTModel",
                "AutoModelForCausalLM": "modeling_char_gpt.CharGPTForCausalLM",
            }
        return super().save_pretrained(save_directory, *args, **kwargs)


class CharGPTModel(CharGPTPreTrainedModel):
    """The transformer without head: embeddings, `n_layer` blocks, final LayerNorm."""

    def __init__(self, config: CharGPTConfig):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        # The original's pos_emb is a (1, block_size, n_embd) Parameter; an Embedding holds the same matrix and lets
        # each token look up its own position (left padding, cached decoding).
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([CharGPTBlock(config, layer_idx=i) for i in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self):
        return self.wte

    def set_input_embeddings(self, new_embeddings):
        self.wte = new_embeddings

    @staticmethod
    def _attention_mask(attention_mask, B, T, past, device):
        """Boolean (B or 1, 1, T, past + T) mask, True where new token i may read key j (cached keys included); None
        when the plain causal rule says it all (the kernels then use their own, cheaper, causal path)."""
        if attention_mask is None and (past == 0 or T == 1):
            return None
        # Causal by index, not by position id: with left padding several tokens share position 0.
        query_index = torch.arange(past, past + T, device=device)
        key_index = torch.arange(past + T, device=device)
        mask = (key_index[None, :] <= query_index[:, None])[None, None]  # (1, 1, T, past + T)
        if attention_mask is not None:
            if attention_mask.shape != (B, past + T):
                raise ValueError(
                    f"CharGPTModel: attention_mask must be 2D (batch, cached + new) = {(B, past + T)}, "
                    f"got shape {tuple(attention_mask.shape)}."
                )
            key_is_real = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, past + T)
            # A query always sees itself, so that a padding query keeps one key and its softmax stays finite;
            # real queries never read padding.
            is_self = (key_index[None, :] == query_index[:, None])[None, None]
            mask = mask & (key_is_real | is_self)  # (B, 1, T, past + T)
        return mask

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast | tuple:
        r"""
        input_ids (`torch.LongTensor` of shape `(B, T)`): character ids; with a cache, only the new ones.
        attention_mask (`torch.Tensor` of shape `(B, past + T)`, *optional*): 1 for real tokens, 0 for padding.
            Padding keys are never attended to. Left or right padding both work.
        position_ids (`torch.LongTensor` of shape `(B or 1, T)`, *optional*): the learned absolute position of each
            new token; defaults to past + 0, 1, ... `generate()` derives them from the attention mask, so left-padded
            prompts start at position 0.
        cache (`Cache`, *optional*): a `DynamicCache` from a previous call (`past_key_values` is the deprecated name).
        output_attentions: return the attention probabilities of every layer (runs the eager kernel for this call).
        output_hidden_states: return n_layer + 1 hidden states: the embeddings, then each block's output, the last
            one after `ln_f` (GPT-2's convention, so `hidden_states[-1] == last_hidden_state`).
        """
        config = self.config
        output_attentions = output_attentions if output_attentions is not None else config.output_attentions
        output_hidden_states = output_hidden_states if output_hidden_states is not None else config.output_hidden_states
        return_dict = return_dict if return_dict is not None else config.return_dict
        # A cache only pays off when generating; in training it would keep every layer's K/V alive for nothing.
        use_cache = use_cache if use_cache is not None else (config.use_cache and not self.training)

        if input_ids.dim() != 2:
            raise ValueError(f"CharGPTModel: input_ids must be (batch, time), got shape {tuple(input_ids.shape)}.")
        B, T = input_ids.size()
        if use_cache and cache is None:
            cache = DynamicCache(config=config)
        past = cache.get_seq_length() if cache is not None else 0
        limit = config.max_sequence_length
        if past + T > limit:
            raise ValueError(
                f"CharGPTModel: {past + T} tokens ({past} cached + {T} new) exceed the {config.attention_type} "
                f"model's {limit} positions (block_size={config.block_size}"
                f"{', minus 1 for the synthesizer' if config.attention_type == 'synthesizer' else ''})."
            )
        device = input_ids.device

        if position_ids is None:
            position_ids = torch.arange(past, past + T, device=device)[None]  # (1, T)
        elif not torch.compiler.is_compiling() and (position_ids.min() < 0 or position_ids.max() >= limit):
            raise ValueError(
                f"CharGPTModel: position_ids must lie in [0, {limit}) for the {config.attention_type} model, "
                f"got min {int(position_ids.min())}, max {int(position_ids.max())}."
            )

        mask = self._attention_mask(attention_mask, B, T, past, device)
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids))  # (B, T, C)
        all_hidden_states = (x,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for block in self.h:
            x, att = block(x, mask, position_ids, cache=cache, output_attentions=output_attentions)
            if output_hidden_states:
                all_hidden_states += (x,)
            if output_attentions:
                all_attentions += (att,)
        x = self.ln_f(x)
        if output_hidden_states:
            all_hidden_states = all_hidden_states[:-1] + (x,)

        output = BaseModelOutputWithPast(
            last_hidden_state=x,
            cache=cache if use_cache else None,
            hidden_states=all_hidden_states,
            attentions=all_attentions,
        )
        return output if return_dict else output.to_tuple()


class CharGPTForCausalLM(CharGPTPreTrainedModel, GenerationMixin):
    """CharGPTModel with the original's untied head Linear(n_embd, vocab_size, bias=False)."""

    # The transformers Trainer passes `num_items_in_batch` when this is set, and then does not divide the loss by the
    # number of accumulation steps itself: the loss below is exact under gradient accumulation.
    accepts_loss_kwargs = True

    def __init__(self, config: CharGPTConfig):
        super().__init__(config)
        self.transformer = CharGPTModel(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()
        # The original evaluation: greedy, 32 new characters, the answer ending at the closing MASK of
        # `question⁇place⁇` (eos_token_id). A checkpoint's generation_config.json, when present, replaces these.
        self.generation_config.do_sample = False
        self.generation_config.max_new_tokens = 32

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int = 0,
        num_items_in_batch: int | torch.Tensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        r"""
        Same inputs as [`CharGPTModel.forward`], plus:

        labels (`torch.LongTensor` of shape `(B, T)`, *optional*): targets aligned with `input_ids` (`labels =
            input_ids` is fine): they are shifted by one inside, so position t predicts labels[t + 1]. -100 is ignored.
            The loss is the mean cross-entropy over the targets that are not -100.
        logits_to_keep (`int`, defaults to 0): if > 0, compute logits only for the last `logits_to_keep` positions
            (generation needs only the last one). 0 keeps all.
        num_items_in_batch (*optional*): passed by the Trainer under gradient accumulation: the number of targets
            (not -100, after the shift) across all accumulated micro-batches; the loss is then sum / num_items_in_batch.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.transformer(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        hidden_states = outputs.last_hidden_state
        if logits_to_keep > 0:
            hidden_states = hidden_states[:, -logits_to_keep:]
        logits = self.lm_head(hidden_states)  # (B, T, vocab_size)

        loss = None
        if labels is not None:
            # fp32 cross-entropy: under bf16 autocast the logits are bf16, too coarse for a log-softmax over 256 ids.
            shift_logits = logits[:, :-1, :].float()
            shift_labels = labels[:, 1:].to(logits.device)
            if num_items_in_batch is None:
                loss = F.cross_entropy(
                    shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1), ignore_index=-100
                )
            else:
                loss = F.cross_entropy(
                    shift_logits.reshape(-1, shift_logits.size(-1)),
                    shift_labels.reshape(-1),
                    ignore_index=-100,
                    reduction="sum",
                )
                if torch.is_tensor(num_items_in_batch):
                    num_items_in_batch = num_items_in_batch.to(loss.device)
                loss = loss / num_items_in_batch

        output = CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if return_dict else output.to_tuple()


__all__ = ["CharGPTPreTrainedModel", "CharGPTModel", "CharGPTForCausalLM"]
