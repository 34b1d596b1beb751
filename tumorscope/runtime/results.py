"""Result dataclasses of the runtime tasks and their JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tumorscope import DISCLAIMER
from tumorscope.runtime.errors import ErrorMessage
from tumorscope.runtime.overlay import render_overlay

__all__ = ["Classification", "Segmentation", "Analysis", "RESULT_KEYS"]

RESULT_KEYS = (
    "path",
    "label",
    "confidence",
    "probabilities",
    "tumor_area_pct",
    "tumor_area_brain_pct",
    "bbox",
    "image_size",
    "timings_ms",
    "backend",
    "error",
    "error_kind",
    "disclaimer",
)
"""Keys of ``Analysis.to_dict()``, the same on success and failure."""


@dataclass(frozen=True)
class Classification:
    """One classifier result.

    Attributes:
        label: the most probable class name.
        confidence: its probability in [0, 1].
        probabilities: every class name -> probability, in the model's label order.
    """

    label: str
    confidence: float
    probabilities: dict[str, float]


@dataclass(frozen=True, eq=False)
class Segmentation:
    """One segmenter result at the original image size.

    Attributes:
        mask: ``(H, W)`` bool tumor mask.
        max_probability: highest tumor probability of any pixel (model resolution), in [0, 1].
        tumor_area_pct: tumor pixels as % of the whole image.
        brain_area_pct: tumor pixels as % of the brain region (see ``runtime.brain``); None when the
            image has no brain region and no tumor (e.g. an all-black image).
        bbox: ``(x, y, w, h)`` pixel box around the tumor, or None when the mask is empty.
    """

    mask: np.ndarray = field(repr=False)
    max_probability: float
    tumor_area_pct: float
    brain_area_pct: float | None
    bbox: tuple[int, int, int, int] | None


@dataclass(frozen=True, eq=False)
class Analysis:
    """Both models' results for one input, or the one-line reason it failed.

    Attributes:
        name: how the input was named (its path for files).
        classification, segmentation: the results; None when ``error`` is set.
        timings_ms: stage -> milliseconds (``decode``, ``classify``, ``segment``, ``total``).
        error: one line saying what went wrong and how to fix it, with its ``kind`` (``decode``, ``input``
            or ``model``; a plain string given here becomes an ``input`` error); None on success.
        image_size: ``(height, width)`` of the decoded input; None when it could not be decoded.
        backend: ``onnx`` or ``tflite``.
        image: the decoded ``(H, W, 3)`` uint8 RGB input (for overlays); None on decode failure.
    """

    name: str
    classification: Classification | None = None
    segmentation: Segmentation | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: ErrorMessage | None = None
    image_size: tuple[int, int] | None = None
    backend: str = ""
    image: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.error is not None and not isinstance(self.error, ErrorMessage):
            object.__setattr__(self, "error", ErrorMessage(self.error))

    @property
    def ok(self) -> bool:
        """True when both results are present."""
        return self.error is None

    def overlay(self) -> np.ndarray:
        """The input with the tumor tinted and a legend; see ``runtime.overlay.render_overlay``.

        Raises:
            ValueError: the analysis failed (nothing to draw) or has no decoded image.
        """
        c, s = self.classification, self.segmentation
        if self.error is not None or c is None or s is None:
            raise ValueError(f"{self.name}: nothing to draw, the analysis failed ({self.error})")
        if self.image is None:
            raise ValueError(f"{self.name}: no decoded image to draw on")
        if s.bbox is None:
            tumor = "no tumor region found"
        else:
            brain = "" if s.brain_area_pct is None else f", {s.brain_area_pct:.2f}% of brain"
            tumor = f"tumor {s.tumor_area_pct:.2f}% of image{brain}"
        return render_overlay(self.image, s.mask, [f"{c.label}  {c.confidence:.1%}", tumor], self.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result with the keys of ``RESULT_KEYS``; nulls and ``error`` on failure.

        ``bbox`` is ``[x, y, w, h]``, ``image_size`` is ``[height, width]``, percentages are 0-100.
        """
        c, s = self.classification, self.segmentation
        return {
            "path": self.name,
            "label": c.label if c else None,
            "confidence": round(c.confidence, 6) if c else None,
            "probabilities": {k: round(v, 6) for k, v in c.probabilities.items()} if c else None,
            "tumor_area_pct": round(s.tumor_area_pct, 4) if s else None,
            "tumor_area_brain_pct": (
                round(s.brain_area_pct, 4) if s is not None and s.brain_area_pct is not None else None
            ),
            "bbox": list(s.bbox) if s is not None and s.bbox is not None else None,
            "image_size": list(self.image_size) if self.image_size else None,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "backend": self.backend or None,
            "error": str(self.error) if self.error is not None else None,
            "error_kind": self.error.kind if self.error is not None else None,
            "disclaimer": DISCLAIMER,
        }
