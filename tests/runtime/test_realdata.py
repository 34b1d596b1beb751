"""Real data, shipped int8 models: the ONNX and TFLite deployables agree on real test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tumorscope.datasets import classification_items, segmentation_items
from tumorscope.metrics import dice
from tumorscope.runtime import Classifier, Segmenter, load_image, model_files

MODELS = Path(__file__).resolve().parents[2] / "models"
COUNT = 48
MIN_BACKEND_DICE = 0.98

pytestmark = pytest.mark.realdata


def _files(task: str) -> dict[str, Path]:
    files = {backend: model_files(MODELS, backend)[task] for backend in ("onnx", "tflite")}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        pytest.skip(f"shipped models missing in {MODELS}: {', '.join(missing)} (run `tumorscope export` first)")
    return files


def _spread(items: list, count: int = COUNT) -> list:
    """``count`` items evenly spaced over the split (deterministic)."""
    return [items[i] for i in np.linspace(0, len(items) - 1, min(count, len(items))).astype(int)]


def test_classifier_backends_agree_on_real_test_images(data_root):
    files = _files("classifier")
    images = [load_image(item.image) for item in _spread(classification_items(data_root, "test"))]
    labels = {}
    for backend, path in files.items():
        with Classifier.create_from_path(path) as clf:
            labels[backend] = [c.label for c in clf.classify_batch(images)]
    differing = [i for i, (a, b) in enumerate(zip(labels["onnx"], labels["tflite"], strict=True)) if a != b]
    assert not differing, f"ONNX and TFLite labels differ on {len(differing)}/{len(images)} images: {differing}"


def test_segmenter_backends_agree_on_real_test_images(data_root):
    files = _files("segmenter")
    images = [load_image(item.image) for item in segmentation_items(data_root, "test")]  # all 500 slices
    masks = {}
    for backend, path in files.items():
        with Segmenter.create_from_path(path) as seg:
            masks[backend] = np.stack([s.mask for s in seg.segment_batch(images)])
    mean_dice = float(np.mean(dice(masks["onnx"], masks["tflite"])))
    assert mean_dice >= MIN_BACKEND_DICE, f"mean ONNX-vs-TFLite mask Dice {mean_dice:.4f} < {MIN_BACKEND_DICE}"
