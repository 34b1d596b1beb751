"""Source-balanced sampling of the classifier's tumour-free class (BRISC T1 vs Nickparvar)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from tumorscope.datasets import BRISC, CLASS_NAMES, SplitItem  # noqa: E402
from tumorscope.training.train import source_balanced_weights  # noqa: E402

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

