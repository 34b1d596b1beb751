"""The accepted image sizes, checked from a header before anything is decoded (raster and DICOM alike)."""

from __future__ import annotations

from tumorscope import MAX_IMAGE_PIXELS
from tumorscope.runtime.errors import ImageError

__all__ = ["MAX_IMAGE_PIXELS", "MIN_IMAGE_SIDE", "check_image_size"]

MIN_IMAGE_SIDE = 8
"""Smallest accepted image height or width in pixels."""


def check_image_size(height: int, width: int, name: str) -> None:
    """Refuse an image whose declared size is outside ``MIN_IMAGE_SIDE`` .. ``MAX_IMAGE_PIXELS``.

    Raises:
        ImageError: the one-line reason, with the limit.
    """
    if height * width > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"{name}: image is {width}x{height} pixels ({height * width / 1e6:.1f} MP), over the "
            f"{MAX_IMAGE_PIXELS / 1e6:.1f} MP limit (e.g. 4096x4096); downscale it before analysis"
        )
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"{name}: image is {width}x{height} pixels, smaller than {MIN_IMAGE_SIDE}px; use a real MRI slice"
        )
