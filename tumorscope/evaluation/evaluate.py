"""Evaluate any model artifact (.keras, .onnx, .tflite) on a committed split.

Images go through the runtime's one preprocessing path with the artifact's spec; segmenter
masks are compared at the original mask resolution after ``mask_at_size``, exactly what the
runtime shows users. Metrics come from ``tumorscope.metrics``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tumorscope import DISCLAIMER, metrics
from tumorscope.assess.items import Batch, iter_batches, label_positions, pick_evenly, read_mask
from tumorscope.assess.models import open_model
from tumorscope.assess.pointing import PointingScore, probabilities_and_maps, target_zone
from tumorscope.datasets import (
    CLASS_NAMES,
    SplitItem,
    classification_items,
    plane_of,
    resolve_data_root,
    segmentation_items,
    tumor_types,
)
from tumorscope.runtime.backends import BackendOptions, InferenceBackend
from tumorscope.runtime.errors import DecodeError, one_line
from tumorscope.runtime.postprocess import mask_at_size, probability_map

__all__ = ["Evaluation", "TASKS", "evaluate", "evaluate_classifier", "evaluate_segmenter"]

TASKS = ("classifier", "segmenter")
RELIABILITY_BINS = 10
NOTUMOR = CLASS_NAMES.index("notumor")


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation.

    Attributes:
        result: JSON-ready metrics (NaN written as None); see ``evaluate_classifier`` / ``evaluate_segmenter``.
        raw: per-image outputs for plots, aligned with ``raw["paths"]`` (``raw["planes"]``: each image's
            BRISC plane or None). Classifier: ``labels`` ``(N,)`` int64 true class indices into
            ``result["labels"]``, ``probabilities`` ``(N, C)`` float32. Segmenter: ``dice``, ``iou``,
            ``true_area_pct``, ``pred_area_pct``, each ``(N,)`` float64.
    """

    result: dict
    raw: dict


def _clean(value: object) -> object:
    """JSON-ready copy: numpy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_clean(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _batches(items: Sequence[SplitItem], model: InferenceBackend, batch_size: int, progress: bool,
             errors: list[dict]) -> Iterator[Batch]:
    """``iter_batches`` over the items' images; unreadable files go to ``errors``; a progress line on stderr."""
    for batch in iter_batches([item.image for item in items], model.spec, batch_size):
        errors += batch.errors
        yield batch
        if progress:
            sys.stderr.write(f"\revaluating {model.spec.task}: {batch.stop}/{len(items)} images")
            sys.stderr.write("\n" if batch.stop == len(items) else "")
            sys.stderr.flush()


def _header(task: str, split: str, model: InferenceBackend, n: int, errors: list[dict], started: float) -> dict:
    return {"task": task, "split": split, "n": n, "model": str(model.path), "format": model.spec.format,
            "input_size": list(model.spec.input_size), "errors": errors,
            "seconds": round(time.perf_counter() - started, 3), "disclaimer": DISCLAIMER}


def _per_group(groups: Sequence[str | None], measure) -> dict:
    """``{group: measure(selector)}`` for every known group (plane, tumour type), ``selector`` a boolean ``(N,)``
    array; {} if no item's group is known."""
    groups = np.array([g or "" for g in groups])
    return {group: measure(groups == group) for group in sorted(set(groups) - {""})}


def _classifier(model: InferenceBackend, items: Sequence[SplitItem], split: str, batch_size: int,
                progress: bool) -> Evaluation:
    started = time.perf_counter()
    labels = model.spec.labels
    positions = label_positions(labels, model.path)
    errors: list[dict] = []
    kept: list[SplitItem] = []
    outputs = []
    pointing = PointingScore() if items and all(item.mask is not None for item in items) else None
    for batch in _batches(items, model, batch_size, progress, errors):
        if not batch.indices:
            continue
        chunk = [items[i] for i in batch.indices]
        kept += chunk
        if pointing is None:
            outputs.append(np.asarray(model.run(batch.inputs), dtype=np.float32))
            continue
        probabilities, maps = probabilities_and_maps(model, batch.inputs)
        outputs.append(probabilities)
        for item, size, row, cams in zip(chunk, batch.sizes, probabilities, maps, strict=True):
            pointing.add(cams, int(np.argmax(row)), int(positions[item.label]), target_zone(item.mask, size))
    if not kept:
        raise ValueError(f"no readable images in split {split!r}; see the errors: {errors[:1]}")
    probabilities = np.concatenate(outputs)
    y_true = positions[[item.label for item in kept]]
    y_pred = probabilities.argmax(axis=1)
    cm = metrics.confusion_matrix(y_true, y_pred, len(labels))
    report = metrics.classification_report(cm, labels)
    aucs = metrics.one_vs_rest_auc(y_true, probabilities)
    per_class = {name: {**report[name], "auc": aucs[i]} for i, name in enumerate(labels)}
    calibration = metrics.reliability(y_true, probabilities, RELIABILITY_BINS)
    present = [a for a in aucs if math.isfinite(a)]
    notumor = int(positions[NOTUMOR])

    def scores(selected: np.ndarray) -> dict:
        negatives = selected & (y_true == notumor)
        return {"n": int(selected.sum()), "accuracy": metrics.accuracy(y_true[selected], y_pred[selected]),
                "specificity": float(np.mean(y_pred[negatives] == notumor)) if negatives.any() else None}

    planes = [plane_of(item.image) for item in kept]
    result = _header("classifier", split, model, len(kept), errors, started) | {
        "labels": list(labels),
        "accuracy": metrics.accuracy(y_true, y_pred),
        "specificity": scores(np.ones(len(kept), bool))["specificity"],
        "macro_auc": float(np.mean(present)) if present else float("nan"),
        "macro_f1": report["macro avg"]["f1"],
        "per_class": per_class,
        "confusion_matrix": cm,
        "ece": calibration["ece"],
        "reliability": calibration,
        "per_plane": _per_group(planes, scores),
    }
    if pointing is not None:
        result["pointing_game"] = pointing.result()
    raw = {"paths": [str(i.image) for i in kept], "planes": planes, "labels": y_true, "probabilities": probabilities}
    return Evaluation(_clean(result), raw)


def _true_mask(item: SplitItem, size: tuple[int, int]) -> np.ndarray:
    """The item's ground truth: its mask file, or an empty mask of the image ``size`` for tumour-free items."""
    return np.zeros(size, bool) if item.mask is None else read_mask(item.mask)


def _segmenter_scores(raw: dict, selected: np.ndarray, tumor_free: bool) -> dict:
    """Mean metrics of the ``selected`` slices (all of them for the headline numbers)."""
    pred_area = raw["pred_area_pct"][selected]
    if tumor_free:
        return {"n": int(selected.sum()), "any_tumor_share": float(np.mean(pred_area > 0)),
                "false_area_pct_mean": float(pred_area.mean())}
    dice = raw["dice"][selected]
    return {"n": int(selected.sum()), "dice": float(dice.mean()), "dice_median": float(np.median(dice)),
            "iou": float(raw["iou"][selected].mean())}


def _segmenter(model: InferenceBackend, items: Sequence[SplitItem], split: str, batch_size: int,
               progress: bool) -> Evaluation:
    started = time.perf_counter()
    threshold = model.spec.mask_threshold
    errors: list[dict] = []
    paths: list[str] = []
    planes: list[str | None] = []
    types: list[str | None] = []
    known_types = tumor_types(items)
    scores: dict[str, list[float]] = {"dice": [], "iou": [], "true_area_pct": [], "pred_area_pct": []}
    inter_total, size_total = 0, 0
    for batch in _batches(items, model, batch_size, progress, errors):
        if not batch.indices:
            continue
        maps = probability_map(model.run(batch.inputs))
        for index, size, probability in zip(batch.indices, batch.sizes, maps, strict=True):
            item = items[index]
            try:
                true = _true_mask(item, size)
            except DecodeError as exc:
                errors.append({"path": str(item.mask), "error": one_line(exc)})
                continue
            pred = mask_at_size(probability, true.shape, threshold, model.spec.min_region_pct)
            paths.append(str(item.image))
            planes.append(plane_of(item.image))
            types.append(known_types[index])
            scores["dice"].append(metrics.dice(pred, true))
            scores["iou"].append(metrics.iou(pred, true))
            scores["true_area_pct"].append(metrics.area_pct(true))
            scores["pred_area_pct"].append(metrics.area_pct(pred))
            inter_total += int(np.logical_and(pred, true).sum())
            size_total += int(pred.sum() + true.sum())
    if not paths:
        raise ValueError(f"no readable image/mask pairs in split {split!r}; see the errors: {errors[:1]}")
    raw = {"paths": paths, "planes": planes, **{k: np.asarray(v, dtype=np.float64) for k, v in scores.items()}}
    tumor_free = all(item.mask is None for item in items)
    result = _header("segmenter", split, model, len(paths), errors, started) | {
        "mask_threshold": threshold, "min_region_pct": model.spec.min_region_pct, "tumor_free": tumor_free}
    if tumor_free:
        result |= _segmenter_scores(raw, np.ones(len(paths), bool), True) | {
            "false_area_pct_max": float(raw["pred_area_pct"].max())}
    else:
        area_error = raw["pred_area_pct"] - raw["true_area_pct"]
        result |= {
            "dice": float(raw["dice"].mean()),
            "dice_median": float(np.median(raw["dice"])),
            "dice_global": 2.0 * inter_total / size_total if size_total else 1.0,
            "iou": float(raw["iou"].mean()),
            "iou_median": float(np.median(raw["iou"])),
            "area_pct_mae": float(np.abs(area_error).mean()),
            "area_pct_bias": float(area_error.mean()),
            "true_area_pct_mean": float(raw["true_area_pct"].mean()),
        }
    result["per_plane"] = _per_group(planes, lambda selected: _segmenter_scores(raw, selected, tumor_free))
    if not tumor_free:
        result["per_type"] = _per_group(types, lambda selected: _segmenter_scores(raw, selected, False))
    return Evaluation(_clean(result), raw)


def evaluate(
    task: str,
    model_path: str | Path,
    data_root: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
    options: BackendOptions | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> Evaluation:
    """Evaluate one artifact on a committed split; the result and the per-image outputs.

    Args:
        task: ``"classifier"`` or ``"segmenter"``; must match the artifact's spec.
        model_path: ``.keras`` (needs TensorFlow), ``.onnx`` or ``.tflite`` with its ``.spec.json``.
        data_root: folder holding ``brain-tumor-mri/`` and ``brain-tumor-seg/`` (None: ``$TUMORSCOPE_DATA``).
        split: a committed split: classifier ``datasets.CLASSIFICATION_SPLITS`` (e.g. ``test``, ``test-dedup``,
            ``notumor-indep``) or ``datasets.POINTING_SPLITS`` (Figshare slices, also the pointing game);
            segmenter ``datasets.SEGMENTATION_SPLITS`` (e.g. ``test``, ``brisc-test``, the tumour-free
            ``notumor-official`` / ``notumor-indep``).
        limit: evaluate at most this many images, evenly spaced over the split.
        options: backend threads / providers.
        batch_size: images per model call.
        progress: draw a progress line on stderr.

    Raises:
        FileNotFoundError: model, spec or data missing. ValueError: bad task, split, limit or spec.
        RuntimeError: the backend cannot load or run the model. ImportError: TensorFlow missing for ``.keras``.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    root = resolve_data_root(data_root)
    find = classification_items if task == "classifier" else segmentation_items
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit}")
    items = pick_evenly(find(root, split), limit)
    model = open_model(model_path, options, task)
    try:
        run = _classifier if task == "classifier" else _segmenter
        return run(model, items, split, batch_size, progress)
    finally:
        model.close()


def evaluate_classifier(model_path: str | Path, data_root: str | Path | None = None, split: str = "test",
                        **options: object) -> dict:
    """Classifier metrics on a split (``options``: ``evaluate``'s keyword arguments; same errors).

    Returns:
        ``{"task", "split", "n", "model", "format", "input_size", "seconds", "errors", "disclaimer",
        "labels", "accuracy", "specificity" (share of true ``notumor`` images called ``notumor``; None without
        any), "macro_auc", "macro_f1", "per_class": {label: {"precision", "recall", "f1", "support", "auc"}},
        "confusion_matrix" (rows = true, columns = predicted, in ``labels`` order), "ece", "reliability",
        "per_plane": {plane: {"n", "accuracy", "specificity"}} (BRISC images, whose plane is known)}``, and on
        ``datasets.POINTING_SPLITS`` ``"pointing_game"`` (``assess.pointing.PointingScore.result``);
        undefined values (e.g. AUC of an absent class) are None.
    """
    return evaluate("classifier", model_path, data_root, split, **options).result


def evaluate_segmenter(model_path: str | Path, data_root: str | Path | None = None, split: str = "test",
                       **options: object) -> dict:
    """Segmenter metrics on a split, at the original mask resolution (see ``evaluate_classifier``).

    Returns:
        ``{"task", "split", "n", "model", "format", "input_size", "seconds", "errors", "disclaimer",
        "mask_threshold", "min_region_pct", "tumor_free", "per_plane"}`` and, for splits with tumours,
        ``"dice", "iou"`` (means over slices), ``"dice_median", "iou_median", "dice_global"`` (pooled over all pixels),
        ``"area_pct_mae"`` (mean |predicted - true tumor area %|), ``"area_pct_bias", "true_area_pct_mean"``;
        per plane and ``"per_type"`` (tumour type: Figshare ``labels.csv``, BRISC file names)
        ``{"n", "dice", "dice_median", "iou"}``. For tumour-free splits (``tumor_free`` true:
        every ground truth is empty) instead ``"any_tumor_share"`` (share of slices with any predicted
        tumor pixel), ``"false_area_pct_mean"``, ``"false_area_pct_max"`` (predicted area, % of the image);
        per plane ``{"n", "any_tumor_share", "false_area_pct_mean"}``.
    """
    return evaluate("segmenter", model_path, data_root, split, **options).result
