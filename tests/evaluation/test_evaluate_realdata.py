"""The committed models on the real committed splits: the accuracy and Dice the project claims.

Needs TUMORSCOPE_DATA and models/classifier.keras, models/segmenter.keras (skips with the reason otherwise).
Minutes on a CPU: run with ``pytest -m slow tests/evaluation/test_evaluate_realdata.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tumorscope.datasets import load_split
from tumorscope.evaluation.evaluate import evaluate_classifier, evaluate_segmenter

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

MODELS = Path(__file__).resolve().parents[2] / "models"
MIN_TEST_ACCURACY = 0.97
MIN_TEST_DICE = 0.70
"""Regression floor of the shipped segmenter (measured 0.722). The project target is 0.75: not reached yet."""
SANITY_ACCURACY = 0.85
"""Floor on the other classifier splits: catches a broken label order or preprocessing, not a claim."""
SANITY_DICE = 0.6


def _model(name: str) -> Path:
    path = MODELS / name
    assert path.is_file(), f"models/{name} is missing: the shipped models are committed; restore them from git"
    pytest.importorskip("keras")
    return path


def _check(result: dict, task: str, split: str) -> None:
    assert result["split"] == split and result["errors"] == []
    assert result["n"] == len(load_split(task, split))


def test_classifier_official_test_accuracy(data_root):
    result = evaluate_classifier(_model("classifier.keras"), data_root, "test")
    _check(result, "classifier", "test")
    assert result["accuracy"] >= MIN_TEST_ACCURACY, result["confusion_matrix"]


@pytest.mark.parametrize("split", ["test-dedup", "val"])
def test_classifier_other_splits_run(data_root, split):
    result = evaluate_classifier(_model("classifier.keras"), data_root, split)
    _check(result, "classifier", split)
    assert result["accuracy"] >= SANITY_ACCURACY, result["confusion_matrix"]


def test_segmenter_test_dice(data_root):
    result = evaluate_segmenter(_model("segmenter.keras"), data_root, "test")
    _check(result, "segmenter", "test")
    assert result["dice"] >= MIN_TEST_DICE, result


def test_segmenter_val_runs(data_root):
    result = evaluate_segmenter(_model("segmenter.keras"), data_root, "val")
    _check(result, "segmenter", "val")
    assert result["dice"] >= SANITY_DICE, result
