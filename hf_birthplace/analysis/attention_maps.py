"""Attention maps of one question, and what they show about synthesizer attention (handout eq. 5).

Key-query attention scores key j for query t by comparing their contents, q(x_t) . k(x_j); the synthesizer scores it
by ReLU(x_t A + b1) . B[:, j] + b2[j]: a function of the query's own vector x_t and of the key's absolute position j,
never of what sits at position j. So one synthesizer layer cannot attend to "the position whose content matches",
and its attention row t stays exactly the same when the keys' contents change while x_t does not. In the first layer
x_t is the embedding of the character at t plus that of position t, so the row of a question's MASK is the same for
every question of the same length: it cannot depend on the name at all.

`attention_weights` returns every layer's and head's map for a string; `key_content_sensitivity` measures how much
the rows move when the keys' contents change; `plot_attention_grids` and `plot_query_rows` draw the pictures
(`scripts/attention_maps.py` puts a vanilla and a synthesizer checkpoint side by side).
"""

import os
from dataclasses import dataclass

import torch

from ..data import question_prompt
from ..evaluation import predict_places
from ..tokenization_char import MASK_CHAR, PAD_CHAR


@dataclass
class AttentionMaps:
    """A string as the model reads it and every attention probability it computes on it."""

    label: str
    chars: list[str]  # one per position; MASK and PAD shown as themselves
    attentions: torch.Tensor  # (L, nh, T, T): [layer, head, query, key], rows sum to 1, zero above the diagonal
    query: int  # the position whose row `plot_query_rows` draws: the question's MASK, which predicts the answer
    question: str
    answer: str | None  # what follows the question's MASK (None: nothing)


def model_input(question: str, answer: str | None = None) -> str:
    """`question MASK` or, with an answer, `question MASK answer MASK`: the fine-tuning format."""
    return question + MASK_CHAR if answer is None else question + MASK_CHAR + answer + MASK_CHAR


@torch.no_grad()
def attention_weights(model, tokenizer, text: str) -> torch.Tensor:
    """Every layer's attention probabilities on `text`, (L, nh, T, T), one position per character."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    limit = model.config.max_sequence_length
    if len(ids) > limit:
        raise ValueError(
            f"attention_weights: {len(ids)} characters; the {model.config.attention_type} model reads at most {limit}"
        )
    model.eval()
    device = next(model.parameters()).device
    out = model(torch.tensor([ids], device=device), output_attentions=True, use_cache=False)
    return torch.stack([att[0] for att in out.attentions]).float().cpu()  # L x (nh, T, T) -> (L, nh, T, T)


def question_maps(model, tokenizer, question: str, label: str, answer: str | None = "model") -> AttentionMaps:
    """The maps of `question MASK answer MASK`. answer: "model" (the model's own greedy answer), None (no answer:
    `question MASK` only) or a string (e.g. the gold place: every model then reads the same characters). A model
    fine-tuned with a `question_template` is shown reading the question the way it was fine-tuned."""
    if answer == "model":
        answer = predict_places(model, tokenizer, [question])[0].place
    question = question_prompt(question, getattr(model.config, "question_template", None))
    if answer is not None:
        # An answer that never closed (no MASK within the model's positions) is cut so that its closing MASK fits.
        answer = answer[: max(0, model.config.max_sequence_length - len(question) - 2)]
    text = model_input(question, answer)
    return AttentionMaps(label, list(text), attention_weights(model, tokenizer, text), len(question), question, answer)


@torch.no_grad()
def key_content_sensitivity(model, tokenizer, text_a: str, text_b: str) -> list[float]:
    """Per layer, the largest change of any attention probability in the rows whose own character is the same in both
    texts (the texts must have equal lengths: same positions). A change of keys' contents only moves those rows of
    key-query attention; in the first synthesizer layer it moves nothing (up to float rounding)."""
    if len(text_a) != len(text_b):
        raise ValueError(
            f"key_content_sensitivity: texts of {len(text_a)} and {len(text_b)} characters; expected equal lengths"
        )
    same = torch.tensor([a == b for a, b in zip(text_a, text_b)])  # (T,)
    att_a = attention_weights(model, tokenizer, text_a)[:, :, same]  # (L, nh, T_same, T)
    att_b = attention_weights(model, tokenizer, text_b)[:, :, same]
    return (att_a - att_b).abs().amax(dim=(1, 2, 3)).tolist()


def contrast_question(question: str, name: str) -> str:
    """The same question with the name's characters reversed: every position keeps its index, the contents change."""
    return question.replace(name, name[::-1], 1)


def span_attention(maps: AttentionMaps, start: int, end: int) -> torch.Tensor:
    """(L, nh): the share of the query row's attention on positions start..end-1 (e.g. the name's characters)."""
    return maps.attentions[:, :, maps.query, start:end].sum(-1)


def name_summary(model, tokenizer, maps: AttentionMaps, name: str) -> dict:
    """What the maps say about the name: the MASK row's share on the name's characters per layer (mean and max over
    heads), and per layer the largest row change when the name is reversed (`contrast_question`, same answer)."""
    start = maps.question.index(name)
    share = span_attention(maps, start, start + len(name))  # (L, nh)
    contrast = contrast_question(maps.question, name)
    return {
        "name": name,
        "mask_row_on_name_mean_over_heads": share.mean(1).tolist(),
        "mask_row_on_name_max_over_heads": share.amax(1).tolist(),
        "contrast_question": contrast,
        "max_row_change_per_layer": key_content_sensitivity(
            model, tokenizer, model_input(maps.question, maps.answer), model_input(contrast, maps.answer)
        ),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Pictures


def _display(char: str) -> str:
    return {MASK_CHAR: "M", PAD_CHAR: "P", " ": "\u2423", "\n": "\u21b5"}.get(char, char)


def plot_attention_grids(panels: list[AttentionMaps], path: str) -> str:
    """Every layer (rows) and head (columns) of each panel, the panels side by side; characters on the outer axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm

    # A square root colour scale: a row spread over 40 keys (0.025 each) stays visible beside a peaked one.
    norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0)
    n_layer = max(p.attentions.shape[0] for p in panels)
    heads = [p.attentions.shape[1] for p in panels]
    fig = plt.figure(figsize=(1.7 * sum(heads) + 0.6 * len(panels), 1.8 * n_layer + 0.8))
    subfigs = fig.subfigures(1, len(panels), width_ratios=heads, squeeze=False)[0]
    for subfig, panel in zip(subfigs, panels):
        L, nh, T, _ = panel.attentions.shape
        axes = subfig.subplots(L, nh, squeeze=False)
        labels = [_display(c) for c in panel.chars]
        for layer in range(L):
            for head in range(nh):
                ax = axes[layer][head]
                ax.imshow(panel.attentions[layer, head].numpy(), cmap="viridis", norm=norm, interpolation="none")
                ax.set_xticks([])
                ax.set_yticks([])
                if layer == L - 1:
                    ax.set_xticks(range(T), labels, fontsize=3.5, rotation=0)
                    ax.set_xlabel(f"head {head}", fontsize=7)
                if head == 0:
                    ax.set_yticks(range(T), labels, fontsize=3.5)
                    ax.set_ylabel(f"layer {layer}", fontsize=7)
        subfig.suptitle(f"{panel.label}: {''.join(labels)}  (colour: square root of the weight)", fontsize=9)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def plot_query_rows(panels: list[AttentionMaps], path: str) -> str:
    """For each panel, the attention row of its query (the question's MASK) in every layer and head: rows are
    (layer, head), columns the characters read so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.2 * max(p.query + 1 for p in panels) + 2.5
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 4.2 * len(panels)))
    axes = [axes] if len(panels) == 1 else list(axes)
    for ax, panel in zip(axes, panels):
        L, nh = panel.attentions.shape[:2]
        rows = panel.attentions[:, :, panel.query, : panel.query + 1].reshape(L * nh, -1)  # (L * nh, query + 1)
        # Each panel on its own scale, up to its largest weight: the pattern matters here, the colour bar gives values.
        image = ax.imshow(rows.numpy(), vmin=0, vmax=float(rows.max()), aspect="auto", interpolation="none")
        ax.set_xticks(range(panel.query + 1), [_display(c) for c in panel.chars[: panel.query + 1]], fontsize=7)
        ax.set_yticks(range(L * nh), [f"L{layer} h{head}" for layer in range(L) for head in range(nh)], fontsize=5)
        for layer in range(1, L):
            ax.axhline(layer * nh - 0.5, color="white", linewidth=0.8)
        title = f"{panel.label}: attention of the MASK query (position {panel.query}) over the question"
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.02)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def plot_name_swap(pairs: list[tuple[AttentionMaps, AttentionMaps]], path: str) -> str:
    """Layers (rows) by models (columns): the MASK row of every head for a question (solid) and for the same question
    with the name reversed (dashed, `contrast_question`). Where the dashed lines lie on the solid ones, the row did
    not see the change of the keys' contents."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_layer = max(a.attentions.shape[0] for a, _ in pairs)
    fig, axes = plt.subplots(n_layer, len(pairs), figsize=(6 * len(pairs), 2.2 * n_layer + 0.6), squeeze=False)
    for column, (original, contrast) in enumerate(pairs):
        L, nh = original.attentions.shape[:2]
        q = original.query
        for layer in range(L):
            ax = axes[layer][column]
            a = original.attentions[layer, :, q, : q + 1]  # (nh, q + 1)
            b = contrast.attentions[layer, :, q, : q + 1]
            for head in range(nh):
                line = ax.plot(a[head].numpy(), linewidth=1)[0]
                ax.plot(b[head].numpy(), linestyle="--", linewidth=1.4, color=line.get_color())
            ax.set_title(f"{original.label}, layer {layer}: max change {float((a - b).abs().max()):.2g}", fontsize=8)
            ax.set_xticks(range(q + 1), [_display(c) for c in original.chars[: q + 1]], fontsize=5)
            ax.tick_params(axis="y", labelsize=6)
        axes[0][column].text(
            0.01, 0.95, f"solid: {original.question}\ndashed: {contrast.question}", transform=axes[0][column].transAxes,
            fontsize=6, va="top",
        )  # fmt: skip
    fig.supylabel("attention weight of the MASK query (one line per head)", fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
