"""Answering "Where was X born?" by ranking the training file's places instead of generating one.

A pretrained model that stores a birthplace may still not write it first: greedy decoding commits to one character at
a time, and fine-tuning on 2,000 answers overwrites much of what pretraining stored (docs/results). Ranking reads the
stored knowledge directly: for each question, every place of the training file is scored by the model's
log-probability of that place, followed by a character that ends a word, after a prompt such as `NAME. Born in `
(how wiki.txt documents open and say it); the best-scoring place is the answer.

A place that the training file never answers cannot be predicted (39 of the 500 dev answers), and frequent places
score high after any name; `pmi_weight` subtracts that prior, `pmi_weight * log P(place | the prompt without a name)`
(pointwise mutual information at 1). The prompts and the weight are chosen on held-out lines of the training file,
ranked among the places of the other lines only, so that dev is read once, by the final answers: by default the last
200 lines among the places of the first 1,800; with `leave_one_out`, every line among the places of all the others.

Several checkpoints make an ensemble: their scores (and priors) are added, so a place wins when the models agree on
it (a product of experts). Each answer's confidence is its softmax probability among the candidates, so
`analysis.knowledge` can read it as it reads a generated answer's.
"""

import copy
import logging
import os
from collections import Counter
from dataclasses import dataclass, field

import torch

from .data import QUESTION_PATTERN, apply_character_policy
from .evaluation import Prediction, load_checkpoint, read_eval_lines, score_lines, write_json, write_predictions
from .selection import split_heldout
from .tokenization_char import MASK_CHAR
from .training import DATA_DIR_ENV, resolve_path

logger = logging.getLogger(__name__)


def _fill(template: str, name: str) -> str:
    return template.replace("{name}", name).replace("{mask}", MASK_CHAR)


@torch.no_grad()
def place_logprobs(model, tokenizer, prompts: list[str], places: list[str], *, batch_size: int = 128) -> torch.Tensor:
    """log P(place, then a character that is not a letter or digit | prompt) for every prompt and place: (N, K).

    Each prompt is read once; its key/value cache is repeated for the places, which are right-padded (the attention
    mask hides the padding). A place's characters outside the vocabulary make it unreachable (-inf).
    """
    model.eval()
    vocab = tokenizer.get_vocab()
    device = next(model.parameters()).device
    ends = torch.tensor([i for char, i in vocab.items() if not char.isalnum()], device=device)  # (E,) word ends
    encoded = [[vocab.get(char) for char in place] for place in places]
    reachable = torch.tensor([bool(ids) and None not in ids for ids in encoded])  # (K,)
    encoded = [ids if ok else [tokenizer.pad_token_id] for ids, ok in zip(encoded, reachable.tolist())]
    order = sorted(range(len(places)), key=lambda k: len(encoded[k]))
    limit = model.config.max_sequence_length
    out = torch.empty(len(prompts), len(places))
    for n, prompt in enumerate(prompts):
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if len(prompt_ids) + max(map(len, encoded)) > limit:
            raise ValueError(f"place_logprobs: prompt {prompt!r} and the longest place exceed {limit} positions")
        first = model(torch.tensor([prompt_ids], device=device), use_cache=True)
        first_logprobs = first.logits[0, -1].float().log_softmax(-1)  # (V,)
        P = len(prompt_ids)
        # Places of similar length together: padding would otherwise be most of the work.
        for start in range(0, len(places), batch_size):
            rows = order[start : start + batch_size]
            chunk = [encoded[k] for k in rows]
            B, L = len(chunk), max(map(len, chunk))
            ids = torch.tensor([c + [tokenizer.pad_token_id] * (L - len(c)) for c in chunk], device=device)  # (B, L)
            lengths = torch.tensor([len(c) for c in chunk], device=device)  # (B,)
            real = torch.arange(L, device=device) < lengths[:, None]  # (B, L)
            cache = copy.deepcopy(first.cache)
            cache.batch_repeat_interleave(B)
            attention_mask = torch.cat([torch.ones(B, P, dtype=torch.long, device=device), real.long()], dim=1)
            logprobs = model(ids, attention_mask=attention_mask, cache=cache).logits.float().log_softmax(-1)  # (B,L,V)
            # Character j of a place is predicted at position j - 1 (the prompt's last position for j = 0).
            predicted = torch.cat([first_logprobs.expand(B, 1, -1), logprobs[:, :-1]], dim=1)  # (B, L, V)
            chars = predicted.gather(-1, ids.unsqueeze(-1)).squeeze(-1).masked_fill(~real, 0.0).sum(1)  # (B,)
            after = logprobs[torch.arange(B, device=device), lengths - 1]  # (B, V): what follows the last character
            out[n, rows] = (chars + after[:, ends].logsumexp(-1)).cpu()
    return out.masked_fill(~reachable, float("-inf"))


def read_questions(path: str, *, vocab: set | None = None, ascii_only: bool = False):
    """The names asked about in a question file, in order (None for a line that is unreadable or does not read
    `Where was NAME born?`), with the file's lines."""
    lines = read_eval_lines(path)
    names = []
    for line in lines:
        match = None if line.problem else QUESTION_PATTERN.fullmatch(line.question)
        if match is None and line.problem is None:
            line.problem = "the question does not read `Where was NAME born?`"
        names.append(apply_character_policy(match["name"], vocab, ascii_only) if match else None)
    return names, lines


def drop_too_long(names: list[str | None], lines: list, prompts: list[str], places: list[str], limit: int) -> None:
    """Marks, in place, the questions whose longest prompt plus the longest place exceeds the model's `limit`
    positions: they get an empty prediction and a warning naming file and line, and the others are still answered."""
    room = limit - max(map(len, places))
    for i, name in enumerate(names):
        if name is not None and max(len(_fill(p, name)) for p in prompts) > room:
            lines[i].problem = f"the name is {len(name)} characters; with the prompt and the longest place it exceeds " \
                               f"the model's {limit} positions"
            names[i] = None


def prompt_scores(models: list, names: list[str | None], places: list[str], template: str, **kwargs):
    """The sum over `models` ((model, tokenizer) pairs) of `place_logprobs` of `template` filled with each name,
    (N, K) with -inf rows for unreadable names, and of the prior: the places' log-probabilities after the template
    with no name, (1, K) with 0 for unreachable places."""
    rows = [i for i, name in enumerate(names) if name is not None]
    scores = torch.full((len(names), len(places)), float("-inf"))
    prior = torch.zeros(1, len(places))
    if rows:
        scores[rows] = sum(
            place_logprobs(model, tokenizer, [_fill(template, names[i]) for i in rows], places, **kwargs)
            for model, tokenizer in models
        )
    for model, tokenizer in models:
        prior += place_logprobs(model, tokenizer, [_fill(template, "")], places, **kwargs).nan_to_num(neginf=0.0)
    return scores, prior


def rank(scores: torch.Tensor, places: list[str], names: list[str | None]) -> list[Prediction]:
    """The best place per row, with its softmax probability among the candidates; an unreadable row gets nothing."""
    probabilities = scores.softmax(-1)
    best = scores.argmax(-1)
    return [
        Prediction(places[k], float(probabilities[i, k])) if name is not None else Prediction("", 0.0, "unreadable")
        for i, (k, name) in enumerate(zip(best.tolist(), names))
    ]


def accuracy(predictions: list[Prediction], golds: list[str]) -> float:
    return sum(p.place == g for p, g in zip(predictions, golds)) / len(golds)


def read_answers(path: str) -> list[str]:
    """The place of every line of a `question<TAB>place` file, in order; an unreadable line or one without a place
    is an error naming file and line."""
    answers = []
    for line in read_eval_lines(path):
        if line.problem:
            raise ValueError(f"{line.source}: {line.problem}")
        if line.gold is None:
            raise ValueError(f"{line.source}: no place; the candidates come from `question<TAB>place` lines")
        answers.append(line.gold)
    return answers


def read_places(path: str) -> list[str]:
    """The distinct answers of a `question<TAB>place` file, in order of first appearance."""
    return list(dict.fromkeys(read_answers(path)))


@dataclass
class RankArguments:
    """Answer question files by ranking the training file's places with a (pretrained or fine-tuned) checkpoint."""

    model_name_or_path: list[str] = field(
        metadata={"help": "Checkpoint directory (or Hub id); with several, an ensemble: their scores are added."}
    )
    output_dir: str = field(metadata={"help": "Gets the split files, selection.json and one predictions file each."})
    data_dir: str | None = field(
        default_factory=lambda: os.environ.get(DATA_DIR_ENV),
        metadata={"help": f"Directory holding the data files (default: ${DATA_DIR_ENV})."},
    )
    train_path: str = field(default="birth_places_train.tsv", metadata={"help": "Its places are the candidates."})
    eval_paths: list[str] = field(
        default_factory=lambda: ["birth_dev.tsv", "birth_test_inputs.tsv"],
        metadata={"help": "Files to answer (looked up under data_dir too); scored where they have gold places."},
    )
    prompts: list[str] = field(
        default_factory=lambda: ["{name}. Born in "],
        metadata={"help": "What precedes the place, `{name}` filled in (`{mask}` is the MASK character: a checkpoint "
                  "fine-tuned on the original questions reads `Where was {name} born?{mask}`). Held-out lines "
                  "choose one prompt, or the sum of all."},
    )
    pmi_weights: list[float] = field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0],
        metadata={"help": "Candidate weights of the no-name prior subtracted from each score (chosen on held-out)."},
    )
    heldout_lines: int = field(
        default=200,
        metadata={"help": "Training lines at the end that choose the settings (0: use the one prompt and weight given)."},
    )
    leave_one_out: bool = field(
        default=False,
        metadata={"help": "Rank each held-out line among the places of every other training line (what a dev "
                  "question faces), not only of the lines before the held-out ones; --heldout_lines may then be the "
                  "whole file (2,000 lines choose, not 200: less noise, ten times the scoring)."},
    )
    ascii_only: bool = field(default=False, metadata={"help": "Strip non-ASCII characters from names."})
    batch_size: int = field(default=128, metadata={"help": "Places scored together (of similar length)."})


def _combine(scores: dict, prompts: list[str], pmi_weight: float) -> torch.Tensor:
    """The sum over `prompts` of each prompt's scores minus `pmi_weight` times its prior."""
    return sum(scores[p][0] - pmi_weight * scores[p][1] for p in prompts)


def load_ensemble(paths: list[str]) -> list:
    """(model, tokenizer) for each checkpoint; an ensemble's models must share one vocabulary, since a name's
    characters are read once for all of them."""
    models = [load_checkpoint(path) for path in paths]
    vocab = models[0][1].get_vocab()
    for path, (_, tokenizer) in zip(paths[1:], models[1:]):
        if tokenizer.get_vocab() != vocab:
            raise ValueError(f"an ensemble needs one vocabulary: {path} and {paths[0]} have different ones")
    return models


def _score_file(models, path, places, prompts, ascii_only, batch_size):
    """The names and lines of a question file, and {prompt: (scores, prior)} summed over `models`: each prompt scored
    once, so that every weight and combination is arithmetic, not another pass."""
    names, lines = read_questions(path, vocab=set(models[0][1].get_vocab()), ascii_only=ascii_only)
    drop_too_long(names, lines, prompts, places, min(model.config.max_sequence_length for model, _ in models))
    scores = {p: prompt_scores(models, names, places, p, batch_size=batch_size) for p in prompts}
    return names, lines, scores


def answer_file(
    models: list, path: str, places: list[str], prompts: list[str], pmi_weight: float, outputs_path: str,
    *, ascii_only: bool = False, batch_size: int = 128,
) -> dict:
    """Rank `places` for every question of `path` with `models` ((model, tokenizer) pairs, scores added); write one
    prediction per input line (an unreadable line gets an empty one and a warning naming file and line) with
    PATH.confidence.tsv and PATH.metrics.json; return the metrics (scored where the file has gold places)."""
    names, lines, scores = _score_file(models, path, places, prompts, ascii_only, batch_size)
    predictions = rank(_combine(scores, prompts, pmi_weight), places, names)
    for p, line in zip(predictions, lines):
        if p.error:
            p.error = f"{line.source}: {line.problem}"
            logger.warning("no prediction: %s", p.error)
    write_predictions(outputs_path, predictions)
    metrics = {"eval_corpus_path": path, **score_lines(predictions, lines)}
    if "accuracy" in metrics:
        candidates = set(places)
        metrics["gold_among_candidates"] = sum(line.gold in candidates for line in lines if line.gold is not None)
        print(f"{path}: {metrics['correct']} of {metrics['total']} correct ({metrics['accuracy']:.1%}); "
              f"{metrics['gold_among_candidates']} answers are among the {len(places)} candidates")
    else:
        print(f"No gold birth places in {path}: wrote predictions only.")
    write_json(outputs_path + ".metrics.json", metrics)
    return metrics


def choose_settings(models: list, candidates_path: str, heldout_path: str, prompts: list[str],
                    pmi_weights: list[float], *, leave_one_out: bool = False, ascii_only: bool = False,
                    batch_size: int = 128) -> list[dict]:
    """Held-out accuracy of every setting: each prompt alone and, with several, their sum, at every weight; ranked
    among the places of `candidates_path`. With `leave_one_out` the held-out lines are lines of that file, and a
    line's own place is a candidate only when another line answers it too (as a dev answer is one when some
    training line answers it)."""
    answers = read_answers(candidates_path)
    places = list(dict.fromkeys(answers))
    names, lines, scores = _score_file(models, heldout_path, places, prompts, ascii_only, batch_size)
    golds = [line.gold for line in lines]
    own = torch.zeros(len(lines), len(places), dtype=torch.bool)  # (N, K): the candidates a line may not see
    if leave_one_out:
        counts = Counter(answers)
        index = {place: k for k, place in enumerate(places)}
        for i, gold in enumerate(golds):
            if counts[gold] == 1:
                own[i, index[gold]] = True
    settings = [[p] for p in prompts] + ([list(prompts)] if len(prompts) > 1 else [])
    heldout = []
    for chosen in settings:
        for weight in pmi_weights:
            predictions = rank(_combine(scores, chosen, weight).masked_fill(own, float("-inf")), places, names)
            heldout.append(dict(prompts=chosen, pmi_weight=weight, accuracy=accuracy(predictions, golds)))
            print(f"held-out {chosen} pmi_weight {weight:g}: {heldout[-1]['accuracy']:.1%}")
    return heldout


def run_ranking(args: RankArguments) -> dict:
    """Choose prompt and prior weight on held-out training lines (each ranked among the places of the lines before
    them, or of all other lines with `--leave_one_out`; skipped with `--heldout_lines 0`, which needs a single prompt
    and weight), then answer every eval file; returns what OUTPUT_DIR/selection.json holds."""
    single = len(args.prompts) == 1 and len(args.pmi_weights) == 1
    if args.heldout_lines == 0 and not single:
        raise ValueError("--heldout_lines 0 chooses nothing: give one prompt and one pmi weight")
    models = load_ensemble(args.model_name_or_path)
    train_path = resolve_path(args.train_path, args.data_dir)
    options = dict(ascii_only=args.ascii_only, batch_size=args.batch_size)
    answers = read_answers(train_path)
    heldout = []
    if args.heldout_lines and args.leave_one_out:
        whole = args.heldout_lines >= len(answers)
        heldout_path = train_path if whole else split_heldout(train_path, args.heldout_lines, args.output_dir)[1]
        heldout = choose_settings(models, train_path, heldout_path, args.prompts, args.pmi_weights,
                                  leave_one_out=True, **options)
    elif args.heldout_lines:
        fit_path, heldout_path = split_heldout(train_path, args.heldout_lines, args.output_dir)
        heldout = choose_settings(models, fit_path, heldout_path, args.prompts, args.pmi_weights, **options)
    # The first of equals: one prompt before their sum, the smaller weight.
    best = max(heldout, key=lambda h: h["accuracy"]) if heldout else dict(prompts=args.prompts,
                                                                          pmi_weight=args.pmi_weights[0])
    places = list(dict.fromkeys(answers))
    result = dict(
        model_name_or_path=args.model_name_or_path,
        candidates=len(places),
        heldout_lines=args.heldout_lines,
        leave_one_out=args.leave_one_out,
        heldout=heldout,
        prompts=best["prompts"],
        pmi_weight=best["pmi_weight"],
        evaluations={},
    )
    for eval_path in args.eval_paths:
        path = resolve_path(eval_path, args.data_dir)
        stem = os.path.splitext(os.path.basename(path))[0]
        result["evaluations"][stem] = answer_file(
            models, path, places, best["prompts"], best["pmi_weight"],
            os.path.join(args.output_dir, f"{stem}.predictions"), **options,
        )
    write_json(os.path.join(args.output_dir, "selection.json"), result)
    return result


__all__ = [
    "RankArguments",
    "answer_file",
    "choose_settings",
    "drop_too_long",
    "load_ensemble",
    "place_logprobs",
    "prompt_scores",
    "rank",
    "read_answers",
    "read_places",
    "read_questions",
    "run_ranking",
]
