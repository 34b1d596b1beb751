"""tumorscope.metrics against tiny hand-computed cases and brute-force definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tumorscope import metrics


def _pairwise_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counted half: the definition of ROC AUC."""
    pos, neg = scores[y_true.astype(bool)], scores[~y_true.astype(bool)]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_confusion_matrix_counts_rows_true_columns_predicted():
    cm = metrics.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert cm.dtype == np.int64
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_confusion_matrix_rejects_out_of_range_and_mismatched_labels():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        metrics.confusion_matrix([0, -1], [0, 0], 3)  # -1 would silently count as class 2
    with pytest.raises(ValueError, match="predicted"):
        metrics.confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="shape"):
        metrics.confusion_matrix([0, 1], [0], 3)


def test_accuracy_and_empty_input():
    assert metrics.accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    assert math.isnan(metrics.accuracy([], []))


def test_classification_report_hand_case():
    cm = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    report = metrics.classification_report(cm, ["a", "b", "c"])
    assert report["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert report["b"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert report["c"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert report["macro avg"] == pytest.approx(
        {"precision": 2 / 3, "recall": (0.5 + 1 + 2 / 3) / 3, "f1": (0.5 + 2 / 3 + 0.8) / 3, "support": 6})


def test_classification_report_zero_divisions_give_zero_not_nan():
    # b: present once, never predicted; c: never present, never predicted; d: never present, predicted once
    cm = np.array([[2, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    report = metrics.classification_report(cm, ["a", "b", "c", "d"])
    assert report["a"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    for name in "bcd":
        assert report[name] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": int(name == "b")}
    # the macro average is over the classes present (a, b), not the absent c and d
    assert report["macro avg"] == pytest.approx({"precision": 1 / 3, "recall": 1 / 3, "f1": 1 / 3, "support": 4})


def test_roc_curve_hand_case_with_ties():
    y = np.array([1, 0, 1, 0, 1, 0])
    s = np.array([0.9, 0.9, 0.7, 0.5, 0.5, 0.1])
    fpr, tpr = metrics.roc_curve(y, s)
    # tied scores (0.9: one pos + one neg; 0.5: one pos + one neg) move diagonally in one step
    np.testing.assert_allclose(fpr, [0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 1, 1])
    assert metrics.auc(fpr, tpr) == pytest.approx(2 / 3)
    assert _pairwise_auc(y, s) == pytest.approx(2 / 3)


def test_roc_auc_matches_brute_force_pairwise_with_many_ties(rng):
    y = rng.random(200) < 0.4
    s = np.round(rng.random(200) + 0.5 * y, 1)  # rounding forces many ties
    assert metrics.auc(*metrics.roc_curve(y, s)) == pytest.approx(_pairwise_auc(y, s), abs=1e-12)


def test_roc_perfect_and_inverted_scores():
    y = np.array([0, 0, 1, 1])
    assert metrics.auc(*metrics.roc_curve(y, np.array([0.1, 0.2, 0.8, 0.9]))) == 1.0
    assert metrics.auc(*metrics.roc_curve(y, np.array([0.9, 0.8, 0.2, 0.1]))) == 0.0
    assert metrics.auc(*metrics.roc_curve(y, np.full(4, 0.5))) == 0.5


def test_one_vs_rest_auc_per_class_and_nan_for_absent_class(rng):
    y = rng.integers(0, 3, 120)
    p = rng.dirichlet(np.ones(4), 120)
    p[np.arange(120), y] += 0.3 * rng.random(120)
    aucs = metrics.one_vs_rest_auc(y, p)
    for c in range(3):
        assert aucs[c] == pytest.approx(_pairwise_auc(y == c, p[:, c]))
    assert math.isnan(aucs[3])  # class 3 never occurs


def test_reliability_ece_hand_case():
    probabilities = np.array([[0.95, 0.05], [0.85, 0.15], [0.35, 0.65], [0.6, 0.4]])
    y = np.array([0, 1, 1, 1])
    rel = metrics.reliability(y, probabilities, bins=10)
    # bins: 9 (0.95, right), 8 (0.85, wrong), 6 (0.65 right + 0.60 wrong)
    assert rel["bin_count"] == [0, 0, 0, 0, 0, 0, 2, 0, 1, 1]
    assert rel["bin_accuracy"][6] == 0.5 and rel["bin_confidence"][6] == pytest.approx(0.625)
    assert math.isnan(rel["bin_accuracy"][0])
    assert rel["ece"] == pytest.approx((0.05 + 0.85 + 2 * 0.125) / 4)


def test_reliability_confidence_one_lands_in_last_bin_and_perfect_calibration_is_zero():
    rel = metrics.reliability(np.array([0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]]), bins=5)
    assert rel["bin_count"] == [0, 0, 0, 0, 2]
    assert rel["ece"] == 0.0


def test_dice_and_iou_hand_case():
    pred = np.array([[1, 1, 0], [0, 0, 0]])
    true = np.array([[0, 1, 1], [0, 0, 0]])
    assert metrics.dice(pred, true) == 0.5
    assert metrics.iou(pred, true) == pytest.approx(1 / 3)
    assert isinstance(metrics.dice(pred, true), float)


def test_dice_and_iou_empty_masks_and_stacks():
    empty = np.zeros((2, 3), bool)
    full = np.ones((2, 3), bool)
    assert metrics.dice(empty, empty) == 1.0 and metrics.iou(empty, empty) == 1.0
    assert metrics.dice(empty, full) == 0.0 and metrics.iou(full, empty) == 0.0
    stack_pred, stack_true = np.stack([empty, full, full]), np.stack([empty, empty, full])
    np.testing.assert_array_equal(metrics.dice(stack_pred, stack_true), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(metrics.iou(stack_pred, stack_true), [1.0, 0.0, 1.0])


def test_dice_iou_relation_and_shape_check(rng):
    a, b = rng.random((5, 16, 16)) > 0.6, rng.random((5, 16, 16)) > 0.5
    d, j = metrics.dice(a, b), metrics.iou(a, b)
    np.testing.assert_allclose(d, 2 * j / (1 + j))
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.dice(a[0], b[0, :8])


def test_area_pct_whole_image_and_region():
    mask = np.zeros((4, 4), bool)
    mask[0, :2] = True  # 2 of 16 pixels
    assert metrics.area_pct(mask) == 12.5
    region = np.zeros((4, 4), bool)
    region[:2] = True  # 8 pixels, holding both mask pixels
    assert metrics.area_pct(mask, region) == 25.0
    region[0] = False  # 4 pixels, none of the mask
    assert metrics.area_pct(mask, region) == 0.0
    assert metrics.area_pct(mask, np.zeros((4, 4), bool)) == 0.0  # empty region
    np.testing.assert_allclose(metrics.area_pct(np.stack([mask, ~mask])), [12.5, 87.5])
