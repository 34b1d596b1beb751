"""Numpy-only metrics for classification and segmentation (a leaf module: anything may import it)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "confusion_matrix",
    "accuracy",
    "classification_report",
    "roc_curve",
    "auc",
    "one_vs_rest_auc",
    "reliability",
    "dice",
    "iou",
    "area_pct",
]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C, C)`` int64 counts; row = true class, column = predicted class.

    Raises:
        ValueError: the label arrays differ in shape or hold labels outside ``[0, num_classes)``.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"label arrays differ in shape: true {y_true.shape}, predicted {y_pred.shape}")
    for name, labels in (("true", y_true), ("predicted", y_pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of equal labels; NaN for empty input."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def classification_report(cm: np.ndarray, labels: tuple[str, ...] | list[str]) -> dict[str, dict[str, float]]:
    """Per-class precision, recall, F1 and support from a confusion matrix, plus ``macro avg``.

    A class never predicted has precision 0; a class never present has recall 0. ``macro avg`` averages the
    classes present (support > 0), as the macro AUC does: a split without a class (e.g. tumour-free slices
    only) is not marked down for it.
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    report = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(support[i])}
        for i, name in enumerate(labels)
    }
    present = support > 0 if support.any() else np.ones_like(support, bool)
    report["macro avg"] = {"precision": float(precision[present].mean()), "recall": float(recall[present].mean()),
                           "f1": float(f1[present].mean()), "support": int(support.sum())}
    return report


def roc_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve of a binary problem.

    Args:
        y_true: ``(N,)`` bool/int, 1 = positive.
        scores: ``(N,)`` float, higher = more positive.

    Returns:
        ``(fpr, tpr)``, each ``(K,)`` float64 starting at (0, 0) and ending at (1, 1); tied scores
        form one step.
    """
    y_true = np.asarray(y_true).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_true = scores[order], y_true[order]
    last_of_tie = np.r_[np.diff(sorted_scores) != 0, True]
    tps = np.cumsum(sorted_true)[last_of_tie]
    fps = np.cumsum(~sorted_true)[last_of_tie]
    positives, negatives = max(int(y_true.sum()), 1), max(int((~y_true).sum()), 1)
    return np.r_[0.0, fps / negatives], np.r_[0.0, tps / positives]


def auc(x: np.ndarray, y: np.ndarray) -> float:
    """Area under a curve by the trapezoidal rule."""
    return float(np.trapezoid(y, x))


def one_vs_rest_auc(y_true: np.ndarray, probabilities: np.ndarray) -> list[float]:
    """ROC AUC of each class against the rest; ``probabilities`` is ``(N, C)``. NaN for absent classes."""
    y_true = np.asarray(y_true)
    out = []
    for c in range(probabilities.shape[1]):
        positive = y_true == c
        if positive.all() or not positive.any():
            out.append(float("nan"))
            continue
        out.append(auc(*roc_curve(positive, probabilities[:, c])))
    return out


def reliability(y_true: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> dict[str, object]:
    """Reliability diagram data and expected calibration error (Guo et al., ICML 2017).

    Confidence = max probability; bins split [0, 1] evenly.

    Returns:
        ``{"ece": float, "bin_confidence": [...], "bin_accuracy": [...], "bin_count": [...]}``
        (empty bins have NaN confidence/accuracy).
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    acc_sum = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    filled = count > 0
    mean_conf = np.full(bins, np.nan)
    mean_acc = np.full(bins, np.nan)
    mean_conf[filled] = conf_sum[filled] / count[filled]
    mean_acc[filled] = acc_sum[filled] / count[filled]
    ece = float(np.sum(count[filled] * np.abs(mean_acc[filled] - mean_conf[filled])) / max(len(confidence), 1))
    return {"ece": ece, "bin_confidence": mean_conf.tolist(), "bin_accuracy": mean_acc.tolist(),
            "bin_count": count.tolist()}


def _binary_pair(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, true = np.asarray(pred).astype(bool), np.asarray(true).astype(bool)
    if pred.shape != true.shape:
        raise ValueError(f"mask shapes differ: prediction {pred.shape}, truth {true.shape}")
    return pred, true


def dice(pred: np.ndarray, true: np.ndarray) -> np.ndarray | float:
    """Dice ``2|P&T| / (|P| + |T|)`` per mask.

    Args:
        pred, true: ``(H, W)`` or ``(N, H, W)`` binary masks.

    Returns:
        float for one mask, ``(N,)`` float64 for a stack; 1.0 where both masks are empty.
    """
    pred, true = _binary_pair(pred, true)
    axes = (-2, -1)
    inter = np.logical_and(pred, true).sum(axis=axes)
    total = pred.sum(axis=axes) + true.sum(axis=axes)
    value = np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 1.0)
    return float(value) if value.ndim == 0 else value


def iou(pred: np.ndarray, true: np.ndarray) -> np.ndarray | float:
    """Jaccard index ``|P&T| / |P|T|`` per mask; 1.0 where both are empty. Shapes as ``dice``."""
    pred, true = _binary_pair(pred, true)
    axes = (-2, -1)
    inter = np.logical_and(pred, true).sum(axis=axes)
    union = np.logical_or(pred, true).sum(axis=axes)
    value = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return float(value) if value.ndim == 0 else value


def area_pct(mask: np.ndarray, region: np.ndarray | None = None) -> np.ndarray | float:
    """Percentage of ``region`` (default: the whole image) covered by ``mask``.

    Args:
        mask: ``(H, W)`` or ``(N, H, W)`` binary.
        region: same shape, binary; e.g. the brain mask. 0.0 when the region is empty.
    """
    mask = np.asarray(mask).astype(bool)
    if region is None:
        value = 100.0 * mask.mean(axis=(-2, -1))
    else:
        region = np.asarray(region).astype(bool)
        size = region.sum(axis=(-2, -1))
        value = np.where(size > 0, 100.0 * np.logical_and(mask, region).sum(axis=(-2, -1)) / np.maximum(size, 1), 0.0)
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)
