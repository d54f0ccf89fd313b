"""Knowing versus making up: what a birthplace model's answers say about the knowledge it read in pretraining.

Given the questions with their gold places, the model's answers with their confidences (what `scripts/evaluate.py`
writes: `PATH` and `PATH.confidence.tsv`) and the pretraining corpus, `knowledge_report` measures:

- accuracy split by whether the person is in the corpus, and by whether the gold place is written in that person's
  document(s): the questions a model could answer from what it read, against those it could only guess;
- the places predicted against the gold places: how often the model falls back on a frequent place (London on the
  CS224N data), and where its wrong answers come from (another place of the person's own biography, a frequent
  training place, somewhere else in the corpus, or nowhere: made up);
- selective prediction: accuracy against coverage when only the answers above a confidence threshold are kept, with
  an area under that curve beside its two references (random ranking, perfect ranking), and the accuracy at fixed
  coverages; whether confidence separates right from wrong answers (AUROC) and how well it is calibrated.

Matching rules (one place each: `person_documents`, `mentions`, `wrong_answer_source`)
---------------------------------------------------------------------------------------
- The name of a question is the text between "Where was " and " born?" (`question_name`).
- A person is *seen* when a corpus document starts with `NAME.`: every line of wiki.txt is `Title. Text`, the title
  being the person's name, so a document that starts with the name is a biography of that person. Those documents
  are *the person's documents*. A corpus without titles (the synthetic world, `titled=False`) has no such marker:
  there the person's documents are those that mention the full name (whole words), which is exact for the world,
  whose names never occur inside one another. The name occurring anywhere (e.g. in someone else's
  biography) is reported separately as *mentioned*: it is a weaker rule and a name such as "John Stephen" can occur
  inside a longer one.
- The gold place *is in the person's documents* when it occurs in the text after the title of one of them as a whole
  word sequence: case-sensitive, not preceded or followed by a letter, digit or underscore (so "Rome" does not match
  "Romeo"), the person's full name blanked out first (a place in the name, "Jack London" for London, does not count;
  a surname alone, "London was born in ...", still would).
- Exact string match decides right and wrong, as the assignment's metric does.

Everything here except `read_*`, `run_report` and `plot_*` is a pure function of lists, tested on hand-made inputs.
"""

import json
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

logger = logging.getLogger(__name__)

QUESTION_PATTERN = re.compile(r"^Where was (?P<name>.+) born\?$")
# The coverages at which `selective_prediction` reports the accuracy (the issue asks for 25/50/75/100%).
COVERAGES = (0.25, 0.5, 0.75, 1.0)
# Bins of the confidence histograms and of the calibration table: tenths of [0, 1].
CONFIDENCE_BINS = 10
# `evaluation.ABSTAIN`, repeated rather than imported so that the pure functions need nothing but the standard library.
ABSTAIN = "unknown"


# ---------------------------------------------------------------------------------------------------------------------
# Matching questions to the corpus


def question_name(question: str) -> str | None:
    """The NAME of `Where was NAME born?` (surrounding whitespace ignored); None for any other wording."""
    match = QUESTION_PATTERN.match(question.strip())
    return match.group("name").strip() if match else None


def person_documents(name: str | None, documents: Sequence[str], titled: bool = True) -> list[str]:
    """The texts (after the title) of the documents that start with `NAME.`: the person's biographies. With
    `titled=False`, the documents that mention the full name.

    The full name is blanked out of each text, so that a place inside the name ("London" in "Jack London was born in
    San Francisco") is not taken for a place the text names.
    """
    if not name:
        return []
    if not titled:
        return [doc.replace(name, " ") for doc in documents if mentions(doc, name)]
    title = name + "."
    return [doc[len(title) :].replace(name, " ") for doc in documents if doc.startswith(title)]


def mentions(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` as a whole: not glued to a letter, digit or underscore on either side."""
    if not phrase or phrase not in text:  # the plain substring test first: it is fast, and usually decides
        return False
    return re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text) is not None


@dataclass
class QuestionFacts:
    """What the corpus says about one question's person."""

    name: str | None
    seen: bool  # a document starts with `NAME.`
    mentioned: bool  # the name occurs anywhere in the corpus
    gold_in_documents: bool  # the gold place occurs in the text of one of the person's documents
    documents: list[str]


def question_facts(
    questions: Sequence[str], golds: Sequence[str], documents: Sequence[str], titled: bool = True
) -> list[QuestionFacts]:
    """`QuestionFacts` for every question, by the rules of the module docstring."""
    corpus = "\n".join(documents)
    facts = []
    for question, gold in zip(questions, golds, strict=True):
        name = question_name(question)
        own = person_documents(name, documents, titled)
        facts.append(
            QuestionFacts(
                name=name,
                seen=bool(own),
                mentioned=bool(name) and mentions(corpus, name),
                gold_in_documents=any(mentions(doc, gold) for doc in own),
                documents=own,
            )
        )
    return facts


def split_label(facts: QuestionFacts) -> str:
    """The row of the accuracy table a question falls in."""
    if not facts.seen:
        return "unseen name"
    return "seen, gold place in document" if facts.gold_in_documents else "seen, gold place not in document"


SPLITS = ("seen, gold place in document", "seen, gold place not in document", "unseen name")


def accuracy_by(labels: Sequence[str], correct: Sequence[bool], order: Iterable[str] = ()) -> dict[str, dict]:
    """{label: {"n", "correct", "accuracy", "share"}}, labels of `order` first (kept when empty), then the others."""
    n_total = len(labels)
    keys = list(order) + sorted(set(labels) - set(order))
    table = {}
    for key in keys:
        hits = [c for label, c in zip(labels, correct, strict=True) if label == key]
        table[key] = {
            "n": len(hits),
            "correct": sum(hits),
            "accuracy": sum(hits) / len(hits) if hits else None,
            "share": len(hits) / n_total if n_total else 0.0,
        }
    return table


# ---------------------------------------------------------------------------------------------------------------------
# Which places the model says


def place_distribution(
    predictions: Sequence[str], golds: Sequence[str], train_golds: Sequence[str] = (), top_k: int = 10
) -> dict:
    """The most frequent predicted and gold places, and how much the model leans on the most frequent training place.

    `top` lists the `top_k` most predicted places with how often each is predicted, how often it is the gold place,
    and the precision of predicting it. `most_frequent_training_place` is the majority place of `train_golds` (the
    place a model without knowledge falls back on; None without `train_golds`).
    """
    n = len(predictions)
    predicted = Counter(predictions)
    gold = Counter(golds)
    right = Counter(p for p, g in zip(predictions, golds, strict=True) if p == g)
    top = [
        {
            "place": place,
            "predicted": count,
            "predicted_share": count / n,
            "gold": gold[place],
            "gold_share": gold[place] / n,
            "precision": right[place] / count,
        }
        for place, count in predicted.most_common(top_k)
    ]
    out = {
        "questions": n,
        "distinct_predicted": len(predicted),
        "distinct_gold": len(gold),
        "top": top,
        "top_gold": [{"place": p, "gold": c, "gold_share": c / n} for p, c in gold.most_common(top_k)],
        "top_k_predicted_share": sum(row["predicted"] for row in top) / n if n else 0.0,
        "most_frequent_training_place": None,
    }
    if train_golds:
        place, count = Counter(train_golds).most_common(1)[0]
        out.update(
            most_frequent_training_place=place,
            most_frequent_training_place_train_share=count / len(train_golds),
            most_frequent_training_place_predicted_share=predicted[place] / n if n else 0.0,
            most_frequent_training_place_gold_share=gold[place] / n if n else 0.0,
        )
    return out


WRONG_SOURCES = (
    "no answer",
    "another place of the person's document",
    "most frequent training place",
    "other training place",
    "elsewhere in the corpus",
    "not in the corpus",
)


def wrong_answer_source(prediction: str, person_docs: Sequence[str], train_places: set, corpus: str, majority) -> str:
    """Where a wrong answer comes from: the first of `WRONG_SOURCES` that holds, in that order.

    "another place of the person's document" is a place the model did read about this person (where they studied,
    worked or died) but in the wrong role; "not in the corpus" is a string the model never read anywhere: made up.
    """
    if not prediction.strip() or prediction == ABSTAIN:
        return "no answer"
    if any(mentions(doc, prediction) for doc in person_docs):
        return "another place of the person's document"
    if prediction == majority:
        return "most frequent training place"
    if prediction in train_places:
        return "other training place"
    if mentions(corpus, prediction):
        return "elsewhere in the corpus"
    return "not in the corpus"


# ---------------------------------------------------------------------------------------------------------------------
# Confidence: selective prediction, separation, calibration


def _ranked(confidences: Sequence[float], correct: Sequence[bool]) -> list[tuple[float, bool]]:
    # Highest confidence first; equal confidences keep input order (sorted is stable), so results are deterministic.
    return sorted(zip(confidences, correct, strict=True), key=lambda pair: -pair[0])


def accuracy_coverage_curve(confidences: Sequence[float], correct: Sequence[bool]) -> dict[str, list[float]]:
    """Accuracy of the answers kept against the share kept, for every threshold "answer when confidence >= t".

    One point per distinct confidence (answers of equal confidence are kept or dropped together), from the most
    confident answer(s) to all answers (coverage 1, the plain accuracy).
    """
    ranked = _ranked(confidences, correct)
    n = len(ranked)
    curve = {"threshold": [], "coverage": [], "accuracy": []}
    hits = 0
    for i, (confidence, right) in enumerate(ranked):
        hits += right
        if i + 1 == n or ranked[i + 1][0] != confidence:
            curve["threshold"].append(confidence)
            curve["coverage"].append((i + 1) / n)
            curve["accuracy"].append(hits / (i + 1))
    return curve


def expected_accuracy_at(confidences: Sequence[float], correct: Sequence[bool]) -> list[float]:
    """Accuracy of the k most confident answers, for k = 1..n. Answers of equal confidence cannot be ranked against
    each other, so where the cut falls inside a group of ties the group contributes its mean accuracy per answer kept
    (the expected accuracy when ties are broken at random): a constant answer gets its plain accuracy at every k."""
    ranked = _ranked(confidences, correct)
    out, hits, i = [], 0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        group_rate = sum(c for _, c in ranked[i:j]) / (j - i)
        out += [(hits + (k - i) * group_rate) / k for k in range(i + 1, j + 1)]
        hits += sum(c for _, c in ranked[i:j])
        i = j
    return out


def area_under_curve(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    """Area under the accuracy-coverage curve: the mean over k = 1..n of the accuracy of the k most confident answers.

    A random ranking gives the plain accuracy in expectation; see `oracle_area` for the best possible."""
    accuracies = expected_accuracy_at(confidences, correct)
    return sum(accuracies) / len(accuracies) if accuracies else 0.0


def oracle_area(n: int, n_correct: int) -> float:
    """The area when every right answer is ranked above every wrong one: accuracy min(1, C / k) for the top k."""
    return sum(min(1.0, n_correct / k) for k in range(1, n + 1)) / n if n else 0.0


def accuracy_at_coverage(confidences: Sequence[float], correct: Sequence[bool], coverage: float) -> dict:
    """Accuracy of the ceil(coverage * n) most confident answers (ties at the cut: their expected accuracy, see
    `expected_accuracy_at`), and the confidence of the last answer kept: the threshold that keeps them."""
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    ranked = _ranked(confidences, correct)
    k = max(1, math.ceil(coverage * len(ranked) - 1e-9))
    return {
        "coverage": coverage,
        "answered": k,
        "accuracy": expected_accuracy_at(confidences, correct)[k - 1],
        "threshold": ranked[k - 1][0],
    }


def auroc(confidences: Sequence[float], correct: Sequence[bool]) -> float | None:
    """P(a random right answer is more confident than a random wrong one), ties counting half (Mann-Whitney U).

    0.5: confidence says nothing about being right; 1: it separates them perfectly. None without both kinds.
    """
    pairs = sorted(zip(confidences, correct, strict=True))
    n_right = sum(correct)
    n_wrong = len(pairs) - n_right
    if not n_right or not n_wrong:
        return None
    # Average 1-based rank of every group of equal confidences, summed over the right answers.
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2
        rank_sum += mean_rank * sum(c for _, c in pairs[i:j])
        i = j
    return (rank_sum - n_right * (n_right + 1) / 2) / (n_right * n_wrong)


def _bin(confidence: float, bins: int) -> int:
    return min(bins - 1, max(0, int(confidence * bins)))


def confidence_histogram(confidences: Sequence[float], correct: Sequence[bool], bins: int = CONFIDENCE_BINS) -> dict:
    """Counts of right and wrong answers in `bins` equal bins of [0, 1] (the last bin includes 1)."""
    right, wrong = [0] * bins, [0] * bins
    for confidence, c in zip(confidences, correct, strict=True):
        (right if c else wrong)[_bin(confidence, bins)] += 1
    return {"edges": [i / bins for i in range(bins + 1)], "right": right, "wrong": wrong}


def log_confidence_histogram(
    confidences: Sequence[float], correct: Sequence[bool], lowest: int = -8, per_decade: int = 2
) -> dict:
    """Counts of right and wrong answers in bins of log10(confidence), from 10**lowest (lower ones, zeros included,
    go to the first bin) to 1: the view that separates answers whose probabilities are all far below 0.1."""
    bins = -lowest * per_decade
    right, wrong = [0] * bins, [0] * bins
    for confidence, c in zip(confidences, correct, strict=True):
        position = (math.log10(confidence) - lowest) * per_decade if confidence > 0 else 0.0
        (right if c else wrong)[min(bins - 1, max(0, int(position)))] += 1
    return {"log10_edges": [lowest + i / per_decade for i in range(bins + 1)], "right": right, "wrong": wrong}


def calibration(confidences: Sequence[float], correct: Sequence[bool], bins: int = CONFIDENCE_BINS) -> dict:
    """Per confidence bin: answers, mean confidence, accuracy; and the expected calibration error (ECE), the
    answer-weighted mean |accuracy - confidence| over bins. The confidence is a probability, so a calibrated model
    is right on 70% of its 0.7-confidence answers."""
    groups = [[] for _ in range(bins)]
    for confidence, c in zip(confidences, correct, strict=True):
        groups[_bin(confidence, bins)].append((confidence, c))
    rows, ece, n = [], 0.0, len(confidences)
    for i, group in enumerate(groups):
        if not group:
            continue
        mean_conf = sum(conf for conf, _ in group) / len(group)
        acc = sum(c for _, c in group) / len(group)
        rows.append({"bin": [i / bins, (i + 1) / bins], "n": len(group), "confidence": mean_conf, "accuracy": acc})
        ece += len(group) / n * abs(acc - mean_conf)
    return {"bins": rows, "ece": ece if n else None}


def selective_prediction(
    confidences: Sequence[float], correct: Sequence[bool], coverages: Sequence[float] = COVERAGES
) -> dict:
    """The accuracy-coverage curve and its summaries (see the module docstring)."""
    n, n_correct = len(correct), sum(correct)
    curve = accuracy_coverage_curve(confidences, correct)
    area = area_under_curve(confidences, correct)
    oracle = oracle_area(n, n_correct)
    accuracy = n_correct / n if n else 0.0
    return {
        "curve": curve,
        # The same curve at every k (ties averaged): what the figure draws.
        "accuracy_at_k": expected_accuracy_at(confidences, correct),
        # A random ranking keeps, in expectation, the plain accuracy at every coverage.
        "area": area,
        "area_random": accuracy,
        "area_oracle": oracle,
        # 0: no better than random ranking; 1: the perfect ranking.
        "area_gain": (area - accuracy) / (oracle - accuracy) if oracle > accuracy else None,
        "at_coverage": [accuracy_at_coverage(confidences, correct, c) for c in coverages] if n else [],
        "auroc": auroc(confidences, correct),
        "mean_confidence_right": _mean([c for c, r in zip(confidences, correct) if r]),
        "mean_confidence_wrong": _mean([c for c, r in zip(confidences, correct) if not r]),
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


# ---------------------------------------------------------------------------------------------------------------------
# The report


def knowledge_report(
    questions: Sequence[str],
    golds: Sequence[str],
    predictions: Sequence[str],
    confidences: Sequence[float],
    documents: Sequence[str],
    train_golds: Sequence[str] = (),
    *,
    top_k: int = 10,
    coverages: Sequence[float] = COVERAGES,
    facts: Sequence[QuestionFacts] | None = None,
) -> dict:
    """Every measurement of the module docstring for one model's answers (one entry per question, in order).

    `facts` (from `question_facts`) may be passed to share the corpus matching between several models.
    """
    n = len(questions)
    if not len(golds) == len(predictions) == len(confidences) == n:
        raise ValueError(
            f"knowledge_report: {n} questions, {len(golds)} gold places, {len(predictions)} predictions and "
            f"{len(confidences)} confidences; expected one of each per question"
        )
    facts = list(facts) if facts is not None else question_facts(questions, golds, documents)
    correct = [p == g for p, g in zip(predictions, golds)]
    distribution = place_distribution(predictions, golds, train_golds, top_k)
    corpus = "\n".join(documents)
    train_places = set(train_golds)
    sources = [
        wrong_answer_source(p, f.documents, train_places, corpus, distribution["most_frequent_training_place"])
        for p, f, c in zip(predictions, facts, correct)
        if not c
    ]
    n_wrong = len(sources)
    return {
        "questions": n,
        "correct": sum(correct),
        "accuracy": sum(correct) / n if n else 0.0,
        "abstained": sum(p == ABSTAIN for p in predictions),
        "by_split": accuracy_by([split_label(f) for f in facts], correct, SPLITS),
        "by_seen": accuracy_by(["seen" if f.seen else "unseen" for f in facts], correct, ("seen", "unseen")),
        "by_mentioned": accuracy_by(
            ["mentioned" if f.mentioned else "not mentioned" for f in facts], correct, ("mentioned", "not mentioned")
        ),
        "by_gold_in_documents": accuracy_by(
            ["gold in documents" if f.gold_in_documents else "gold not in documents" for f in facts],
            correct,
            ("gold in documents", "gold not in documents"),
        ),
        "places": distribution,
        "wrong_answer_sources": {
            source: {"n": count, "share_of_wrong": count / n_wrong}
            for source, count in ((s, sources.count(s)) for s in WRONG_SOURCES)
        },
        "selective": selective_prediction(confidences, correct, coverages),
        "histogram": confidence_histogram(confidences, correct),
        "log_histogram": log_confidence_histogram(confidences, correct),
        "calibration": calibration(confidences, correct),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Files


def read_confidence_tsv(path: str) -> list[tuple[str, float, str]]:
    """(prediction, confidence, error) per line of a `PATH.confidence.tsv` written by `evaluation.write_predictions`."""
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n")
        if header != "prediction\tconfidence\terror":
            raise ValueError(f"{path}:1: header {header!r}; expected 'prediction<TAB>confidence<TAB>error'")
        for number, line in enumerate(f, start=2):
            # A place could hold a tab (the vocabulary may have one); the last two fields never do.
            fields = line.rstrip("\n").rsplit("\t", 2)
            if len(fields) != 3:
                raise ValueError(f"{path}:{number}: {len(fields)} fields; expected prediction, confidence, error")
            try:
                rows.append((fields[0], float(fields[1]), fields[2]))
            except ValueError:
                raise ValueError(f"{path}:{number}: confidence {fields[1]!r} is not a number") from None
    return rows


def confidence_path(predictions_path: str) -> str:
    """`PATH.confidence.tsv` for a predictions file `PATH` (a path already ending so is returned as it is)."""
    suffix = ".confidence.tsv"
    return predictions_path if predictions_path.endswith(suffix) else predictions_path + suffix


def read_documents(corpus_path: str) -> list[str]:
    """The non-empty lines of the pretraining corpus (the documents `data.load_corpus` trains on)."""
    with open(corpus_path, encoding="utf-8-sig") as f:
        return [line for line in f.read().replace("\r\n", "\n").split("\n") if line.strip()]


def read_golds(path: str) -> tuple[list[str], list[str | None]]:
    """Questions and gold places of every line of a `question<TAB>place` file (None where a line has no place)."""
    from ..evaluation import read_eval_lines

    lines = read_eval_lines(path)
    return [line.question for line in lines], [line.gold for line in lines]


def run_report(
    eval_path: str,
    predictions_paths: Sequence[str],
    corpus_path: str,
    *,
    labels: Sequence[str] | None = None,
    train_path: str | None = None,
    output_dir: str = ".",
    prefix: str = "knowledge_",
    top_k: int = 10,
    titled_corpus: bool = True,
) -> dict:
    """Read the files, report every model, write `PREFIXreport.json`, `PREFIXreport.md` and the PNG figures.

    `titled_corpus=False` for a corpus whose lines do not start with `Name.` (see `person_documents`)."""
    questions, golds = read_golds(eval_path)
    if not any(g is not None for g in golds):
        raise ValueError(f"{eval_path}: no line has a gold place; the report needs `question<TAB>place` lines")
    keep = [i for i, g in enumerate(golds) if g is not None]
    documents = read_documents(corpus_path)
    train_golds = [g for g in read_golds(train_path)[1] if g] if train_path else []
    if not labels:
        labels = [os.path.basename(p).removesuffix(".confidence.tsv") for p in predictions_paths]
    if len(labels) != len(predictions_paths):
        raise ValueError(f"{len(labels)} labels for {len(predictions_paths)} prediction files; expected one each")
    kept_questions, kept_golds = [questions[i] for i in keep], [golds[i] for i in keep]
    facts = question_facts(kept_questions, kept_golds, documents, titled_corpus)
    models = {}
    for label, path in zip(labels, predictions_paths):
        rows = read_confidence_tsv(confidence_path(path))
        if len(rows) != len(questions):
            raise ValueError(
                f"{confidence_path(path)}: {len(rows)} predictions for the {len(questions)} lines of {eval_path}; "
                "expected one per line (write them with scripts/evaluate.py on the same file)"
            )
        rows = [rows[i] for i in keep]
        report = knowledge_report(
            kept_questions,
            kept_golds,
            [r[0] for r in rows],
            [r[1] for r in rows],
            documents,
            train_golds,
            top_k=top_k,
            facts=facts,
        )
        if report["abstained"]:
            logger.warning(
                "%s: %d answers are %r (evaluated with --abstain_below): they count as wrong here; evaluate without "
                "it to see the places the model would have given",
                path,
                report["abstained"],
                ABSTAIN,
            )
        report["predictions_path"] = path
        models[label] = report
    summary = {
        "eval_path": eval_path,
        "corpus_path": corpus_path,
        "train_path": train_path,
        "documents": len(documents),
        "questions": len(keep),
        "seen_share": sum(f.seen for f in facts) / len(facts),
        "gold_in_documents_share": sum(f.gold_in_documents for f in facts) / len(facts),
        "models": models,
    }
    os.makedirs(output_dir, exist_ok=True)
    figures = plot_report(summary, output_dir, prefix)
    summary["figures"] = figures
    with open(os.path.join(output_dir, prefix + "report.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(output_dir, prefix + "report.md"), "w", encoding="utf-8") as f:
        f.write(report_markdown(summary))
    return summary


# ---------------------------------------------------------------------------------------------------------------------
# Markdown and figures


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def report_markdown(summary: dict) -> str:
    """The report as Markdown tables (every number comes from `summary`)."""
    models = summary["models"]
    names = list(models)
    out = [
        "# Knowing versus making up",
        "",
        f"Questions: `{summary['eval_path']}` ({summary['questions']} with a gold place); corpus: "
        f"`{summary['corpus_path']}` ({summary['documents']} documents). Seen names: {_pct(summary['seen_share'])}; "
        f"gold place in the person's document(s): {_pct(summary['gold_in_documents_share'])}.",
        "",
        "## Accuracy by what the corpus says about the person",
        "",
        "| split | questions | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    first = models[names[0]]
    for table in ("by_split", "by_seen", "by_gold_in_documents"):
        for key, row in first[table].items():
            cells = [f"{_pct(m[table][key]['accuracy'])} ({m[table][key]['correct']})" for m in models.values()]
            out.append(f"| {key} | {row['n']} | " + " | ".join(cells) + " |")
    cells = [f"{_pct(m['accuracy'])} ({m['correct']})" for m in models.values()]
    out.append(f"| **all** | {summary['questions']} | " + " | ".join(cells) + " |")

    out += ["", "## Selective prediction (answer only above a confidence threshold)", ""]
    out += ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    coverages = [a["coverage"] for a in first["selective"]["at_coverage"]]
    for i, coverage in enumerate(coverages):
        at = [m["selective"]["at_coverage"][i] for m in models.values()]
        cells = [f"{_pct(a['accuracy'])} (t = {a['threshold']:.3g})" for a in at]
        out.append(f"| accuracy at {coverage:.0%} coverage | " + " | ".join(cells) + " |")
    rows = [
        ("area under accuracy-coverage", "area", "{:.3f}"),
        ("... random ranking", "area_random", "{:.3f}"),
        ("... perfect ranking", "area_oracle", "{:.3f}"),
        ("AUROC (right vs wrong)", "auroc", "{:.3f}"),
        ("mean confidence, right answers", "mean_confidence_right", "{:.3f}"),
        ("mean confidence, wrong answers", "mean_confidence_wrong", "{:.3f}"),
    ]
    for title, key, fmt in rows:
        cells = ["-" if m["selective"][key] is None else fmt.format(m["selective"][key]) for m in models.values()]
        out.append(f"| {title} | " + " | ".join(cells) + " |")
    cells = ["-" if m["calibration"]["ece"] is None else f"{m['calibration']['ece']:.3f}" for m in models.values()]
    out.append("| expected calibration error | " + " | ".join(cells) + " |")

    out += ["", "## Where the wrong answers come from (share of wrong answers)", ""]
    out += ["| source | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for source in WRONG_SOURCES:
        cells = [
            f"{_pct(m['wrong_answer_sources'][source]['share_of_wrong'])} ({m['wrong_answer_sources'][source]['n']})"
            if m["questions"] > m["correct"]
            else "-"
            for m in models.values()
        ]
        out.append(f"| {source} | " + " | ".join(cells) + " |")

    for name, m in models.items():
        places = m["places"]
        out += ["", f"## Places predicted by {name}", ""]
        if places["most_frequent_training_place"]:
            out.append(
                f"Most frequent training place: {places['most_frequent_training_place']} "
                f"({_pct(places['most_frequent_training_place_train_share'])} of training answers); predicted for "
                f"{_pct(places['most_frequent_training_place_predicted_share'])} of questions, the gold place of "
                f"{_pct(places['most_frequent_training_place_gold_share'])}."
            )
        out.append(
            f"Distinct places: {places['distinct_predicted']} predicted, {places['distinct_gold']} gold; the "
            f"{len(places['top'])} most predicted places take {_pct(places['top_k_predicted_share'])} of answers."
        )
        out += ["", "| place | predicted | gold | precision |", "|---|---:|---:|---:|"]
        for row in places["top"]:
            out.append(
                f"| {row['place'] or '(empty)'} | {row['predicted']} ({_pct(row['predicted_share'])}) | "
                f"{row['gold']} ({_pct(row['gold_share'])}) | {_pct(row['precision'])} |"
            )
    out += ["", "Figures: " + ", ".join(f"`{f}`" for f in summary.get("figures", [])), ""]
    return "\n".join(out)


def plot_report(summary: dict, output_dir: str, prefix: str = "knowledge_") -> list[str]:
    """Accuracy-coverage curves, confidence histograms (right vs wrong) and predicted/gold place bars, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = summary["models"]
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, m in models.items():
        s = m["selective"]
        n = len(s["accuracy_at_k"])
        ax.plot(
            [k / n for k in range(1, n + 1)],
            s["accuracy_at_k"],
            label=f"{name} (area {s['area']:.3f}, random {s['area_random']:.3f})",
        )
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("accuracy of the answers given")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Selective prediction: answer when confidence >= threshold")
    paths.append(_save(fig, output_dir, prefix + "accuracy_coverage.png"))

    # Top row: confidence on a linear scale; bottom row: log10(confidence), for models whose answers are all unlikely.
    fig, axes = plt.subplots(2, len(models), figsize=(5 * len(models), 7), squeeze=False)
    for column, (name, m) in enumerate(models.items()):
        for ax, key, edges_key, xlabel in (
            (axes[0][column], "histogram", "edges", "confidence (probability of the answer)"),
            (axes[1][column], "log_histogram", "log10_edges", "log10 confidence (lowest bin: everything below)"),
        ):
            h = m[key]
            width = h[edges_key][1] - h[edges_key][0]
            left = h[edges_key][:-1]
            n_wrong = m["questions"] - m["correct"]
            ax.bar(left, h["wrong"], width=width, align="edge", alpha=0.6, label=f"wrong ({n_wrong})")
            ax.bar(left, h["right"], width=width, align="edge", alpha=0.6, label=f"right ({m['correct']})")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("answers")
            ax.legend(fontsize=8)
        auc = m["selective"]["auroc"]
        axes[0][column].set_title(f"{name}: AUROC {auc:.3f}" if auc is not None else name)
    paths.append(_save(fig, output_dir, prefix + "confidence_hist.png"))

    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.2), squeeze=False)
    for ax, (name, m) in zip(axes[0], models.items()):
        top = m["places"]["top"]
        ys = range(len(top))
        ax.barh([y - 0.2 for y in ys], [r["predicted"] for r in top], height=0.4, label="predicted")
        ax.barh([y + 0.2 for y in ys], [r["gold"] for r in top], height=0.4, label="gold")
        ax.set_yticks(list(ys), [r["place"] or "(empty)" for r in top], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("questions")
        ax.set_title(f"{name}: most predicted places")
        ax.legend(fontsize=8)
    paths.append(_save(fig, output_dir, prefix + "places.png"))

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    splits = list(SPLITS)
    width = 0.8 / len(models)
    for i, (name, m) in enumerate(models.items()):
        values = [m["by_split"][s]["accuracy"] or 0.0 for s in splits]
        ax.bar([x + i * width for x in range(len(splits))], values, width=width, label=name)
    counts = [next(iter(models.values()))["by_split"][s]["n"] for s in splits]
    ax.set_xticks(
        [x + width * (len(models) - 1) / 2 for x in range(len(splits))],
        [f"{s}\n(n={c})" for s, c in zip(splits, counts)],
        fontsize=8,
    )
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Accuracy by what the corpus says about the person")
    paths.append(_save(fig, output_dir, prefix + "splits.png"))
    return paths


def _save(fig, output_dir: str, name: str) -> str:
    path = os.path.join(output_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
