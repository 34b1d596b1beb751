"""Overlay drawing: shape, dtype, tint confined to the mask, legend below."""

from __future__ import annotations

import numpy as np
import pytest

from tumorscope.runtime import Analysis, Classification, Segmentation, render_overlay
from tumorscope.runtime.brain import area_pct, bounding_box


def _analysis(image: np.ndarray, mask: np.ndarray) -> Analysis:
    segmentation = Segmentation(mask, 0.9, area_pct(mask), area_pct(mask, np.ones_like(mask)), bounding_box(mask))
    classification = Classification("glioma", 0.8, {"glioma": 0.8, "meningioma": 0.1, "notumor": 0.05,
                                                    "pituitary": 0.05})
    return Analysis("x.png", classification, segmentation, image_size=mask.shape, backend="onnx", image=image)


@pytest.mark.parametrize("size", [(40, 48), (224, 224), (300, 520)])
def test_overlay_tints_only_mask_pixels_and_adds_a_legend(rng, size):
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    mask = np.zeros(size, bool)
    mask[size[0] // 4 : size[0] // 2, size[1] // 3 : size[1] // 2] = True
    analysis = _analysis(image, mask)
    out = analysis.overlay()
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[1:] == (size[1], 3) and out.shape[0] > size[0]
    changed = (out[: size[0]] != image).any(axis=2)
    assert not (changed & ~mask).any(), "pixels outside the mask changed"
    assert changed[mask].mean() > 0.95, "tumor pixels are tinted"
    legend = out[size[0] :]
    assert len(np.unique(legend.reshape(-1, 3), axis=0)) > 2, "legend has text"
    direct = render_overlay(image, mask, ["glioma  80.0%", "tumor"], "x.png")
    assert np.array_equal(direct[: size[0]], out[: size[0]])  # the same drawing; only the legend text differs


def test_overlay_without_tumor_is_the_image_plus_legend(rng):
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = _analysis(image, np.zeros((64, 64), bool)).overlay()
    assert np.array_equal(out[:64], image)


def test_overlay_refuses_a_mismatched_image(rng):
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="x.png"):
        render_overlay(image[:32], np.zeros((64, 64), bool), ["glioma", "no tumor region found"], "x.png")
    with pytest.raises(ValueError, match="x.png"):
        _analysis(image[:32], np.zeros((64, 64), bool)).overlay()
