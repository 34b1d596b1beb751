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

import cv2
import numpy as np

from tumorscope import DISCLAIMER, metrics
from tumorscope.datasets import CLASS_NAMES, SplitItem, classification_items, resolve_data_root, segmentation_items
from tumorscope.evaluation.models import open_model
from tumorscope.runtime.backends import BackendOptions, InferenceBackend
from tumorscope.runtime.postprocess import mask_at_size, probability_map
from tumorscope.runtime.preprocess import ImageError, load_image, preprocess

__all__ = ["Evaluation", "TASKS", "evaluate", "evaluate_classifier", "evaluate_segmenter", "subset"]

TASKS = ("classifier", "segmenter")
MASK_LEVEL = 127
"""Mask files are 8-bit; pixels above this level are tumor."""
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation.

    Attributes:
        result: JSON-ready metrics (NaN written as None); see ``evaluate_classifier`` / ``evaluate_segmenter``.
        raw: per-image outputs for plots, aligned with ``raw["paths"]``. Classifier: ``labels`` ``(N,)``
            int64 true class indices into ``result["labels"]``, ``probabilities`` ``(N, C)`` float32.
            Segmenter: ``dice``, ``iou``, ``true_area_pct``, ``pred_area_pct``, each ``(N,)`` float64.
    """

    result: dict
    raw: dict


def subset(items: Sequence[SplitItem], limit: int | None) -> list[SplitItem]:
    """At most ``limit`` items, evenly spaced over the split (so every class of a sorted split appears)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit}")
    if limit is None or limit >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items), limit, endpoint=False).astype(int)]


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


def _batches(items: Sequence[SplitItem], batch_size: int, progress: bool, task: str) -> Iterator[list[SplitItem]]:
    """Chunks of ``items``; draws a progress line on stderr when ``progress``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]
        if progress:
            done = min(start + batch_size, len(items))
            sys.stderr.write(f"\revaluating {task}: {done}/{len(items)} images")
            sys.stderr.write("\n" if done == len(items) else "")
            sys.stderr.flush()


def _read_mask(path: Path) -> np.ndarray:
    """``(H, W)`` bool tumor mask from an 8-bit mask file."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ImageError(f"{path}: not a readable mask image; expected an 8-bit PNG with 255 = tumor")
    return mask > MASK_LEVEL


def _load_batch(batch: Sequence[SplitItem], model: InferenceBackend, errors: list[dict]) -> tuple[list, np.ndarray]:
    """Decode and preprocess a batch; unreadable items go to ``errors`` and are skipped.

    Returns:
        the kept items and their model input ``(n, h, w, 3)`` float32.
    """
    kept, inputs = [], []
    for item in batch:
        try:
            inputs.append(preprocess(load_image(item.image), model.spec.input_size, model.spec.scale))
        except ImageError as exc:
            errors.append({"path": str(item.image), "error": str(exc)})
            continue
        kept.append(item)
    return kept, np.stack(inputs) if inputs else np.empty((0, *model.spec.input_size, 3), np.float32)


def _open(task: str, model_path: str | Path, options: BackendOptions | None) -> InferenceBackend:
    model = open_model(model_path, options)
    if model.spec.task != task:
        model.close()
        raise ValueError(f"{model_path}: the spec says this is a {model.spec.task} model; "
                         f"use `tumorscope evaluate {model.spec.task}`")
    return model


def _header(task: str, split: str, model: InferenceBackend, n: int, errors: list[dict], started: float) -> dict:
    return {"task": task, "split": split, "n": n, "model": str(model.path), "format": model.spec.format,
            "input_size": list(model.spec.input_size), "errors": errors,
            "seconds": round(time.perf_counter() - started, 3), "disclaimer": DISCLAIMER}


def _true_indices(items: Sequence[SplitItem], labels: tuple[str, ...], model_path: str | Path) -> np.ndarray:
    """Data labels (indices into ``CLASS_NAMES``) as indices into the model's own label order."""
    missing = sorted(set(CLASS_NAMES) - set(labels))
    if missing:
        raise ValueError(f"{model_path}: spec labels {list(labels)} lack the data classes {missing}")
    return np.array([labels.index(CLASS_NAMES[item.label]) for item in items], dtype=np.int64)


def _classifier(model: InferenceBackend, items: Sequence[SplitItem], split: str, batch_size: int,
                progress: bool) -> Evaluation:
    started = time.perf_counter()
    labels = model.spec.labels
    errors: list[dict] = []
    kept: list[SplitItem] = []
    outputs = []
    for batch in _batches(items, batch_size, progress, "classifier"):
        ok, inputs = _load_batch(batch, model, errors)
        if ok:
            kept += ok
            outputs.append(np.asarray(model.run(inputs), dtype=np.float32))
    if not kept:
        raise ValueError(f"no readable images in split {split!r}; see the errors: {errors[:1]}")
    probabilities = np.concatenate(outputs)
    y_true = _true_indices(kept, labels, model.path)
    y_pred = probabilities.argmax(axis=1)
    cm = metrics.confusion_matrix(y_true, y_pred, len(labels))
    report = metrics.classification_report(cm, labels)
    aucs = metrics.one_vs_rest_auc(y_true, probabilities)
    per_class = {name: {**report[name], "auc": aucs[i]} for i, name in enumerate(labels)}
    calibration = metrics.reliability(y_true, probabilities, RELIABILITY_BINS)
    present = [a for a in aucs if math.isfinite(a)]
    result = _header("classifier", split, model, len(kept), errors, started) | {
        "labels": list(labels),
        "accuracy": metrics.accuracy(y_true, y_pred),
        "macro_auc": float(np.mean(present)) if present else float("nan"),
        "macro_f1": report["macro avg"]["f1"],
        "per_class": per_class,
        "confusion_matrix": cm,
        "ece": calibration["ece"],
        "reliability": calibration,
    }
    raw = {"paths": [str(i.image) for i in kept], "labels": y_true, "probabilities": probabilities}
    return Evaluation(_clean(result), raw)


def _segmenter(model: InferenceBackend, items: Sequence[SplitItem], split: str, batch_size: int,
               progress: bool) -> Evaluation:
    started = time.perf_counter()
    threshold = model.spec.mask_threshold
    errors: list[dict] = []
    paths: list[str] = []
    scores: dict[str, list[float]] = {"dice": [], "iou": [], "true_area_pct": [], "pred_area_pct": []}
    inter_total, size_total = 0, 0
    for batch in _batches(items, batch_size, progress, "segmenter"):
        ok, inputs = _load_batch(batch, model, errors)
        if not ok:
            continue
        maps = probability_map(model.run(inputs))
        for item, probability in zip(ok, maps, strict=True):
            try:
                true = _read_mask(item.mask)
            except ImageError as exc:
                errors.append({"path": str(item.mask), "error": str(exc)})
                continue
            pred = mask_at_size(probability, true.shape, threshold)
            paths.append(str(item.image))
            scores["dice"].append(metrics.dice(pred, true))
            scores["iou"].append(metrics.iou(pred, true))
            scores["true_area_pct"].append(metrics.area_pct(true))
            scores["pred_area_pct"].append(metrics.area_pct(pred))
            inter_total += int(np.logical_and(pred, true).sum())
            size_total += int(pred.sum() + true.sum())
    if not paths:
        raise ValueError(f"no readable image/mask pairs in split {split!r}; see the errors: {errors[:1]}")
    raw = {"paths": paths, **{k: np.asarray(v, dtype=np.float64) for k, v in scores.items()}}
    area_error = raw["pred_area_pct"] - raw["true_area_pct"]
    result = _header("segmenter", split, model, len(paths), errors, started) | {
        "mask_threshold": threshold,
        "dice": float(raw["dice"].mean()),
        "dice_median": float(np.median(raw["dice"])),
        "dice_global": 2.0 * inter_total / size_total if size_total else 1.0,
        "iou": float(raw["iou"].mean()),
        "iou_median": float(np.median(raw["iou"])),
        "area_pct_mae": float(np.abs(area_error).mean()),
        "area_pct_bias": float(area_error.mean()),
        "true_area_pct_mean": float(raw["true_area_pct"].mean()),
    }
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
        split: classifier ``test``, ``test-dedup``, ``val`` or ``train``; segmenter ``test``, ``val`` or ``train``.
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
    items = subset(find(root, split), limit)
    model = _open(task, model_path, options)
    try:
        run = _classifier if task == "classifier" else _segmenter
        return run(model, items, split, batch_size, progress)
    finally:
        model.close()


def evaluate_classifier(
    model_path: str | Path,
    data_root: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
    options: BackendOptions | None = None,
    batch_size: int = 32,
) -> dict:
    """Classifier metrics on a split (see ``evaluate`` for the arguments and errors).

    Returns:
        ``{"task", "split", "n", "model", "format", "input_size", "seconds", "errors", "disclaimer",
        "labels", "accuracy", "macro_auc", "macro_f1", "per_class": {label: {"precision", "recall", "f1",
        "support", "auc"}}, "confusion_matrix" (rows = true, columns = predicted, in ``labels`` order),
        "ece", "reliability"}``; undefined values (e.g. AUC of an absent class) are None.
    """
    return evaluate("classifier", model_path, data_root, split, limit, options, batch_size).result


def evaluate_segmenter(
    model_path: str | Path,
    data_root: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
    options: BackendOptions | None = None,
    batch_size: int = 32,
) -> dict:
    """Segmenter metrics on a split, at the original mask resolution (see ``evaluate``).

    Returns:
        ``{"task", "split", "n", "model", "format", "input_size", "seconds", "errors", "disclaimer",
        "mask_threshold", "dice", "iou" (means over slices), "dice_median", "iou_median", "dice_global"
        (pooled over all pixels), "area_pct_mae" (mean |predicted - true tumor area %|), "area_pct_bias",
        "true_area_pct_mean"}``.
    """
    return evaluate("segmenter", model_path, data_root, split, limit, options, batch_size).result
