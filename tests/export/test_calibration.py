"""Calibration and validation images: training split only, deterministic, stratified, runtime preprocessing."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tumorscope.datasets import classification_items, segmentation_items
from tumorscope.export.calibration import calibration_images, select_items, synthetic_images, validation_images
from tumorscope.runtime.preprocess import load_image, preprocess


def test_synthetic_images_are_deterministic_model_inputs():
    images = synthetic_images(4, (24, 40), seed=3)
    assert images.shape == (4, 24, 40, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.std() > 0.05
    assert np.array_equal(images, synthetic_images(4, (24, 40), seed=3))
    assert not np.array_equal(images, synthetic_images(4, (24, 40), seed=4))
    assert np.array_equal(images[..., 0], images[..., 2])  # gray slices replicated to RGB


def test_select_items_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="count must be >= 1"):
        select_items(tmp_path, "classifier", "train", 0)
    with pytest.raises(ValueError, match="unknown task"):
        select_items(tmp_path, "detector", "train", 5)


@pytest.mark.realdata
def test_classifier_calibration_is_a_stratified_training_sample(data_root):
    train = classification_items(data_root, "train")
    held_out = {i.image for split in ("val", "test") for i in classification_items(data_root, split)}
    chosen = select_items(data_root, "classifier", "train", 200)
    assert len(chosen) == len({i.image for i in chosen}) == 200
    assert {i.image for i in chosen} <= {i.image for i in train} and not {i.image for i in chosen} & held_out
    share = Counter(i.label for i in train)
    counts = Counter(i.label for i in chosen)
    for label, n in share.items():
        assert abs(counts[label] - 200 * n / len(train)) <= 1
    assert chosen == select_items(data_root, "classifier", "train", 200)


@pytest.mark.realdata
def test_segmenter_calibration_spans_the_training_split(data_root):
    train = segmentation_items(data_root, "train")
    held_out = {i.image for split in ("val", "test") for i in segmentation_items(data_root, split)}
    chosen = select_items(data_root, "segmenter", "train", 200)
    assert len({i.image for i in chosen}) == 200 and not {i.image for i in chosen} & held_out
    assert chosen[0] == train[0] and chosen[-1] == train[-1]


@pytest.mark.realdata
def test_images_go_through_the_runtime_preprocessing(data_root):
    size = (64, 48)
    images = calibration_images(data_root, "segmenter", 5, size)
    items = select_items(data_root, "segmenter", "train", 5)
    assert images.shape == (5, 64, 48, 3) and images.dtype == np.float32
    assert np.array_equal(images[3], preprocess(load_image(items[3].image), size))
    val = validation_images(data_root, "classifier", 8, size)
    first_val = select_items(data_root, "classifier", "val", 8)[0]
    assert np.array_equal(val[0], preprocess(load_image(first_val.image), size))
