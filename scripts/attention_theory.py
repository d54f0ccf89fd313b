"""Attention exploration (handout part 1), numerically: figures, a summary table and a JSON summary.

Runs every claim of `hf_birthplace.analysis.attention_theory` (copying, extracting one of two summed
vectors, averaging, single-head fragility, multi-head robustness), saves the figures as
`attention_theory_*.png` into --output_dir and writes `attention_theory_summary.json` beside them.
Takes a few seconds on a CPU.

    # the figures and numbers in docs/attention_theory.md
    python scripts/attention_theory.py

    # elsewhere, with a different draw and a wider single-head swing
    python scripts/attention_theory.py --output_dir /tmp/attn --seed 1 --beta 50

    # arguments from a file
    python scripts/attention_theory.py my_args.json
"""

import json
import os
import sys
from dataclasses import asdict, dataclass, field

import matplotlib


matplotlib.use("Agg")  # files only, no display: runs on headless machines and in CI
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from transformers import HfArgumentParser  # noqa: E402

from hf_birthplace.analysis.attention_theory import (  # noqa: E402
    averaging_error,
    copying_sweep,
    fragility_vs_beta,
    multi_head_robustness,
    single_head_fragility,
    subspace_extraction,
)


FIGURES = (
    "attention_theory_copying.png",
    "attention_theory_averaging.png",
    "attention_theory_fragility.png",
    "attention_theory_beta_tradeoff.png",
)
SUMMARY_FILE = "attention_theory_summary.json"


@dataclass
class AttentionTheoryArguments:
    output_dir: str = field(
        default="docs/figures", metadata={"help": "Where the PNG figures and the JSON summary go (created if missing)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of every random draw (bases, keys, values)."})
    n_keys: int = field(
        default=8, metadata={"help": "n, the number of keys/values in the averaging and random-key experiments."}
    )
    dim: int = field(default=32, metadata={"help": "d, the dimension of queries, keys and values (needs n_keys <= dim)."})
    beta: float = field(
        default=20.0,
        metadata={
            "help": "Query scale beta for the single/multi-head experiments: large enough that the noise-free average "
            "is accurate to ~1e-8 (see the averaging figure), as the handout's 'beta >> 0' asks."
        },
    )
    noise_var: float = field(
        default=1e-6,
        metadata={"help": "The handout's 'vanishingly small alpha': isotropic covariance scale of every key."},
    )
    rank_one_var: float = field(
        default=0.5, metadata={"help": "Extra variance of k_a along mu_a (the handout's 1/2 mu_a mu_a^T)."}
    )
    n_samples: int = field(default=2000, metadata={"help": "Number of key draws for the single/multi-head experiments."})
    save_figures: bool = field(
        default=True, metadata={"help": "Save the PNG figures; off, only the summary table and the JSON are written."}
    )
    tol: float = field(
        default=0.05,
        metadata={"help": "An output counts as 'near' a target vector when closer than this (values have unit norm)."},
    )


def _floats(d: dict) -> dict:
    """The scalar part of a result dict; the per-sample tensors are plotted, not stored."""
    return {k: v for k, v in d.items() if isinstance(v, (float, int, bool))}


def _plot_copying(copying: dict, path: str) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    gaps = copying["gaps"].numpy()
    for row, n in enumerate(copying["n_keys"]):
        (line,) = left.plot(gaps, copying["alpha_max"][row].numpy(), label=f"n = {n}")
        left.plot(gaps, copying["alpha_max_closed_form"][row].numpy(), "k:", lw=1)
        left.axvline(copying["gap_for_alpha_0.99"][row].item(), color=line.get_color(), ls="--", lw=0.8)
        right.semilogy(gaps, copying["copy_error"][row].numpy(), color=line.get_color(), label=f"n = {n}")
    left.set(xlabel="gap  k_j·q − k_i·q", ylabel="max_i α_i", title="(a) α concentrates on one key")
    left.legend(title="dotted: 1/(1+(n−1)e^−g); dashed: α = 0.99", fontsize=8, title_fontsize=7)
    right.set(xlabel="gap  k_j·q − k_i·q", ylabel="‖c − v_j‖", title="(a) c copies v_j")
    right.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_averaging(averaging: dict, path: str, n: int) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    betas = averaging["betas"].numpy()
    left.semilogy(betas, averaging["error"].numpy(), marker="o", ms=3)
    left.axhline(1e-3, color="gray", ls="--", lw=0.8)
    left.set(xlabel="β", ylabel="‖c − (v_a+v_b)/2‖", title=f"(b)ii q = β(k_a + k_b), n = {n} orthonormal keys")
    right.plot(betas, averaging["alpha_a"].numpy(), label="α_a = α_b")
    right.plot(betas, averaging["alpha_a_closed_form"].numpy(), "k:", label="e^β / (2e^β + n − 2)")
    right.axhline(0.5, color="gray", ls="--", lw=0.8)
    right.set(xlabel="β", ylabel="attention weight", title="(b)ii the two weights → 1/2")
    right.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_fragility(single: dict, multi: dict, path: str, beta: float) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
    bins = torch.linspace(0, 1, 41).numpy()
    axes[0].hist(single["alpha_a"].numpy(), bins=bins, alpha=0.7, label="one head: α_a")
    axes[0].hist(multi["alpha_a1"].numpy(), bins=bins, alpha=0.7, label="two heads: head 1's α_a")
    axes[0].set(xlabel="attention weight on k_a", ylabel="samples", title="(c)/(d) weight on item a across key draws")
    axes[0].legend(fontsize=8)

    order = torch.argsort(single["gamma"])
    axes[1].scatter(single["gamma"].numpy(), single["alpha_a"].numpy(), s=4, alpha=0.5, label="one head: α_a")
    axes[1].plot(single["gamma"][order].numpy(), single["alpha_a_predicted"][order].numpy(), "k", lw=1,
                 label=f"1/(1+exp(β(1−γ))), β = {beta:g}")
    axes[1].scatter(multi["gamma"].numpy(), multi["alpha_a1"].numpy(), s=4, alpha=0.5, label="two heads: head 1's α_a")
    axes[1].set(xlabel="γ = k_a·μ_a  (the norm of k_a)", ylabel="weight on k_a", title="(c) a step in γ; (d) flat for γ > 0")
    axes[1].legend(fontsize=7)

    bins = torch.linspace(0, 0.8, 41).numpy()
    axes[2].hist(single["dist_to_mid"].numpy(), bins=bins, alpha=0.7, label="one head")
    axes[2].hist(multi["dist_to_mid"].numpy(), bins=bins, alpha=0.7, label="two heads")
    axes[2].set_yscale("log")
    axes[2].set(xlabel="‖c − (v_a+v_b)/2‖   (0.707 = at v_a or v_b)", ylabel="samples",
                title="distance of the output from the target average")
    axes[2].legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_tradeoff(tradeoff: dict, path: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    betas = tradeoff["betas"].numpy()
    ax.plot(betas, tradeoff["single_mean_dist_to_mid"].numpy(), "o-", label="one head, mean")
    ax.plot(betas, tradeoff["single_median_dist_to_mid"].numpy(), "o--", label="one head, median")
    ax.plot(betas, tradeoff["multi_mean_dist_to_mid"].numpy(), "s-", label="two heads, mean")
    ax.plot(betas, tradeoff["multi_median_dist_to_mid"].numpy(), "s--", label="two heads, median")
    ax.set_xscale("log")
    ax.set(xlabel="β", ylabel="‖c − (v_a+v_b)/2‖", title="(c)/(d) no β rescues one head")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _print_table(summary: dict) -> None:
    cp, sub, av = summary["copying"], summary["subspace_extraction"], summary["averaging"]
    sh, mh, tr = summary["single_head"], summary["multi_head"], summary["beta_tradeoff"]
    sh0, mh0 = summary["single_head_unperturbed"], summary["multi_head_unperturbed"]
    rows = [
        ("(a)", "gap for alpha_max = 0.99, n = " + "/".join(map(str, cp["n_keys"])),
         " / ".join(f"{g:.2f}" for g in cp["gap_for_alpha_0.99"])),
        ("(a)", "alpha_max at gap 10, n = " + "/".join(map(str, cp["n_keys"])),
         " / ".join(f"{a:.5f}" for a in cp["alpha_max_at_gap_10"])),
        ("(b)i", "shapes A, A^T, M = A A^T", f"{sub['shapes']['A']}, {sub['shapes']['A^T']}, {sub['shapes']['M = A A^T']}"),
        ("(b)i", "max ||M(v_a+v_b) - v_a||", f"{sub['max_error_M_s_vs_v_a']:.1e}"),
        ("(b)i", "max ||M v_b||", f"{sub['max_norm_M_v_b']:.1e}"),
        ("(b)ii", "||c - mid|| at beta = " + "/".join(f"{b:g}" for b in av["betas"]),
         " / ".join(f"{e:.1e}" for e in av["error"])),
        ("(c)i", "one head, unperturbed keys: max ||c - mid||", f"{sh0['max_dist_to_mid']:.1e}"),
        ("(d)i", "two heads, unperturbed keys: max ||c - mid||", f"{mh0['max_dist_to_mid']:.1e}"),
        ("(c)", "one head: alpha_a mean +- std", f"{sh['alpha_a_mean']:.3f} +- {sh['alpha_a_std']:.3f}"),
        ("(c)", "one head: frac alpha_a < 0.2 / > 0.8", f"{sh['frac_alpha_a_below_0.2']:.3f} / {sh['frac_alpha_a_above_0.8']:.3f}"),
        ("(c)", "one head: frac c near v_a / v_b / mid", f"{sh['frac_near_va']:.3f} / {sh['frac_near_vb']:.3f} / {sh['frac_near_mid']:.3f}"),
        ("(c)", "one head: median ||c - mid||", f"{sh['median_dist_to_mid']:.3f}"),
        ("(d)", "two heads: frac c near mid (all / gamma > 0)",
         f"{mh['frac_near_mid']:.3f} / {mh['frac_near_mid_given_gamma_positive']:.3f}"),
        ("(d)", "two heads: frac gamma > 0", f"{mh['frac_gamma_positive']:.3f}"),
        ("(d)", "two heads: median ||c - mid||", f"{mh['median_dist_to_mid']:.1e}"),
        ("(d)", "two heads: max ||c - mid|| over gamma > 0.5", f"{mh['max_dist_to_mid_given_gamma_above_0.5']:.1e}"),
        ("(c)/(d)", "min over beta of mean ||c - mid||, one / two heads",
         f"{min(tr['single_mean_dist_to_mid']):.3f} / {min(tr['multi_mean_dist_to_mid']):.3f}"),
    ]
    width = max(len(r[1]) for r in rows)
    print(f"{'part':8s} {'quantity':{width}s}  value")
    for part, quantity, value in rows:
        print(f"{part:8s} {quantity:{width}s}  {value}")


def main(args: AttentionTheoryArguments) -> dict:
    os.makedirs(args.output_dir, exist_ok=True)
    random_keys = {
        "n_samples": args.n_samples,
        "n": args.n_keys,
        "d": args.dim,
        "noise_var": args.noise_var,
        "rank_one_var": args.rank_one_var,
        "seed": args.seed,
    }

    copying = copying_sweep(torch.linspace(0, 20, 81), n_keys=(2, 10, 100), d=max(128, args.dim), seed=args.seed)
    subspace = subspace_extraction(d=16, m=4, p=5, n_trials=1000, seed=args.seed)
    averaging = averaging_error(torch.linspace(0, 20, 41), n=args.n_keys, d=args.dim, seed=args.seed)
    # (c)i / (d)i: the same queries on keys that only carry the vanishing isotropic noise.
    unperturbed = {**random_keys, "rank_one_var": 0.0}
    single_clean = single_head_fragility(beta=args.beta, tol=args.tol, **unperturbed)
    multi_clean = multi_head_robustness(beta=args.beta, tol=args.tol, **unperturbed)
    single = single_head_fragility(beta=args.beta, tol=args.tol, **random_keys)
    multi = multi_head_robustness(beta=args.beta, tol=args.tol, **random_keys)
    tradeoff = fragility_vs_beta([0.5, 1, 2, 3, 5, 10, 20, 50, 100], **random_keys)

    paths = [os.path.join(args.output_dir, name) for name in FIGURES] if args.save_figures else []
    if args.save_figures:
        _plot_copying(copying, paths[0])
        _plot_averaging(averaging, paths[1], args.n_keys)
        _plot_fragility(single, multi, paths[2], args.beta)
        _plot_tradeoff(tradeoff, paths[3])

    at_gap_10 = int(torch.argmin((copying["gaps"] - 10).abs()))
    table_betas = [0, 2, 5, 10, 15, 20]
    beta_rows = [int(torch.argmin((averaging["betas"] - b).abs())) for b in table_betas]
    summary = {
        "arguments": asdict(args),
        "copying": {
            "n_keys": copying["n_keys"],
            "gap_for_alpha_0.99": copying["gap_for_alpha_0.99"].tolist(),
            "alpha_max_at_gap_10": copying["alpha_max"][:, at_gap_10].tolist(),
            "max_deviation_from_closed_form": (copying["alpha_max"] - copying["alpha_max_closed_form"]).abs().max().item(),
        },
        "subspace_extraction": {
            **{k: v for k, v in subspace.items() if k != "shapes"},
            "shapes": {k: list(v) for k, v in subspace["shapes"].items()},
        },
        "averaging": {
            "betas": table_betas,
            "error": averaging["error"][beta_rows].tolist(),
            "alpha_a": averaging["alpha_a"][beta_rows].tolist(),
        },
        "single_head_unperturbed": _floats(single_clean),
        "multi_head_unperturbed": _floats(multi_clean),
        "single_head": _floats(single),
        "multi_head": _floats(multi),
        "beta_tradeoff": {k: v.tolist() for k, v in tradeoff.items()},
        "figures": paths,
    }
    with open(os.path.join(args.output_dir, SUMMARY_FILE), "w") as f:
        json.dump(summary, f, indent=2)
    _print_table(summary)
    return summary


if __name__ == "__main__":
    parser = HfArgumentParser(AttentionTheoryArguments)
    (args,) = parser.parse_json_file(sys.argv[1]) if len(sys.argv) == 2 and sys.argv[1].endswith(".json") else parser.parse_args_into_dataclasses()
    main(args)
