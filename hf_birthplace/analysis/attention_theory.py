"""Single-query attention, numerically: the handout's part 1 ("Attention exploration") as code.

The handout defines attention over a query q in R^d, keys k_1..k_n and values v_1..v_n in R^d as

    alpha_i = exp(k_i^T q) / sum_j exp(k_j^T q)                                   (2)
    c       = sum_i alpha_i v_i                                                     (1)

and asks in prose (a) when attention copies one value, (b) how to pull one of two summed vectors
back out and how to average two values, (c) why averaging with one head is fragile and (d) why two
heads are not. Each public function below demonstrates one of those claims and returns the numbers
that show it (tensors and floats in a dict); `scripts/attention_theory.py` plots them and
`docs/attention_theory.md` states the findings.

Conventions:
- float64 throughout: the extraction claim is checked to 1e-6 and softmax tails reach exp(-50).
- every random draw comes from a `torch.Generator` seeded by the `seed` argument, so the same
  arguments give the same numbers on every run.
- keys and values are rows: keys (n, d), values (n, d); a batch of samples adds a leading S.
- values are orthonormal (unit norm, mutually orthogonal), so ||v_a - v_b|| = sqrt(2) and the
  midpoint (v_a + v_b)/2 lies sqrt(2)/2 ~ 0.707 from either value: distances are on that scale.
- the handout writes "alpha" both for the attention weights and for the covariance scale of the
  keys; here the covariance scale is `noise_var` and `alpha` always means attention weights.
"""

import math

import torch


DTYPE = torch.float64
# Index of the two items the handout calls a and b; which two is irrelevant by symmetry.
A_INDEX, B_INDEX = 0, 1


def attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Single-query attention, eqs. (1)-(2). Returns `(c, alpha)`.

    Claim (a)i: alpha is a categorical distribution. Each alpha_i = exp(k_i^T q) / sum_j exp(k_j^T q)
    is positive and the alpha_i sum to 1, so c is a convex combination (a weighted average) of the
    values, and alpha depends on the scores only through their differences (softmax is invariant to
    adding a constant to every score).

    Shapes broadcast over leading dimensions: q (..., d), keys (..., n, d), values (..., n, d)
    -> c (..., d), alpha (..., n). A single q against a batch of key sets is q (d,), keys (S, n, d).
    """
    scores = (keys @ q.unsqueeze(-1)).squeeze(-1)  # (..., n, d) @ (..., d, 1) -> (..., n)
    alpha = torch.softmax(scores, dim=-1)  # (..., n)
    c = (alpha.unsqueeze(-2) @ values).squeeze(-2)  # (..., 1, n) @ (..., n, d) -> (..., d)
    return c, alpha


def orthonormal_basis(d: int, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """`k` random orthonormal vectors of R^d as the columns of a (d, k) matrix (QR of a Gaussian)."""
    if not 1 <= k <= d:
        raise ValueError(
            f"attention_theory.orthonormal_basis: R^d holds at most d orthonormal vectors; expected 1 <= k <= d, "
            f"got k={k}, d={d}"
        )
    gaussian = torch.randn(d, k, generator=generator, dtype=DTYPE)
    Q, R = torch.linalg.qr(gaussian)  # Q (d, k), R (k, k)
    # QR fixes each column only up to sign; pinning diag(R) > 0 makes the basis a function of the seed alone.
    return Q * torch.sign(torch.diagonal(R)).unsqueeze(0)


# ----------------------------------------------------------------------------------------------------
# (a) copying


def copying_sweep(
    gaps: torch.Tensor | list[float], n_keys: tuple[int, ...] = (2, 10, 100), d: int = 128, seed: int = 0
) -> dict:
    """Claim (a)ii-iii: alpha puts almost all its mass on key j, and c ~ v_j, when k_j^T q exceeds
    every other k_i^T q by a large gap.

    Setup: orthonormal keys, q = g k_j, so k_j^T q = g and k_i^T q = 0 for i != j. Then

        alpha_j = e^g / (e^g + n - 1) = 1 / (1 + (n - 1) e^{-g}),

    which tends to 1 as g grows, and with orthonormal values
    ||c - v_j|| = (1 - alpha_j) sqrt(n / (n - 1)) -> 0. The gap needed grows only like log n:
    alpha_j >= 1 - eps exactly when g >= log(n - 1) + log((1 - eps) / eps).

    Returns gaps (G,), n_keys, and per number of keys (rows, N = len(n_keys)): alpha_max (N, G),
    alpha_max_closed_form (N, G), copy_error (N, G), and gap_for_alpha_0.99 (N,) from the formula.
    """
    gaps = torch.as_tensor(gaps, dtype=DTYPE)  # (G,)
    if max(n_keys) > d:
        raise ValueError(f"attention_theory.copying_sweep: orthonormal keys need n <= d; got n_keys={n_keys}, d={d}")
    generator = torch.Generator().manual_seed(seed)
    alpha_max, closed_form, copy_error = [], [], []
    for n in n_keys:
        keys = orthonormal_basis(d, n, generator).T  # (n, d)
        values = orthonormal_basis(d, n, generator).T  # (n, d)
        j = 0
        q = gaps.unsqueeze(-1) * keys[j]  # (G, 1) * (d,) -> (G, d)
        c, alpha = attention(q, keys, values)  # c (G, d), alpha (G, n)
        alpha_max.append(alpha.max(dim=-1).values)
        closed_form.append(1.0 / (1.0 + (n - 1) * torch.exp(-gaps)))
        copy_error.append(torch.linalg.vector_norm(c - values[j], dim=-1))
    return {
        "gaps": gaps,
        "n_keys": list(n_keys),
        "alpha_max": torch.stack(alpha_max),
        "alpha_max_closed_form": torch.stack(closed_form),
        "copy_error": torch.stack(copy_error),
        "gap_for_alpha_0.99": torch.tensor([math.log(n - 1) + math.log(99.0) for n in n_keys], dtype=DTYPE),
    }


# ----------------------------------------------------------------------------------------------------
# (b) extracting one of two summed vectors; averaging two values


def subspace_extraction(d: int = 16, m: int = 4, p: int = 5, n_trials: int = 100, seed: int = 0) -> dict:
    """Claim (b)i: if v_a lies in span{a_1..a_m} and v_b in an orthogonal span{b_1..b_p}, then with
    A = [a_1 ... a_m] (d, m) having orthonormal columns, M = A A^T (d, d) gives M (v_a + v_b) = v_a.

    Proof: v_a = A x for coefficients x in R^m, and A^T B = 0, so
    M (v_a + v_b) = A (A^T A) x + A (A^T B) y = A I_m x + 0 = v_a.
    M is the orthogonal projector onto span(A): symmetric, idempotent (M M = M), M v_b = 0.

    Why A^T alone is not the answer (the worked solution in the reference text writes M = A^T):
    A^T is (m, d), it maps R^d to R^m, so A^T s = x is the *coordinate vector* of v_a in the basis
    a_1..a_m, not v_a as a vector of R^d (the handout's note asks for the latter). The sum formula
    that solution derives, sum_i a_i a_i^T / (a_i^T a_i), equals A A^T; lifting the coordinates
    back with A gives M s = A (A^T s).

    Returns the shapes involved and the worst errors over `n_trials` random pairs (v_a, v_b).
    """
    if m + p > d:
        raise ValueError(
            f"attention_theory.subspace_extraction: two orthogonal subspaces of dims m and p need m + p <= d; "
            f"got m={m}, p={p}, d={d}"
        )
    generator = torch.Generator().manual_seed(seed)
    basis = orthonormal_basis(d, m + p, generator)  # (d, m + p): columns orthonormal, so span(A) is orthogonal to span(B)
    A, B = basis[:, :m], basis[:, m:]  # (d, m), (d, p)
    x = torch.randn(n_trials, m, generator=generator, dtype=DTYPE)  # coordinates of v_a in basis A
    y = torch.randn(n_trials, p, generator=generator, dtype=DTYPE)  # coordinates of v_b in basis B
    v_a, v_b = x @ A.T, y @ B.T  # (T, d) each: rows are vectors of R^d
    s = v_a + v_b  # (T, d)

    M = A @ A.T  # (d, d)
    M_from_sum = sum(torch.outer(A[:, i], A[:, i]) / (A[:, i] @ A[:, i]) for i in range(m))  # the sum formula
    extracted = s @ M.T  # (T, d); row t is M s_t
    coordinates = s @ A  # (T, m); row t is A^T s_t: lives in R^m, not R^d

    def worst(rows: torch.Tensor) -> float:  # largest Euclidean norm among the (T, .) rows
        return torch.linalg.vector_norm(rows, dim=-1).max().item()

    return {
        "shapes": {
            "A": tuple(A.shape),
            "A^T": tuple(A.T.shape),
            "M = A A^T": tuple(M.shape),
            "s": (d,),
            "A^T s": (m,),
            "M s": (d,),
        },
        "max_error_M_s_vs_v_a": worst(extracted - v_a),
        "max_norm_M_v_b": worst(v_b @ M.T),
        "max_error_A_Ts_vs_coordinates": worst(coordinates - x),
        "max_error_A_A_Ts_vs_v_a": worst(coordinates @ A.T - v_a),
        "idempotence_error": (M @ M - M).abs().max().item(),
        "symmetry_error": (M - M.T).abs().max().item(),
        "sum_formula_vs_A_A_T": (M_from_sum - M).abs().max().item(),
        "A_T_maps_into_R^d": tuple(A.T.shape)[0] == d,
    }


def averaging_error(betas: torch.Tensor | list[float], n: int = 8, d: int = 32, seed: int = 0) -> dict:
    """Claim (b)ii: with orthonormal keys, q = beta (k_a + k_b) gives c -> (v_a + v_b)/2 as beta grows.

    k_a^T q = k_b^T q = beta and k_i^T q = 0 for the other n - 2 keys, so

        alpha_a = alpha_b = e^beta / (2 e^beta + n - 2)  -> 1/2,

    the other n - 2 weights are 1 / (2 e^beta + n - 2) -> 0, and the error ||c - (v_a + v_b)/2||
    shrinks like (n - 2) e^{-beta}: exponentially in beta, never exactly zero (softmax never
    averages exactly; the handout's footnote).

    Returns betas (B,), error (B,), alpha_a (B,), alpha_b (B,), alpha_a_closed_form (B,).
    """
    betas = torch.as_tensor(betas, dtype=DTYPE)  # (B,)
    generator = torch.Generator().manual_seed(seed)
    keys = orthonormal_basis(d, n, generator).T  # (n, d)
    values = orthonormal_basis(d, n, generator).T  # (n, d)
    q = betas.unsqueeze(-1) * (keys[A_INDEX] + keys[B_INDEX])  # (B, 1) * (d,) -> (B, d)
    c, alpha = attention(q, keys, values)  # c (B, d), alpha (B, n)
    midpoint = (values[A_INDEX] + values[B_INDEX]) / 2
    return {
        "betas": betas,
        "error": torch.linalg.vector_norm(c - midpoint, dim=-1),
        "alpha_a": alpha[:, A_INDEX],
        "alpha_b": alpha[:, B_INDEX],
        "alpha_a_closed_form": torch.exp(betas) / (2 * torch.exp(betas) + n - 2),
    }


# ----------------------------------------------------------------------------------------------------
# (c), (d) random keys: one head against two


def sample_perturbed_keys(
    n_samples: int,
    n: int,
    d: int,
    noise_var: float = 1e-6,
    rank_one_var: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw the handout's random keys (c)ii: k_i ~ N(mu_i, noise_var I) for i != a and
    k_a ~ N(mu_a, noise_var I + rank_one_var mu_a mu_a^T), with mu_1..mu_n orthonormal.

    k_a is drawn as mu_a + sqrt(noise_var) z + sqrt(rank_one_var) xi mu_a with z ~ N(0, I_d) and
    xi ~ N(0, 1) independent; the covariances of independent Gaussians add, giving the one above.
    Along mu_a the key's length is gamma = k_a^T mu_a ~ N(1, noise_var + rank_one_var): k_a points
    where mu_a points but its norm swings (with rank_one_var = 1/2, gamma has std ~ 0.71, and
    gamma < 0 in ~8% of the samples).

    Returns keys (S, n, d), mu (n, d) and gamma (S,).
    """
    mu = orthonormal_basis(d, n, generator).T  # (n, d)
    keys = mu + math.sqrt(noise_var) * torch.randn(n_samples, n, d, generator=generator, dtype=DTYPE)  # (S, n, d)
    xi = torch.randn(n_samples, generator=generator, dtype=DTYPE)  # (S,)
    keys[:, A_INDEX] += math.sqrt(rank_one_var) * xi.unsqueeze(-1) * mu[A_INDEX]  # (S, 1) * (d,) -> (S, d)
    gamma = keys[:, A_INDEX] @ mu[A_INDEX]  # (S,)
    return keys, mu, gamma


def _perturbed_setup(n_samples, n, d, noise_var, rank_one_var, seed):
    # One generator, one draw order: single_head_fragility and multi_head_robustness called with the
    # same arguments see the very same keys and values, so their outputs compare sample by sample.
    generator = torch.Generator().manual_seed(seed)
    keys, mu, gamma = sample_perturbed_keys(n_samples, n, d, noise_var, rank_one_var, generator)
    values = orthonormal_basis(d, n, generator).T  # (n, d)
    return keys, mu, gamma, values


def _distances(c: torch.Tensor, values: torch.Tensor) -> dict:
    v_a, v_b = values[A_INDEX], values[B_INDEX]
    return {
        "dist_to_va": torch.linalg.vector_norm(c - v_a, dim=-1),
        "dist_to_vb": torch.linalg.vector_norm(c - v_b, dim=-1),
        "dist_to_mid": torch.linalg.vector_norm(c - (v_a + v_b) / 2, dim=-1),
    }


def single_head_fragility(
    n_samples: int = 2000,
    n: int = 8,
    d: int = 32,
    beta: float = 20.0,
    noise_var: float = 1e-6,
    rank_one_var: float = 0.5,
    tol: float = 0.05,
    seed: int = 0,
) -> dict:
    """Claim (c): the single-head query q = beta (mu_a + mu_b), which averages v_a and v_b when the
    keys sit at their means, swings between v_a and v_b once k_a's norm varies.

    With k_a ~ gamma mu_a and k_b ~ mu_b: k_a^T q ~ gamma beta, k_b^T q ~ beta, the rest ~ 0, so

        alpha_a ~ 1 / (1 + exp(beta (1 - gamma))),     alpha_b ~ 1 - alpha_a,

    a sigmoid of gamma with slope beta/4 at gamma = 1. The large beta that (b)ii needs for a clean
    average turns it into a near step: gamma a little below 1 gives c ~ v_b, a little above gives
    c ~ v_a, and c ~ (v_a + v_b)/2 only when |gamma - 1| << 1/beta.
    The same amplification hits the isotropic noise (rank_one_var = 0, the setting of (c)i): the
    score difference k_a^T q - k_b^T q carries noise of std 2 beta sqrt(noise_var), so alpha_a
    wobbles around 1/2 with std ~ beta sqrt(noise_var) / 2 and ||c - (v_a + v_b)/2|| =
    sqrt(2) |alpha_a - 1/2|: "vanishingly small" noise has to be small against 1/beta.

    Returns per-sample tensors (S,): gamma, alpha_a, alpha_b, alpha_a_predicted (the sigmoid),
    dist_to_va, dist_to_vb, dist_to_mid; and floats: alpha_a_mean, alpha_a_std,
    frac_alpha_a_below_0.2, frac_alpha_a_above_0.8, frac_near_va / frac_near_vb / frac_near_mid
    (distance < `tol`), median_dist_to_mid, max_dist_to_mid.
    """
    keys, mu, gamma, values = _perturbed_setup(n_samples, n, d, noise_var, rank_one_var, seed)
    q = beta * (mu[A_INDEX] + mu[B_INDEX])  # (d,)
    c, alpha = attention(q, keys, values)  # c (S, d), alpha (S, n)
    out = {
        "gamma": gamma,
        "alpha_a": alpha[:, A_INDEX],
        "alpha_b": alpha[:, B_INDEX],
        "alpha_a_predicted": torch.sigmoid(beta * (gamma - 1)),
        **_distances(c, values),
    }
    alpha_a = out["alpha_a"]
    out.update(
        {
            "alpha_a_mean": alpha_a.mean().item(),
            "alpha_a_std": alpha_a.std().item(),
            "frac_alpha_a_below_0.2": (alpha_a < 0.2).double().mean().item(),
            "frac_alpha_a_above_0.8": (alpha_a > 0.8).double().mean().item(),
            "frac_near_va": (out["dist_to_va"] < tol).double().mean().item(),
            "frac_near_vb": (out["dist_to_vb"] < tol).double().mean().item(),
            "frac_near_mid": (out["dist_to_mid"] < tol).double().mean().item(),
            "median_dist_to_mid": out["dist_to_mid"].median().item(),
            "max_dist_to_mid": out["dist_to_mid"].max().item(),
        }
    )
    return out


def multi_head_robustness(
    n_samples: int = 2000,
    n: int = 8,
    d: int = 32,
    beta: float = 20.0,
    noise_var: float = 1e-6,
    rank_one_var: float = 0.5,
    tol: float = 0.05,
    seed: int = 0,
) -> dict:
    """Claim (d): two heads, q1 = beta mu_a and q2 = beta mu_b, averaged as c = (c1 + c2)/2, stay at
    (v_a + v_b)/2 under the perturbation of k_a that breaks the single head (same keys as
    `single_head_fragility` for the same arguments).

    Head 1 compares gamma beta (key a) against ~0 (every other key), so alpha_a1 =
    1 / (1 + (n - 1) e^{-gamma beta}) ~ 1 whatever gamma's value, as long as gamma beta >> log(n - 1);
    head 2 never sees the perturbation (k_a^T q2 ~ 0). So c1 ~ v_a, c2 ~ v_b, c ~ (v_a + v_b)/2:
    the norm of k_a no longer decides between v_a and v_b, because each head only has to win
    against keys with dot product ~0, not against the other chosen key.
    The remaining failures are the samples the handout sets aside, gamma <= 0 (k_a^T q1 <= 0), plus a
    thin band 0 < gamma < ~log(n - 1) / beta where head 1 has not yet locked onto k_a.

    Returns per-sample tensors (S,): gamma, alpha_a1, alpha_b2, dist_to_va, dist_to_vb,
    dist_to_mid; floats: frac_near_mid (distance < `tol`, all samples), frac_gamma_positive,
    frac_near_mid_given_gamma_positive, median_dist_to_mid, max_dist_to_mid,
    max_dist_to_mid_given_gamma_above_0.5
    (the handout's own range for gamma, 0.5 to 1.5, and beyond).
    """
    keys, mu, gamma, values = _perturbed_setup(n_samples, n, d, noise_var, rank_one_var, seed)
    c1, alpha1 = attention(beta * mu[A_INDEX], keys, values)  # c1 (S, d), alpha1 (S, n)
    c2, alpha2 = attention(beta * mu[B_INDEX], keys, values)  # c2 (S, d), alpha2 (S, n)
    c = (c1 + c2) / 2
    out = {"gamma": gamma, "alpha_a1": alpha1[:, A_INDEX], "alpha_b2": alpha2[:, B_INDEX], **_distances(c, values)}
    near = out["dist_to_mid"] < tol
    positive = gamma > 0
    in_range = out["dist_to_mid"][gamma > 0.5]
    out.update(
        {
            "frac_near_mid": near.double().mean().item(),
            "frac_gamma_positive": positive.double().mean().item(),
            "frac_near_mid_given_gamma_positive": near[positive].double().mean().item(),
            "median_dist_to_mid": out["dist_to_mid"].median().item(),
            "max_dist_to_mid": out["dist_to_mid"].max().item(),
            "max_dist_to_mid_given_gamma_above_0.5": in_range.max().item() if len(in_range) else float("nan"),
        }
    )
    return out


def fragility_vs_beta(
    betas: torch.Tensor | list[float],
    n_samples: int = 2000,
    n: int = 8,
    d: int = 32,
    noise_var: float = 1e-6,
    rank_one_var: float = 0.5,
    seed: int = 0,
) -> dict:
    """Claims (c) + (d) across beta: no single-head beta works, two heads work for every large beta.

    One head is caught between two errors: small beta leaks mass to the n - 2 other keys
    (the (b)ii error, ~ (n - 2) e^{-beta}), large beta makes alpha_a a step function of gamma (the (c)
    swing). Its mean distance to (v_a + v_b)/2 therefore never reaches 0; the two-head output's
    does shrink as beta grows, apart from the gamma <= 0 samples.

    Returns betas (B,) and, per beta (B,): single_mean_dist_to_mid, single_median_dist_to_mid,
    multi_mean_dist_to_mid, multi_median_dist_to_mid, single_alpha_a_std.
    """
    betas = torch.as_tensor(betas, dtype=DTYPE)
    rows = {k: [] for k in ("single_mean", "single_median", "multi_mean", "multi_median", "single_std")}
    for beta in betas.tolist():
        kwargs = dict(n_samples=n_samples, n=n, d=d, beta=beta, noise_var=noise_var, rank_one_var=rank_one_var, seed=seed)
        single, multi = single_head_fragility(**kwargs), multi_head_robustness(**kwargs)
        rows["single_mean"].append(single["dist_to_mid"].mean().item())
        rows["single_median"].append(single["dist_to_mid"].median().item())
        rows["multi_mean"].append(multi["dist_to_mid"].mean().item())
        rows["multi_median"].append(multi["dist_to_mid"].median().item())
        rows["single_std"].append(single["alpha_a_std"])
    as_tensor = lambda xs: torch.tensor(xs, dtype=DTYPE)  # noqa: E731
    return {
        "betas": betas,
        "single_mean_dist_to_mid": as_tensor(rows["single_mean"]),
        "single_median_dist_to_mid": as_tensor(rows["single_median"]),
        "multi_mean_dist_to_mid": as_tensor(rows["multi_mean"]),
        "multi_median_dist_to_mid": as_tensor(rows["multi_median"]),
        "single_alpha_a_std": as_tensor(rows["single_std"]),
    }
