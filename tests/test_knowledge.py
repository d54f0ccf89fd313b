"""hf_birthplace.analysis.knowledge on small hand-made inputs: matching rules, accuracy splits, place distribution,
selective prediction (curve, area, fixed coverages, ties), AUROC, histograms, calibration, the files and the script."""

import importlib.util
import itertools
import json
import random
from pathlib import Path

import pytest

from hf_birthplace.analysis import knowledge as K
from hf_birthplace.evaluation import Prediction, write_predictions

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "knowledge_report.py"
DOCUMENTS = [
    "Ann Lee. Ann Lee was born in Paris and died in Rome.",
    "Ann Lee. A native of Paris, Lee studied in Oslo.",
    "Ann Leeson. Ann Leeson was born in Romeo.",
    "Jack London. Jack London was born in San Francisco.",
    "Bob Ray. Bob Ray met Cyd Moe in London.",
]


def q(name):
    return f"Where was {name} born?"


def test_question_name():
    assert K.question_name("Where was Ann Lee born?") == "Ann Lee"
    assert K.question_name("  Where was Naïma Azough born?\n") == "Naïma Azough"
    assert K.question_name("Where was John F. Kennedy born?") == "John F. Kennedy"
    assert K.question_name("When was Ann Lee born?") is None


def test_person_documents_need_the_title():
    assert K.person_documents("Ann Lee", DOCUMENTS) == [
        "   was born in Paris and died in Rome.",
        " A native of Paris, Lee studied in Oslo.",
    ]
    # "Ann Leeson." starts with "Ann Lee" but not with "Ann Lee."; a mention in someone else's document is not one.
    assert K.person_documents("Ann Leeso", DOCUMENTS) == []
    assert K.person_documents("Cyd Moe", DOCUMENTS) == []
    assert K.person_documents(None, DOCUMENTS) == []


def test_person_documents_without_titles_are_the_mentions():
    documents = ["The poet Ann Lee was born in Paris.", "Famously, Ann Leeson came from Rome.", "Bob Ray met Ann Lee."]
    assert K.person_documents("Ann Lee", documents, titled=False) == ["The poet   was born in Paris.", "Bob Ray met  ."]
    assert K.person_documents("Ann Lee", documents) == []
    facts = K.question_facts([q("Ann Lee"), q("Cyd Moe")], ["Paris", "Rome"], documents, titled=False)
    assert [(f.seen, f.gold_in_documents) for f in facts] == [(True, True), (False, False)]


def test_mentions_whole_words_only():
    assert K.mentions("born in Rome, Italy", "Rome")
    assert not K.mentions("born in Romeo", "Rome")
    assert not K.mentions("born in Rome", "rome")  # case-sensitive, as the exact-match metric
    assert K.mentions("born in New York.", "New York")
    assert K.mentions("(St. Louis)", "St. Louis")
    assert not K.mentions("anything", "")


def test_question_facts():
    questions = [q("Ann Lee"), q("Ann Lee"), q("Jack London"), q("Cyd Moe"), q("Zed Zo"), "Who is Ann Lee?"]
    golds = ["Oslo", "Romeo", "London", "London", "Paris", "Paris"]
    facts = K.question_facts(questions, golds, DOCUMENTS)
    assert [f.seen for f in facts] == [True, True, True, False, False, False]
    assert [f.mentioned for f in facts] == [True, True, True, True, False, False]
    # Oslo is in Ann Lee's second document; "Romeo" only in Ann Leeson's; London only in Jack London's name.
    assert [f.gold_in_documents for f in facts] == [True, False, False, False, False, False]
    assert [K.split_label(f) for f in facts[:4]] == [
        "seen, gold place in document",
        "seen, gold place not in document",
        "seen, gold place not in document",
        "unseen name",
    ]


def test_accuracy_by_keeps_the_order_and_empty_rows():
    table = K.accuracy_by(["a", "b", "a", "c"], [True, False, False, True], order=("b", "a", "z"))
    assert list(table) == ["b", "a", "z", "c"]
    assert table["a"] == {"n": 2, "correct": 1, "accuracy": 0.5, "share": 0.5}
    assert table["z"] == {"n": 0, "correct": 0, "accuracy": None, "share": 0.0}


def test_place_distribution():
    predictions = ["London", "London", "London", "Paris", "Rome"]
    golds = ["London", "Paris", "Oslo", "Paris", "Oslo"]
    d = K.place_distribution(predictions, golds, train_golds=["London", "London", "Oslo"], top_k=2)
    assert [row["place"] for row in d["top"]] == ["London", "Paris"]
    assert d["top"][0] == {
        "place": "London",
        "predicted": 3,
        "predicted_share": 0.6,
        "gold": 1,
        "gold_share": 0.2,
        "precision": pytest.approx(1 / 3),
    }
    assert (d["distinct_predicted"], d["distinct_gold"]) == (3, 3)
    assert d["top_k_predicted_share"] == pytest.approx(0.8)
    assert d["most_frequent_training_place"] == "London"
    assert d["most_frequent_training_place_train_share"] == pytest.approx(2 / 3)
    assert d["most_frequent_training_place_predicted_share"] == pytest.approx(0.6)
    assert d["most_frequent_training_place_gold_share"] == pytest.approx(0.2)
    assert K.place_distribution(predictions, golds)["most_frequent_training_place"] is None


def test_wrong_answer_source():
    docs = [" Ann Lee was born in Paris and died in Rome."]
    corpus = "\n".join(DOCUMENTS)
    train = {"London", "Oslo", "Berlin"}

    def source(prediction):
        return K.wrong_answer_source(prediction, docs, train, corpus, "London")

    assert source("") == "no answer"
    assert source("unknown") == "no answer"
    assert source("Rome") == "another place of the person's document"
    assert source("London") == "most frequent training place"
    assert source("Berlin") == "other training place"
    assert source("San Francisco") == "elsewhere in the corpus"
    assert source("Atlantis") == "not in the corpus"


def test_curve_groups_ties_and_ends_at_plain_accuracy():
    confidences = [0.9, 0.8, 0.8, 0.1]
    correct = [True, False, True, False]
    curve = K.accuracy_coverage_curve(confidences, correct)
    assert curve == {"threshold": [0.9, 0.8, 0.1], "coverage": [0.25, 0.75, 1.0], "accuracy": [1.0, 2 / 3, 0.5]}


def test_expected_accuracy_and_area():
    # Ranked: right, {wrong, right} tied, wrong. k=2 takes half of the tie: (1 + 0.5) / 2.
    accs = K.expected_accuracy_at([0.9, 0.8, 0.8, 0.1], [True, False, True, False])
    assert accs == pytest.approx([1.0, 0.75, 2 / 3, 0.5])
    assert K.area_under_curve([0.9, 0.8, 0.8, 0.1], [True, False, True, False]) == pytest.approx(
        (1 + 0.75 + 2 / 3 + 0.5) / 4
    )
    # A constant confidence ranks nothing: the plain accuracy at every coverage, so the random area.
    assert K.expected_accuracy_at([1.0] * 5, [True, False, False, True, False]) == pytest.approx([0.4] * 5)


def test_area_between_random_and_oracle():
    rng = random.Random(0)
    correct = [rng.random() < 0.3 for _ in range(40)]
    n, c = len(correct), sum(correct)
    perfect = [1.0 if r else 0.0 for r in correct]
    perfect = [p + rng.random() * 0.1 for p in perfect]  # distinct, still every right answer above every wrong one
    assert K.area_under_curve(perfect, correct) == pytest.approx(K.oracle_area(n, c))
    worst = [-p for p in perfect]
    assert K.area_under_curve(worst, correct) < c / n
    # Averaged over random rankings the area is the plain accuracy.
    areas = [K.area_under_curve([rng.random() for _ in correct], correct) for _ in range(400)]
    assert sum(areas) / len(areas) == pytest.approx(c / n, abs=0.02)
    s = K.selective_prediction(perfect, correct)
    assert s["area_gain"] == pytest.approx(1.0)
    assert s["area_random"] == pytest.approx(c / n)


def test_accuracy_at_coverage():
    confidences = [0.1, 0.9, 0.7, 0.5, 0.3, 0.8, 0.6, 0.2]
    correct = [False, True, True, False, False, True, False, True]
    at = [K.accuracy_at_coverage(confidences, correct, c) for c in K.COVERAGES]
    assert [a["answered"] for a in at] == [2, 4, 6, 8]
    assert [a["accuracy"] for a in at] == pytest.approx([1.0, 0.75, 0.5, 0.5])
    assert [a["threshold"] for a in at] == [0.8, 0.6, 0.3, 0.1]
    with pytest.raises(ValueError, match="coverage"):
        K.accuracy_at_coverage(confidences, correct, 0.0)


def test_auroc_matches_pair_counting():
    assert K.auroc([0.9, 0.8, 0.2], [True, True, False]) == 1.0
    assert K.auroc([0.1, 0.8], [True, False]) == 0.0
    assert K.auroc([0.5, 0.5, 0.5], [True, False, True]) == 0.5
    assert K.auroc([0.5, 0.7], [True, True]) is None
    rng = random.Random(1)
    confidences = [round(rng.random(), 1) for _ in range(30)]  # rounded: many ties
    correct = [rng.random() < 0.4 for _ in range(30)]
    pairs = [
        1.0 if a > b else 0.5 if a == b else 0.0
        for (a, ra), (b, rb) in itertools.product(zip(confidences, correct), repeat=2)
        if ra and not rb
    ]
    assert K.auroc(confidences, correct) == pytest.approx(sum(pairs) / len(pairs))


def test_histogram_and_calibration():
    confidences = [0.05, 0.95, 1.0, 0.5, 0.55]
    correct = [False, True, True, False, True]
    h = K.confidence_histogram(confidences, correct, bins=4)
    assert h["edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert h["right"] == [0, 0, 1, 2]  # 1.0 falls in the last bin
    assert h["wrong"] == [1, 0, 1, 0]
    log = K.log_confidence_histogram([0.0, 1e-9, 0.003, 0.5, 1.0], correct, lowest=-4, per_decade=1)
    assert log["log10_edges"] == [-4, -3, -2, -1, 0]
    # 0 and 1e-9 fall in the first bin, 0.003 (10**-2.5) in [-3, -2), 0.5 and 1.0 in the last.
    assert log["wrong"] == [1, 0, 0, 1] and log["right"] == [1, 1, 0, 1]
    cal = K.calibration(confidences, correct, bins=4)
    assert [b["n"] for b in cal["bins"]] == [1, 2, 2]
    # |0 - 0.05| * 1/5 + |0.5 - 0.525| * 2/5 + |1 - 0.975| * 2/5
    assert cal["ece"] == pytest.approx(0.05 / 5 + 0.025 * 2 / 5 + 0.025 * 2 / 5)


def test_knowledge_report():
    questions = [q("Ann Lee"), q("Jack London"), q("Zed Zo"), q("Bob Ray")]
    golds = ["Paris", "San Francisco", "Oslo", "Lima"]
    predictions = ["Paris", "London", "London", "Rome"]
    confidences = [0.9, 0.2, 0.3, 0.4]
    r = K.knowledge_report(questions, golds, predictions, confidences, DOCUMENTS, ["London", "London", "Paris"])
    assert (r["questions"], r["correct"], r["accuracy"]) == (4, 1, 0.25)
    assert r["by_split"]["seen, gold place in document"]["n"] == 2
    assert r["by_split"]["seen, gold place in document"]["accuracy"] == 0.5
    assert r["by_split"]["seen, gold place not in document"]["n"] == 1  # Bob Ray: Lima is nowhere
    assert r["by_split"]["unseen name"] == {"n": 1, "correct": 0, "accuracy": 0.0, "share": 0.25}
    assert r["by_seen"]["seen"]["accuracy"] == pytest.approx(1 / 3)
    sources = {k: v["n"] for k, v in r["wrong_answer_sources"].items()}
    assert sources["most frequent training place"] == 2  # London, although Jack London's document names him
    assert sources["elsewhere in the corpus"] == 1  # Rome is in Ann Lee's document, not in Bob Ray's
    assert r["selective"]["auroc"] == 1.0
    assert r["selective"]["at_coverage"][0]["accuracy"] == 1.0
    json.dumps(r)  # the report is plain JSON
    with pytest.raises(ValueError, match="one of each per question"):
        K.knowledge_report(questions, golds, predictions[:3], confidences, DOCUMENTS)


def test_read_confidence_tsv_round_trip(tmp_path):
    path = str(tmp_path / "p")
    predictions = [Prediction("Paris", 0.5), Prediction("", 0.0, "x.tsv:2: blank line"), Prediction("A\tB", 1)]
    write_predictions(path, predictions)
    assert K.confidence_path(path) == path + ".confidence.tsv"
    assert K.confidence_path(path + ".confidence.tsv") == path + ".confidence.tsv"
    assert K.read_confidence_tsv(path + ".confidence.tsv") == [
        ("Paris", 0.5, ""),
        ("", 0.0, "x.tsv:2: blank line"),
        ("A\tB", 1.0, ""),
    ]
    bad = tmp_path / "bad.tsv"
    bad.write_text("place\tconfidence\n")
    with pytest.raises(ValueError, match=r"bad.tsv:1: header"):
        K.read_confidence_tsv(str(bad))
    bad.write_text("prediction\tconfidence\terror\nParis\thigh\t\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: confidence 'high'"):
        K.read_confidence_tsv(str(bad))


@pytest.fixture
def report_files(tmp_path):
    (tmp_path / "wiki.txt").write_text("\n".join(DOCUMENTS) + "\n\n")
    dev = [(q("Ann Lee"), "Paris"), (q("Jack London"), "San Francisco"), (q("Zed Zo"), "Oslo")]
    (tmp_path / "dev.tsv").write_text("".join(f"{question}\t{gold}\n" for question, gold in dev))
    (tmp_path / "train.tsv").write_text(f"{q('A')}\tLondon\n{q('B')}\tLondon\n{q('C')}\tParis\n")
    answers = [Prediction("Paris", 0.9), Prediction("London", 0.4), Prediction("", 0.0, "x")]
    write_predictions(str(tmp_path / "a"), answers)
    write_predictions(str(tmp_path / "b"), [Prediction("London", 0.6)] * 3)
    return tmp_path


def test_run_report_writes_json_markdown_and_figures(report_files):
    out = report_files / "out"
    summary = K.run_report(
        str(report_files / "dev.tsv"),
        [str(report_files / "a"), str(report_files / "b.confidence.tsv")],
        str(report_files / "wiki.txt"),
        labels=["good", "london"],
        train_path=str(report_files / "train.tsv"),
        output_dir=str(out),
    )
    assert summary["documents"] == 5  # the blank line is no document
    assert summary["seen_share"] == pytest.approx(2 / 3)
    assert summary["models"]["good"]["accuracy"] == pytest.approx(1 / 3)
    assert summary["models"]["london"]["places"]["most_frequent_training_place_predicted_share"] == 1.0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "knowledge_accuracy_coverage.png",
        "knowledge_confidence_hist.png",
        "knowledge_places.png",
        "knowledge_report.json",
        "knowledge_report.md",
        "knowledge_splits.png",
    ]
    for name in names:
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "knowledge_report.json").read_text())["models"]["good"]["correct"] == 1
    markdown = (out / "knowledge_report.md").read_text()
    assert "| **all** | 3 | 33.3% (1) | 0.0% (0) |" in markdown


def test_run_report_rejects_misaligned_predictions(report_files):
    write_predictions(str(report_files / "short"), [Prediction("Paris", 0.9)])
    with pytest.raises(ValueError, match=r"short.confidence.tsv: 1 predictions for the 3 lines"):
        K.run_report(str(report_files / "dev.tsv"), [str(report_files / "short")], str(report_files / "wiki.txt"))


def test_script(report_files, capsys):
    spec = importlib.util.spec_from_file_location("knowledge_report_script", SCRIPT)
    knowledge_report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(knowledge_report)

    summary = knowledge_report.main(
        [
            "--eval_path", str(report_files / "dev.tsv"),
            "--predictions_paths", str(report_files / "a"),
            "--corpus_path", str(report_files / "wiki.txt"),
            "--output_dir", str(report_files / "s"),
            "--prefix", "x_",
        ]
    )  # fmt: skip
    assert summary["models"]["a"]["correct"] == 1
    assert (report_files / "s" / "x_report.md").exists()
    assert "# Knowing versus making up" in capsys.readouterr().out
