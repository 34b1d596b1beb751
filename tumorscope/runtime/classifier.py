"""Classifier task: RGB image -> class label, confidence and per-class probabilities."""

from __future__ import annotations

import numpy as np

from tumorscope.runtime.base import TaskModel
from tumorscope.runtime.explain import cam_head, class_maps_from_outputs
from tumorscope.runtime.inputcheck import UNAVAILABLE, InputCheckModel
from tumorscope.runtime.results import Classification

__all__ = ["Classifier"]


class Classifier(TaskModel):
    """A classifier artifact (``.onnx`` or ``.tflite``) with its spec.

    Example:
        >>> with Classifier.create_from_path("models/classifier.int8.onnx") as clf:
        ...     result = clf.classify(image)  # (H, W, 3) uint8 RGB
    """

    task = "classifier"

    def __init__(self, backend):
        super().__init__(backend)
        self.input_check: InputCheckModel | None = (
            InputCheckModel.from_spec(self.spec.input_check) if self.spec.features_name else None
        )
        """The fitted input check, or None for artifacts exported without one (results say ``unavailable``)."""
        self._cam_head = cam_head(self.spec.cam_weights)

    def classify(self, image: np.ndarray, batch: np.ndarray | None = None) -> Classification:
        """Classify one ``(H, W, 3)`` (or ``(H, W)``) uint8 image of any size (``batch``: its ``prepare``)."""
        return self.classify_batch([image], batch)[0]

    def class_maps(self, outputs: dict[str, np.ndarray]) -> np.ndarray | None:
        """Every class's Grad-CAM map ``(N, h, w, C)`` from ``_infer_outputs``; None without a class-map output."""
        maps = outputs.get(self.spec.cam_name)
        if maps is None:
            return None
        return class_maps_from_outputs(maps, outputs.get(self.spec.features_name), *self._cam_head)

    def classify_batch(self, images: list[np.ndarray], batch: np.ndarray | None = None) -> list[Classification]:
        """Classify images of any sizes in one model call; returns one result per image, in order.

        Args:
            batch: ``prepare(images)``, when the caller has it already.
        """
        if not images:
            return []
        batch = self.prepare(images) if batch is None else batch
        outputs = self._infer_outputs(list(images), batch)
        probabilities = next(iter(outputs.values()))
        scored, maps = outputs.get(self.spec.check_output), self.class_maps(outputs)
        checks = [UNAVAILABLE] * len(probabilities)
        if self.input_check is not None and scored is not None:
            checks = self.input_check.check_inputs(scored, batch)
        labels = self.spec.labels
        results = []
        for i, row in enumerate(probabilities):
            best = int(np.argmax(row))
            results.append(
                Classification(
                    label=labels[best],
                    confidence=float(row[best]),
                    probabilities={label: float(p) for label, p in zip(labels, row, strict=True)},
                    input_check=checks[i],
                    class_map=None if maps is None else maps[i, :, :, best],
                )
            )
        return results
