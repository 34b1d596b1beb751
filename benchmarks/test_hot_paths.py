"""pytest-benchmark suite for the per-image hot paths: decoding, preprocessing, mask postprocessing,
metrics and the runtime's classify/segment calls on tiny ONNX models.

    pytest benchmarks                       # smoke: each path runs once (pyproject disables timing)
    pytest benchmarks --benchmark-enable    # timings table (add --benchmark-json FILE to save them)
"""

from __future__ import annotations

import numpy as np
import pytest

from tumorscope import metrics
from tumorscope.runtime import Classifier, Segmenter
from tumorscope.runtime.backends import BackendOptions, open_backend
from tumorscope.runtime.postprocess import mask_at_size
from tumorscope.runtime.preprocess import decode_image, preprocess

INPUT = (128, 128)
"""The shipped models' input size (the spec decides at run time; 128 is what they use)."""
ONE_THREAD = BackendOptions(threads=1)


def test_decode_jpeg(benchmark, slice_jpeg):
    image = benchmark(decode_image, slice_jpeg, "slice.jpg")
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8


def test_preprocess_224_to_model_input(benchmark, slice_rgb):
    import cv2

    image = cv2.resize(slice_rgb, (224, 224), interpolation=cv2.INTER_AREA)
    x = benchmark(preprocess, image, INPUT)
    assert x.shape == (*INPUT, 3) and x.dtype == np.float32 and 0.0 <= x.min() <= x.max() <= 1.0


def test_mask_at_original_size(benchmark):
    probability = np.random.default_rng(0).random(INPUT, dtype=np.float32)
    mask = benchmark(mask_at_size, probability, (256, 256), 0.5)
    assert mask.shape == (256, 256) and mask.dtype == bool and 0.3 < mask.mean() < 0.7


def test_dice_of_a_mask_stack(benchmark):
    rng = np.random.default_rng(1)
    pred, true = rng.random((16, 256, 256)) > 0.98, rng.random((16, 256, 256)) > 0.98
    scores = benchmark(metrics.dice, pred, true)
    assert scores.shape == (16,) and np.all((scores >= 0) & (scores <= 1))


def test_onnx_backend_run_batch_1(benchmark, tiny_models):
    backend = open_backend(tiny_models["classifier"], ONE_THREAD)
    try:
        x = np.random.default_rng(2).random((1, *backend.spec.input_size, 3), dtype=np.float32)
        probabilities = benchmark(backend.run, x)
    finally:
        backend.close()
    assert probabilities.shape == (1, 4) and probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_classify_one_slice(benchmark, tiny_models, slice_rgb):
    with Classifier.create_from_path(tiny_models["classifier"], ONE_THREAD) as classifier:
        result = benchmark(classifier.classify, slice_rgb)
    assert result.label in classifier.spec.labels


def test_segment_one_slice(benchmark, tiny_models, slice_rgb):
    with Segmenter.create_from_path(tiny_models["segmenter"], ONE_THREAD) as segmenter:
        result = benchmark(segmenter.segment, slice_rgb)
    assert result.mask.shape == slice_rgb.shape[:2] and result.mask.dtype == bool
