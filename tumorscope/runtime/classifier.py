"""Classifier task: RGB image -> class label, confidence and per-class probabilities."""

from __future__ import annotations

import numpy as np

from tumorscope.runtime.base import TaskModel
from tumorscope.runtime.results import Classification

__all__ = ["Classifier"]


class Classifier(TaskModel):
    """A classifier artifact (``.onnx`` or ``.tflite``) with its spec.

    Example:
        >>> with Classifier.create_from_path("models/classifier.int8.onnx") as clf:
        ...     result = clf.classify(image)  # (H, W, 3) uint8 RGB
    """

    task = "classifier"

    def classify(self, image: np.ndarray) -> Classification:
        """Classify one ``(H, W, 3)`` (or ``(H, W)``) uint8 image of any size."""
        return self.classify_batch([image])[0]

    def classify_batch(self, images: list[np.ndarray]) -> list[Classification]:
        """Classify images of any sizes in one model call; returns one result per image, in order."""
        if not images:
            return []
        probabilities = self._infer(list(images))
        labels = self.spec.labels
        results = []
        for row in probabilities:
            best = int(np.argmax(row))
            results.append(
                Classification(
                    label=labels[best],
                    confidence=float(row[best]),
                    probabilities={label: float(p) for label, p in zip(labels, row, strict=True)},
                )
            )
        return results
