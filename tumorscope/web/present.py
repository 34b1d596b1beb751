"""Turn an ``Analysis`` into what the result page shows: inline PNG data URIs and formatted numbers."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from tumorscope.runtime import Analysis
from tumorscope.runtime.notices import NOT_A_BRAIN_MRI, warning_text
from tumorscope.runtime.preprocess import resize_to_input

__all__ = ["DISPLAY_SIDE", "ResultView", "png_data_uri", "result_view"]

DISPLAY_SIDE = 512
"""Longest side of the images embedded in the result page (larger inputs are shrunk for display only)."""


@dataclass(frozen=True)
class ResultView:
    """Everything the result template renders (no arrays: only strings and numbers)."""

    name: str
    label: str
    confidence: float
    probabilities: list[tuple[str, float]]
    tumor_area_pct: float
    tumor_area_brain_pct: float | None
    tumor_found: bool
    image_size: tuple[int, int]
    total_ms: float
    stage_ms: dict[str, float]
    backend: str
    original_uri: str
    overlay_uri: str
    not_mri: bool = False
    input_check: str = "unavailable"
    warnings: tuple[str, ...] = ()
    explanation_uri: str | None = None
    explanation_peak: tuple[int, int] | None = None


def _display_size(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = DISPLAY_SIDE / max(height, width)
    if scale >= 1:
        return image
    return resize_to_input(image, (max(1, round(height * scale)), max(1, round(width * scale))))


def png_data_uri(image: np.ndarray) -> str:
    """``(H, W, 3)`` uint8 RGB -> ``data:image/png;base64,...`` (shrunk to ``DISPLAY_SIDE``), never written to disk."""
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(_display_size(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {image.shape} image as PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.tobytes()).decode("ascii")


def result_view(analysis: Analysis) -> ResultView:
    """The page model of a successful analysis (``analysis.ok`` must be True)."""
    result: dict[str, Any] = analysis.to_dict()
    segmentation = analysis.segmentation
    return ResultView(
        name=analysis.name,
        label=result["label"],
        confidence=result["confidence"],
        probabilities=list(result["probabilities"].items()),
        tumor_area_pct=result["tumor_area_pct"],
        tumor_area_brain_pct=result["tumor_area_brain_pct"],
        tumor_found=segmentation is not None and segmentation.bbox is not None,
        image_size=tuple(result["image_size"]),
        total_ms=result["timings_ms"]["total"],
        stage_ms={k: v for k, v in result["timings_ms"].items() if k != "total"},
        backend=result["backend"] or "",
        original_uri=png_data_uri(analysis.image),
        overlay_uri=png_data_uri(analysis.overlay()),
        not_mri=NOT_A_BRAIN_MRI in analysis.warnings,
        input_check=(result["input_check"] or {}).get("status", "unavailable"),
        warnings=tuple(warning_text(w) for w in analysis.warnings if w != NOT_A_BRAIN_MRI),
        explanation_uri=png_data_uri(analysis.explanation_image()) if analysis.explanation is not None else None,
        explanation_peak=tuple(result["explanation_peak"]) if result["explanation_peak"] else None,
    )
