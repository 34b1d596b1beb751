"""Real data, shipped int8 models: the ONNX and TFLite deployables agree on real test images."""

from __future__ import annotations

from pathlib import Path

import pytest

from tumorscope.assess.items import pick_evenly
from tumorscope.assess.limits import limit_failures, load_limits
from tumorscope.assess.parity import mean_mask_dice
from tumorscope.datasets import classification_items, segmentation_items
from tumorscope.runtime import Classifier, Segmenter, load_image, model_files

MODELS = Path(__file__).resolve().parents[2] / "models"
COUNT = 48
LIMITS = load_limits().across_backends

pytestmark = pytest.mark.realdata


def _files(task: str) -> dict[str, Path]:
    files = {backend: model_files(MODELS, backend)[task] for backend in ("onnx", "tflite")}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        pytest.skip(f"shipped models missing in {MODELS}: {', '.join(missing)} (run `tumorscope export` first)")
    return files


def test_classifier_backends_agree_on_real_test_images(data_root):
    files = _files("classifier")
    images = [load_image(item.image) for item in pick_evenly(classification_items(data_root, "test"), COUNT)]
    labels = {}
    for backend, path in files.items():
        with Classifier.create_from_path(path) as clf:
            labels[backend] = [c.label for c in clf.classify_batch(images)]
    differing = [i for i, (a, b) in enumerate(zip(labels["onnx"], labels["tflite"], strict=True)) if a != b]
    agreement = 1 - len(differing) / len(images)
    assert not limit_failures({"min_agreement": LIMITS["min_agreement"]}, {"agreement": agreement}), (
        f"ONNX and TFLite labels differ on {len(differing)}/{len(images)} images: {differing}")


def test_segmenter_backends_agree_on_real_test_images(data_root):
    files = _files("segmenter")
    images = [load_image(item.image) for item in segmentation_items(data_root, "test")]  # all 500 slices
    masks = {}
    for backend, path in files.items():
        with Segmenter.create_from_path(path) as seg:
            masks[backend] = [s.mask for s in seg.segment_batch(images)]
    measured = {"parity_dice": mean_mask_dice(masks["onnx"], masks["tflite"])}
    failures = limit_failures({"min_parity_dice": LIMITS["min_parity_dice"]}, measured)
    assert not failures, f"ONNX vs TFLite masks: {failures}"
