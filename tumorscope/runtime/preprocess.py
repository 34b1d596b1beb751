"""The one image preprocessing path, shared by training, export calibration, bench, web and runtime.

decode (JPEG/PNG/BMP/TIFF, grayscale or colour, or DICOM) -> RGB uint8 (H, W, 3)
-> resize to the model's input size -> float32 scaled by the spec (``[0, 1]`` by default).
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from tumorscope.runtime.dicom import decode_dicom
from tumorscope.runtime.errors import ImageError

__all__ = [
    "ImageError",
    "MAX_FILE_BYTES",
    "MAX_IMAGE_SIDE",
    "decode_image",
    "load_image",
    "resize_to_input",
    "scale_pixels",
    "preprocess",
    "resize_mask",
]

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest accepted input file (50 MiB)."""
MAX_IMAGE_SIDE = 8192
"""Largest accepted image height or width in pixels; anything larger is refused before decoding."""
MIN_IMAGE_SIDE = 8
"""Smallest accepted image height or width in pixels."""

_DICOM_MAGIC_OFFSET = 128


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Return ``(height, width)`` read from a PNG or JPEG header, or None when unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return height, width
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 9 < len(data):
            if data[pos] != 0xFF:
                pos += 1
                continue
            marker = data[pos + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                pos += 1 if marker == 0xFF else 2
                continue
            length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return height, width
            pos += 2 + length
    return None


def _check_size(height: int, width: int, name: str) -> None:
    if max(height, width) > MAX_IMAGE_SIDE:
        raise ImageError(
            f"{name}: image is {width}x{height} pixels, larger than the {MAX_IMAGE_SIDE}px limit; "
            "downscale it before analysis"
        )
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ImageError(
            f"{name}: image is {width}x{height} pixels, smaller than {MIN_IMAGE_SIDE}px; use a real MRI slice"
        )


def is_dicom(data: bytes) -> bool:
    """True when ``data`` carries the DICOM preamble magic ``DICM``."""
    return data[_DICOM_MAGIC_OFFSET : _DICOM_MAGIC_OFFSET + 4] == b"DICM"


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes to an RGB uint8 array.

    Args:
        data: the encoded file content (JPEG, PNG, BMP, TIFF, or DICOM with pydicom installed).
        name: how to name the input in error messages.

    Returns:
        ``(H, W, 3)`` uint8 RGB; grayscale inputs are replicated to 3 channels.

    Raises:
        ImageError: empty, oversized, not an image, or corrupt.
    """
    if not data:
        raise ImageError(f"{name}: file is empty (0 bytes); pass a JPEG, PNG or DICOM MRI slice")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(
            f"{name}: file is {len(data) / 2**20:.1f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit; "
            "pass a single 2-D slice"
        )
    if is_dicom(data):
        gray = decode_dicom(data, name)
        _check_size(*gray.shape[:2], name)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    size = _header_size(data)
    if size is not None:
        _check_size(*size, name)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ImageError(
            f"{name}: not a readable image (corrupt or unsupported format); pass a JPEG, PNG or DICOM file"
        )
    _check_size(*image.shape[:2], name)
    if image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_image(path: str | Path) -> np.ndarray:
    """Read and decode an image file to ``(H, W, 3)`` uint8 RGB.

    Raises:
        ImageError: missing, unreadable, empty, oversized, not an image, or corrupt.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: file not found; check the path")
    if not path.is_file():
        raise ImageError(f"{path}: not a regular file; pass an image file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ImageError(
            f"{path}: file is {size / 2**20:.1f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit; "
            "pass a single 2-D slice"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read file ({exc.strerror}); check its permissions") from exc
    return decode_image(data, str(path))


def resize_to_input(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB uint8 image to the model input size.

    Args:
        image: ``(H, W, 3)`` uint8.
        size: ``(height, width)`` from the model spec.

    Returns:
        ``(height, width, 3)`` uint8; area interpolation when shrinking, bilinear when growing.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got shape {image.shape} dtype {image.dtype}")
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrinking = image.shape[0] * image.shape[1] > height * width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def scale_pixels(pixels: np.ndarray, scale: float = 1.0 / 255.0) -> np.ndarray:
    """Scale uint8 pixels to the model's float32 input: ``pixels * scale``. Works on any shape."""
    return pixels.astype(np.float32) * np.float32(scale)


def preprocess(image: np.ndarray, size: tuple[int, int], scale: float = 1.0 / 255.0) -> np.ndarray:
    """Decoded RGB uint8 ``(H, W, 3)`` -> model input float32 ``(height, width, 3)``."""
    return scale_pixels(resize_to_input(image, size), scale)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a binary or probability mask ``(H, W)`` to ``size = (height, width)``.

    Binary uint8/bool masks use area interpolation then a 0.5 threshold (so thin structures
    survive shrinking like the image does); float probability maps use bilinear interpolation.
    Returns uint8 {0, 1} for binary input, float32 for float input.
    """
    height, width = size
    if mask.dtype.kind == "f":
        return cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    binary = (mask > 0).astype(np.float32)
    shrinking = mask.shape[0] * mask.shape[1] > height * width
    resized = cv2.resize(binary, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return (resized >= 0.5).astype(np.uint8)
