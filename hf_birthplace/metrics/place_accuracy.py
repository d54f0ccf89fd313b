"""Birthplace accuracy: exact string match between predicted and gold places.

This is the original assignment's `evaluate_places` as an `evaluate` metric module. It ships inside the package so
that it loads offline (`evaluate.load("accuracy")` fetches its script from the Hub):

    >>> import evaluate
    >>> from hf_birthplace.metrics import PLACE_ACCURACY_PATH
    >>> metric = evaluate.load(PLACE_ACCURACY_PATH)
    >>> metric.compute(predictions=["London", "Paris"], references=["London", "Rome"])
    {'accuracy': 0.5, 'correct': 1, 'total': 2}
"""

import datasets
import evaluate

_DESCRIPTION = """Fraction of predictions that equal their reference exactly (case and whitespace included), as the
CS224N birthplace task scores them."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): predicted places, one per question.
    references (`list` of `str`): gold places, one per question.
Returns:
    accuracy (`float`): correct / total, in [0, 1]; 0.0 when there are no examples.
    correct (`int`): number of exact matches.
    total (`int`): number of questions.
"""

_CITATION = """@misc{cs224n-a5, title={CS224N Assignment 5: Self-Attention, Transformers, and Pretraining}, year={2021}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PlaceAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        correct = sum(int(p == r) for p, r in zip(predictions, references))
        total = len(references)
        return {"accuracy": correct / total if total else 0.0, "correct": correct, "total": total}
