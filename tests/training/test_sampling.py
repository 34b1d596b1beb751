"""Source-balanced sampling of tumour-free slices (BRISC T1 vs Nickparvar), for both trainings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from tumorscope.datasets import BRISC, CLASS_NAMES, SplitItem  # noqa: E402
from tumorscope.training.train import _SegmentationBatches, source_balanced_weights  # noqa: E402

NOTUMOR = CLASS_NAMES.index("notumor")


def _item(name: str, label: int, brisc: bool) -> SplitItem:
    folder = Path("/data") / (BRISC if brisc else "brain-tumor-mri") / "x"
    return SplitItem(image=folder / name, label=label, mask=None)


def test_classifier_weights_give_both_tumour_free_sources_half_and_leave_tumours_alone():
    items = [_item(f"n{i}.jpg", NOTUMOR, False) for i in range(30)] + [
        _item(f"b{i}.jpg", NOTUMOR, True) for i in range(10)] + [_item(f"g{i}.jpg", 0, False) for i in range(5)]
    w = source_balanced_weights(items)
    assert w[:30].sum() == pytest.approx(20) and w[30:40].sum() == pytest.approx(20), "each source half of 40"
    assert np.all(w[40:] == 1.0)


def test_segmenter_tumour_free_draws_are_source_balanced():
    items = [_item(f"n{i}.jpg", -1, False) for i in range(90)] + [_item(f"b{i}.jpg", -1, True) for i in range(10)]
    weights = source_balanced_weights(items, np.ones(len(items), dtype=bool))
    free = np.zeros((100, 8, 8, 3), np.uint8)
    free[90:] = 255  # the BRISC slices are the white ones
    tumours = np.full((64, 8, 8, 3), 128, np.uint8)
    batches = _SegmentationBatches(tumours, np.zeros((64, 8, 8), np.uint8), 16, 0, free, 0.5, weights)
    drawn = np.concatenate([batches[k][0][8:] for k in range(len(batches))])
    white = (drawn.reshape(len(drawn), -1).mean(axis=1) > 0.3).mean()  # black vs white, after augmentation
    assert 0.3 < white < 0.7, f"BRISC share of tumour-free draws {white:.2f}; uniform draws would give 0.10"
