from __future__ import annotations

import numpy as np
import pytest

from tumorscope.export.validation import (
    DEFAULT_TOLERANCES,
    Tolerances,
    compare_outputs,
    default_tolerances,
    tolerance_failures,
)


def test_classifier_checks_hand_computed():
    reference = np.array([[0.7, 0.1, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1]], np.float32)
    candidate = np.array([[0.6, 0.2, 0.1, 0.1], [0.2, 0.3, 0.4, 0.1]], np.float32)
    checks = compare_outputs("classifier", reference, candidate)
    assert checks["images"] == 2
    assert checks["agreement"] == 0.5
    assert checks["max_prob_delta"] == pytest.approx(0.2)
    assert checks["mean_prob_delta"] == pytest.approx(0.6 / 8)


def test_segmenter_checks_use_thresholded_dice():
    reference = np.zeros((2, 4, 4, 1), np.float32)
    reference[0, :2, :2] = 0.9  # 4 pixels
    candidate = reference.copy()
    candidate[0, 0, :2] = 0.4  # 2 of the 4 fall below 0.5: Dice = 2*2/(2+4)
    checks = compare_outputs("segmenter", reference, candidate, threshold=0.5)
    assert checks["min_dice"] == pytest.approx(4 / 6)
    assert checks["dice"] == pytest.approx((4 / 6 + 1.0) / 2)  # both empty -> 1.0
    assert checks["max_prob_delta"] == pytest.approx(0.5)


def test_compare_outputs_rejects_shape_mismatch_and_unknown_task():
    with pytest.raises(ValueError, match="shapes differ"):
        compare_outputs("classifier", np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="unknown task"):
        compare_outputs("detector", np.zeros((2, 4)), np.zeros((2, 4)))


def test_tolerance_failures_name_the_broken_limit():
    tolerances = Tolerances(min_agreement=0.97, max_prob_delta=0.1, min_dice=0.95)
    good = {"images": 10, "agreement": 0.98, "max_prob_delta": 0.05}
    assert tolerance_failures("classifier", good, tolerances) == []
    bad = tolerance_failures("classifier", {"images": 10, "agreement": 0.9, "max_prob_delta": 0.3}, tolerances)
    assert len(bad) == 2 and "agreement 0.9000 < 0.97" in bad[0] and "0.3000 > 0.1" in bad[1]
    assert tolerance_failures("segmenter", {"images": 3, "dice": 0.96}, tolerances) == []
    assert "Dice 0.9000 < 0.95" in tolerance_failures("segmenter", {"images": 3, "dice": 0.9}, tolerances)[0]


def test_defaults_are_stricter_for_float_than_int8():
    assert default_tolerances("onnx") == DEFAULT_TOLERANCES["none"]
    assert default_tolerances("tflite-int8") == default_tolerances("onnx-int8") == DEFAULT_TOLERANCES["int8"]
    fp32, int8 = default_tolerances("tflite"), default_tolerances("tflite-int8")
    assert fp32.min_agreement >= int8.min_agreement and fp32.min_dice >= int8.min_dice
    assert fp32.max_prob_delta <= int8.max_prob_delta


def test_tolerances_validate_and_override():
    with pytest.raises(ValueError, match="min_dice"):
        Tolerances(min_agreement=0.9, max_prob_delta=0.1, min_dice=float("nan"))
    base = default_tolerances("onnx-int8")
    changed = base.override(min_agreement=0.5, min_dice=None)
    assert changed.min_agreement == 0.5 and changed.min_dice == base.min_dice
