"""Training-set sampling: the tumour-free sources the classifier and the U-Net see in equal shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from tumorscope.datasets import BRISC, CLASS_NAMES, SplitItem  # noqa: E402
from tumorscope.training.train import source_balanced_weights, tumor_free_sampling  # noqa: E402

NOTUMOR = CLASS_NAMES.index("notumor")


def _nickparvar(n: int, label: int = NOTUMOR) -> list[SplitItem]:
    return [SplitItem(Path(f"brain-tumor-mri/Training/x/{i}.jpg"), label) for i in range(n)]


def _brisc(n: int) -> list[SplitItem]:
    return [SplitItem(Path(f"{BRISC}/classification/train/no_tumor/{i}.jpg"), NOTUMOR) for i in range(n)]


def test_tumor_free_draws_give_each_source_half_whatever_their_sizes():
    items = _nickparvar(300) + _brisc(100)
    p = tumor_free_sampling(items)
    assert p.shape == (400,) and p.sum() == pytest.approx(1.0) and (p > 0).all()
    assert p[:300].sum() == pytest.approx(0.5) and p[300:].sum() == pytest.approx(0.5)
    draws = np.random.default_rng(0).choice(len(items), size=20000, p=p)
    assert abs(np.mean(draws >= 300) - 0.5) < 0.02  # a BRISC slice every other draw, though only a quarter of items


def test_one_source_alone_is_drawn_uniformly():
    p = tumor_free_sampling(_nickparvar(50))
    assert np.allclose(p, 1 / 50)


def test_classifier_weights_balance_the_notumor_sources_and_leave_tumours_alone():
    glioma = CLASS_NAMES.index("glioma")
    items = _nickparvar(30, glioma) + _nickparvar(60) + _brisc(20)
    w = source_balanced_weights(items)
    assert np.allclose(w[:30], 1.0)
    assert w[30:90].sum() == pytest.approx(40) and w[90:].sum() == pytest.approx(40)  # 80 notumor, half each
