"""The character tokenizer: the original's ids, exact round trips, the unknown-character policy, saving/loading."""

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from hf_birthplace import MASK_CHAR, PAD_CHAR, build_char_tokenizer


def original_stoi(corpus_text):
    """The vocabulary as the course's CharCorruptionDataset builds it."""
    chars = sorted(set(corpus_text))
    chars.insert(0, MASK_CHAR)
    chars.insert(0, PAD_CHAR)
    return {ch: i for i, ch in enumerate(chars)}


def test_special_characters():
    assert (PAD_CHAR, MASK_CHAR) == ("\u25a1", "\u2047")


def test_ids_are_the_originals(char_tokenizer, tiny_corpus):
    stoi = original_stoi(tiny_corpus)
    assert isinstance(char_tokenizer, PreTrainedTokenizerFast)
    assert len(char_tokenizer) == len(stoi)
    assert char_tokenizer.get_vocab() == stoi
    assert (char_tokenizer.pad_token, char_tokenizer.pad_token_id) == (PAD_CHAR, 0)
    assert (char_tokenizer.mask_token, char_tokenizer.mask_token_id) == (MASK_CHAR, 1)
    assert (char_tokenizer.unk_token, char_tokenizer.unk_token_id) == (PAD_CHAR, 0)
    assert "\n" in stoi and " " in stoi


def test_every_character_round_trips(char_tokenizer, tiny_corpus):
    stoi = original_stoi(tiny_corpus)
    for ch in stoi:
        assert char_tokenizer(ch)["input_ids"] == [stoi[ch]], repr(ch)
        assert char_tokenizer.decode([stoi[ch]]) == ch, repr(ch)
    ids = char_tokenizer(tiny_corpus)["input_ids"]
    assert ids == [stoi[ch] for ch in tiny_corpus]  # one id per character, nothing added
    assert char_tokenizer.decode(ids) == tiny_corpus  # no spaces inserted, no clean-up


def test_question_answer_layout(char_tokenizer):
    text = f"Ann Lee born?{MASK_CHAR}Paris{MASK_CHAR}{PAD_CHAR}{PAD_CHAR}"
    enc = char_tokenizer(text)
    assert set(enc) == {"input_ids", "attention_mask"}  # no token_type_ids for the model to swallow
    assert len(enc["input_ids"]) == len(text)
    assert enc["input_ids"][-4:] == [char_tokenizer.convert_tokens_to_ids("s"), 1, 0, 0]
    assert char_tokenizer.decode(enc["input_ids"]) == text
    assert char_tokenizer.decode(enc["input_ids"], skip_special_tokens=True) == "Ann Lee born?Paris"


def test_unknown_characters_map_to_pad_without_shifting(char_tokenizer, tiny_corpus):
    stoi = original_stoi(tiny_corpus)
    text = "Ann\tZoë 😀 €x"
    ids = char_tokenizer(text)["input_ids"]
    assert len(ids) == len(text)
    assert ids == [stoi.get(ch, 0) for ch in text]
    assert len(char_tokenizer) == len(stoi)  # no unk id added
    assert char_tokenizer.decode(ids) == "".join(ch if ch in stoi else PAD_CHAR for ch in text)


def test_corpus_with_special_characters_keeps_their_ids():
    tokenizer = build_char_tokenizer(f"ab{MASK_CHAR}c{PAD_CHAR}")
    assert tokenizer.get_vocab() == {PAD_CHAR: 0, MASK_CHAR: 1, "a": 2, "b": 3, "c": 4}


def test_right_padding_for_training(char_tokenizer):
    batch = char_tokenizer(["Ann", "Bob Ray"], padding=True)
    assert batch["input_ids"][0][3:] == [0, 0, 0, 0]
    assert batch["attention_mask"][0] == [1, 1, 1, 0, 0, 0, 0]


def test_save_and_auto_tokenizer_round_trip(tmp_path, char_tokenizer, tiny_corpus):
    char_tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert (loaded.pad_token, loaded.mask_token, loaded.unk_token) == (PAD_CHAR, MASK_CHAR, PAD_CHAR)
    assert (loaded.pad_token_id, loaded.mask_token_id, loaded.unk_token_id) == (0, 1, 0)
    assert loaded.get_vocab() == char_tokenizer.get_vocab()
    assert loaded.model_max_length == char_tokenizer.model_max_length
    text = tiny_corpus + "\tZoë"
    assert loaded(text)["input_ids"] == char_tokenizer(text)["input_ids"]
    assert loaded.decode(loaded(tiny_corpus)["input_ids"]) == tiny_corpus


def test_wiki_vocabulary_is_256_and_round_trips(a5_data_dir):
    wiki = (a5_data_dir / "wiki.txt").read_text(encoding="utf-8")
    tokenizer = build_char_tokenizer(wiki)
    assert len(tokenizer) == 256
    assert tokenizer.get_vocab() == original_stoi(wiki)
    ids = tokenizer(wiki)["input_ids"]
    assert len(ids) == len(wiki) and 0 not in ids
    assert tokenizer.decode(ids) == wiki


@pytest.mark.parametrize("text", ["", " ", "\n\n", "  two  lines \n"])
def test_edge_strings(char_tokenizer, text):
    assert char_tokenizer.decode(char_tokenizer(text)["input_ids"]) == text
