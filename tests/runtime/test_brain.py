"""Mask measurements on hand-made masks and the documented brain-region heuristic."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tumorscope.runtime.brain import area_pct, bounding_box, brain_region


def test_bounding_box_of_a_hand_made_mask():
    mask = np.zeros((20, 30), bool)
    mask[5:9, 10:20] = True
    mask[12, 3] = True
    assert bounding_box(mask) == (3, 5, 17, 8)  # x from 3 to 19, y from 5 to 12
    assert bounding_box(np.zeros((4, 4), bool)) is None
    single = np.zeros((4, 4), bool)
    single[3, 2] = True
    assert bounding_box(single) == (2, 3, 1, 1)


def test_area_pct_of_image_and_of_region():
    mask = np.zeros((10, 10), bool)
    mask[:2, :5] = True  # 10 pixels
    assert area_pct(mask) == pytest.approx(10.0)
    region = np.zeros((10, 10), bool)
    region[:5] = True  # 50 pixels, contains the mask
    assert area_pct(mask, region) == pytest.approx(20.0)
    # tumor outside the region still counts: the denominator is region | mask
    assert area_pct(mask, np.zeros((10, 10), bool)) == pytest.approx(100.0)
    assert area_pct(np.zeros((10, 10), bool), np.zeros((10, 10), bool)) is None


def _head(size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A bright disc with a dark hole (ventricle) plus a separate small bright blob outside it."""
    gray = np.zeros((size, size), np.uint8)
    cv2.circle(gray, (64, 64), 40, 140, -1)
    cv2.circle(gray, (64, 64), 8, 0, -1)
    gray[5:9, 5:9] = 200
    expected = np.zeros((size, size), np.uint8)
    cv2.circle(expected, (64, 64), 40, 1, -1)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), expected.astype(bool)


def test_brain_region_keeps_the_largest_component_and_fills_holes():
    image, expected = _head()
    region = brain_region(image)
    assert region.shape == (128, 128) and region.dtype == bool
    assert region[64, 64], "the dark hole inside the head must be filled"
    assert not region[6, 6], "the small separate blob is not the head"
    iou = (region & expected).sum() / (region | expected).sum()
    assert iou > 0.95
    assert np.array_equal(brain_region(image[..., 0]), region)


def test_brain_region_of_a_black_image_is_empty():
    assert not brain_region(np.zeros((32, 32, 3), np.uint8)).any()
