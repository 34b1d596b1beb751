"""The pointing game: does the classifier's explanation peak fall on the expert's tumour?

A slice scores a hit when the peak of a class's Grad-CAM map (``runtime.explain.explanation_from_map``, the
peak users see) lies inside the tumour mask dilated by 1/16 of the image side (Zhang et al., "Top-down Neural
Attention by Excitation Backprop", ECCV 2016, with a tolerance). Scored for the predicted class (what users see)
and for the true class, on any artifact: ``.keras`` by TensorFlow's Grad-CAM (``export.trust.grad_cam_maps``),
``.onnx`` / ``.tflite`` from their exported class-map outputs, as the runtime computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tumorscope.assess.models import KerasBackend
from tumorscope.runtime.backends import InferenceBackend
from tumorscope.runtime.explain import cam_head, class_maps_from_outputs, explanation_from_map

__all__ = ["TOLERANCE_FRACTION", "target_zone", "probabilities_and_maps", "PointingScore"]

TOLERANCE_FRACTION = 1 / 16
"""The tumour mask is dilated by this share of the image's longer side."""


def target_zone(mask_path: Path, image_size: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` bool: the expert mask dilated by ``TOLERANCE_FRACTION`` of its side, at ``image_size``."""
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"{mask_path}: not a readable mask image")
    radius = max(1, round(max(mask.shape) * TOLERANCE_FRACTION))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    zone = cv2.dilate((mask > 127).astype(np.uint8), disk)
    if zone.shape != tuple(image_size):
        zone = cv2.resize(zone, image_size[::-1], interpolation=cv2.INTER_NEAREST)
    return zone.astype(bool)


def probabilities_and_maps(model: InferenceBackend, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities ``(N, C)`` and every class's Grad-CAM map ``(N, h, w, C)`` of a preprocessed batch.

    Raises:
        ValueError: an ONNX / TFLite classifier exported without class-map outputs.
    """
    spec = model.spec
    if isinstance(model, KerasBackend):
        from tumorscope.export.trust import grad_cam_maps

        return np.asarray(model.run(batch), np.float32), grad_cam_maps(model.model, batch.astype(np.float32))
    if not spec.cam_name:
        raise ValueError(f"{model.path}: no class-map output; re-export the classifier with `tumorscope export`")
    outputs = model.run_outputs(batch)
    maps = class_maps_from_outputs(np.asarray(outputs[spec.cam_name], np.float32),
                                   outputs.get(spec.features_name), *cam_head(spec.cam_weights))
    return np.asarray(outputs[spec.output_name], np.float32), maps


def _peak_inside(class_map: np.ndarray, zone: np.ndarray) -> bool:
    peak = explanation_from_map(class_map, "", zone.shape).peak
    return peak is not None and bool(zone[peak[1], peak[0]])


@dataclass
class PointingScore:
    """Running pointing-game tally over slices (``add`` one at a time, ``result`` at the end)."""

    hits_predicted: int = 0
    hits_true: int = 0
    zone_shares: list[float] = field(default_factory=list)

    def add(self, maps: np.ndarray, predicted: int, true: int, zone: np.ndarray) -> None:
        """Score one slice: ``maps`` ``(h, w, C)`` its class maps, ``zone`` its ``target_zone``."""
        self.zone_shares.append(float(zone.mean()))
        self.hits_predicted += _peak_inside(maps[:, :, predicted], zone)
        self.hits_true += _peak_inside(maps[:, :, true], zone)

    def result(self) -> dict:
        """``{"slices", "hits_predicted", "rate_predicted", "hits_true", "rate_true", "rate_random"}``;
        ``rate_random``: the expected rate of a uniformly random peak (the zones' mean area share)."""
        n = len(self.zone_shares)
        return {"slices": n, "hits_predicted": self.hits_predicted,
                "rate_predicted": round(self.hits_predicted / n, 4) if n else None,
                "hits_true": self.hits_true, "rate_true": round(self.hits_true / n, 4) if n else None,
                "rate_random": round(float(np.mean(self.zone_shares)), 4) if n else None}
