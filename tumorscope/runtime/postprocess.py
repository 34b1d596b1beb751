"""Model output -> results at the original image size (shared by runtime, evaluation and bench)."""

from __future__ import annotations

import cv2
import numpy as np

from tumorscope.runtime.preprocess import resize_mask

__all__ = ["probability_map", "mask_at_size"]


def probability_map(output: np.ndarray) -> np.ndarray:
    """Segmenter output ``(N, h, w, 1)`` or ``(N, h, w)`` -> ``(N, h, w)`` float32 probabilities."""
    output = np.asarray(output, dtype=np.float32)
    return output[..., 0] if output.ndim == 4 else output


def mask_at_size(probability: np.ndarray, size: tuple[int, int], threshold: float = 0.5,
                 min_region_pct: float = 0.0) -> np.ndarray:
    """Bilinearly resize one ``(h, w)`` probability map to ``size = (H, W)``, threshold it, and drop the regions
    (8-connected) smaller than ``min_region_pct`` % of the image (the spec's ``min_region_pct``).

    Returns:
        ``(H, W)`` bool tumor mask.
    """
    mask = resize_mask(probability.astype(np.float32), size) > threshold
    if min_region_pct <= 0 or not mask.any():
        return mask
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_region_pct / 100.0 * mask.size
    keep[0] = False
    return keep[labels]
