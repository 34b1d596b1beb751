"""Model output -> results at the original image size (shared by runtime, evaluation and bench)."""

from __future__ import annotations

import numpy as np

from tumorscope.runtime.preprocess import resize_mask

__all__ = ["probability_map", "mask_at_size"]


def probability_map(output: np.ndarray) -> np.ndarray:
    """Segmenter output ``(N, h, w, 1)`` or ``(N, h, w)`` -> ``(N, h, w)`` float32 probabilities."""
    output = np.asarray(output, dtype=np.float32)
    return output[..., 0] if output.ndim == 4 else output


def mask_at_size(probability: np.ndarray, size: tuple[int, int], threshold: float = 0.5) -> np.ndarray:
    """Bilinearly resize one ``(h, w)`` probability map to ``size = (H, W)`` and threshold it.

    Returns:
        ``(H, W)`` bool tumor mask.
    """
    return resize_mask(probability.astype(np.float32), size) > threshold
