"""training.train.min_region_pct: the segmenter's noise floor is half the smallest training tumour."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("keras")

from tumorscope.datasets import SplitItem  # noqa: E402
from tumorscope.training.train import min_region_pct  # noqa: E402


def _mask_item(tmp_path, name: str, pixels: int) -> SplitItem:
    mask = np.zeros((100, 100), np.uint8)
    mask.flat[:pixels] = 255
    cv2.imwrite(str(tmp_path / f"{name}.png"), mask)
    return SplitItem(tmp_path / f"{name}.jpg", mask=tmp_path / f"{name}.png")


def test_half_the_smallest_tumour_ignoring_tumour_free_items(tmp_path):
    items = [_mask_item(tmp_path, "big", 900), _mask_item(tmp_path, "small", 30), _mask_item(tmp_path, "empty", 0),
             SplitItem(tmp_path / "free.jpg")]
    assert min_region_pct(items) == pytest.approx(0.15)  # 30 of 10,000 pixels = 0.3 %, halved


def test_no_tumour_masks_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no tumour masks"):
        min_region_pct([SplitItem(tmp_path / "free.jpg"), _mask_item(tmp_path, "empty", 0)])
