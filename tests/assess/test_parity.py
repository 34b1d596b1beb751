"""Parity numbers on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from tumorscope.assess.parity import compare_outputs, mean_mask_dice


def test_classifier_checks_hand_computed():
    reference = np.array([[0.7, 0.1, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1]], np.float32)
    candidate = np.array([[0.6, 0.2, 0.1, 0.1], [0.2, 0.3, 0.4, 0.1]], np.float32)
    checks = compare_outputs("classifier", reference, candidate)
    assert checks["images"] == 2 and checks["agreement"] == 0.5
    assert checks["max_prob_delta"] == pytest.approx(0.2)
    assert checks["mean_prob_delta"] == pytest.approx(0.6 / 8)


def test_segmenter_checks_use_thresholded_dice():
    reference = np.zeros((2, 4, 4, 1), np.float32)
    reference[0, :2, :2] = 0.9  # 4 pixels
    candidate = reference.copy()
    candidate[0, 0, :2] = 0.4  # 2 of the 4 fall below 0.5: Dice = 2*2/(2+4)
    checks = compare_outputs("segmenter", reference, candidate, threshold=0.5)
    assert checks["worst_parity_dice"] == pytest.approx(4 / 6)
    assert checks["parity_dice"] == pytest.approx((4 / 6 + 1.0) / 2)  # both empty -> 1.0
    assert checks["max_prob_delta"] == pytest.approx(0.5)


def test_compare_outputs_rejects_shape_mismatch_and_unknown_task():
    with pytest.raises(ValueError, match="shapes differ"):
        compare_outputs("classifier", np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="unknown task"):
        compare_outputs("detector", np.zeros((2, 4)), np.zeros((2, 4)))


def test_mean_mask_dice_pairs_masks_of_any_size():
    a = np.zeros((3, 5), bool)
    a[0, :2] = True
    b = np.zeros((6, 6), bool)
    assert mean_mask_dice([a, b], [a, b]) == 1.0
    assert mean_mask_dice([a, b], [np.zeros_like(a), b]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same number"):
        mean_mask_dice([a], [])
