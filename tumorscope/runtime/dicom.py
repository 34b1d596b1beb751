"""DICOM slice -> 8-bit grayscale, with the modality rescale and a display window (needs pydicom).

1. stored values * RescaleSlope + RescaleIntercept (modality units);
2. window: WindowCenter/WindowWidth when the file has them (first value if several), else the
   0.5-99.5 percentile range of the slice;
3. linear map of the window to 0-255, clipped; MONOCHROME1 (bright = low values) is inverted.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from tumorscope.runtime.errors import ImageError

__all__ = ["PERCENTILE_WINDOW", "decode_dicom", "window_to_uint8"]

PERCENTILE_WINDOW = (0.5, 99.5)
"""Percentiles used as the display window when the file carries none."""


def _first(value: object) -> float | None:
    """A DICOM number or multi-value -> its first entry as float; None when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):  # pydicom MultiValue
        return float(value[0]) if len(value) else None
    return float(value)


def window_to_uint8(values: np.ndarray, center: float | None = None, width: float | None = None) -> np.ndarray:
    """Map modality values to uint8 through a window.

    Args:
        values: ``(H, W)`` float array.
        center, width: the display window; both None (or width <= 0) selects the percentile window.

    Returns:
        ``(H, W)`` uint8; all zeros for a constant slice.
    """
    values = values.astype(np.float64)
    if center is not None and width is not None and width > 0:
        low, high = center - width / 2.0, center + width / 2.0
    else:
        low, high = (float(v) for v in np.percentile(values, PERCENTILE_WINDOW))
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    return np.round(np.clip((values - low) / (high - low), 0.0, 1.0) * 255.0).astype(np.uint8)


def decode_dicom(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode one DICOM slice to display grayscale.

    Args:
        data: the file content (with the 128-byte preamble and ``DICM`` magic).
        name: how to name the input in error messages.

    Returns:
        ``(H, W)`` uint8.

    Raises:
        ImageError: pydicom missing, unreadable file, no or compressed pixel data it cannot decode,
            or more than one frame.
    """
    try:
        import pydicom
    except ImportError as exc:
        raise ImageError(f"{name}: DICOM input needs pydicom; run `pip install tumorscope[dicom]`") from exc
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for broken or unsupported files
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ImageError(f"{name}: cannot read DICOM pixel data ({detail}); export the slice as PNG") from exc
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    samples = int(ds.get("SamplesPerPixel", 1))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageError(f"{name}: DICOM has {frames} frames; pass a single 2-D slice")
    if samples == 3:
        pixels = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    elif pixels.ndim != 2:
        raise ImageError(f"{name}: DICOM pixel array has shape {pixels.shape}; pass a single 2-D grayscale slice")
    slope = _first(ds.get("RescaleSlope")) or 1.0
    intercept = _first(ds.get("RescaleIntercept")) or 0.0
    values = pixels.astype(np.float64) * slope + intercept
    gray = window_to_uint8(values, _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth")))
    return 255 - gray if photometric == "MONOCHROME1" else gray
