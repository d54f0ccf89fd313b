"""The examples of the experiment: files loaded with `datasets`, span corruption, batches.

Two files feed the original experiment (Stanford CS224N, "pretrained Transformers and knowledge access"):

- a pretraining corpus, one document per line (`wiki.txt`), read by `load_corpus`; every epoch each document
  is cut to a random length and one random span of it is moved to the end (`span_corrupt`), and the model
  learns to predict the next character of that string (`PretrainDataset`);
- question/answer files, `Where was NAME born?<TAB>PLACE` per line (`birth_places_train.tsv`, `birth_dev.tsv`;
  `birth_test_inputs.tsv` has the question only), read by `load_qa`; a fine-tuning example is
  `question MASK place MASK` and only `MASK place MASK` is ever a target (`build_finetune_dataset`).

Batches are padded to the longest example of the batch (`CharCollator`) and examples of similar length are
batched together (`EpochLengthGroupedBatchSampler`). Measured on wiki.txt (block_size 128): 55% of the
original's 127 target positions per example are PAD; batches of 128 padded dynamically are 48% padding in a plain
shuffle and 17% with length grouping. Every example's loss is the same either way (tests/test_data.py).

Where this differs from the original, and why
---------------------------------------------
- Empty lines of the corpus are skipped (counted and logged). The original splits the file on "\\n", so the
  newline that ends wiki.txt gives it a 2,938th, empty document; we train on the 2,937 real ones.
- Blank lines of a question/answer file are skipped, counted and logged with their line numbers (the original
  crashes on one in the middle of a file with places, and predicts an answer to it in a question-only file). Every
  example keeps its 1-based line number in the column "line", so predictions can be matched back to the file.
- Characters (issue point 5). The original reads the fine-tuning file with
  `open(path, encoding="utf-8").read().encode("utf-8").decode("ascii", errors="ignore")`, which deletes every
  non-ASCII character, so `Where was Naïma Azough born?` trains as `Where was Nama Azough born?`, a name that
  appears nowhere in wiki.txt. Its evaluation code reads the questions and gold places as written (and, on a
  question-only file, keeps the line's "\\n" at the end of the question it feeds the model). By default
  `load_qa` keeps every character that the tokenizer knows (`vocab`) and drops only the others;
  `ascii_only=True` reproduces the original's training data exactly. Examples changed by each policy
  (`count_changed_examples`, measured on the CS224N files with the wiki.txt vocabulary):

      file                     examples   ascii_only   vocab (default)
      birth_places_train.tsv       2000          124                 0
      birth_dev.tsv                 500           17                 0
      birth_test_inputs.tsv         437           22                 0

  Every change is in the question (the name); no place contains a non-ASCII character, and every character
  of the three files is in the wiki.txt vocabulary.
- Bad input is an error naming the file and the line (`DataFormatError`) instead of a crash far away or a
  silently shifted example; CRLF line endings and a UTF-8 byte-order mark are accepted (and logged).
- The original draws corruption with the global `random` module inside `__getitem__`. `PretrainDataset` draws
  each document's corruption from its own generator seeded with (seed, epoch, document index), so that an
  epoch is the same whatever the number of DataLoader workers or processes, and epochs differ from each other.
"""

import codecs
import logging
import math
import random
import re
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import datasets
import torch
from datasets.fingerprint import Hasher

from .tokenization_char import MASK_CHAR, PAD_CHAR


logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

# The label that the transformers losses ignore. The original ignores the targets whose id is the PAD id 0
# instead; we turn those targets into IGNORE_INDEX, which is the same loss.
IGNORE_INDEX = -100

_RESERVED = {PAD_CHAR: "PAD", MASK_CHAR: "MASK"}


class DataFormatError(ValueError):
    """A data file that cannot be used as written: names the file, the 1-based line and what was expected."""

    def __init__(self, path: PathLike, line: int, problem: str, expected: str):
        self.path, self.line, self.problem, self.expected = str(path), line, problem, expected
        super().__init__(f"{path}:{line}: {problem}; expected {expected}")

    def __reduce__(self):
        # Exceptions pickle their `args` only; this one is raised inside `datasets.map`, which may pickle it.
        return (type(self), (self.path, self.line, self.problem, self.expected))


# ---------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------


def _check_file(path: PathLike) -> bool:
    """Fails on what the `text` builder would decode wrongly or without a line number; logs what it fixes.

    The builder opens the file in text mode: invalid UTF-8 raises a UnicodeDecodeError that names a byte
    offset in a chunk, not a line, and a lone carriage return silently splits a line in two (universal
    newlines). So the bytes are checked here first; the files are small (wiki.txt is 0.4 MB). Returns whether
    the file is empty.
    """
    raw = Path(path).read_bytes()
    has_bom = raw.startswith(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        start = error.start + (len(codecs.BOM_UTF8) if has_bom else 0)
        line = raw[:start].count(b"\n") + 1
        raise DataFormatError(
            path, line, f"invalid UTF-8 (byte 0x{raw[start]:02x} at byte offset {start})", "a UTF-8 text file"
        ) from None
    crlf = text.count("\r\n")
    if text.count("\r") != crlf:
        lone = text.replace("\r\n", "\n").index("\r")
        line = text.replace("\r\n", "\n")[:lone].count("\n") + 1
        raise DataFormatError(
            path, line, "a carriage return (\\r) not followed by a line feed", "lines ending in \\n or \\r\\n"
        )
    if has_bom:
        logger.info("%s: removed the UTF-8 byte-order mark at the start of the file", path)
    if crlf:
        logger.info("%s: read %d CRLF line endings as \\n", path, crlf)
    return text == ""


def _load_lines(path: PathLike, cache_dir: Optional[str]) -> datasets.Dataset:
    """One row per line of `path` (column "text", without the line break): row i is line i + 1."""
    if _check_file(path):
        # The builder fails on an empty file (it infers no schema); the callers report "no document".
        return datasets.Dataset.from_dict({"text": []}, features=datasets.Features({"text": datasets.Value("string")}))
    # "utf-8-sig" drops a byte-order mark at the start of the file; the builder's universal-newline reading
    # turns CRLF into "\n" (a lone CR was rejected above, so rows and lines stay one to one).
    lines = datasets.load_dataset(
        "text",
        data_files=str(path),
        split="train",
        encoding="utf-8-sig",
        cache_dir=cache_dir,
        keep_in_memory=True,
    )
    return lines


def _check_reserved(path: PathLike, line: int, text: str) -> None:
    for char, name in _RESERVED.items():
        if char in text:
            raise DataFormatError(
                path,
                line,
                f"contains the {name} character U+{ord(char):04X}, which the model reserves",
                "text without U+25A1 (PAD) and U+2047 (MASK)",
            )


def load_corpus(path: PathLike, *, cache_dir: Optional[str] = None) -> datasets.Dataset:
    """The pretraining corpus: one document per line, in file order (columns "text" and "line", 1-based).

    Loaded with the `datasets` `text` builder after `_check_file`. Empty (or whitespace-only) lines are skipped,
    and their number is logged; see the module docstring for how that differs from the original.

    Raises:
        DataFormatError: invalid UTF-8, a lone carriage return, a reserved PAD/MASK character, or no document.
    """
    lines = _load_lines(path, cache_dir)
    lines = lines.add_column("line", list(range(1, len(lines) + 1)))
    texts = lines["text"]
    for line, text in enumerate(texts, start=1):
        _check_reserved(path, line, text)
    keep = [i for i, text in enumerate(texts) if text.strip()]
    if not keep:
        raise DataFormatError(path, 1, "no document", "one document per line")
    skipped = len(texts) - len(keep)
    if skipped:
        logger.info("%s: skipped %d empty line(s); %d documents", path, skipped, len(keep))
        lines = lines.select(keep)
    return lines


def apply_character_policy(text: str, vocab: Optional[set], ascii_only: bool) -> str:
    """The fine-tuning files' character policy: the original's ASCII stripping, or the vocabulary's characters."""
    if ascii_only:
        # Exactly what the original does to the whole fine-tuning file (tab and newline are ASCII, so doing
        # it per field gives the same strings).
        return text.encode("ascii", errors="ignore").decode("ascii")
    if vocab is not None:
        return "".join(char for char in text if char in vocab)
    return text


def _parse_qa_batch(batch, indices, *, path, with_answers, vocab, ascii_only, block_size, blank_lines):
    """Splits and checks a batch of raw lines; returns fewer rows than it gets when lines are blank."""
    out = {"question": [], "answer": [], "line": []}
    for text, index in zip(batch["text"], indices):
        line = index + 1
        if not text.strip():
            blank_lines.append(line)
            continue
        fields = text.split("\t")
        if len(fields) > 2:
            raise DataFormatError(
                path, line, f"{len(fields) - 1} tabs", "exactly one tab, between the question and the place"
            )
        if with_answers and len(fields) == 1:
            raise DataFormatError(path, line, "no tab", "question<TAB>place, as on the file's first line")
        if not with_answers and len(fields) == 2:
            raise DataFormatError(path, line, "a tab", "the question only, as on the file's first line")
        question = fields[0]
        answer = fields[1] if with_answers else None
        if not question.strip():
            raise DataFormatError(path, line, "empty question", "question<TAB>place")
        if with_answers and not answer.strip():
            raise DataFormatError(path, line, "empty place", "question<TAB>place")
        _check_reserved(path, line, text)
        question = apply_character_policy(question, vocab, ascii_only)
        dropped = "non-ASCII" if ascii_only else "out-of-vocabulary"
        if not question.strip():
            raise DataFormatError(path, line, f"the question is empty once {dropped} characters are removed",
                                  "a question with characters the model knows")
        if with_answers:
            answer = apply_character_policy(answer, vocab, ascii_only)
            if not answer.strip():
                raise DataFormatError(path, line, f"the place is empty once {dropped} characters are removed",
                                      "a place with characters the model knows")
        if block_size is not None:
            _check_fits(path, line, question, answer, block_size)
        out["question"].append(question)
        out["answer"].append(answer)
        out["line"].append(line)
    return out


def _check_fits(path: PathLike, line: int, question: str, answer: Optional[str], block_size: int) -> None:
    """A fine-tuning string `question MASK place MASK` must fit in block_size characters, as in the original
    (which would build a longer-than-block_size tensor and fail in the model); a question to answer needs
    `question MASK` plus room for at least one predicted character."""
    if answer is not None:
        length = len(question) + len(answer) + 2
        if length > block_size:
            raise DataFormatError(
                path, line,
                f"question and place take {length} characters with their two MASKs",
                f"at most block_size={block_size}",
            )
    elif len(question) + 2 > block_size:
        raise DataFormatError(
            path, line,
            f"the question takes {len(question) + 1} characters with its MASK, leaving no room for an answer",
            f"at most block_size - 2 = {block_size - 2} question characters",
        )


def load_qa(
    path: PathLike,
    *,
    require_answers: Optional[bool] = None,
    vocab: Optional[Iterable[str]] = None,
    ascii_only: bool = False,
    block_size: Optional[int] = None,
    cache_dir: Optional[str] = None,
) -> datasets.Dataset:
    """A question/answer file: columns "question", "answer" (None in a question-only file), "line" (1-based).

    Each line is `question<TAB>place` or, in a question-only file such as birth_test_inputs.tsv, `question`.

    Args:
        require_answers: True: every line must have a place; False: no line may have one; None: the first
            non-blank line decides, and every other line must look like it.
        vocab: the characters the tokenizer knows (e.g. `set(tokenizer.get_vocab())`); characters outside it
            are dropped. None keeps every character.
        ascii_only: drop every non-ASCII character instead, exactly as the original's fine-tuning data does
            (`vocab` is then not used). See the module docstring for how many examples each choice changes.
        block_size: when given, every `question MASK place MASK` must fit in it (see `_check_fits`).
        cache_dir: the `datasets` cache directory for the `text` builder (None: the default cache).

    The `text` builder reads the lines and a batched `map` splits them. The `csv` builder is not used: pandas
    skips blank lines without saying so (so its row numbers stop being line numbers), reads quote characters
    as CSV quoting, turns places such as "NA" into missing values, and cannot tell a line without a tab from
    a line with an empty place. Blank lines are skipped, counted and logged; every other problem raises a
    `DataFormatError` with the line. The path is kept in `info.description` for later error messages.
    """
    vocab = set(vocab) if vocab is not None else None
    lines = _load_lines(path, cache_dir)
    texts = lines["text"]
    first = next((text for text in texts if text.strip()), None)
    if first is None:
        raise DataFormatError(path, 1, "no question", "question<TAB>place lines")
    with_answers = ("\t" in first) if require_answers is None else require_answers
    blank_lines: list[int] = []
    features = datasets.Features(
        {"question": datasets.Value("string"), "answer": datasets.Value("string"), "line": datasets.Value("int32")}
    )
    qa = lines.map(
        _parse_qa_batch,
        batched=True,
        with_indices=True,
        remove_columns=["text"],
        features=features,
        keep_in_memory=True,
        load_from_cache_file=False,
        new_fingerprint=Hasher.hash((lines._fingerprint, "qa", with_answers, ascii_only, block_size, sorted(vocab or ()))),
        fn_kwargs=dict(
            path=str(path),
            with_answers=with_answers,
            vocab=vocab,
            ascii_only=ascii_only,
            block_size=block_size,
            blank_lines=blank_lines,
        ),
    )
    if blank_lines:
        shown = ", ".join(map(str, blank_lines[:10])) + (", ..." if len(blank_lines) > 10 else "")
        logger.warning("%s: skipped %d blank line(s) (line %s)", path, len(blank_lines), shown)
    if len(qa) == 0:
        raise DataFormatError(path, 1, "no question", "question<TAB>place lines")
    qa.info.description = str(path)
    return qa


def count_changed_examples(path: PathLike, vocab: Iterable[str], *, cache_dir: Optional[str] = None) -> dict[str, int]:
    """How many examples of a question/answer file each character policy changes (issue point 5).

    Returns {"examples": N, "ascii_only": examples changed by `ascii_only=True`, "vocab": examples changed by
    the default policy with this vocabulary}. The numbers on the CS224N files are in the module docstring.
    """
    raw = load_qa(path, cache_dir=cache_dir)
    vocab = set(vocab)
    counts = {"examples": len(raw), "ascii_only": 0, "vocab": 0}
    for question, answer in zip(raw["question"], raw["answer"]):
        fields = [question] if answer is None else [question, answer]
        counts["ascii_only"] += any(apply_character_policy(f, None, True) != f for f in fields)
        counts["vocab"] += any(apply_character_policy(f, vocab, False) != f for f in fields)
    return counts


# ---------------------------------------------------------------------------------------------------------
# Span corruption (pretraining)
# ---------------------------------------------------------------------------------------------------------


def _span_corrupt_unpadded(document: str, block_size: int, rng: random.Random) -> str:
    """`span_corrupt` without the PAD tail: `prefix MASK suffix MASK masked`, len(truncated) + 2 characters."""
    if block_size < 9:
        # The longest result, int(block_size * 7/8) + 2 characters, fits in block_size only from 9 on.
        raise ValueError(f"span corruption needs block_size >= 9, got {block_size}")
    # Every length from 4 to int(block_size * 7/8) inclusive can be drawn; shorter documents stay whole.
    truncated = document[: rng.randint(4, int(block_size * 7 / 8))]
    length = len(truncated)
    # masked_len ~ uniform on 1..high with high = (length + coin) // 2 - 1: the coin makes E[high] = length/2 - 1
    # for odd lengths too, so E[masked_len] = (1 + E[high]) / 2 = length / 4 exactly, and a draw can be
    # anywhere from 1 character to about half the document. (The common randint(1, 2 * length // 4) averages
    # about length/4 + 1/2: 1.5 characters instead of 1 on a 4-character document.) Documents under 4 characters
    # (only when the document itself is that short) mask 1 character, the least that still teaches something.
    high = max(1, (length + rng.randint(0, 1)) // 2 - 1)
    masked_len = min(rng.randint(1, high), length)
    start = rng.randint(0, length - masked_len)
    prefix, masked, suffix = truncated[:start], truncated[start : start + masked_len], truncated[start + masked_len :]
    return prefix + MASK_CHAR + suffix + MASK_CHAR + masked


def span_corrupt(document: str, block_size: int, rng: random.Random) -> str:
    """The original's simplified span corruption of one document; exactly `block_size` characters.

    1. Truncate the document to `rng.randint(4, int(block_size * 7/8))` characters (shorter ones stay whole).
    2. Split the truncated document into prefix + masked + suffix; masked is 1/4 of it on average (see the
       comment in `_span_corrupt_unpadded` for the distribution), its start uniform.
    3. Return `prefix + MASK + suffix + MASK + masked`, padded with PAD to `block_size` characters.

    The training pair is the next-character task on the result: input = string[:-1], target = string[1:],
    PAD targets ignored. The same `rng` state gives the same result.
    """
    corrupted = _span_corrupt_unpadded(document, block_size, rng)
    return corrupted + PAD_CHAR * (block_size - len(corrupted))


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """One id per character, checked: a tokenizer that merged or dropped characters would shift every label."""
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    for text, text_ids in zip(texts, ids):
        if len(text_ids) != len(text):
            raise ValueError(
                f"the tokenizer gave {len(text_ids)} ids for {len(text)} characters ({text[:40]!r}...); "
                "expected a character-level tokenizer (one id per character)"
            )
    return ids


def _causal_lm_example(ids: list[int], pad_token_id: int) -> tuple[list[int], list[int]]:
    """The original's next-character pair (input string[:-1], target string[1:]) in the transformers form.

    CharGPTForCausalLM, like every transformers causal LM, takes labels aligned with input_ids and shifts them
    inside (position t predicts labels[t + 1]). So input_ids is the whole string and labels are its ids, with
    labels[0] = IGNORE_INDEX (no position predicts it): position t then learns string[t + 1] from string[:t + 1],
    exactly the original's pairs. The last input position predicts nothing; it is there to hold the last label.
    A target that is the PAD id (an unknown character) is ignored, as the original's loss ignores target id 0.
    """
    return list(ids), [IGNORE_INDEX] + [IGNORE_INDEX if t == pad_token_id else t for t in ids[1:]]


class PretrainDataset(torch.utils.data.Dataset):
    """Span-corrupted next-character examples of a corpus, drawn afresh every epoch.

    The original draws new spans each time it reads a document, across its 650 epochs; corrupting once and
    reusing the result would be a different experiment. `set_epoch(epoch)` draws the whole epoch at once with
    a batched `datasets.map` (in memory, no cache files); document i of epoch e uses
    `random.Random(f"span_corrupt/{seed}/{e}/{i}")`, so the draws depend on nothing else: not on the number
    of DataLoader workers or processes, nor on the order in which examples are read. Two identical documents
    get different spans (their indices differ), and every epoch differs from the one before.

    Item i is {"input_ids", "labels"} without padding, in the transformers form (`_causal_lm_example`: labels
    aligned with input_ids, shifted inside the model): the corrupted string without its PAD tail, which is
    len(truncated) + 2 characters. The original feeds the whole padded 127-character input, but every target
    in the PAD tail is PAD, which its loss ignores, and the model is causal, so dropping the tail changes no
    loss (tests/test_data.py checks it on a model).

    With `max_position_offset > 0` every item also has "position_ids": its positions shifted by an offset drawn
    uniformly from [0, max_position_offset] (at most block_size - 1 - len(input_ids), so the last position stays
    below block_size - 1, the synthesizer's limit), from `random.Random(f"position_offset/{seed}/{e}/{i}")`, so the
    corruption draws stay those of max_position_offset=0. This is our addition, not the original's: with learned
    absolute position embeddings and every document starting with its person's name, the model ties what it
    learns about a person to names read at positions 0-15, and a question puts the name at position 10 (see
    hf_birthplace/world.py for the measurement). Shifting positions teaches it that a name can be anywhere.

    Epochs reach the dataset through `EpochLengthGroupedBatchSampler.set_epoch` (the HF Trainer calls
    `set_epoch` on the sampler, not on a map-style dataset). DataLoader workers copy the dataset when the
    DataLoader is iterated, after set_epoch: use them without `persistent_workers`, whose copies would keep
    the first epoch's draws.

    Attributes:
        lengths: the length of every item's input_ids in the current epoch (for length grouping).
        epoch: the epoch drawn.
    """

    def __init__(
        self, corpus: datasets.Dataset, tokenizer, block_size: int, seed: int = 0, max_position_offset: int = 0
    ):
        if not 0 <= max_position_offset < block_size:
            raise ValueError(f"max_position_offset must lie in [0, block_size={block_size}), got {max_position_offset}")
        self.corpus = corpus.select_columns(["text"])
        self.tokenizer = tokenizer
        self.block_size = block_size
        self.seed = seed
        self.max_position_offset = max_position_offset
        self.pad_token_id = tokenizer.pad_token_id
        self.epoch: Optional[int] = None
        self.set_epoch(0)

    def _corrupt_batch(self, batch, indices, epoch):
        texts = [
            _span_corrupt_unpadded(document, self.block_size, random.Random(f"span_corrupt/{self.seed}/{epoch}/{i}"))
            for document, i in zip(batch["text"], indices)
        ]
        pairs = [_causal_lm_example(ids, self.pad_token_id) for ids in _encode(self.tokenizer, texts)]
        out = {"input_ids": [x for x, _ in pairs], "labels": [y for _, y in pairs]}
        if self.max_position_offset:
            out["position_ids"] = []
            for (x, _), i in zip(pairs, indices):
                room = min(self.max_position_offset, self.block_size - 1 - len(x))
                offset = random.Random(f"position_offset/{self.seed}/{epoch}/{i}").randint(0, room)
                out["position_ids"].append(list(range(offset, offset + len(x))))
        return out

    def set_epoch(self, epoch: int) -> None:
        """Draws the corruption of every document for `epoch` (nothing to do if it is the epoch drawn)."""
        if epoch == self.epoch:
            return
        bars_were_on = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()  # one bar per epoch, 650 epochs: noise
        try:
            self.examples = self.corpus.map(
                self._corrupt_batch,
                batched=True,
                with_indices=True,
                remove_columns=["text"],
                fn_kwargs={"epoch": epoch},
                keep_in_memory=True,
                load_from_cache_file=False,
                # Naming the result saves `datasets` from hashing the tokenizer to fingerprint the function.
                new_fingerprint=(
                    f"{self.corpus._fingerprint}-span-corrupt-{self.block_size}-{self.seed}-{epoch}"
                    f"-{self.max_position_offset}"
                ),
            )
        finally:
            if bars_were_on:
                datasets.enable_progress_bars()
        self.lengths = [len(ids) for ids in self.examples["input_ids"]]
        self.epoch = epoch
        self._reads = 0

    def _note_read(self) -> None:
        # A loop that never calls set_epoch would silently train on one draw; catch it where it can be seen
        # (in-process reading; a DataLoader worker reads a fresh copy every epoch and counts from zero).
        self._reads += 1
        if self._reads == 2 * len(self) + 1:
            logger.warning(
                "PretrainDataset: read twice over in epoch %d without set_epoch; every epoch should draw new "
                "spans (iterate through EpochLengthGroupedBatchSampler, whose set_epoch the Trainer calls)",
                self.epoch,
            )

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        self._note_read()
        return self.examples[i]


# ---------------------------------------------------------------------------------------------------------
# Fine-tuning examples
# ---------------------------------------------------------------------------------------------------------


QUESTION_PATTERN = re.compile(r"Where was (?P<name>.+) born\?")


def question_prompt(question: str, template: Optional[str]) -> str:
    """What the model reads for `question`: the question itself when `template` is None, else the template with
    the question's name in place of `{name}` (`"{name}."` turns `Where was Ada Lovelace born?` into
    `Ada Lovelace.`, the way wiki.txt documents open; see `CharGPTConfig.question_template`).

    Raises:
        ValueError: a template is given and the question does not read `Where was NAME born?`.
    """
    if template is None:
        return question
    match = QUESTION_PATTERN.fullmatch(question.strip())
    if match is None:
        raise ValueError(f"the question {question!r} does not read `Where was NAME born?`, which {template!r} needs")
    return template.replace("{name}", match["name"])


def build_finetune_dataset(
    qa: datasets.Dataset,
    tokenizer,
    block_size: int,
    *,
    path: Optional[PathLike] = None,
    question_template: Optional[str] = None,
) -> datasets.Dataset:
    """Fine-tuning examples of a `load_qa` dataset: columns "input_ids" and "labels", without padding.

    As the original: the string is `question MASK place MASK`, in the transformers form of `_causal_lm_example`
    (input_ids = its ids, labels aligned and shifted inside the model), with IGNORE_INDEX on every question
    character, so that only the positions that predict `MASK place MASK` carry loss (where the original puts
    PAD targets, which its loss ignores): the question is never a target. `path` (default: the one `load_qa`
    left in `qa.info.description`) names the file in errors. With `question_template`, the model reads
    `question_prompt(question, question_template)` in place of each question.

    Raises:
        DataFormatError: a question without a place, a question the template cannot rewrite, or
            `question MASK place MASK` longer than block_size.
    """
    path = str(path if path is not None else (qa.info.description or "<qa dataset>"))
    pad_token_id = tokenizer.pad_token_id

    def encode(batch):
        questions = []
        for question, answer, line in zip(batch["question"], batch["answer"], batch["line"]):
            if answer is None:
                raise DataFormatError(path, line, "no place", "question<TAB>place lines for fine-tuning")
            try:
                question = question_prompt(question, question_template)
            except ValueError:
                raise DataFormatError(
                    path, line, "the question does not read `Where was NAME born?`",
                    f"that form, which question_template {question_template!r} rewrites",
                ) from None
            _check_fits(path, line, question, answer, block_size)
            questions.append(question)
        texts = [q + MASK_CHAR + a + MASK_CHAR for q, a in zip(questions, batch["answer"])]
        out = {"input_ids": [], "labels": []}
        for question, ids in zip(questions, _encode(tokenizer, texts)):
            input_ids, labels = _causal_lm_example(ids, pad_token_id)
            # labels[len(question)] is the first MASK, predicted from the question's last character.
            labels[: len(question)] = [IGNORE_INDEX] * len(question)
            out["input_ids"].append(input_ids)
            out["labels"].append(labels)
        return out

    return qa.map(
        encode,
        batched=True,
        remove_columns=qa.column_names,
        keep_in_memory=True,
        load_from_cache_file=False,
        new_fingerprint=Hasher.hash((qa._fingerprint, "finetune", block_size, question_template)),
    )


# ---------------------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------------------


class CharCollator:
    """Pads a list of {"input_ids", "labels"} examples on the right into a batch of tensors.

    Returns input_ids (B, T) padded with `pad_token_id`, labels (B, T) padded with IGNORE_INDEX and
    attention_mask (B, T), 1 on real positions, and position_ids (B, T) padded with 0 when the examples carry
    "position_ids" (`PretrainDataset(max_position_offset=...)`). T is the longest example of the batch, rounded up to
    `pad_to_multiple_of` when given; with `pad_to_block_size=True` every batch is block_size - 1 long, the
    original's fixed 127-position batches (for benchmarks and comparisons; an example of block_size positions,
    possible only for a fine-tuning string of exactly block_size characters, is then an error). Right padding
    changes no loss in a causal model: a real position never attends to a later one, and padded targets are
    ignored.
    """

    def __init__(
        self,
        pad_token_id: int = 0,
        *,
        pad_to_multiple_of: Optional[int] = None,
        pad_to_block_size: bool = False,
        block_size: Optional[int] = None,
    ):
        if pad_to_block_size and block_size is None:
            raise ValueError("pad_to_block_size=True needs block_size")
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.pad_to_block_size = pad_to_block_size
        self.block_size = block_size

    def __call__(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(example["input_ids"]) for example in examples)
        if self.pad_to_block_size:
            if longest > self.block_size - 1:
                raise ValueError(f"an example has {longest} positions, more than block_size - 1 = {self.block_size - 1}")
            T = self.block_size - 1
        elif self.pad_to_multiple_of:
            T = math.ceil(longest / self.pad_to_multiple_of) * self.pad_to_multiple_of
        else:
            T = longest
        input_ids = torch.full((len(examples), T), self.pad_token_id, dtype=torch.long)  # (B, T)
        labels = torch.full((len(examples), T), IGNORE_INDEX, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(examples), T), dtype=torch.long)  # (B, T)
        batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
        if "position_ids" in examples[0]:
            batch["position_ids"] = torch.zeros((len(examples), T), dtype=torch.long)  # (B, T)
        for row, example in enumerate(examples):
            n = len(example["input_ids"])
            input_ids[row, :n] = torch.tensor(example["input_ids"], dtype=torch.long)
            labels[row, :n] = torch.tensor(example["labels"], dtype=torch.long)
            attention_mask[row, :n] = 1
            if "position_ids" in batch:
                batch["position_ids"][row, :n] = torch.tensor(example["position_ids"], dtype=torch.long)
        return batch


class EpochLengthGroupedBatchSampler(torch.utils.data.Sampler):
    """Batches of indices of similar length, reshuffled every epoch; also passes the epoch to the dataset.

    `set_epoch(epoch)` first calls `dataset.set_epoch(epoch)` when the dataset has one (a `PretrainDataset`
    draws that epoch's corruption, and so its lengths), then the batches of that epoch are formed:
    the indices are shuffled with a generator seeded from (seed, epoch), cut into mega-batches of
    `mega_batch_mult * batch_size` indices, each sorted by length (longest first) and cut into batches, as
    transformers' LengthGroupedSampler does; the batch order is then shuffled and the batch holding the
    longest example goes first, so that an out-of-memory error shows at the first step.
    `group_by_length=False` gives a plain shuffle cut into batches; `shuffle=False` keeps the dataset's order (the
    original's DataLoader: every epoch the same examples share a batch, only their corruption is new).

    The batches depend only on (seed, epoch) and the lengths, so every process of a distributed run computes
    the same list; Accelerate's BatchSamplerShard then hands each process its own share of it. The HF Trainer
    calls `set_epoch` on this sampler (also when Accelerate wraps it) before each epoch; a hand-written loop
    must do it too. `__len__` is the number of batches.

    Args:
        dataset: the dataset; its `lengths` attribute gives the lengths unless `lengths` is passed. For a
            `datasets.Dataset` without one, the length of each row's "input_ids" is used.
        batch_size: examples per batch.
        seed: the shuffling seed (use the training seed).
        group_by_length: False: plain shuffle.
        shuffle: False: no shuffling, of the indices or of the batches.
        drop_last: drop the last, incomplete batch.
        mega_batch_mult: mega-batch size in batches; default as transformers: min(len // (4 * batch_size), 50),
            at least 1, so that there are at least four mega-batches to shuffle.
        lengths: the lengths, for datasets that do not change across epochs.
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        *,
        seed: int = 0,
        group_by_length: bool = True,
        shuffle: bool = True,
        drop_last: bool = False,
        mega_batch_mult: Optional[int] = None,
        lengths: Optional[Sequence[int]] = None,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.mega_batch_mult = mega_batch_mult
        self._lengths = list(lengths) if lengths is not None else None
        self.epoch = getattr(dataset, "epoch", None)
        if self.epoch is None:
            self.epoch = 0

    @property
    def lengths(self) -> list[int]:
        if self._lengths is not None:
            return self._lengths
        if hasattr(self.dataset, "lengths"):
            return self.dataset.lengths
        self._lengths = [len(ids) for ids in self.dataset["input_ids"]]
        return self._lengths

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def batches(self) -> list[list[int]]:
        """The batches of the current epoch (what iterating yields)."""
        lengths = self.lengths
        rng = random.Random(f"batches/{self.seed}/{self.epoch}")
        order = list(range(len(lengths)))
        if self.shuffle:
            rng.shuffle(order)
        if not self.group_by_length:
            batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        else:
            mult = self.mega_batch_mult or max(1, min(len(order) // (4 * self.batch_size), 50))
            mega = mult * self.batch_size
            batches = []
            for start in range(0, len(order), mega):
                group = sorted(order[start : start + mega], key=lambda i: -lengths[i])
                batches += [group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size)]
            if self.shuffle:
                rng.shuffle(batches)
            longest = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
            batches.insert(0, batches.pop(longest))
        if self.drop_last:
            batches = [batch for batch in batches if len(batch) == self.batch_size]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
