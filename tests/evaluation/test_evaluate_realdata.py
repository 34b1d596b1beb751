"""The committed models on the real committed splits: the accuracy and Dice the project claims.

Needs TUMORSCOPE_DATA (skips with the reason otherwise). Scored with the int8 ONNX deployables that users run
(no TensorFlow); the Keras originals are scored on the same official test splits by the CI parity gate
(`tumorscope bench --check` in .ci/run: ground-truth floors from tumorscope/assess/limits.json for every format).
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
"""Regression floor of the shipped classifier on the official test split (measured 0.976 int8 ONNX, 0.974 LiteRT,
0.978 Keras; project target 0.975)."""
MIN_DEDUP_ACCURACY = 0.96
"""... and on ``test-dedup``, the test images without near-copies in Training (measured 0.963 int8 ONNX, 0.960
LiteRT, 0.966 Keras; project target 0.965, missed by the int8 files)."""
MIN_INDEP_SPECIFICITY = 0.95
"""Share of the never-trained BRISC tumour-free slices called ``notumor`` (measured 1.000), overall..."""
MIN_INDEP_PLANE_SPECIFICITY = 0.90
"""... and in each plane (axial, coronal, sagittal)."""
MIN_TEST_DICE = 0.73
"""Regression floor of the shipped segmenter (measured 0.740 int8 ONNX, 0.738 Keras; 0.731 the release before). The
issue's target is 0.78: not reached yet."""
MIN_TYPE_DICE = 0.58
"""Floor on each tumour type of Figshare test (measured glioma 0.603, meningioma 0.850, pituitary 0.815 int8 ONNX;
glioma 0.573 the release before): gliomas are where the segmenter misses."""
SANITY_DICE = 0.6
"""Floor on the other segmenter splits: catches a broken mask order or preprocessing, not a claim."""
MIN_BRISC_DICE = 0.77
"""Floor on BRISC test masks (leak-filtered; measured 0.789 with the int8 ONNX segmenter)..."""
MIN_BRISC_PLANE_DICE = 0.65
"""... and per plane (measured axial 0.692, coronal 0.808, sagittal 0.832: axial is the weak plane)."""
MAX_TUMOR_FREE_PAINTED = {"notumor-official": 0.02, "notumor-indep": 0.03}
"""Share of tumour-free slices with any predicted tumour pixel (int8 ONNX measured 0.0074 official, 0.013 on
``notumor-indep``; the segmenter before the mirror channel 0.042 / 0.033, the issue's limit 0.05)."""


def _int8(name: str) -> Path:
    path = MODELS / name
    assert path.is_file(), f"models/{name} is missing: the shipped models are committed; restore them from git"
    return path


def _check(result: dict, task: str, split: str) -> None:
    assert result["split"] == split and result["errors"] == []
    assert result["n"] == len(load_split(task, split))


def test_classifier_official_test_accuracy(data_root):
    result = evaluate_classifier(_int8("classifier.int8.onnx"), data_root, "test")
    _check(result, "classifier", "test")
    assert result["accuracy"] >= MIN_TEST_ACCURACY, result["confusion_matrix"]


def test_classifier_test_dedup_accuracy(data_root):
    result = evaluate_classifier(_int8("classifier.int8.onnx"), data_root, "test-dedup")
    _check(result, "classifier", "test-dedup")
    assert result["accuracy"] >= MIN_DEDUP_ACCURACY, result["confusion_matrix"]


def test_segmenter_test_dice(data_root):
    result = evaluate_segmenter(_int8("segmenter.int8.onnx"), data_root, "test")
    _check(result, "segmenter", "test")
    assert result["dice"] >= MIN_TEST_DICE, result
    types = result["per_type"]  # Figshare labels.csv: every slice has its tumour type
    assert set(types) == {"glioma", "meningioma", "pituitary"} and sum(t["n"] for t in types.values()) == 500, types
    assert min(t["dice"] for t in types.values()) >= MIN_TYPE_DICE, types


def test_segmenter_val_runs(data_root):
    result = evaluate_segmenter(_int8("segmenter.int8.onnx"), data_root, "val")
    _check(result, "segmenter", "val")
    assert result["dice"] >= SANITY_DICE, result


def _planes(result: dict) -> None:
    """Every BRISC slice has a plane, and the per-plane counts add up."""
    assert set(result["per_plane"]) <= {"ax", "co", "sa"} and result["per_plane"]
    assert sum(p["n"] for p in result["per_plane"].values()) == result["n"]


def test_classifier_notumor_indep_specificity_per_plane(data_root):
    """BRISC tumour-free slices (all ``notumor``): specificity is the accuracy, per plane too."""
    result = evaluate_classifier(_int8("classifier.int8.onnx"), data_root, "notumor-indep")
    _check(result, "classifier", "notumor-indep")
    _planes(result)
    assert result["specificity"] == pytest.approx(result["accuracy"])
    assert result["specificity"] >= MIN_INDEP_SPECIFICITY, result["per_plane"]
    for plane in result["per_plane"].values():
        assert plane["specificity"] == pytest.approx(plane["accuracy"])
        assert plane["specificity"] >= MIN_INDEP_PLANE_SPECIFICITY, result["per_plane"]


def test_segmenter_brisc_test_dice_per_plane(data_root):
    result = evaluate_segmenter(_int8("segmenter.int8.onnx"), data_root, "brisc-test")
    _check(result, "segmenter", "brisc-test")
    _planes(result)
    assert result["tumor_free"] is False and result["dice"] >= MIN_BRISC_DICE, result["per_plane"]
    assert min(p["dice"] for p in result["per_plane"].values()) >= MIN_BRISC_PLANE_DICE, result["per_plane"]


@pytest.mark.parametrize("split", ["notumor-official", "notumor-indep"])
def test_segmenter_tumor_free_false_positives(data_root, split):
    result = evaluate_segmenter(_int8("segmenter.int8.onnx"), data_root, split)
    _check(result, "segmenter", split)
    if split == "notumor-indep":
        _planes(result)
    else:  # the official Testing/notumor images: no plane in their names
        assert result["per_plane"] == {}
    assert result["tumor_free"] is True and "dice" not in result
    assert result["any_tumor_share"] <= MAX_TUMOR_FREE_PAINTED[split], result
    assert 0.0 <= result["false_area_pct_mean"] <= result["false_area_pct_max"] <= 100.0
