"""Result dataclasses of the runtime tasks and their JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tumorscope import DISCLAIMER
from tumorscope.runtime.errors import ErrorMessage
from tumorscope.runtime.explain import Explanation
from tumorscope.runtime.inputcheck import InputCheck
from tumorscope.runtime.notices import warning_text
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
    "input_check",
    "warnings",
    "explanation_peak",
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
        input_check: whether the image looks like the training data (``runtime.inputcheck``); None when
            not computed.
        class_map: ``(h, w)`` float32 class activation map of ``label`` at the model's feature resolution
            (``runtime.explain``); None when the model has no class-map output.
    """

    label: str
    confidence: float
    probabilities: dict[str, float]
    input_check: InputCheck | None = None
    class_map: np.ndarray | None = field(default=None, repr=False, compare=False)


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
        confident_area_pct: share (%) of the probability map at or above ``runtime.consistency.CONFIDENT_LEVEL``
            (how sure the segmenter is; see the consistency rule).
    """

    mask: np.ndarray = field(repr=False)
    max_probability: float
    tumor_area_pct: float
    brain_area_pct: float | None
    bbox: tuple[int, int, int, int] | None
    confident_area_pct: float = 0.0


@dataclass(frozen=True, eq=False)
class Analysis:
    """Both models' results for one input, or the one-line reason it failed.

    Attributes:
        name: how the input was named (its path for files).
        classification, segmentation: the results; None when ``error`` is set.
        timings_ms: stage -> milliseconds (``decode``, ``preprocess``, ``classify``, ``segment``, ``total``).
        error: one line saying what went wrong and how to fix it, with its ``kind`` (``decode``, ``input``
            or ``model``; a plain string given here becomes an ``input`` error); None on success.
        image_size: ``(height, width)`` of the decoded input; None when it could not be decoded.
        backend: ``onnx`` or ``tflite``.
        image: the decoded ``(H, W, 3)`` uint8 RGB input (for overlays); None on decode failure.
        warnings: codes from ``runtime.consistency`` (``not_a_brain_mri``, ``segmenter_disagrees``,
            ``no_tumor_region_found``); empty when there is nothing to warn about.
        explanation: where the classifier looked (``runtime.explain``); None when its model has no class maps.
    """

    name: str
    classification: Classification | None = None
    segmentation: Segmentation | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: ErrorMessage | None = None
    image_size: tuple[int, int] | None = None
    backend: str = ""
    image: np.ndarray | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()
    explanation: Explanation | None = field(default=None, repr=False)

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
        notes = [f"WARNING: {warning_text(w)}" for w in self.warnings]
        return render_overlay(self.image, s.mask, [f"{c.label}  {c.confidence:.1%}", tumor, *notes], self.name)

    def explanation_image(self) -> np.ndarray:
        """The input with the class activation heat map and a legend; see ``runtime.explain.render_explanation``.

        Raises:
            ValueError: the analysis failed, or its classifier has no class-map output (re-export it).
        """
        from tumorscope.runtime.explain import render_explanation

        if self.error is not None or self.image is None:
            raise ValueError(f"{self.name}: nothing to explain, the analysis failed ({self.error})")
        if self.explanation is None:
            raise ValueError(f"{self.name}: the classifier has no class-map output; re-export it with "
                             "`tumorscope export` to get explanations")
        notes = tuple(f"WARNING: {warning_text(w)}" for w in self.warnings)
        return render_explanation(self.image, self.explanation, notes)

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
            "input_check": c.input_check.to_dict() if c is not None and c.input_check is not None else None,
            "warnings": list(self.warnings),
            "explanation_peak": (list(self.explanation.peak) if self.explanation is not None
                                 and self.explanation.peak is not None else None),
            "disclaimer": DISCLAIMER,
        }
