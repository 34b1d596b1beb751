"""Where the classifier looked: class activation maps from the exported graph, drawn as a heat map.

Each image's Grad-CAM map (Selvaraju et al., "Grad-CAM", ICCV 2017): ``M_c = A @ alpha_c``, where ``A`` are
the last convolutional feature maps (8x8x512 for VGG16 at 128x128) and ``alpha_c`` the spatial mean of
d logit_c / d A. For a head of pooling, flatten and one ReLU Dense (VGG16's), ``alpha_c = P @ (g * W[:, c])``
with a fixed projection ``P`` (export: ``export.trust.feature_projection``), the final Dense kernel ``W`` and
the image's ReLU gate ``g = features > 0``. The int8 graph outputs ``B = A @ P`` (a 1x1 convolution, on both
backends) and the features; ``class_maps_from_outputs`` forms ``M_c = B @ (g * W[:, c])`` in numpy. The export
checks these maps against TensorFlow's Grad-CAM. Here ``relu(M_c)`` of the predicted class is upsampled to the
original image size; its maximum is the explanation peak.

numpy and OpenCV only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from tumorscope import DISCLAIMER
from tumorscope.runtime.inputcheck import decode_array

__all__ = ["Explanation", "cam_head", "class_maps_from_outputs", "explanation_from_map", "render_explanation",
           "HEAT_ALPHA"]

HEAT_ALPHA = 0.45
"""Weight of the heat-map colour over the image."""
_PANEL = (24, 24, 24)
_TEXT = (235, 235, 235)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True, eq=False)
class Explanation:
    """A class activation map at the original image size.

    Attributes:
        label: the class it explains (the predicted one).
        heat: ``(H, W)`` float32 in [0, 1] (1 = strongest evidence for ``label``); all zeros when the map
            has no positive evidence.
        peak: ``(x, y)`` original-image pixel of the maximum, or None when ``heat`` is all zeros.
    """

    label: str
    heat: np.ndarray = field(repr=False)
    peak: tuple[int, int] | None


def cam_head(cam_weights: dict[str, Any]) -> tuple[np.ndarray | None, bool]:
    """A spec's ``cam_weights`` decoded once: the ``(U, C)`` final-layer kernel (None for older exports, whose
    class-map output holds the class maps already) and whether a ReLU gates the features."""
    if not cam_weights:
        return None, False
    return decode_array(cam_weights["weights"]).astype(np.float32), bool(cam_weights.get("gated"))


def class_maps_from_outputs(maps: np.ndarray, features: np.ndarray | None, weights: np.ndarray | None,
                            gated: bool) -> np.ndarray:
    """Every class's Grad-CAM map ``(N, h, w, C)`` from the graph's class-map and feature outputs.

    Args:
        maps: ``(N, h, w, U)`` the ``cam_name`` output; with ``weights`` None (older exports) already
            ``(N, h, w, C)`` class maps, returned as they are.
        features: ``(N, U)`` the ``features_name`` output (its ReLU gate).
        weights, gated: ``cam_head(spec.cam_weights)``.
    """
    if weights is None:
        return maps
    gate = (features > 0).astype(np.float32) if gated else np.ones((len(maps), len(weights)), np.float32)
    return np.einsum("nhwu,nu,uc->nhwc", maps, gate, weights, optimize=True).astype(np.float32)


def explanation_from_map(class_map: np.ndarray, label: str, image_size: tuple[int, int]) -> Explanation:
    """Turn one class's ``(h, w)`` activation map into an ``Explanation`` at ``image_size = (H, W)``.

    The map is clipped at 0 (only evidence for the class), upsampled bicubically (corners aligned
    with the image the model saw), clipped again and scaled to a maximum of 1.
    """
    height, width = image_size
    positive = np.maximum(np.asarray(class_map, np.float32), 0.0)
    if not np.isfinite(positive).all() or positive.max() <= 0:
        return Explanation(label, np.zeros((height, width), np.float32), None)
    heat = np.maximum(cv2.resize(positive, (width, height), interpolation=cv2.INTER_CUBIC), 0.0)
    heat /= max(float(heat.max()), 1e-12)
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return Explanation(label, heat, (int(x), int(y)))


def _colorbar(width: int, height: int) -> np.ndarray:
    ramp = np.tile(np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8), (height, 1))
    return cv2.cvtColor(cv2.applyColorMap(ramp, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def render_explanation(image: np.ndarray, explanation: Explanation, notes: tuple[str, ...] = ()) -> np.ndarray:
    """The image with the heat map blended over it, the peak marked, and a legend with a colour bar below.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, the analysed input.
        explanation: its ``Explanation`` (same ``H, W``).
        notes: extra legend lines (e.g. the input-check warning), drawn in orange.

    Returns:
        ``(H + legend, W, 3)`` uint8 RGB.

    Raises:
        ValueError: the heat map does not match the image.
    """
    if image.ndim != 3 or image.shape[2] != 3 or explanation.heat.shape != image.shape[:2]:
        raise ValueError(f"explanation heat map {explanation.heat.shape} does not match the image {image.shape}")
    height, width = image.shape[:2]
    colored = cv2.cvtColor(cv2.applyColorMap((explanation.heat * 255).astype(np.uint8), cv2.COLORMAP_JET),
                           cv2.COLOR_BGR2RGB)
    weight = (HEAT_ALPHA * np.sqrt(explanation.heat))[..., None]
    out = np.clip(image.astype(np.float32) * (1 - weight) + colored.astype(np.float32) * weight, 0, 255)
    out = out.astype(np.uint8)
    if explanation.peak is not None:
        size = max(4, min(height, width) // 24)
        cv2.drawMarker(out, explanation.peak, (255, 255, 255), cv2.MARKER_CROSS, size, max(1, size // 4))
    return np.concatenate([out, _legend(explanation, width, notes)], axis=0)


def _legend(explanation: Explanation, width: int, notes: tuple[str, ...]) -> np.ndarray:
    pad = max(4, width // 80)
    lines = [(f"Where the classifier found evidence for '{explanation.label}' (Grad-CAM)", _TEXT)]
    if explanation.peak is None:
        lines.append(("no positive evidence anywhere: nothing to highlight", _TEXT))
    else:
        lines.append((f"blue = little, red = most; + marks the peak at x={explanation.peak[0]}, "
                      f"y={explanation.peak[1]}", _TEXT))
    lines += [(note, (255, 170, 40)) for note in notes]
    lines.append((DISCLAIMER, _TEXT))
    scale = float(np.clip(width / 900, 0.35, 0.8))
    thickness = 1
    wrapped = [(part, color) for text, color in lines for part in _wrap(text, scale, width - 2 * pad)]
    line_height = int(cv2.getTextSize("Ag", _FONT, scale, thickness)[0][1] * 1.9) + 1
    bar_height = max(6, line_height // 2)
    panel = np.full((2 * pad + bar_height + line_height * len(wrapped), width, 3), _PANEL, np.uint8)
    panel[pad : pad + bar_height, pad : width - pad] = _colorbar(width - 2 * pad, bar_height)
    for i, (text, color) in enumerate(wrapped):
        baseline = 2 * pad + bar_height + line_height * (i + 1) - line_height // 3
        cv2.putText(panel, text, (pad, baseline), _FONT, scale, color, thickness, cv2.LINE_AA)
    return panel


def _wrap(text: str, scale: float, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(candidate, _FONT, scale, 1)[0][0] <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines
