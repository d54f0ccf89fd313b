"""Answering "Where was X born?" with a trained model, and scoring the answers.

The model reads `question + MASK` and greedily writes `place + MASK`; the prediction is the text between the first
and the second MASK, as in the original (`completion.split(MASK)[1]`). Unlike the original, questions of equal length
are decoded together, with the key/value cache, and decoding stops at the closing MASK.

Every prediction comes with a confidence: the model's probability of the whole generated answer, closing MASK
included (the product of the greedy choices' probabilities). It is what lets a user tell, better than chance, an
answer the model retrieved from one it made up (see `hf_birthplace.analysis.knowledge`).
"""

import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass, field

import torch

from .data import apply_character_policy, question_prompt
from .metrics import load_place_accuracy
from .tokenization_char import MASK_CHAR

logger = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 32  # the original decodes 32 characters after the question's MASK


@dataclass
class Prediction:
    """One answer: the place (empty when the question could not be processed), its probability, and why not."""

    place: str
    confidence: float
    error: str | None = None


@torch.no_grad()
def predict_places(
    model, tokenizer, questions: list[str], *, batch_size: int = 256, max_new_tokens: int = MAX_ANSWER_CHARS
) -> list[Prediction]:
    """Greedy answers for `questions`, in order. A question that cannot be processed gets an empty place and an error.

    Questions are sorted by length and left-padded in batches; the attention mask hides the padding and `generate`
    gives each question its own positions, so every answer is the one the question gets decoded alone
    (tests/test_evaluation.py checks it). A model fine-tuned with a `question_template` (in its config) reads each
    question rewritten by it, as in fine-tuning.
    """
    model.eval()
    mask_id = tokenizer.convert_tokens_to_ids(MASK_CHAR)
    pad_id = tokenizer.pad_token_id
    # The original model has `block_size` positions; the synthesizer's scores cover block_size - 1 of them.
    max_positions = model.config.block_size - 1
    template = getattr(model.config, "question_template", None)
    predictions: list[Prediction | None] = [None] * len(questions)
    todo = []
    for i, question in enumerate(questions):
        if not question.strip():
            predictions[i] = Prediction("", 0.0, "empty question")
            continue
        try:
            question = question_prompt(question, template)
        except ValueError as error:
            predictions[i] = Prediction("", 0.0, str(error))
            continue
        # One character is one token: the length check needs no encoding.
        if len(question) + 1 >= max_positions:
            predictions[i] = Prediction(
                "", 0.0, f"question is {len(question)} characters; the model reads at most {max_positions - 2}"
            )
        else:
            todo.append((i, tokenizer(question + MASK_CHAR, add_special_tokens=False)["input_ids"]))
    todo.sort(key=lambda item: len(item[1]))

    device = next(model.parameters()).device
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        T = len(chunk[-1][1])
        input_ids = torch.tensor([[pad_id] * (T - len(ids)) + ids for _, ids in chunk], device=device)  # (B, T)
        lengths = torch.tensor([len(ids) for _, ids in chunk], device=device)  # (B,)
        attention_mask = (torch.arange(T, device=device) >= T - lengths[:, None]).long()  # (B, T), 0 on padding
        out = model.generate(
            input_ids,
            attention_mask=attention_mask,
            max_new_tokens=min(max_new_tokens, max_positions - T),
            do_sample=False,
            eos_token_id=mask_id,
            pad_token_id=pad_id,
            use_cache=True,
            output_scores=True,
            return_dict_in_generate=True,
        )
        generated = out.sequences[:, T:]  # (B, steps)
        logprobs = torch.stack(out.scores, dim=1).float().log_softmax(-1)  # (B, steps, V)
        chosen = logprobs.gather(-1, generated.unsqueeze(-1)).squeeze(-1)  # (B, steps)
        for row, (i, _) in enumerate(chunk):
            ids = generated[row].tolist()
            # The answer ends at the closing MASK, which counts in its probability ("the answer is complete").
            end = ids.index(mask_id) + 1 if mask_id in ids else len(ids)
            place = tokenizer.decode(ids[: end - 1] if mask_id in ids else ids, skip_special_tokens=False)
            predictions[i] = Prediction(place, float(chosen[row, :end].sum().exp()))
    return predictions


def score(predictions: list[str], references: list[str]) -> dict:
    """Exact-match accuracy through the package's offline `evaluate` metric."""
    return load_place_accuracy().compute(predictions=predictions, references=references)


def answer_statistics(predictions: list[str], references: list[str]) -> dict:
    """Does the answer depend on the person? How many distinct answers, the most frequent one and its count, the
    number right, and `expected_correct_if_shuffled`: what the same multiset of answers would get right in expectation
    if shuffled among the people (sum over places of answer count x gold count / lines). Right answers above it come
    from the name, not from answering frequent places."""
    if len(predictions) != len(references) or not references:
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    answers, gold = Counter(predictions), Counter(references)
    top, top_count = answers.most_common(1)[0]
    return {
        "distinct_answers": len(answers),
        "most_frequent_answer": top,
        "its_count": top_count,
        "correct": sum(p == r for p, r in zip(predictions, references)),
        "expected_correct_if_shuffled": round(sum(n * gold[place] for place, n in answers.items()) / len(references), 2),
    }


def correct_line(result: dict) -> str:
    """The original's summary line (the percentage rounded, so 18 of 500 reads 3.6% and not 3.5999999999999996%)."""
    return f"Correct: {result['correct']} out of {result['total']}: {round(result['accuracy'] * 100, 4)}%"


def write_predictions(path: str, predictions: list[Prediction]) -> None:
    """One line per input line, in order; confidences go to a TSV beside it (`PATH.confidence.tsv`)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for p in predictions:
            # A place never holds a newline (the vocabulary has one, a model could emit it): keep one line per input.
            f.write(p.place.replace("\n", " ") + "\n")
    with open(path + ".confidence.tsv", "w", encoding="utf-8") as f:
        f.write("prediction\tconfidence\terror\n")
        for p in predictions:
            f.write(f"{p.place.replace(chr(10), ' ')}\t{p.confidence:.6g}\t{p.error or ''}\n")


def write_json(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, ensure_ascii=False)
        f.write("\n")


def predictions_as_dicts(predictions: list[Prediction]) -> list[dict]:
    return [asdict(p) for p in predictions]


@dataclass
class EvalLine:
    """One line of an evaluation file: the question, its gold place when the file has one, and what is wrong."""

    question: str
    gold: str | None
    problem: str | None = None
    source: str = ""  # "path:line", for messages


def read_eval_lines(path: str) -> list[EvalLine]:
    """Every line of a question file, malformed ones included, so that predictions stay aligned with input lines.

    Accepts `question<TAB>place` and question-only lines; CRLF endings and a UTF-8 BOM are tolerated. A line that
    cannot be read (invalid UTF-8, blank, more than one tab) is kept with its problem, to get an empty prediction.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for number, raw_line in enumerate(lines, start=1):
        raw_line = raw_line.removesuffix(b"\r")
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as e:
            out.append(EvalLine("", None, f"invalid UTF-8 at byte {e.start}", f"{path}:{number}"))
            continue
        fields = line.split("\t")
        if not line.strip():
            out.append(EvalLine("", None, "blank line", f"{path}:{number}"))
        elif len(fields) > 2:
            problem = f"{len(fields) - 1} tabs; expected `question<TAB>place` or a question alone"
            out.append(EvalLine(fields[0], None, problem, f"{path}:{number}"))
        else:
            gold = fields[1].strip() if len(fields) == 2 else None
            out.append(EvalLine(fields[0].strip(), gold, None, f"{path}:{number}"))
    return out


@dataclass
class EvalArguments:
    """Answer every question of a file with a checkpoint; score them when the file has gold places."""

    model_name_or_path: str = field(metadata={"help": "Fine-tuned checkpoint directory (or Hub id)."})
    eval_corpus_path: str = field(metadata={"help": "Questions, `Where was X born?[<TAB>PLACE]`, one per line."})
    outputs_path: str | None = field(
        default=None,
        metadata={"help": "Predictions file to write, one line per input line (plus PATH.confidence.tsv)."},
    )
    metrics_path: str | None = field(
        default=None, metadata={"help": "Metrics JSON to write (default: OUTPUTS_PATH.metrics.json)."}
    )
    batch_size: int = field(default=256, metadata={"help": "Questions decoded together (of equal length)."})
    ascii_only: bool = field(
        default=False, metadata={"help": "Strip non-ASCII characters from questions, as the original fine-tuning."}
    )
    abstain_below: float | None = field(
        default=None,
        metadata={"help": "Answer `unknown` when the answer's probability is below this threshold (selective mode)."},
    )


def evaluate_lines(model, tokenizer, lines: list[EvalLine], *, ascii_only=False, batch_size=256, abstain_below=None):
    """Predictions for every line (empty for unreadable ones) and, when gold places exist, the metrics."""
    vocab = set(tokenizer.get_vocab())
    readable = [i for i, line in enumerate(lines) if line.problem is None]
    answers = predict_places(
        model,
        tokenizer,
        [apply_character_policy(lines[i].question, vocab, ascii_only) for i in readable],
        batch_size=batch_size,
    )
    predictions = [Prediction("", 0.0, line.problem) for line in lines]
    for i, answer in zip(readable, answers):
        predictions[i] = answer
    for p, line in zip(predictions, lines):
        if p.error and line.source:
            p.error = f"{line.source}: {p.error}"
    if abstain_below is not None:
        for p in predictions:
            if p.error is None and p.confidence < abstain_below:
                p.place = ABSTAIN
    for p in predictions:
        if p.error:
            logger.warning("no prediction: %s", p.error)
    metrics = score_lines(predictions, lines)
    gold = [(p.place, line.gold) for p, line in zip(predictions, lines) if line.gold is not None]
    if gold:
        if abstain_below is not None:
            answered = [(p, g) for p, g in gold if p != ABSTAIN]
            metrics["abstain_below"] = abstain_below
            metrics["coverage"] = len(answered) / len(gold)
            metrics["selective_accuracy"] = sum(p == g for p, g in answered) / len(answered) if answered else 0.0
    return predictions, metrics


ABSTAIN = "unknown"


def score_lines(predictions: list[Prediction], lines: list[EvalLine]) -> dict:
    """Line counts and, over the lines with a gold place, the accuracy metric (an unreadable line counts as wrong)."""
    metrics = {"lines": len(lines), "unreadable_lines": sum(p.error is not None for p in predictions)}
    gold = [(p.place, line.gold) for p, line in zip(predictions, lines) if line.gold is not None]
    if gold:
        metrics.update(score([p for p, _ in gold], [g for _, g in gold]))
        metrics["lines_without_gold"] = len(lines) - len(gold)
    return metrics


def load_checkpoint(path: str):
    """A checkpoint's model (on the GPU when there is one) and tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path)
    if torch.cuda.is_available():
        model.to("cuda")
    return model, AutoTokenizer.from_pretrained(path)


def run_evaluation(args: EvalArguments) -> dict:
    """The `scripts/evaluate.py` workflow: load, predict, write predictions + metrics, print the original's line."""
    model, tokenizer = load_checkpoint(args.model_name_or_path)
    lines = read_eval_lines(args.eval_corpus_path)
    predictions, metrics = evaluate_lines(
        model, tokenizer, lines, ascii_only=args.ascii_only, batch_size=args.batch_size, abstain_below=args.abstain_below
    )
    if args.outputs_path:
        write_predictions(args.outputs_path, predictions)
    metrics_path = args.metrics_path or (args.outputs_path + ".metrics.json" if args.outputs_path else None)
    if "accuracy" in metrics:
        print(correct_line(metrics))
    else:
        print(f"No gold birth places in {args.eval_corpus_path}: wrote predictions only.")
    if metrics_path:
        write_json(metrics_path, {"eval_corpus_path": args.eval_corpus_path, **metrics})
    return metrics


def constant_baseline(eval_path: str, place: str, outputs_path: str | None = None) -> dict:
    """Score answering `place` to every question of `eval_path` (the original's London baseline)."""
    lines = read_eval_lines(eval_path)
    gold = [line.gold for line in lines if line.gold is not None]
    if not gold:
        raise ValueError(f"{eval_path}: no line has a gold place; a baseline needs `question<TAB>place` lines")
    if outputs_path:
        write_predictions(outputs_path, [Prediction(place, 1.0) for _ in lines])
    metrics = score([place] * len(gold), gold)
    print(correct_line(metrics))
    return metrics
