"""Analyses that answer, with numbers, the questions the original assignment asks in prose.

`attention_theory`: single-query attention, the handout's part 1 (copying, extracting from a sum,
averaging, single-head fragility, multi-head robustness). Pure torch; no plotting, no files.

`knowledge`: knowing versus making up, from evaluation output (accuracy by seen/unseen name and by whether the gold
place is in the person's document, places predicted against gold places, selective prediction, confidence).

`attention_entropy`: how peaked each head's attention is on plain text (a check for attention entropy collapse).

`attention_maps`: every layer's and head's attention on one question, and how much the rows move when only the keys'
contents change (none in a first synthesizer layer).
"""

from .attention_entropy import attention_entropy
from .attention_maps import AttentionMaps, attention_weights, key_content_sensitivity, name_summary, question_maps
from .attention_theory import (
    attention,
    averaging_error,
    copying_sweep,
    fragility_vs_beta,
    multi_head_robustness,
    orthonormal_basis,
    sample_perturbed_keys,
    single_head_fragility,
    subspace_extraction,
)
from .knowledge import knowledge_report, question_facts, run_report, selective_prediction


__all__ = [
    "AttentionMaps",
    "attention_entropy",
    "attention_weights",
    "key_content_sensitivity",
    "knowledge_report",
    "name_summary",
    "question_facts",
    "question_maps",
    "run_report",
    "selective_prediction",
    "attention",
    "averaging_error",
    "copying_sweep",
    "fragility_vs_beta",
    "multi_head_robustness",
    "orthonormal_basis",
    "sample_perturbed_keys",
    "single_head_fragility",
    "subspace_extraction",
]
