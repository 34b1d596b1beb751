"""Write a synthetic, MRI-like axial slice (no patient data): a skull ring, brain tissue with texture,
ventricles and one bright enhancing lesion. Used for README examples and the web screenshot.

    python scripts/make_synthetic_mri.py examples/synthetic_slice.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np


def synthetic_slice(size: int = 256, seed: int = 7) -> np.ndarray:
    """``(size, size)`` uint8 grayscale synthetic T1-contrast-like slice."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size), np.float32)
    center = (size // 2, size // 2)
    axes = (int(size * 0.36), int(size * 0.44))
    cv2.ellipse(image, center, axes, 0, 0, 360, 200, thickness=int(size * 0.035))  # skull
    brain = np.zeros_like(image)
    cv2.ellipse(brain, center, (axes[0] - 12, axes[1] - 12), 0, 0, 360, 1, thickness=-1)
    texture = cv2.GaussianBlur(rng.normal(0, 1, image.shape).astype(np.float32), (0, 0), 3)
    image += brain * (105 + 18 * texture)
    for dx in (-14, 14):  # ventricles
        cv2.ellipse(image, (center[0] + dx, center[1] - 8), (8, 24), 15 if dx > 0 else -15, 0, 360, 35, -1)
    cv2.circle(image, (center[0] + 48, center[1] - 40), 22, 225, -1)  # enhancing lesion
    cv2.circle(image, (center[0] + 48, center[1] - 40), 10, 120, -1)  # necrotic core
    image = cv2.GaussianBlur(image, (0, 0), 1.2) + rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/synthetic_slice.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), synthetic_slice())
    print(f"wrote {out}")
