"""How peaked each attention head is on plain text: a check for attention entropy collapse.

A head whose every row puts nearly all its weight on one key (entropy near 0 nats, against log(t + 1) for a uniform
row over t + 1 keys) passes one position's value through and no gradient to its queries and keys: the softmax is
saturated. Under the original pretraining recipe (lr 6e-3 from its first step) a vanilla model's first layer gets
there within one epoch and all four layers by epoch 50, and its loss then sits near 2.2-2.4 nats for hundreds of
epochs: a character model that barely reads its context.
`attention_entropy` measures it; `scripts/attention_entropy.py` runs it on saved checkpoints.
"""

import math
import random
from collections import Counter

import torch


def sample_lines(documents: list[str], length: int, count: int, seed: int = 0) -> list[str]:
    """`count` documents at least `length` characters long, drawn with `seed`, each cut to its first `length`."""
    long_enough = [d for d in documents if len(d) >= length]
    if len(long_enough) < count:
        raise ValueError(f"attention_entropy: {len(long_enough)} documents have {length}+ characters; {count} asked")
    return [d[:length] for d in random.Random(seed).sample(long_enough, count)]


@torch.no_grad()
def attention_entropy(model, tokenizer, texts: list[str], first_query: int = 20) -> dict:
    """Per layer and head, over the attention rows of the queries at positions >= `first_query` in `texts` (all the
    same number of characters): the mean entropy (nats), the mean largest weight, the mean distance from the query
    back to the key holding that weight, and the character most often at that key with the share of rows where it is
    (a collapsed head that always lands on the nearest space reads one fact of its context, not the context). Also
    the language-model loss on the texts and the mean entropy a uniform causal row would have at those positions
    (the most a head can spread)."""
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    lengths = {len(i) for i in ids}
    if len(lengths) != 1:
        raise ValueError(f"attention_entropy: texts of one length expected, got lengths {sorted(lengths)}")
    (length,) = lengths
    if not 0 <= first_query < length:
        raise ValueError(f"attention_entropy: first_query={first_query} outside the texts' {length} positions")
    model.eval()
    input_ids = torch.tensor(ids, device=next(model.parameters()).device)
    out = model(input_ids=input_ids, labels=input_ids, output_attentions=True, use_cache=False)
    queries = torch.arange(first_query, length, device=input_ids.device)
    layers = []
    for att in out.attentions:  # (B, nh, T, T)
        rows = att[:, :, first_query:].float()
        entropy = -(rows * rows.clamp_min(1e-30).log()).sum(-1)  # (B, nh, T - first_query)
        largest, key = rows.max(-1)
        key_ids = input_ids.gather(1, key.flatten(1)).view(key.shape)  # the token at each row's largest weight
        top_keys = []
        for head in key_ids.transpose(0, 1).flatten(1).tolist():
            [(token, count)] = Counter(head).most_common(1)
            top_keys.append([tokenizer.convert_ids_to_tokens(token), round(count / len(head), 4)])
        layers.append(
            {
                "entropy": [round(x, 4) for x in entropy.mean((0, 2)).tolist()],
                "max_weight": [round(x, 4) for x in largest.mean((0, 2)).tolist()],
                "mean_distance": [round(x, 2) for x in (queries - key).float().mean((0, 2)).tolist()],
                "top_key": top_keys,
            }
        )
    uniform = sum(math.log(t + 1) for t in range(first_query, length)) / (length - first_query)
    return {"lm_loss": round(out.loss.item(), 4), "uniform_entropy": round(uniform, 4), "layers": layers}
