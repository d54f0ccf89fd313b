"""Analyses that answer, with numbers, the questions the original assignment asks in prose.

`attention_theory`: single-query attention, the handout's part 1 (copying, extracting from a sum,
averaging, single-head fragility, multi-head robustness). Pure torch; no plotting, no files.
"""

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


__all__ = [
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
