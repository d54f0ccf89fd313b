"""The benchmark (issue 6): its baseline is the original model and loop, its quick mode runs end to end and writes its
JSON, and the fast paths it times learn what the plain path learns."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from hf_birthplace import CharGPTForCausalLM
from hf_birthplace.benchmark import (
    BenchmarkArguments,
    OriginalGPT,
    OriginalTrainLoop,
    _RepresentativeBatches,
    _training_flops,
    matmul_gflops,
    original_batch,
    original_from_ours,
    original_predict_places,
    ours_from_original,
    run_benchmark,
)
from hf_birthplace.data import IGNORE_INDEX, CharCollator, EpochLengthGroupedBatchSampler
from hf_birthplace.evaluation import predict_places
from hf_birthplace.tokenization_char import MASK_CHAR

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models run many tiny ops; on a busy shared machine two OpenMP threads make each op wait for the other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def config(tiny_config_factory):
    # block_size 64: a question, its MASK and 32 answer characters fit, so the original never crops its context.
    return tiny_config_factory("vanilla", block_size=64)


def examples(ids_lengths, vocab_size, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in ids_lengths:
        ids = torch.randint(2, vocab_size, (n,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] + ids[1:]})
    return out


def test_original_gpt_has_our_shape_and_gives_our_loss(config):
    original = OriginalGPT(config).eval()
    ours = ours_from_original(original, config).eval()
    assert sum(p.numel() for p in original.parameters()) == sum(p.numel() for p in ours.parameters())
    batch = CharCollator(pad_token_id=0)(examples([9, 30, 17], config.vocab_size))
    x, y = original_batch(batch, config.block_size)
    assert x.shape == y.shape == (3, config.block_size - 1)
    assert int((y != 0).sum()) == int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    with torch.no_grad():
        _, original_loss = original(x, y)
        our_loss = ours(**batch).loss
    torch.testing.assert_close(our_loss, original_loss, rtol=1e-5, atol=1e-6)


def test_flop_count_is_the_matrix_products_of_forward_and_backward(config):
    """3 x the forward's products (backward computes two per forward product): per layer 24 B T C^2 for the
    projections and the MLP, 4 B T^2 C for attention; 2 B T C V for the head."""
    model = OriginalGPT(config)
    B, T, C, V = 3, 10, config.n_embd, config.vocab_size
    x = torch.randint(2, V, (B, T))
    forward = config.n_layer * (24 * B * T * C**2 + 4 * B * T**2 * C) + 2 * B * T * C * V
    assert _training_flops(model, x, x) == 3 * forward
    assert matmul_gflops(rows=64, n_embd=C, threads=1, repeats=1) > 0


def test_weights_round_trip(config):
    model = CharGPTForCausalLM(config)
    back = ours_from_original(original_from_ours(model), config)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(back.state_dict()[key], value, rtol=0, atol=0)


def test_original_step_changes_the_parameters(config):
    original = OriginalGPT(config)
    before = {k: v.clone() for k, v in original.named_parameters()}
    loop = OriginalTrainLoop(original, final_tokens=10**6)
    x, y = original_batch(CharCollator()(examples([12, 20], config.vocab_size)), config.block_size)
    loss = loop.step(x, y)
    assert loss > 0 and loop.tokens == y.numel()
    assert all(not torch.equal(before[k], v) for k, v in original.named_parameters())


def test_one_at_a_time_answers_are_ours(config, char_tokenizer):
    torch.manual_seed(0)
    original = OriginalGPT(config)
    ours = ours_from_original(original, config)
    questions = ["Where was Ann Lee born?", "Where was Bob Ray born?", "Cyd Moe?"]
    theirs = original_predict_places(original, char_tokenizer, questions)
    assert [p.place for p in predict_places(ours, char_tokenizer, questions)] == theirs
    assert all(MASK_CHAR not in answer for answer in theirs)


def test_representative_batches_reorder_the_epoch_and_span_its_lengths():
    lengths = [(7 * i) % 50 + 1 for i in range(64)]
    plain = EpochLengthGroupedBatchSampler(None, 4, lengths=lengths)
    chosen = _RepresentativeBatches(None, 4, lengths=lengths, warmup=2, measured=4)
    batches = chosen.batches()
    assert sorted(map(sorted, batches)) == sorted(map(sorted, plain.batches())) and batches[0] == plain.batches()[0]
    longest = [max(lengths[i] for i in batch) for batch in batches[2:6]]
    ranks = sorted(max(lengths[i] for i in batch) for batch in plain.batches()[1:])
    assert longest == sorted(longest) and longest[0] <= ranks[3] and longest[-1] >= ranks[-4]


@pytest.fixture
def tiny_files(tmp_path, tiny_corpus):
    (tmp_path / "corpus.txt").write_text(tiny_corpus, encoding="utf-8")
    dev = "Where was Ann Lee born?\tParis\nWhere was Bob Ray born?\tOslo\n"
    (tmp_path / "dev.tsv").write_text(dev, encoding="utf-8")
    return tmp_path


def test_quick_benchmark_end_to_end(tiny_files, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("benchmark_script", REPO_ROOT / "scripts" / "benchmark.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    output = tmp_path / "out" / "cpu.json"
    results = script.main([
        "--quick", "--data_dir", str(tiny_files), "--corpus_path", "corpus.txt", "--eval_path", "dev.tsv",
        "--batch_size", "2", "--loss_check_steps", "3", "--loss_check_batch_size", "2", "--output_json", str(output),
    ])
    written = json.loads(output.read_text(encoding="utf-8"))
    assert written["table"] == results["table"] and "| grouped |" in capsys.readouterr().out
    for name in ("fixed_padding", "grouped"):
        run = written["training"][name]
        assert run["measured_steps"] == 2 and run["ours_tokens_per_s"] > 0 and run["baseline_tokens_per_s"] > 0
        assert run["steps"][-1]["target_tokens"] > 0
    training = written["training"]
    assert training["fixed_padding"]["padding_fraction"] >= training["grouped"]["padding_fraction"]
    evaluation = written["evaluation"]
    assert evaluation["questions"] == 2 and evaluation["answers_agree"] == "2/2"
    assert written["memory"]["this_process"]["process_peak_rss_mb"] > 0
    # Same examples in the same order: dynamic padding and the original loop learn exactly what the plain path learns.
    runs = written["loss_check"]["runs"]
    for name in ("original_loop", "dynamic_padding", "dynamic_padding_causal"):
        assert runs[name]["max_abs_loss_diff_vs_plain"] < 1e-4, name
        assert runs[name]["final_max_abs_param_diff_vs_plain"] < 1e-3, name
        assert abs(runs[name]["heldout_loss_diff_vs_plain"]) < 1e-4, name
    assert runs["dynamic_padding_bf16"]["max_abs_loss_diff_vs_plain"] < 0.05
    assert all(len(o["heldout_losses"]) == 2 for o in written["loss_check"]["batch_orders"].values())
    assert (output.parent / "cpu_loss_curves.png").stat().st_size > 0
    # The compute ceiling: padding to 127 costs the baseline FLOPs that length grouping does not spend.
    ceiling = written["compute_ceiling"]
    assert 0 < ceiling["flops_per_target_ours"] < ceiling["flops_per_target_baseline"]
    assert ceiling["matmul_gflops"]["1"] > 0 and "Compute ceiling" in written["table"]
    assert training["grouped"]["ceiling_speedup"] > 0 and training["grouped"]["ours_achieved_gflops"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_cuda_is_skipped_without_a_gpu(tmp_path):
    output = tmp_path / "cuda.json"
    results = run_benchmark(BenchmarkArguments(device="cuda", quick=True, output_json=str(output)))
    assert "skipped" in results and not output.exists()


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="grouped_turbo"):
        BenchmarkArguments(variants=["grouped_turbo"])
