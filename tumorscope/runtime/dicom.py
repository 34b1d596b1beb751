"""DICOM slice -> 8-bit grayscale, with the modality rescale and a display window (needs pydicom).

1. stored values * RescaleSlope + RescaleIntercept (modality units);
2. window: WindowCenter/WindowWidth when the file has them (first value if several), else the
   0.5-99.5 percentile range of the slice;
3. linear map of the window to 0-255, clipped; MONOCHROME1 (bright = low values) is inverted.

The header is read first (``stop_before_pixels``): Rows x Columns must be within ``MAX_IMAGE_PIXELS``,
with one frame and 1 or 3 samples of at most 32 bits, before any pixel data is decoded. A deflated
file (transfer syntax 1.2.840.10008.1.2.1.99) is inflated in bounded steps: first only enough for the
header, then no more than the size that header declares.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from tumorscope.runtime.errors import ImageError
from tumorscope.runtime.sizes import check_image_size

__all__ = ["PERCENTILE_WINDOW", "decode_dicom", "window_to_uint8"]

_DEFLATED = "1.2.840.10008.1.2.1.99"
_HEADER_BYTES = 1 << 20
"""Most bytes inflated from a deflated DICOM to find its header (the elements before the pixel data)."""

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
    return _window_in_place(np.array(values, dtype=np.float64), center, width)


def _window_in_place(values: np.ndarray, center: float | None, width: float | None) -> np.ndarray:
    """``window_to_uint8`` on a float64 array it may overwrite (one float64 buffer at the 16-MP cap)."""
    if center is not None and width is not None and width > 0:
        low, high = center - width / 2.0, center + width / 2.0
    else:
        low, high = (float(v) for v in np.percentile(values, PERCENTILE_WINDOW))
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    values -= low
    values /= high - low
    np.clip(values, 0.0, 1.0, out=values)
    values *= 255.0
    return np.round(values, out=values).astype(np.uint8)


def _error_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _plain_copy(data: bytes, name: str, limit: int, partial: bool = False) -> bytes:
    """A deflated DICOM rewritten as explicit VR little endian, inflating at most ``limit`` bytes.

    Returns ``data`` unchanged when it is not deflated. With ``partial``, the first ``limit`` inflated
    bytes are enough (to read the header); otherwise more than ``limit`` is an error.

    Raises:
        ImageError: the dataset inflates to more than ``limit`` bytes, or is not valid deflate data.
    """
    from pydicom.filereader import _read_file_meta_info, read_preamble
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import ExplicitVRLittleEndian

    stream = io.BytesIO(data)
    read_preamble(stream, False)
    meta = _read_file_meta_info(stream)
    if str(meta.get("TransferSyntaxUID", "")) != _DEFLATED:
        return data
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        body = inflater.decompress(data[stream.tell():], limit)
    except zlib.error as exc:
        raise ImageError(f"{name}: deflated DICOM data is corrupt ({exc}); export the slice as PNG") from exc
    if inflater.unconsumed_tail and not partial:
        raise ImageError(f"{name}: deflated DICOM inflates to more than {limit / 2**20:.1f} MiB, more than its "
                         "header declares (a decompression bomb?); export the slice as PNG")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    out.write(data[:132])
    write_file_meta_info(out, meta, enforce_standard=True)
    out.write(body)
    return out.getvalue()


def _declared_bytes(header: Any, name: str) -> int:
    """Check the size a DICOM header declares; return its pixel data size in bytes.

    Raises:
        ImageError: no size, more than ``MAX_IMAGE_PIXELS``, several frames, or unusual samples or depth.
    """
    rows, columns = int(header.get("Rows") or 0), int(header.get("Columns") or 0)
    if not rows or not columns:
        raise ImageError(f"{name}: DICOM header has no Rows/Columns (no image); pass an MRI slice")
    frames = int(header.get("NumberOfFrames") or 1)
    if frames > 1:
        raise ImageError(f"{name}: DICOM has {frames} frames; pass a single 2-D slice")
    check_image_size(rows, columns, name)
    samples, bits = int(header.get("SamplesPerPixel") or 1), int(header.get("BitsAllocated") or 16)
    if samples not in (1, 3) or not 1 <= bits <= 32:
        raise ImageError(f"{name}: DICOM declares {samples} samples of {bits} bits per pixel; "
                         "pass a grayscale or RGB slice of at most 32 bits")
    return rows * columns * samples * -(-bits // 8)


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
        head = _plain_copy(data, name, _HEADER_BYTES, partial=True)  # enough inflated to read the header
        header = pydicom.dcmread(io.BytesIO(head), stop_before_pixels=True)
    except ImageError:
        raise
    except Exception as exc:  # pydicom raises many types for broken or unsupported files
        raise ImageError(f"{name}: cannot read the DICOM header ({_error_line(exc)}); export the slice as PNG") from exc
    declared = _declared_bytes(header, name)
    try:
        plain = head if head is data else _plain_copy(data, name, declared + _HEADER_BYTES)
        ds = pydicom.dcmread(io.BytesIO(plain))
        del plain, head
        pixels = ds.pixel_array
    except ImageError:
        raise
    except Exception as exc:  # pydicom raises many types for broken or unsupported files
        raise ImageError(f"{name}: cannot read DICOM pixel data ({_error_line(exc)}); export the slice as PNG") from exc
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    samples = int(ds.get("SamplesPerPixel", 1))
    if pixels.shape[:2] != (int(ds.Rows), int(ds.Columns)):
        raise ImageError(f"{name}: DICOM pixel array has shape {pixels.shape}; pass a single 2-D slice")
    if samples == 3:
        pixels = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    elif pixels.ndim != 2:
        raise ImageError(f"{name}: DICOM pixel array has shape {pixels.shape}; pass a single 2-D grayscale slice")
    slope = _first(ds.get("RescaleSlope")) or 1.0
    intercept = _first(ds.get("RescaleIntercept")) or 0.0
    values = pixels.astype(np.float64)
    del pixels
    values *= slope
    values += intercept
    gray = _window_in_place(values, _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth")))
    return 255 - gray if photometric == "MONOCHROME1" else gray
