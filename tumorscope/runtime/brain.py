"""Tumor-mask measurements: area percentages, bounding box, and a simple brain (head) region.

The brain region is deliberately simple and documented, not a skull stripper:

1. grayscale, 5x5 median blur (removes speckle, keeps edges);
2. foreground = pixels brighter than ``max(BRAIN_MIN_INTENSITY, BRAIN_RELATIVE_THRESHOLD * p99)``,
   where ``p99`` is the 99th intensity percentile (MRI background is near black);
3. keep the largest 8-connected foreground component;
4. fill its holes (dark ventricles, necrotic tumor cores).

On T1 slices the region includes the skull and scalp, so "% of brain" slightly underestimates the
share of brain tissue; it is a stable, explainable denominator, not an anatomical measurement.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["BRAIN_MIN_INTENSITY", "BRAIN_RELATIVE_THRESHOLD", "brain_region", "bounding_box", "area_pct"]

BRAIN_MIN_INTENSITY = 10
"""Pixels at or below this grayscale value (0-255) are always background."""
BRAIN_RELATIVE_THRESHOLD = 0.1
"""Foreground threshold as a fraction of the image's 99th intensity percentile."""


def brain_region(image: np.ndarray) -> np.ndarray:
    """The head region of an MRI slice (steps in the module docstring).

    Args:
        image: ``(H, W, 3)`` uint8 RGB or ``(H, W)`` uint8 grayscale.

    Returns:
        ``(H, W)`` bool; all False for an image without foreground.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    gray = cv2.medianBlur(np.ascontiguousarray(gray), 5)
    cumulative = np.cumsum(np.bincount(gray.ravel(), minlength=256))
    p99 = int(np.searchsorted(cumulative, 0.99 * cumulative[-1]))  # histogram percentile; np.percentile is slow
    threshold = max(BRAIN_MIN_INTENSITY, BRAIN_RELATIVE_THRESHOLD * p99)
    foreground = (gray > threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    if count <= 1:
        return np.zeros(gray.shape, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    component = (labels == largest).astype(np.uint8)
    contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(component)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x, y, w, h)`` of the smallest box holding every True pixel of ``(H, W)`` ``mask``; None if empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def area_pct(mask: np.ndarray, region: np.ndarray | None = None) -> float | None:
    """Tumor area as % of the image (``region`` None) or of ``region``.

    The tumor belongs to the brain by definition, so the denominator is ``region | mask``;
    None when that is empty.

    Args:
        mask: ``(H, W)`` bool tumor mask.
        region: ``(H, W)`` bool region, e.g. ``brain_region(image)``.
    """
    if region is None:
        return 100.0 * float(np.count_nonzero(mask)) / mask.size
    size = np.count_nonzero(region | mask)
    return 100.0 * float(np.count_nonzero(mask)) / size if size else None
