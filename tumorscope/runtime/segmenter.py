"""Segmenter task: RGB image -> tumor mask at the original size, areas and bounding box."""

from __future__ import annotations

import numpy as np

from tumorscope.runtime.base import TaskModel, as_rgb
from tumorscope.runtime.brain import area_pct, bounding_box, brain_region
from tumorscope.runtime.consistency import confident_area_pct
from tumorscope.runtime.postprocess import mask_at_size, probability_map
from tumorscope.runtime.results import Segmentation

__all__ = ["Segmenter"]


class Segmenter(TaskModel):
    """A segmenter artifact (``.onnx`` or ``.tflite``) with its spec; the mask threshold comes from the spec.

    Example:
        >>> with Segmenter.create_from_path("models/segmenter.int8.tflite") as seg:
        ...     result = seg.segment(image)  # result.mask: (H, W) bool
    """

    task = "segmenter"

    def segment(self, image: np.ndarray, batch: np.ndarray | None = None) -> Segmentation:
        """Segment one ``(H, W, 3)`` (or ``(H, W)``) uint8 image of any size (``batch``: its ``prepare``)."""
        return self.segment_batch([image], batch)[0]

    def segment_batch(self, images: list[np.ndarray], batch: np.ndarray | None = None) -> list[Segmentation]:
        """Segment images of any sizes in one model call; returns one result per image, in order.

        Args:
            batch: ``prepare(images)``, when the caller has it already.
        """
        if not images:
            return []
        images = [as_rgb(i) for i in images]
        maps = probability_map(self._infer(images, batch))
        return [self._measure(image, probability) for image, probability in zip(images, maps, strict=True)]

    def _measure(self, image: np.ndarray, probability: np.ndarray) -> Segmentation:
        mask = mask_at_size(probability, image.shape[:2], self.spec.mask_threshold, self.spec.min_region_pct)
        return Segmentation(
            mask=mask,
            max_probability=float(probability.max()),
            tumor_area_pct=area_pct(mask),
            brain_area_pct=area_pct(mask, brain_region(image)),
            bbox=bounding_box(mask),
            confident_area_pct=confident_area_pct(probability),
        )
