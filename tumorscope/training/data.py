"""Training data: decode + resize once (through the runtime's preprocessing) into uint8 arrays,
then augment and scale per batch."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tumorscope.datasets import SplitItem
from tumorscope.runtime.preprocess import load_image, resize_mask, resize_to_input, scale_pixels

__all__ = ["load_images", "load_masks", "augment", "random_affine", "BRIGHTNESS_RANGE", "CONTRAST_RANGE",
           "GAMMA_RANGE"]

BRIGHTNESS_RANGE = (0.8, 1.2)
CONTRAST_RANGE = (0.75, 1.3)
GAMMA_RANGE = (0.7, 1.5)
"""Gamma ``x ** g`` drawn log-uniformly: shifts the intensity histogram as sequences and windowing do."""
SCALE_RANGE = (0.9, 1.1)
MAX_ROTATION_DEG = 15.0
MAX_SHIFT = 0.08


def load_images(items: Sequence[SplitItem], size: tuple[int, int]) -> np.ndarray:
    """Decode and resize every item's image: ``(N, H, W, 3)`` uint8 RGB."""
    out = np.empty((len(items), *size, 3), dtype=np.uint8)
    for i, item in enumerate(items):
        out[i] = resize_to_input(load_image(item.image), size)
    return out


def load_masks(items: Sequence[SplitItem], size: tuple[int, int]) -> np.ndarray:
    """Read and resize every item's mask: ``(N, H, W)`` uint8 in {0, 1}; all zeros where ``mask`` is None."""
    out = np.zeros((len(items), *size), dtype=np.uint8)
    for i, item in enumerate(items):
        if item.mask is None:
            continue
        mask = cv2.imread(str(item.mask), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise ValueError(f"{item.mask}: not a readable mask image")
        out[i] = resize_mask(mask, size)
    return out


def augment(
    images: np.ndarray, rng: np.random.Generator, masks: np.ndarray | None = None, flip: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Random gamma, contrast and brightness (``GAMMA_RANGE``, ``CONTRAST_RANGE``, ``BRIGHTNESS_RANGE``)
    and horizontal flips, then scale to [0, 1].

    Args:
        images: ``(N, H, W, 3)`` uint8.
        masks: optional ``(N, H, W)`` masks flipped with their images.

    Returns:
        ``(N, H, W, 3)`` float32 in [0, 1], and the (possibly flipped) masks.
    """
    x = scale_pixels(images)
    n = len(x)
    gamma = np.exp(rng.uniform(*np.log(GAMMA_RANGE), size=(n, 1, 1, 1))).astype(np.float32)
    x = np.power(x, gamma)
    brightness = rng.uniform(*BRIGHTNESS_RANGE, size=(n, 1, 1, 1)).astype(np.float32)
    contrast = rng.uniform(*CONTRAST_RANGE, size=(n, 1, 1, 1)).astype(np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    x = np.clip(((x - mean) * contrast + mean) * brightness, 0.0, 1.0)
    if flip:
        flipped = rng.random(n) < 0.5
        x[flipped] = x[flipped, :, ::-1]
        if masks is not None:
            masks = masks.copy()
            masks[flipped] = masks[flipped, :, ::-1]
    return x, masks


def random_affine(
    images: np.ndarray, masks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random scale (x0.9-1.1), rotation (+-15 deg) and shift (+-8 %) of image/mask pairs.

    Args:
        images: ``(N, H, W, 3)`` uint8 (bilinear); masks: ``(N, H, W)`` uint8 (nearest).

    Returns:
        Transformed copies, same shapes and dtypes; borders filled with 0.
    """
    out_images, out_masks = np.empty_like(images), np.empty_like(masks)
    height, width = images.shape[1:3]
    for i in range(len(images)):
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG),
                                         rng.uniform(*SCALE_RANGE))
        matrix[:, 2] += rng.uniform(-MAX_SHIFT, MAX_SHIFT, size=2) * (width, height)
        out_images[i] = cv2.warpAffine(images[i], matrix, (width, height), flags=cv2.INTER_LINEAR)
        out_masks[i] = cv2.warpAffine(masks[i], matrix, (width, height), flags=cv2.INTER_NEAREST)
    return out_images, out_masks
