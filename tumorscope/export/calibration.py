"""Images for export: calibration (TRAINING split) and validation (val split), through the runtime preprocessing.

Selection is deterministic (no RNG): evenly spaced over the committed split, stratified by class for
the classifier, so two exports of the same model see the same images.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tumorscope.assess.items import pick_evenly
from tumorscope.datasets import SplitItem, classification_items, segmentation_items
from tumorscope.runtime.preprocess import load_image, preprocess, scale_pixels

__all__ = [
    "DEFAULT_COUNT",
    "calibration_images",
    "validation_images",
    "select_items",
    "split_images",
    "synthetic_images",
]

DEFAULT_COUNT = 200


def _stratified(items: list[SplitItem], count: int) -> list[SplitItem]:
    """``count`` items, per-class shares proportional to class frequency (largest remainder), evenly spaced."""
    if count >= len(items):
        return list(items)
    labels = sorted({item.label for item in items})
    groups = {label: [item for item in items if item.label == label] for label in labels}
    exact = {label: count * len(group) / len(items) for label, group in groups.items()}
    shares = {label: int(value) for label, value in exact.items()}
    by_remainder = sorted(labels, key=lambda label: (shares[label] - exact[label], label))
    for label in by_remainder[: count - sum(shares.values())]:
        shares[label] += 1
    return [item for label in labels if shares[label] for item in pick_evenly(groups[label], shares[label])]


def select_items(data_root: str | Path, task: str, split: str, count: int) -> list[SplitItem]:
    """``count`` items of a committed split (all when it has fewer), deterministic.

    Args:
        data_root: folder holding ``brain-tumor-mri/`` and ``brain-tumor-seg/``.
        task: ``classifier`` (classification split, stratified by class) or ``segmenter``
            (segmentation split, evenly spaced over the slice ids).
        split: committed split name (``train``, ``val``, ...).
        count: how many items; must be >= 1.
    """
    if count < 1:
        raise ValueError(f"image count must be >= 1, got {count}")
    root = Path(data_root)
    if task == "classifier":
        return _stratified(classification_items(root, split), count)
    if task == "segmenter":
        return pick_evenly(segmentation_items(root, split), count)
    raise ValueError(f"unknown task {task!r}; expected 'classifier' or 'segmenter'")


def split_images(
    data_root: str | Path, task: str, split: str, count: int, size: tuple[int, int], scale: float = 1.0 / 255.0
) -> np.ndarray:
    """Load ``select_items(...)`` through ``load_image`` + ``preprocess`` (the runtime path).

    Returns:
        ``(N, height, width, 3)`` float32 model inputs for ``size = (height, width)``.
    """
    items = select_items(data_root, task, split, count)
    return np.stack([preprocess(load_image(item.image), size, scale) for item in items])


def calibration_images(
    data_root: str | Path, task: str, count: int = DEFAULT_COUNT, size: tuple[int, int] = (128, 128),
    scale: float = 1.0 / 255.0,
) -> np.ndarray:
    """``(N, H, W, 3)`` float32 quantization calibration inputs from the TRAINING split only (never val/test)."""
    return split_images(data_root, task, "train", count, size, scale)


def validation_images(
    data_root: str | Path, task: str, count: int = DEFAULT_COUNT, size: tuple[int, int] = (128, 128),
    scale: float = 1.0 / 255.0,
) -> np.ndarray:
    """``(N, H, W, 3)`` float32 held-out inputs from the val split, to compare an export with its original."""
    return split_images(data_root, task, "val", count, size, scale)


def synthetic_images(count: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """MRI-like synthetic slices for tests and smoke runs (never to calibrate a shipped model).

    A dark background, a bright textured ellipse (the head) and a brighter blob (a lesion) at
    seeded random positions, uint8-quantized like a decoded image, then scaled to [0, 1].

    Returns:
        ``(count, height, width, 3)`` float32 in [0, 1].
    """
    rng = np.random.default_rng(seed)
    height, width = size
    images = np.empty((count, height, width, 3), np.float32)
    for i in range(count):
        gray = rng.normal(20, 6, (height, width)).astype(np.float32)
        center = (int(width * rng.uniform(0.4, 0.6)), int(height * rng.uniform(0.4, 0.6)))
        axes = (int(width * rng.uniform(0.25, 0.45)), int(height * rng.uniform(0.3, 0.45)))
        cv2.ellipse(gray, center, axes, 0, 0, 360, float(rng.uniform(70, 140)), -1)
        lesion = (int(width * rng.uniform(0.25, 0.75)), int(height * rng.uniform(0.25, 0.75)))
        cv2.circle(gray, lesion, max(1, int(min(size) * rng.uniform(0.05, 0.2))), float(rng.uniform(150, 250)), -1)
        gray += rng.normal(0, 8, gray.shape).astype(np.float32)
        pixels = np.clip(gray, 0, 255).astype(np.uint8)
        images[i] = scale_pixels(np.repeat(pixels[..., None], 3, axis=2))
    return images
