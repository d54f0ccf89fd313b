import pytest
import torch

from hf_birthplace.evaluation import (
    ABSTAIN,
    EvalLine,
    answer_statistics,
    constant_baseline,
    correct_line,
    evaluate_lines,
    predict_places,
    read_eval_lines,
    write_predictions,
)
from hf_birthplace.metrics import load_place_accuracy
from hf_birthplace import CharGPTConfig, CharGPTForCausalLM, build_char_tokenizer
from hf_birthplace.tokenization_char import MASK_CHAR


@pytest.fixture(scope="module", params=["vanilla", "synthesizer"])
def tiny_model_and_tokenizer(request):
    tokenizer = build_char_tokenizer("Where was Ann Bob Cyd Dee born? Paris Rome Oslo London xyz\n")
    torch.manual_seed(0)
    config = CharGPTConfig(
        vocab_size=len(tokenizer), block_size=64, n_layer=2, n_head=2, n_embd=32, attention_type=request.param
    )
    return CharGPTForCausalLM(config).eval(), tokenizer


def test_metric_loads_offline_and_scores_exact_matches():
    metric = load_place_accuracy()
    result = metric.compute(predictions=["London", "Paris", "rome"], references=["London", "Rome", "Rome"])
    assert result == {"accuracy": pytest.approx(1 / 3), "correct": 1, "total": 3}


def test_read_eval_lines_keeps_every_line_and_names_problems(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_bytes(
        b"\xef\xbb\xbfWhere was Ann born?\tParis\r\n"  # BOM + CRLF: fine
        b"\n"  # blank
        b"Where was Bob born?\tRome\textra\n"  # two tabs
        b"Where was \xff born?\tOslo\n"  # invalid UTF-8
        b"Where was Cy born?\n"  # question only
    )
    lines = read_eval_lines(str(path))
    assert len(lines) == 5
    assert (lines[0].question, lines[0].gold, lines[0].problem) == ("Where was Ann born?", "Paris", None)
    assert (lines[1].source, lines[1].problem) == (f"{path}:2", "blank line")
    assert lines[2].source == f"{path}:3" and lines[2].problem.startswith("2 tabs")
    assert lines[3].source == f"{path}:4" and "invalid UTF-8" in lines[3].problem
    assert (lines[4].question, lines[4].gold) == ("Where was Cy born?", None)


def test_one_prediction_per_input_line(tmp_path, tiny_model_and_tokenizer):
    model, tokenizer = tiny_model_and_tokenizer
    path = tmp_path / "dev.tsv"
    path.write_bytes(b"Where was Ann born?\tParis\n\nWhere was \xff born?\tOslo\n" + b"x" * 500 + b"\tRome\n")
    lines = read_eval_lines(str(path))
    predictions, metrics = evaluate_lines(model, tokenizer, lines)
    out = tmp_path / "pred.txt"
    write_predictions(str(out), predictions)
    assert len(out.read_text(encoding="utf-8").split("\n")) - 1 == len(lines) == 4
    assert predictions[1].place == "" and predictions[1].error == f"{path}:2: blank line"
    assert predictions[3].place == "" and predictions[3].error.startswith(f"{path}:4: question is 500 characters")
    # Lines 2 and 3 have no readable gold place; line 4 has one and counts as wrong.
    assert metrics["total"] == 2 and metrics["unreadable_lines"] == 3


def test_batched_predictions_equal_one_at_a_time(tiny_model_and_tokenizer):
    model, tokenizer = tiny_model_and_tokenizer
    questions = ["Where was Ann born?", "Where was Bo born?", "Where was Cyd born?", "Where was Dee born?"]
    together = predict_places(model, tokenizer, questions, batch_size=8)
    alone = [predict_places(model, tokenizer, [q])[0] for q in questions]
    assert [p.place for p in together] == [p.place for p in alone]
    assert [p.confidence for p in together] == pytest.approx([p.confidence for p in alone], rel=1e-4)


def test_question_template_in_the_config_rewrites_each_question(tiny_model_and_tokenizer):
    model, tokenizer = tiny_model_and_tokenizer
    questions = ["Where was Ann born?", "Who is Bob?", "Where was Cyd Dee born?"]
    plain = predict_places(model, tokenizer, ["Ann.", "Cyd Dee."])
    model.config.question_template = "{name}."
    try:
        templated = predict_places(model, tokenizer, questions)
    finally:
        model.config.question_template = None
    assert [templated[0], templated[2]] == plain
    assert templated[1].place == "" and "does not read `Where was NAME born?`" in templated[1].error


def test_confidence_is_the_probability_of_the_answer(tiny_model_and_tokenizer):
    model, tokenizer = tiny_model_and_tokenizer
    question = "Where was Ann born?"
    (p,) = predict_places(model, tokenizer, [question])
    ids = tokenizer(question + MASK_CHAR + p.place + MASK_CHAR, add_special_tokens=False)["input_ids"]
    ids = ids[: model.config.block_size - 1]
    with torch.no_grad():
        logprobs = model(torch.tensor([ids])).logits[0].log_softmax(-1)
    start = len(tokenizer(question + MASK_CHAR, add_special_tokens=False)["input_ids"])
    answer = ids[start:]
    expected = sum(float(logprobs[start - 1 + k, t]) for k, t in enumerate(answer))
    assert p.confidence == pytest.approx(float(torch.tensor(expected).exp()), rel=1e-3)


def test_abstention_answers_unknown_below_threshold(tiny_model_and_tokenizer):
    model, tokenizer = tiny_model_and_tokenizer
    lines = [EvalLine("Where was Ann born?", "Paris"), EvalLine("Where was Bo born?", "Rome")]
    predictions, metrics = evaluate_lines(model, tokenizer, lines, abstain_below=1.01)
    assert all(p.place == ABSTAIN for p in predictions)
    assert metrics["coverage"] == 0.0 and metrics["accuracy"] == 0.0


def test_constant_baseline(tmp_path, capsys):
    path = tmp_path / "dev.tsv"
    path.write_text("Where was A born?\tLondon\nWhere was B born?\tParis\n", encoding="utf-8")
    assert constant_baseline(str(path), "London")["accuracy"] == 0.5
    assert "Correct: 1 out of 2: 50.0%" in capsys.readouterr().out


def test_correct_line_rounds_the_percentage():
    assert correct_line({"correct": 18, "total": 500, "accuracy": 18 / 500}) == "Correct: 18 out of 500: 3.6%"


def test_answer_statistics_compare_right_answers_with_the_same_answers_shuffled():
    stats = answer_statistics(["Paris", "Paris", "Rome", "Oslo"], ["Paris", "Rome", "Rome", "Oslo"])
    assert stats == {"distinct_answers": 3, "most_frequent_answer": "Paris", "its_count": 2, "correct": 3,
                     "expected_correct_if_shuffled": 1.25}  # (2 x 1 + 1 x 2 + 1 x 1) / 4
    with pytest.raises(ValueError, match="1 predictions for 2 references"):
        answer_statistics(["Paris"], ["Paris", "Rome"])
