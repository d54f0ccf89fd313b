"""Tests of hf_birthplace.data: loading, span corruption, per-epoch draws, fine-tuning labels, batches, bad input."""

import logging
import math
import os
import random
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from hf_birthplace.data import (
    IGNORE_INDEX,
    CharCollator,
    DataFormatError,
    EpochLengthGroupedBatchSampler,
    PretrainDataset,
    build_finetune_dataset,
    count_changed_examples,
    load_corpus,
    load_qa,
    question_prompt,
    span_corrupt,
)
from hf_birthplace.tokenization_char import MASK_CHAR, PAD_CHAR, build_char_tokenizer


REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("HF_BIRTHPLACE_DATA_DIR", REPO / ".." / "shared" / "data" / "cs224n-a5"))

DOCS = [
    "Ada Lovelace. Ada Lovelace was born in London and wrote the first program.",
    "Alan Turing. Alan Turing was born in Maida Vale, London.",
    "Naïma Azough. Naïma Azough was born in Oujda, Morocco, and moved to the Netherlands.",
    "Bo. Bo was born in Oslo.",
    "Grace Hopper. Grace Hopper was born in New York City and built the first compiler.",
    "Emmy Noether. Emmy Noether was born in Erlangen.",
] * 4  # repeated documents: their draws must still differ (they have different indices)


@pytest.fixture(scope="module")
def tokenizer():
    return build_char_tokenizer("\n".join(DOCS) + "\nWhere was born?\t" + "0123456789")


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


@pytest.fixture
def corpus(tmp_path):
    return load_corpus(write(tmp_path, "corpus.txt", "\n".join(DOCS) + "\n"), cache_dir=str(tmp_path / "cache"))


def parse(corrupted):
    """prefix, masked, suffix and the PAD tail length of a span_corrupt result."""
    body = corrupted.rstrip(PAD_CHAR)
    prefix, suffix, masked = body.split(MASK_CHAR)
    return prefix, masked, suffix, len(corrupted) - len(body)


# --------------------------------------------------------------------------------------------- span corruption


@pytest.mark.parametrize("block_size", [9, 32, 128])
def test_span_corrupt_shape_and_reconstruction(block_size):
    rng = random.Random(0)
    documents = ["a", "ab", "abc", "abcd", "x" * 7, "The quick brown fox jumps over the lazy dog. " * 6]
    for _ in range(300):
        document = rng.choice(documents)
        corrupted = span_corrupt(document, block_size, rng)
        assert len(corrupted) == block_size
        assert corrupted.count(MASK_CHAR) == 2
        prefix, masked, suffix, pad = parse(corrupted)
        truncated = prefix + masked + suffix
        assert document.startswith(truncated)
        assert len(truncated) == len(document) or 4 <= len(truncated) <= int(block_size * 7 / 8)
        assert len(truncated) <= int(block_size * 7 / 8)
        assert 1 <= len(masked)
        assert pad == block_size - len(truncated) - 2 and PAD_CHAR not in corrupted[: block_size - pad]


def test_span_corrupt_lengths_are_distributed_as_specified():
    block_size, document = 64, "".join(chr(ord("a") + i % 26) for i in range(300))
    rng = random.Random(1)
    truncated_lengths, masked_by_length, starts = Counter(), {}, Counter()
    for _ in range(20000):
        prefix, masked, suffix, _ = parse(span_corrupt(document, block_size, rng))
        length = len(prefix) + len(masked) + len(suffix)
        truncated_lengths[length] += 1
        masked_by_length.setdefault(length, []).append(len(masked))
        starts[len(prefix) == 0, len(suffix) == 0] += 1
    # Every truncation length from 4 to int(block_size * 7/8) = 56 inclusive, roughly uniformly.
    assert set(truncated_lengths) == set(range(4, 57))
    assert min(truncated_lengths.values()) > 0.5 * 20000 / 53
    # The masked span is 1/4 of the truncated document on average, sometimes more, sometimes less.
    all_masked = [m for ms in masked_by_length.values() for m in ms]
    mean_length = sum(length * n for length, n in truncated_lengths.items()) / 20000
    assert abs(sum(all_masked) / len(all_masked) / mean_length - 0.25) < 0.01
    for length in (4, 5, 40, 41):
        ms = masked_by_length[length]
        assert abs(sum(ms) / len(ms) - length / 4) < 0.1 * length / 4 + 0.05
    ms = masked_by_length[40]
    assert min(ms) < 10 < max(ms)
    # The span starts anywhere: at the start, at the end, and in between.
    assert starts[True, False] and starts[False, True] and starts[False, False]


def test_span_corrupt_short_documents_stay_whole():
    rng = random.Random(2)
    for document in ["a", "ab", "abc", "abcd", "abcde"]:
        for _ in range(50):
            prefix, masked, suffix, _ = parse(span_corrupt(document, 32, rng))
            # a document shorter than the truncation drawn stays whole (for "abcde": unless 4 is drawn)
            assert prefix + masked + suffix in (document, document[:4])


def test_span_corrupt_is_reproducible():
    document = "Grace Hopper. Grace Hopper was born in New York City and built the first compiler."
    first = [span_corrupt(document, 128, random.Random(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    others = {span_corrupt(document, 128, random.Random(seed)) for seed in range(20)}
    assert len(others) > 15


def test_span_corrupt_rejects_tiny_block_size():
    with pytest.raises(ValueError, match="block_size >= 9"):
        span_corrupt("abcdefgh", 8, random.Random(0))


# --------------------------------------------------------------------------------------------- pretraining


def decode(tokenizer, ids):
    return "".join(tokenizer.convert_ids_to_tokens([i for i in ids]))


def test_pretrain_examples_are_the_span_corruption_in_causal_lm_form(corpus, tokenizer):
    dataset = PretrainDataset(corpus, tokenizer, block_size=32, seed=3)
    assert len(dataset) == len(DOCS) and dataset.lengths == [len(dataset[i]["input_ids"]) for i in range(len(DOCS))]
    for i in range(len(DOCS)):
        example = dataset[i]
        expected = span_corrupt(DOCS[i], 32, random.Random(f"span_corrupt/3/0/{i}")).rstrip(PAD_CHAR)
        assert decode(tokenizer, example["input_ids"]) == expected
        # labels aligned with input_ids (the model shifts them): every character but the first is a target.
        assert example["labels"][0] == IGNORE_INDEX
        assert example["labels"][1:] == example["input_ids"][1:]


def test_pretrain_draws_fresh_spans_every_epoch_reproducibly(corpus, tokenizer, caplog):
    dataset = PretrainDataset(corpus, tokenizer, block_size=32, seed=0)
    epoch0 = [dataset[i]["input_ids"] for i in range(len(dataset))]
    dataset.set_epoch(1)
    epoch1 = [dataset[i]["input_ids"] for i in range(len(dataset))]
    assert sum(a != b for a, b in zip(epoch0, epoch1)) > 0.8 * len(dataset)
    # Same seed and epoch: same draws, in another instance (another process), whatever the order of reading.
    other = PretrainDataset(corpus, tokenizer, block_size=32, seed=0)
    other.set_epoch(1)
    assert [other[i]["input_ids"] for i in reversed(range(len(other)))] == epoch1[::-1]
    dataset.set_epoch(0)
    assert [dataset[i]["input_ids"] for i in range(len(dataset))] == epoch0
    with caplog.at_level(logging.WARNING, logger="hf_birthplace.data"):
        [dataset[i] for i in range(len(dataset))]  # the second pass over epoch 0 since set_epoch(0)
        assert "without set_epoch" not in caplog.text
        dataset[0]
    assert "read twice over in epoch 0 without set_epoch" in caplog.text
    # Another seed, other draws; identical documents (indices i and i + 6) do not repeat each other's draws.
    reseeded = PretrainDataset(corpus, tokenizer, block_size=32, seed=1)
    assert sum(reseeded[i]["input_ids"] != epoch0[i] for i in range(len(DOCS))) > 0.8 * len(DOCS)
    assert sum(epoch0[i] != epoch0[i + 6] for i in range(len(DOCS) - 6)) > 0.8 * (len(DOCS) - 6)


@pytest.mark.parametrize("attention_type", ["vanilla", "synthesizer"])
def test_position_offsets_shift_positions_within_the_block_and_keep_the_draws(corpus, tokenizer, attention_type):
    from hf_birthplace.configuration_char_gpt import CharGPTConfig
    from hf_birthplace.modeling_char_gpt import CharGPTForCausalLM

    plain = PretrainDataset(corpus, tokenizer, block_size=32, seed=0)
    assert "position_ids" not in plain[0]
    shifted = PretrainDataset(corpus, tokenizer, block_size=32, seed=0, max_position_offset=12)
    offsets = []
    for epoch in range(4):
        plain.set_epoch(epoch)
        shifted.set_epoch(epoch)
        for i in range(len(DOCS)):
            # Same corruption as without offsets; positions consecutive, below block_size - 1 (synthesizer limit).
            assert shifted[i]["input_ids"] == plain[i]["input_ids"] and shifted[i]["labels"] == plain[i]["labels"]
            positions = shifted[i]["position_ids"]
            n = len(shifted[i]["input_ids"])
            assert positions == list(range(positions[0], positions[0] + n))
            assert 0 <= positions[0] <= 12 and positions[-1] <= 32 - 2
            offsets.append(positions[0])
    assert len(set(offsets)) > 6  # drawn, not constant
    again = PretrainDataset(corpus, tokenizer, block_size=32, seed=0, max_position_offset=12)
    again.set_epoch(3)
    assert [again[i]["position_ids"] for i in range(len(DOCS))] == [shifted[i]["position_ids"] for i in range(len(DOCS))]
    with pytest.raises(ValueError, match="max_position_offset"):
        PretrainDataset(corpus, tokenizer, block_size=32, max_position_offset=32)

    # The collator pads position ids; a batch runs through both attention types.
    batch = CharCollator(pad_token_id=tokenizer.pad_token_id)([shifted[i] for i in range(len(DOCS))])
    assert batch["position_ids"].shape == batch["input_ids"].shape
    assert (batch["position_ids"] * (1 - batch["attention_mask"])).sum() == 0
    config = CharGPTConfig(vocab_size=len(tokenizer), block_size=32, n_layer=1, n_head=2, n_embd=8,
                           attention_type=attention_type)
    loss = CharGPTForCausalLM(config)(**batch).loss
    assert torch.isfinite(loss)


def epoch_batches(dataset, sampler, epoch, num_workers):
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, collate_fn=CharCollator(pad_token_id=0), num_workers=num_workers
    )
    sampler.set_epoch(epoch)  # what the Trainer does before iterating, also through Accelerate
    return [batch["input_ids"].tolist() for batch in loader]


def test_dataloader_workers_see_the_epoch_and_repeat_no_draw(corpus, tokenizer):
    def run(num_workers):
        dataset = PretrainDataset(corpus, tokenizer, block_size=32, seed=5)
        sampler = EpochLengthGroupedBatchSampler(dataset, batch_size=4, seed=5)
        return [epoch_batches(dataset, sampler, epoch, num_workers) for epoch in (0, 1)]

    in_process, two_workers = run(0), run(2)
    assert in_process == two_workers
    assert in_process[0] != in_process[1]


def test_processes_share_the_batch_list_and_split_it(corpus, tokenizer):
    from accelerate.data_loader import BatchSamplerShard

    ranks = []
    for rank in range(2):  # two "processes": separate objects built the same way
        dataset = PretrainDataset(corpus, tokenizer, block_size=32, seed=9)
        sampler = EpochLengthGroupedBatchSampler(dataset, batch_size=3, seed=9)
        sampler.set_epoch(4)
        ranks.append((dataset, sampler, list(BatchSamplerShard(sampler, num_processes=2, process_index=rank))))
    (d0, s0, shard0), (d1, s1, shard1) = ranks
    assert s0.batches() == s1.batches()
    seen0, seen1 = [i for b in shard0 for i in b], [i for b in shard1 for i in b]
    assert not set(seen0) & set(seen1) and sorted(seen0 + seen1) == list(range(len(DOCS)))
    assert all(d0[i] == d1[i] for i in range(len(DOCS)))  # each rank draws what the other would have drawn


def test_accelerate_dataloader_forwards_the_epoch(corpus, tokenizer):
    from accelerate.data_loader import DataLoaderShard

    dataset = PretrainDataset(corpus, tokenizer, block_size=32, seed=0)
    sampler = EpochLengthGroupedBatchSampler(dataset, batch_size=4, seed=0)
    loader = DataLoaderShard(dataset, batch_sampler=sampler, collate_fn=CharCollator())
    loader.set_epoch(3)
    assert sampler.epoch == 3 and dataset.epoch == 3
    assert len(list(loader)) == len(sampler) == math.ceil(len(DOCS) / 4)


# --------------------------------------------------------------------------------------------- batches


def test_sampler_batches_cover_every_index_once_grouped_by_length():
    lengths = [random.Random(i).randint(5, 120) for i in range(400)]
    grouped = EpochLengthGroupedBatchSampler(None, batch_size=16, seed=0, lengths=lengths)
    plain = EpochLengthGroupedBatchSampler(None, batch_size=16, seed=0, lengths=lengths, group_by_length=False)
    for sampler in (grouped, plain):
        batches = list(sampler)
        assert len(batches) == len(sampler) == 25
        assert sorted(i for b in batches for i in b) == list(range(400))

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    assert padding(list(grouped)) < 0.3 * padding(list(plain))
    assert max(lengths[i] for i in next(iter(grouped))) == max(lengths)  # the longest batch comes first
    first = list(grouped)
    grouped.set_epoch(1)
    assert list(grouped) != first
    grouped.set_epoch(0)
    assert list(grouped) == first
    dropped = EpochLengthGroupedBatchSampler(None, batch_size=16, seed=0, lengths=lengths[:390], drop_last=True)
    assert len(dropped) == len(list(dropped)) == 24 and all(len(b) == 16 for b in dropped)


def test_unshuffled_sampler_keeps_the_dataset_order_every_epoch():
    # The original's DataLoader (no shuffle): batches of consecutive examples, the same ones every epoch.
    sampler = EpochLengthGroupedBatchSampler(
        None, batch_size=16, lengths=[5] * 40, group_by_length=False, shuffle=False
    )
    expected = [list(range(0, 16)), list(range(16, 32)), list(range(32, 40))]
    assert list(sampler) == expected
    sampler.set_epoch(3)
    assert list(sampler) == expected


def test_collator_pads_on_the_right():
    examples = [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [-100]}]
    batch = CharCollator(pad_token_id=0)(examples)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [-100, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["input_ids"].dtype == torch.long
    assert CharCollator(pad_to_multiple_of=8)(examples)["input_ids"].shape == (2, 8)
    fixed = CharCollator(pad_to_block_size=True, block_size=128)(examples)
    assert fixed["input_ids"].shape == fixed["labels"].shape == fixed["attention_mask"].shape == (2, 127)
    with pytest.raises(ValueError, match="block_size - 1"):
        CharCollator(pad_to_block_size=True, block_size=3)(examples)


@pytest.mark.parametrize("attention_type", ["vanilla", "synthesizer"])
def test_dynamic_length_grouped_batches_leave_every_loss_unchanged(corpus, tokenizer, attention_type):
    from hf_birthplace.configuration_char_gpt import CharGPTConfig
    from hf_birthplace.modeling_char_gpt import CharGPTForCausalLM

    block_size = 32
    torch.manual_seed(0)
    config = CharGPTConfig(
        vocab_size=len(tokenizer), block_size=block_size, n_layer=2, n_head=2, n_embd=16,
        embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0, attention_type=attention_type,
    )
    model = CharGPTForCausalLM(config).eval()
    dataset = PretrainDataset(corpus, tokenizer, block_size=block_size, seed=0)

    def per_example_loss(batch):
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        targets = batch["labels"][:, 1:]
        losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none")
        return losses.sum(1) / (targets != IGNORE_INDEX).sum(1)  # (B,)

    # The original: each example padded alone to block_size characters, input string[:-1] (block_size - 1
    # positions), target string[1:], targets equal to the PAD id 0 ignored, no attention mask.
    original = {}
    for i in range(len(dataset)):
        string = span_corrupt(DOCS[i], block_size, random.Random(f"span_corrupt/0/0/{i}"))
        ids = torch.tensor([tokenizer.convert_tokens_to_ids(list(string))])
        with torch.no_grad():
            logits = model(input_ids=ids[:, :-1]).logits
        original[i] = F.cross_entropy(logits[0], ids[0, 1:], ignore_index=0)
        padded = CharCollator(pad_to_block_size=True, block_size=block_size)([dataset[i]])
        assert padded["input_ids"].shape == (1, block_size - 1)
        torch.testing.assert_close(per_example_loss(padded)[0], original[i])

    sampler = EpochLengthGroupedBatchSampler(dataset, batch_size=5, seed=0)
    collator = CharCollator(pad_token_id=tokenizer.pad_token_id)
    checked = 0
    for indices in sampler:
        batch = collator([dataset[i] for i in indices])
        assert batch["input_ids"].shape[1] == max(dataset.lengths[i] for i in indices) < block_size - 1
        for i, loss in zip(indices, per_example_loss(batch)):
            torch.testing.assert_close(loss, original[i])
            checked += 1
    assert checked == len(dataset)


# --------------------------------------------------------------------------------------------- fine-tuning


QA = "Where was Ada Lovelace born?\tLondon\nWhere was Alan Turing born?\tMaida Vale\n"


def test_finetune_labels_cover_mask_place_mask_only(tmp_path, tokenizer):
    qa = load_qa(write(tmp_path, "qa.tsv", QA), cache_dir=str(tmp_path / "cache"))
    examples = build_finetune_dataset(qa, tokenizer, block_size=64)
    assert examples.column_names == ["input_ids", "labels"]
    for example, question, place in zip(examples, qa["question"], qa["answer"]):
        assert decode(tokenizer, example["input_ids"]) == question + MASK_CHAR + place + MASK_CHAR
        targets = [t for t in example["labels"] if t != IGNORE_INDEX]
        assert decode(tokenizer, targets) == MASK_CHAR + place + MASK_CHAR
        first = example["labels"].index(targets[0])
        assert first == len(question)  # predicted from the question's last character, as in the original
    sampler = EpochLengthGroupedBatchSampler(examples, batch_size=1, seed=0)  # lengths from "input_ids"
    assert sampler.lengths == [len(x) for x in examples["input_ids"]] and len(list(sampler)) == 2


def test_finetune_rejects_too_long_and_question_only(tmp_path, tokenizer):
    qa = load_qa(write(tmp_path, "qa.tsv", QA), cache_dir=str(tmp_path / "cache"))
    # line 2 needs len("Where was Alan Turing born?") + len("Maida Vale") + 2 = 39 characters
    build_finetune_dataset(qa, tokenizer, block_size=39)
    with pytest.raises(DataFormatError, match=r"qa\.tsv:2: question and place take 39 characters.*block_size=38"):
        build_finetune_dataset(qa, tokenizer, block_size=38)
    with pytest.raises(DataFormatError, match=r"qa\.tsv:2: question and place take 39"):
        load_qa(tmp_path / "qa.tsv", block_size=38, cache_dir=str(tmp_path / "cache"))
    questions = load_qa(write(tmp_path, "test.tsv", "Where was Bo born?\n"), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataFormatError, match=r"test\.tsv:1: no place"):
        build_finetune_dataset(questions, tokenizer, block_size=64)


def test_question_template_rewrites_what_the_model_reads(tmp_path, tokenizer):
    assert question_prompt("Where was Ada Lovelace born?", None) == "Where was Ada Lovelace born?"
    assert question_prompt("Where was Ada Lovelace born?", "{name}.") == "Ada Lovelace."
    assert question_prompt("Where was Ada Lovelace born?\n", "Q: {name}!") == "Q: Ada Lovelace!"
    with pytest.raises(ValueError, match="does not read `Where was NAME born\\?`"):
        question_prompt("Who was Ada Lovelace?", "{name}.")
    qa = load_qa(write(tmp_path, "qa.tsv", QA), cache_dir=str(tmp_path / "cache"))
    examples = build_finetune_dataset(qa, tokenizer, block_size=64, question_template="{name}.")
    for example, prompt, place in zip(examples, ["Ada Lovelace.", "Alan Turing."], qa["answer"]):
        assert decode(tokenizer, example["input_ids"]) == prompt + MASK_CHAR + place + MASK_CHAR
        targets = [t for t in example["labels"] if t != IGNORE_INDEX]
        assert decode(tokenizer, targets) == MASK_CHAR + place + MASK_CHAR
        assert example["labels"].index(targets[0]) == len(prompt)
    # The length check is on what the model reads: "Alan Turing." + 2 MASKs + "Maida Vale" = 24 characters.
    build_finetune_dataset(qa, tokenizer, block_size=24, question_template="{name}.")
    with pytest.raises(DataFormatError, match=r"qa\.tsv:2: question and place take 24 characters"):
        build_finetune_dataset(qa, tokenizer, block_size=23, question_template="{name}.")
    odd = load_qa(write(tmp_path, "odd.tsv", QA + "Who was Ada?\tLondon\n"), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataFormatError, match=r"odd\.tsv:3: the question does not read `Where was NAME born\?`"):
        build_finetune_dataset(odd, tokenizer, block_size=64, question_template="{name}.")
    build_finetune_dataset(odd, tokenizer, block_size=64)  # without a template any question is fine


# --------------------------------------------------------------------------------------------- loading


def test_load_qa_columns_and_question_only_files(tmp_path):
    qa = load_qa(write(tmp_path, "qa.tsv", QA), cache_dir=str(tmp_path / "cache"))
    assert qa.column_names == ["question", "answer", "line"]
    assert qa[1] == {"question": "Where was Alan Turing born?", "answer": "Maida Vale", "line": 2}
    questions = load_qa(write(tmp_path, "t.tsv", "Where was Bo born?\nWhere was Al born?"), cache_dir=str(tmp_path / "c"))
    assert questions["answer"] == [None, None] and questions["line"] == [1, 2]
    with pytest.raises(DataFormatError, match=r"t\.tsv:1: no tab"):
        load_qa(tmp_path / "t.tsv", require_answers=True, cache_dir=str(tmp_path / "c"))


def test_blank_lines_are_skipped_counted_and_keep_line_numbers(tmp_path, caplog):
    path = write(tmp_path, "qa.tsv", "\nWhere was A born?\tParis\n\n  \nWhere was B born?\tRome\n\n")
    with caplog.at_level(logging.WARNING, logger="hf_birthplace.data"):
        qa = load_qa(path, cache_dir=str(tmp_path / "cache"))
    assert qa["line"] == [2, 5] and qa["answer"] == ["Paris", "Rome"]
    assert "skipped 4 blank line(s) (line 1, 3, 4, 6)" in caplog.text
    corpus_path = write(tmp_path, "c.txt", "doc one\n\ndoc two\n")
    with caplog.at_level(logging.INFO, logger="hf_birthplace.data"):
        corpus = load_corpus(corpus_path, cache_dir=str(tmp_path / "cache"))
    assert corpus["text"] == ["doc one", "doc two"] and corpus["line"] == [1, 3]
    assert "skipped 1 empty line(s); 2 documents" in caplog.text


def test_crlf_and_bom_are_read_as_plain_lines(tmp_path):
    content = "\ufeffWhere was A born?\tParis\r\nWhere was B born?\tRome\r\n".encode("utf-8")
    qa = load_qa(write(tmp_path, "qa.tsv", content), cache_dir=str(tmp_path / "cache"))
    assert qa["question"] == ["Where was A born?", "Where was B born?"] and qa["answer"] == ["Paris", "Rome"]
    corpus = load_corpus(write(tmp_path, "c.txt", "\ufeffdoc one\r\ndoc two".encode("utf-8")), cache_dir=str(tmp_path / "c"))
    assert corpus["text"] == ["doc one", "doc two"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("Where was A born?\tParis\nWhere was B born? Rome\n", r"bad\.tsv:2: no tab; expected question<TAB>place"),
        ("Where was A born?\tParis\nWhere was B born?\tRome\tItaly\n", r"bad\.tsv:2: 2 tabs; expected exactly one tab"),
        ("Where was A born?\tParis\nWhere was B born?\t\n", r"bad\.tsv:2: empty place; expected question<TAB>place"),
        ("Where was A born?\tParis\nWhere was B born?\t  \n", r"bad\.tsv:2: empty place"),
        ("Where was A born?\tParis\n\tRome\n", r"bad\.tsv:2: empty question"),
        ("Where was A born?\nWhere was B born?\tRome\n", r"bad\.tsv:2: a tab; expected the question only"),
        ("Where was A born?\tParis\nWhere was B born?\rx\tRome\n", r"bad\.tsv:2: a carriage return"),
        ("Where was A born?\tPar\u2047is\n", r"bad\.tsv:1: contains the MASK character U\+2047"),
        (b"Where was A born?\tParis\nWhere was B born?\tS\xe3o Paulo\n", r"bad\.tsv:2: invalid UTF-8 \(byte 0xe3"),
        (b"\xef\xbb\xbfQ?\tP\r\nQ?\tP\r\nQ?\t\xff\r\n", r"bad\.tsv:3: invalid UTF-8"),
        ("", r"bad\.tsv:1: no question"),
        ("\n\n", r"bad\.tsv:1: no question"),
    ],
)
def test_bad_qa_lines_name_file_and_line(tmp_path, content, message):
    with pytest.raises(DataFormatError, match=message):
        load_qa(write(tmp_path, "bad.tsv", content), cache_dir=str(tmp_path / "cache"))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"doc one\ndoc \xc3\x28two\n", r"bad\.txt:2: invalid UTF-8"),
        ("doc one\ndoc two\ndoc \u25a1\n", r"bad\.txt:3: contains the PAD character U\+25A1"),
        ("doc one\rdoc two\n", r"bad\.txt:1: a carriage return"),
        ("\n \n", r"bad\.txt:1: no document"),
    ],
)
def test_bad_corpus_lines_name_file_and_line(tmp_path, content, message):
    with pytest.raises(DataFormatError, match=message):
        load_corpus(write(tmp_path, "bad.txt", content), cache_dir=str(tmp_path / "cache"))


def test_data_format_error_message_and_pickling():
    import pickle

    error = DataFormatError("a.tsv", 3, "no tab", "question<TAB>place")
    assert str(error) == "a.tsv:3: no tab; expected question<TAB>place"
    assert str(pickle.loads(pickle.dumps(error))) == str(error) and isinstance(error, ValueError)


def test_character_policies(tmp_path):
    path = write(tmp_path, "qa.tsv", "Where was Naïma Azough born?\tOujda\nWhere was Bo born?\tSão Paulo\n")
    original = [
        line.split("\t")
        for line in open(path, encoding="utf-8").read().encode("utf-8").decode("ascii", errors="ignore").split("\n")[:-1]
    ]
    ascii_qa = load_qa(path, ascii_only=True, cache_dir=str(tmp_path / "cache"))
    assert [[q, a] for q, a in zip(ascii_qa["question"], ascii_qa["answer"])] == original
    vocab = set("Where was Naïma Azough born?Oujda") | set("Bo Sa Paulo")
    kept = load_qa(path, vocab=vocab, cache_dir=str(tmp_path / "cache"))
    assert kept["question"] == ["Where was Naïma Azough born?", "Where was Bo born?"]
    assert kept["answer"] == ["Oujda", "So Paulo"]
    assert load_qa(path, cache_dir=str(tmp_path / "cache"))["answer"] == ["Oujda", "São Paulo"]
    assert count_changed_examples(path, vocab) == {"examples": 2, "ascii_only": 2, "vocab": 1}
    tokyo = write(tmp_path, "tokyo.tsv", "Where was Bo born?\tOslo\nWhere was Bo born?\t東京\n")
    with pytest.raises(DataFormatError, match=r"tokyo\.tsv:2: the place is empty once out-of-vocabulary"):
        load_qa(tokyo, vocab=vocab, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataFormatError, match=r"tokyo\.tsv:2: the place is empty once non-ASCII"):
        load_qa(tokyo, ascii_only=True, cache_dir=str(tmp_path / "cache"))


def test_path_survives_in_dataset_info(tmp_path, tokenizer):
    qa = load_qa(write(tmp_path, "qa.tsv", QA), cache_dir=str(tmp_path / "cache"))
    assert qa.info.description == str(tmp_path / "qa.tsv")


# --------------------------------------------------------------------------------------------- real data


@pytest.mark.skipif(not (DATA_DIR / "wiki.txt").exists(), reason="CS224N data not found (HF_BIRTHPLACE_DATA_DIR)")
def test_real_files(tmp_path):
    cache = str(tmp_path / "cache")
    corpus = load_corpus(DATA_DIR / "wiki.txt", cache_dir=cache)
    assert len(corpus) == 2937
    vocab = set(open(DATA_DIR / "wiki.txt", encoding="utf-8").read())
    expected = {"birth_places_train.tsv": (2000, 124), "birth_dev.tsv": (500, 17), "birth_test_inputs.tsv": (437, 22)}
    for name, (examples, non_ascii) in expected.items():
        qa = load_qa(DATA_DIR / name, vocab=vocab, block_size=128, cache_dir=cache)
        assert len(qa) == examples and qa["line"][-1] == examples
        assert (qa["answer"][0] is None) == (name == "birth_test_inputs.tsv")
        assert count_changed_examples(DATA_DIR / name, vocab) == {"examples": examples, "ascii_only": non_ascii, "vocab": 0}
