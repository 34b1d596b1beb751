"""Draw an analysis onto its image: tumor tinted and outlined, legend panel with the research-only note."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tumorscope import DISCLAIMER

__all__ = ["TINT", "OUTLINE", "TINT_ALPHA", "MIN_FONT_SCALE", "render_overlay"]

TINT = (255, 48, 48)
"""RGB colour blended into tumor pixels."""
OUTLINE = (255, 230, 0)
"""RGB colour of the tumor outline (drawn inside the mask)."""
TINT_ALPHA = 0.45
"""Weight of ``TINT`` in tumor pixels."""
_PANEL = (24, 24, 24)
_TEXT = (235, 235, 235)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
MIN_FONT_SCALE = 0.4
"""Smallest legend font scale (about 8 px per character); narrower images get wrapped lines."""


def _tint(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend ``TINT`` into mask pixels and paint an outline just inside the mask edge; nothing else changes."""
    out = image.copy()
    tinted = image[mask].astype(np.float32) * (1.0 - TINT_ALPHA) + np.float32(TINT_ALPHA) * np.array(TINT, np.float32)
    out[mask] = np.clip(np.round(tinted), 0, 255).astype(np.uint8)
    width = max(1, round(max(image.shape[:2]) / 256))
    mask_u8 = mask.astype(np.uint8)
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    eroded = cv2.erode(mask_u8, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    out[mask & ~eroded] = OUTLINE
    return out


def _wrap(text: str, scale: float, thickness: int, width: int) -> list[str]:
    """Split ``text`` at spaces into lines no wider than ``width`` pixels (a single long word may overflow)."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(candidate, _FONT, scale, thickness)[0][0] <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def _legend(lines: list[tuple[str, tuple[int, int, int]]], width: int) -> np.ndarray:
    """A ``(h, width, 3)`` uint8 panel, one entry per line (wrapped when narrow), font scaled to the width."""
    pad = max(4, width // 80)
    widest = max(cv2.getTextSize(text, _FONT, 1.0, 1)[0][0] for text, _ in lines)
    scale = float(np.clip((width - 2 * pad) / widest, MIN_FONT_SCALE, max(0.5, width / 900)))
    thickness = 1 if scale < 0.9 else 2
    wrapped = [(part, color) for text, color in lines for part in _wrap(text, scale, thickness, width - 2 * pad)]
    line_height = int(cv2.getTextSize("Ag", _FONT, scale, thickness)[0][1] * 1.9) + 1
    panel = np.full((pad + line_height * len(wrapped), width, 3), _PANEL, np.uint8)
    for i, (text, color) in enumerate(wrapped):
        baseline = pad + line_height * (i + 1) - line_height // 3
        cv2.putText(panel, text, (pad, baseline), _FONT, scale, color, thickness, cv2.LINE_AA)
    return panel


def render_overlay(image: np.ndarray, mask: np.ndarray, caption: Sequence[str], name: str = "<image>") -> np.ndarray:
    """Tumor tinted and outlined on the image, with a legend panel below it.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, the analysed input.
        mask: ``(H, W)`` bool tumor mask at the image size.
        caption: the legend lines above the research-only note: the class line, then the tumor line
            (drawn in ``TINT`` when the mask has tumor pixels).
        name: how to name the input in errors.

    Returns:
        ``(H + legend, W, 3)`` uint8 RGB; rows ``[:H]`` equal ``image`` except at tumor-mask pixels,
        rows ``[H:]`` are the legend (the caption and the research-only note).

    Raises:
        ValueError: the mask does not match the image, or the image is not ``(H, W, 3)`` uint8.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or mask.shape != image.shape[:2]:
        raise ValueError(
            f"{name}: overlay needs the analysed (H, W, 3) uint8 image; got {image.shape} {image.dtype} "
            f"for a {mask.shape} mask"
        )
    found = bool(mask.any())
    lines = [(text, TINT if i == 1 and found else _TEXT) for i, text in enumerate(caption)]
    lines.append((DISCLAIMER, _TEXT))
    return np.concatenate([_tint(image, mask), _legend(lines, image.shape[1])], axis=0)
