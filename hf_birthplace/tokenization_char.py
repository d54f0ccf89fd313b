"""The character vocabulary of CS224N assignment 5 as a `PreTrainedTokenizerFast` (built with `tokenizers`).

Ids are exactly the original's (`CharCorruptionDataset`): 0 = PAD_CHAR, 1 = MASK_CHAR, then `sorted(set(corpus))`,
newline included -- 256 ids on wiki.txt -- so that checkpoints trained by the course code load unchanged.

Unknown characters (outside the corpus) map to the PAD id 0: nothing crashes, no id moves and the vocabulary keeps its
size (a separate unk id would make it 257 and break original checkpoints). The original code has no policy -- it
raises KeyError -- and its fine-tuning step strips non-ASCII characters instead. Such a character decodes as PAD_CHAR.
"""

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PAD_CHAR = "\u25a1"  # □, id 0: pads examples to block_size; the original ignores it in the loss.
MASK_CHAR = "\u2047"  # ⁇, id 1: brackets the masked span in pretraining, closes question and answer in fine-tuning.
SPECIAL_CHARS = (PAD_CHAR, MASK_CHAR)


def char_vocab(corpus_text: str) -> dict[str, int]:
    """Character -> id, as the original assigns them: PAD, MASK, then the sorted distinct characters of the corpus.

    PAD_CHAR and MASK_CHAR keep ids 0 and 1 even if the corpus contains them (the original asserts it does not).
    """
    chars = [ch for ch in sorted(set(corpus_text)) if ch not in SPECIAL_CHARS]
    return {ch: i for i, ch in enumerate([*SPECIAL_CHARS, *chars])}


def build_char_tokenizer(corpus_text: str, model_max_length: int = 128) -> PreTrainedTokenizerFast:
    """A fast tokenizer with one token per character, ids as the original's (see the module docstring).

    Args:
        corpus_text: the text the vocabulary is built from (wiki.txt for the course's models).
        model_max_length: the model's window, 128 as the original block_size; only used when the caller truncates.

    Encoding adds no special tokens; `decode` returns the exact string (no spaces inserted, no clean-up), PAD and MASK
    included unless `skip_special_tokens=True`. Padding is on the right (training); set `padding_side = "left"`
    for batched generation.
    """
    tokenizer = Tokenizer(models.WordLevel(vocab=char_vocab(corpus_text), unk_token=PAD_CHAR))
    # Every character, newline included, is its own piece; no normalizer, so nothing is rewritten before lookup.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_CHAR,
        mask_token=MASK_CHAR,
        unk_token=PAD_CHAR,
        model_max_length=model_max_length,
        padding_side="right",
        clean_up_tokenization_spaces=False,
        # The model takes no token_type_ids; returning them would let `model(**batch)` swallow them silently.
        model_input_names=["input_ids", "attention_mask"],
    )


__all__ = ["PAD_CHAR", "MASK_CHAR", "char_vocab", "build_char_tokenizer"]
