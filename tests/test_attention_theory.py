"""Each claim of the handout's part 1 ("Attention exploration"), asserted numerically.

Everything is tiny (d <= 32, a few hundred samples) so the file runs in a couple of seconds.
"""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from hf_birthplace.analysis.attention_theory import (
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


SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "attention_theory.py"
SMALL = dict(n_samples=400, n=8, d=16, beta=20.0, seed=0)


# ------------------------------------------------------------------ basics, (a)i


def test_alpha_is_a_categorical_distribution_and_c_a_convex_combination():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(5, 16, generator=g, dtype=torch.float64)  # a batch of 5 queries
    keys = torch.randn(7, 16, generator=g, dtype=torch.float64)
    values = torch.randn(7, 16, generator=g, dtype=torch.float64)
    c, alpha = attention(q, keys, values)
    assert c.shape == (5, 16) and alpha.shape == (5, 7)
    assert (alpha > 0).all()
    torch.testing.assert_close(alpha.sum(-1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(c, alpha @ values)
    # Only score differences matter: adding one vector t to every key adds t^T q to every score.
    t = torch.randn(16, generator=g, dtype=torch.float64)
    _, alpha_shifted = attention(q, keys + t, values)
    torch.testing.assert_close(alpha_shifted, alpha)


def test_attention_broadcasts_one_query_over_a_batch_of_key_sets():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(8, generator=g, dtype=torch.float64)
    keys = torch.randn(3, 4, 8, generator=g, dtype=torch.float64)  # (S, n, d)
    values = torch.randn(4, 8, generator=g, dtype=torch.float64)  # (n, d), shared
    c, alpha = attention(q, keys, values)
    assert c.shape == (3, 8) and alpha.shape == (3, 4)
    for s in range(3):
        c_s, alpha_s = attention(q, keys[s], values)
        torch.testing.assert_close(c[s], c_s)
        torch.testing.assert_close(alpha[s], alpha_s)


def test_orthonormal_basis_is_orthonormal_seeded_and_checks_k():
    Q = orthonormal_basis(12, 5, torch.Generator().manual_seed(3))
    assert Q.shape == (12, 5)
    torch.testing.assert_close(Q.T @ Q, torch.eye(5, dtype=torch.float64))
    torch.testing.assert_close(Q, orthonormal_basis(12, 5, torch.Generator().manual_seed(3)), rtol=0, atol=0)
    with pytest.raises(ValueError, match="k <= d"):
        orthonormal_basis(3, 4)


# ------------------------------------------------------------------ (a) copying


def test_copying_alpha_max_goes_to_one_as_the_gap_grows():
    gaps = torch.linspace(0, 20, 21)
    out = copying_sweep(gaps, n_keys=(2, 10, 100), d=128)
    alpha_max, error = out["alpha_max"], out["copy_error"]
    assert alpha_max.shape == error.shape == (3, 21)
    assert (alpha_max.diff(dim=-1) > 0).all(), "alpha_max must increase with the gap"
    assert (error.diff(dim=-1) < 0).all(), "||c - v_j|| must decrease with the gap"
    assert (alpha_max[:, -1] > 1 - 1e-6).all() and (error[:, -1] < 1e-6).all()
    # At gap 0 the weights are uniform: nothing is copied.
    torch.testing.assert_close(alpha_max[:, 0], torch.tensor([1 / 2, 1 / 10, 1 / 100], dtype=torch.float64))
    torch.testing.assert_close(alpha_max, out["alpha_max_closed_form"])
    # More keys need a larger gap (log n): at a fixed gap, alpha_max falls with n.
    assert (alpha_max[0, 1:-1] > alpha_max[1, 1:-1]).all() and (alpha_max[1, 1:-1] > alpha_max[2, 1:-1]).all()


def test_copying_gap_formula_gives_alpha_099():
    out = copying_sweep([0.0], n_keys=(2, 10, 100))
    gaps = out["gap_for_alpha_0.99"]
    for n, gap in zip(out["n_keys"], gaps.tolist()):
        alpha = copying_sweep([gap], n_keys=(n,))["alpha_max"][0, 0].item()
        assert alpha == pytest.approx(0.99, abs=1e-9)


# ------------------------------------------------------------------ (b)i extraction


def test_subspace_extraction_M_equals_A_A_T_recovers_v_a():
    out = subspace_extraction(d=16, m=4, p=5, n_trials=50)
    assert out["max_error_M_s_vs_v_a"] < 1e-6
    assert out["max_norm_M_v_b"] < 1e-6
    assert out["idempotence_error"] < 1e-12 and out["symmetry_error"] < 1e-12
    assert out["sum_formula_vs_A_A_T"] < 1e-12  # sum_i a_i a_i^T / (a_i^T a_i) is A A^T


def test_subspace_extraction_A_T_alone_has_the_wrong_shape():
    out = subspace_extraction(d=16, m=4, p=5)
    shapes = out["shapes"]
    assert shapes["A"] == (16, 4) and shapes["M = A A^T"] == (16, 16)
    assert shapes["A^T"] == (4, 16), "A^T maps R^d to R^m"
    assert shapes["A^T s"] == (4,) != shapes["s"] == (16,)
    assert out["A_T_maps_into_R^d"] is False
    # What A^T s does give is v_a's coordinates in the basis a_1..a_m; A lifts them back to R^d.
    assert out["max_error_A_Ts_vs_coordinates"] < 1e-6 and out["max_error_A_A_Ts_vs_v_a"] < 1e-6


def test_subspace_extraction_rejects_subspaces_that_do_not_fit():
    with pytest.raises(ValueError, match="m \\+ p <= d"):
        subspace_extraction(d=4, m=3, p=2)


# ------------------------------------------------------------------ (b)ii averaging


def test_averaging_error_decreases_in_beta_and_vanishes():
    betas = [0.0, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0]
    out = averaging_error(betas, n=8, d=32)
    error = out["error"]
    assert (error.diff() < 0).all()
    assert error[-1] < 1e-3 and error[betas.index(10.0)] < 1e-3
    assert error[0] > 0.3  # beta = 0 is the uniform average over all 8 values, far from the midpoint
    torch.testing.assert_close(out["alpha_a"], out["alpha_b"])
    torch.testing.assert_close(out["alpha_a"], out["alpha_a_closed_form"])
    assert out["alpha_a"][-1].item() == pytest.approx(0.5, abs=1e-6)


# ------------------------------------------------------------------ (c), (d) random keys


def test_perturbed_keys_have_the_handouts_statistics():
    keys, mu, gamma = sample_perturbed_keys(4000, 4, 8, noise_var=1e-6, rank_one_var=0.5, generator=torch.Generator().manual_seed(0))
    assert keys.shape == (4000, 4, 8) and mu.shape == (4, 8) and gamma.shape == (4000,)
    torch.testing.assert_close(mu @ mu.T, torch.eye(4, dtype=torch.float64))
    assert gamma.mean().item() == pytest.approx(1.0, abs=0.05)
    assert gamma.var().item() == pytest.approx(0.5, rel=0.1)
    # k_a keeps pointing along mu_a: its component orthogonal to mu_a is only the tiny isotropic noise.
    orthogonal = keys[:, 0] - gamma.unsqueeze(-1) * mu[0]
    assert torch.linalg.vector_norm(orthogonal, dim=-1).max() < 0.02
    # The other keys are not perturbed along their means.
    assert (keys[:, 1:] @ mu[1:].T).diagonal(dim1=-2, dim2=-1).sub(1).abs().max() < 0.01


def test_both_designs_average_when_the_keys_sit_at_their_means():
    # (c)i and (d)i: with only the vanishing isotropic noise, q = beta (mu_a + mu_b) and the two-head
    # pair q1 = beta mu_a, q2 = beta mu_b both give c ~ (v_a + v_b)/2 in every sample.
    unperturbed = {**SMALL, "rank_one_var": 0.0, "noise_var": 1e-10}
    assert single_head_fragility(**unperturbed)["max_dist_to_mid"] < 1e-3
    assert multi_head_robustness(**unperturbed)["max_dist_to_mid"] < 1e-6
    # The single head's error grows like beta * sqrt(noise_var) (noise on k_a^T q - k_b^T q moves the
    # sigmoid), so "vanishing" noise must be small against 1/beta; the two heads do not care.
    noisier = {**unperturbed, "noise_var": 1e-6}
    single = single_head_fragility(**noisier)
    assert 1e-3 < single["median_dist_to_mid"] < 0.05 and single["max_dist_to_mid"] < 0.1
    assert multi_head_robustness(**noisier)["max_dist_to_mid"] < 1e-6


def test_single_head_output_swings_between_v_a_and_v_b():
    out = single_head_fragility(**SMALL)
    alpha_a = out["alpha_a"]
    assert out["frac_alpha_a_below_0.2"] > 0.3 and out["frac_alpha_a_above_0.8"] > 0.3
    assert (alpha_a < 0.05).any() and (alpha_a > 0.95).any()
    assert out["alpha_a_std"] > 0.4  # a fair coin between 0 and 1 has std 0.5
    # c lands near one value or the other, rarely at the midpoint it was designed for.
    assert out["frac_near_va"] > 0.3 and out["frac_near_vb"] > 0.3 and out["frac_near_mid"] < 0.05
    assert out["median_dist_to_mid"] > 0.6
    # alpha_a follows the handout's sigmoid of gamma, and alpha_a + alpha_b ~ 1.
    assert (alpha_a - out["alpha_a_predicted"]).abs().max() < 0.05
    assert ((alpha_a + out["alpha_b"]) > 1 - 1e-3).all()


def test_multi_head_output_stays_at_the_midpoint():
    multi = multi_head_robustness(**SMALL)
    single = single_head_fragility(**SMALL)
    torch.testing.assert_close(multi["gamma"], single["gamma"])  # the very same keys
    # Every sample in (and beyond) the handout's range gamma >= 0.5: within 1e-3 of (v_a + v_b)/2.
    assert multi["max_dist_to_mid_given_gamma_above_0.5"] < 1e-3
    assert single["dist_to_mid"][single["gamma"] > 0.5].max() > 0.6
    # Over all samples the failures are the ones the handout sets aside (gamma <= 0).
    assert multi["frac_near_mid"] > 0.8 and multi["frac_near_mid_given_gamma_positive"] > 0.9
    assert multi["median_dist_to_mid"] < 1e-6
    assert (multi["alpha_b2"] > 1 - 1e-6).all()  # head 2 never sees the perturbation of k_a


def test_no_beta_rescues_one_head_while_two_heads_improve():
    out = fragility_vs_beta([1.0, 2.0, 5.0, 20.0], n_samples=200, n=8, d=16)
    assert (out["single_mean_dist_to_mid"] > 0.3).all()
    assert (out["multi_mean_dist_to_mid"].diff() < 0).all()
    assert out["multi_median_dist_to_mid"][-1] < 1e-6
    assert (out["single_alpha_a_std"].diff() > 0).all()  # larger beta, sharper swing


def test_functions_are_deterministic():
    a, b = single_head_fragility(**SMALL), single_head_fragility(**SMALL)
    torch.testing.assert_close(a["alpha_a"], b["alpha_a"], rtol=0, atol=0)
    c = single_head_fragility(**{**SMALL, "seed": 1})
    assert not torch.equal(a["alpha_a"], c["alpha_a"])


# ------------------------------------------------------------------ the script


def _load_script():
    spec = importlib.util.spec_from_file_location("attention_theory_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_script_main_returns_and_writes_the_summary(tmp_path):
    script = _load_script()
    summary = script.main(script.AttentionTheoryArguments(output_dir=str(tmp_path), n_samples=200, save_figures=False))
    written = json.loads((tmp_path / script.SUMMARY_FILE).read_text())
    assert written == json.loads(json.dumps(summary))
    assert summary["subspace_extraction"]["max_error_M_s_vs_v_a"] < 1e-6
    assert summary["subspace_extraction"]["shapes"]["A^T"] == [4, 16]
    assert summary["averaging"]["error"][-1] < 1e-3
    assert summary["single_head"]["alpha_a_std"] > 0.4
    assert summary["multi_head"]["max_dist_to_mid_given_gamma_above_0.5"] < 1e-3
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.slow  # rendering four figures takes seconds on a shared CPU
def test_script_saves_every_figure(tmp_path):
    script = _load_script()
    summary = script.main(script.AttentionTheoryArguments(output_dir=str(tmp_path), n_samples=200))
    assert sorted(p.name for p in tmp_path.glob("attention_theory_*.png")) == sorted(script.FIGURES)
    assert len(summary["figures"]) == len(script.FIGURES)
