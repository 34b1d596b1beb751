"""A split's items as model inputs: the even picker, the batch iterator, ground-truth masks and label order.

``iter_batches`` is the one loop that decodes and preprocesses images for evaluation and benchmarking:
it goes through the runtime's ``load_image`` + ``preprocess`` with the artifact's spec and reports each
unreadable file instead of stopping.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from tumorscope.datasets import CLASS_NAMES
from tumorscope.runtime.errors import DecodeError, one_line
from tumorscope.runtime.preprocess import load_image, preprocess
from tumorscope.runtime.spec import ModelSpec

__all__ = ["MASK_LEVEL", "Batch", "pick_evenly", "iter_batches", "read_mask", "label_positions"]

MASK_LEVEL = 127
"""Mask files are 8-bit; pixels above this level are tumor."""
T = TypeVar("T")


def pick_evenly(items: Sequence[T], count: int | None) -> list[T]:
    """At most ``count`` items, evenly spaced from the first to the last (all when ``count`` is None or larger).

    Deterministic: positions ``round(linspace(0, len - 1, count))``, so a sorted split keeps both ends and
    every class of a class-sorted split appears.

    Raises:
        ValueError: ``count`` < 1.
    """
    if count is not None and count < 1:
        raise ValueError(f"count must be a positive number of items, got {count}")
    if count is None or count >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


@dataclass(frozen=True)
class Batch:
    """One chunk of ``iter_batches``.

    Attributes:
        indices: positions (in the iterated sequence) of the readable images, in order.
        inputs: ``(n, h, w, 3)`` float32 model inputs of those images (``n`` may be 0).
        sizes: ``(height, width)`` of each readable image as decoded.
        errors: ``{"path", "error"}`` for each unreadable file of the chunk.
        stop: position after the chunk (for progress).
    """

    indices: list[int]
    inputs: np.ndarray
    sizes: list[tuple[int, int]]
    errors: list[dict]
    stop: int


def iter_batches(paths: Sequence[str | Path], spec: ModelSpec, batch_size: int = 32) -> Iterator[Batch]:
    """Decode and preprocess ``paths`` in chunks of ``batch_size`` for a model with ``spec``.

    Yields:
        one ``Batch`` per chunk, also when none of its files is readable (``inputs`` then has 0 rows).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(paths), batch_size):
        indices, inputs, sizes, errors = [], [], [], []
        for index in range(start, min(start + batch_size, len(paths))):
            try:
                image = load_image(paths[index])
            except DecodeError as exc:
                errors.append({"path": str(paths[index]), "error": one_line(exc)})
                continue
            indices.append(index)
            sizes.append((int(image.shape[0]), int(image.shape[1])))
            inputs.append(preprocess(image, spec.input_size, spec.scale))
        stacked = np.stack(inputs) if inputs else np.empty((0, *spec.input_size, 3), np.float32)
        yield Batch(indices, stacked, sizes, errors, min(start + batch_size, len(paths)))


def read_mask(path: str | Path) -> np.ndarray:
    """``(H, W)`` bool tumor mask from an 8-bit mask file (pixels above ``MASK_LEVEL``).

    Raises:
        DecodeError: not a readable image.
    """
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise DecodeError(f"{path}: not a readable mask image; expected an 8-bit PNG with 255 = tumor")
    return mask > MASK_LEVEL


def label_positions(labels: Sequence[str], where: str | Path) -> np.ndarray:
    """``(len(CLASS_NAMES),)`` int64: position of each data class (``CLASS_NAMES`` order) in a model's ``labels``.

    Data label ``i`` is model output column ``positions[i]``; ``probabilities[:, positions]`` puts model
    outputs into ``CLASS_NAMES`` order.

    Raises:
        ValueError: the model's labels lack a data class (``where`` names the model).
    """
    missing = sorted(set(CLASS_NAMES) - set(labels))
    if missing:
        raise ValueError(f"{where}: spec labels {list(labels)} lack the data classes {missing}")
    return np.array([list(labels).index(name) for name in CLASS_NAMES], dtype=np.int64)
