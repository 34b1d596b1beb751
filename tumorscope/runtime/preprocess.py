"""The one image preprocessing path, shared by training, export calibration, bench, web and runtime.

decode (JPEG/PNG/BMP/TIFF/WebP, grayscale or colour, or DICOM) -> RGB uint8 (H, W, 3)
-> resize to the model's input size -> float32 scaled by the spec (``[0, 1]`` by default).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import cv2
import numpy as np

from tumorscope import MAX_IMAGE_PIXELS
from tumorscope.runtime.dicom import decode_dicom
from tumorscope.runtime.errors import ImageError
from tumorscope.runtime.sizes import MIN_IMAGE_SIDE, check_image_size

__all__ = [
    "ImageError",
    "MAX_FILE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MIN_IMAGE_SIDE",
    "check_image_size",
    "decode_image",
    "load_image",
    "printable_name",
    "resize_to_input",
    "scale_pixels",
    "preprocess",
    "resize_mask",
    "sniff_raster",
]

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest accepted input file (50 MiB)."""
_JPEG_REDUCTIONS = (2, 4, 8)
"""libjpeg DCT scaling factors (``cv2.IMREAD_REDUCED_*``) for baseline JPEGs over ``MAX_IMAGE_PIXELS``."""
_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
_BASELINE_JPEG = (0xC0, 0xC1)
"""SOF markers decoded in one pass; progressive and lossless JPEGs buffer every coefficient, so no reduction."""

_DICOM_MAGIC_OFFSET = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable_name(name: str) -> str:
    """``name`` with control characters escaped (a newline becomes ``\\n``), so it stays on one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), name)


def sniff_raster(data: bytes) -> str | None:
    """The raster format from the leading bytes: ``JPEG``, ``PNG``, ``BMP``, ``TIFF``, ``WebP``, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return "TIFF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def _jpeg_header(data: bytes) -> tuple[int, int, int] | None:
    """``(height, width, SOF marker)`` from the first start-of-frame segment of a JPEG."""
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
            return height, width, marker
        pos += 2 + length
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """ImageLength and ImageWidth of the first IFD of a TIFF or BigTIFF."""
    end = "<" if data[:2] == b"II" else ">"
    big = struct.unpack(end + "H", data[2:4])[0] == 43
    offset_fmt, count_fmt, entry_size = ("Q", "Q", 20) if big else ("I", "H", 12)
    ifd = struct.unpack(end + offset_fmt, data[8:16] if big else data[4:8])[0]
    count_size = struct.calcsize(count_fmt)
    if ifd + count_size > len(data):
        return None
    count = struct.unpack(end + count_fmt, data[ifd : ifd + count_size])[0]
    found: dict[int, int] = {}
    for i in range(min(count, 4096)):
        entry = data[ifd + count_size + i * entry_size : ifd + count_size + (i + 1) * entry_size]
        if len(entry) < entry_size:
            break
        tag, kind = struct.unpack(end + "HH", entry[:4])
        value = entry[12:] if big else entry[8:]
        if tag in (256, 257) and kind in (3, 4, 16):  # SHORT, LONG, LONG8
            fmt = {3: "H", 4: "I", 16: "Q"}[kind]
            found[tag] = struct.unpack(end + fmt, value[: struct.calcsize(fmt)])[0]
    return (found[257], found[256]) if 256 in found and 257 in found else None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """Height and width from a WebP's VP8, VP8L or VP8X chunk."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return height & 0x3FFF, width & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = struct.unpack("<I", data[21:25])[0]
        return ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return height, width
    return None


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Return ``(height, width)`` declared by a JPEG, PNG, BMP, TIFF or WebP header, or None when unreadable."""
    kind = sniff_raster(data)
    try:
        if kind == "PNG" and len(data) >= 24:
            width, height = struct.unpack(">II", data[16:24])
            return height, width
        if kind == "JPEG":
            header = _jpeg_header(data)
            return header[:2] if header else None
        if kind == "BMP" and len(data) >= 26:
            if struct.unpack("<I", data[14:18])[0] == 12:  # BITMAPCOREHEADER: unsigned 16-bit sides
                width, height = struct.unpack("<HH", data[18:22])
            else:
                width, height = struct.unpack("<ii", data[18:26])  # height < 0: stored top-down
            return abs(height), abs(width)
        if kind == "TIFF":
            return _tiff_size(data)
        if kind == "WebP":
            return _webp_size(data)
    except struct.error:
        return None
    return None


def is_dicom(data: bytes) -> bool:
    """True when ``data`` carries the DICOM preamble magic ``DICM``."""
    return data[_DICOM_MAGIC_OFFSET : _DICOM_MAGIC_OFFSET + 4] == b"DICM"


def _jpeg_reduction(data: bytes) -> int:
    """1 for a JPEG within ``MAX_IMAGE_PIXELS``; else the smallest libjpeg scale (2, 4, 8) that brings a
    baseline JPEG under it; 1 (refused by the size check) when none does or the JPEG is progressive."""
    header = _jpeg_header(data)
    if header is None or header[0] * header[1] <= MAX_IMAGE_PIXELS or header[2] not in _BASELINE_JPEG:
        return 1
    height, width, _ = header
    for factor in _JPEG_REDUCTIONS:
        if -(-height // factor) * -(-width // factor) <= MAX_IMAGE_PIXELS:
            return factor
    return 1


def _unreadable(name: str) -> ImageError:
    return ImageError(
        f"{name}: not a readable image (corrupt or unsupported format); "
        "pass a JPEG, PNG, BMP, TIFF, WebP or DICOM file"
    )


def _decode_raster(data: bytes, name: str) -> np.ndarray:
    """JPEG/PNG/BMP/TIFF/WebP bytes -> OpenCV array, size checked from the header before decoding."""
    if sniff_raster(data) is None:
        raise _unreadable(name)
    size = _header_size(data)
    if size is None:
        raise _unreadable(name)
    factor = _jpeg_reduction(data) if sniff_raster(data) == "JPEG" else 1
    if factor == 1:
        check_image_size(*size, name)
    flags = cv2.IMREAD_UNCHANGED if factor == 1 else _REDUCED_FLAGS[factor] | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error as exc:  # e.g. OPENCV_IO_MAX_IMAGE_PIXELS refused a size the header parse missed
        raise ImageError(f"{name}: OpenCV refused the image ({str(exc).strip().splitlines()[-1][-120:]}); "
                         f"pass a 2-D slice under {MAX_IMAGE_PIXELS / 1e6:.1f} MP") from exc
    if image is None or image.size == 0:
        raise _unreadable(name)
    check_image_size(*image.shape[:2], name)
    return image


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes to an RGB uint8 array.

    Every format's declared size is checked against ``MAX_IMAGE_PIXELS`` from its header before
    anything is decoded. A baseline JPEG over the limit (up to 64 times it) is decoded straight at
    1/2, 1/4 or 1/8 scale instead, so its result is in those reduced pixels; smaller inputs are
    decoded unchanged.

    Args:
        data: the encoded file content (JPEG, PNG, BMP, TIFF, WebP, or DICOM with pydicom installed).
        name: how to name the input in error messages (control characters are escaped).

    Returns:
        ``(H, W, 3)`` uint8 RGB; grayscale inputs are replicated to 3 channels.

    Raises:
        ImageError: empty, oversized, not an image, or corrupt.
    """
    name = printable_name(name)
    if not data:
        raise ImageError(f"{name}: file is empty (0 bytes); pass a JPEG, PNG or DICOM MRI slice")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(
            f"{name}: file is {len(data) / 2**20:.1f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit; "
            "pass a single 2-D slice"
        )
    if is_dicom(data):
        gray = decode_dicom(data, name)
        check_image_size(*gray.shape[:2], name)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    image = _decode_raster(data, name)
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
    shown = printable_name(str(path))
    if not path.exists():
        raise ImageError(f"{shown}: file not found; check the path")
    if not path.is_file():
        raise ImageError(f"{shown}: not a regular file; pass an image file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ImageError(
            f"{shown}: file is {size / 2**20:.1f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit; "
            "pass a single 2-D slice"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{shown}: cannot read file ({exc.strerror}); check its permissions") from exc
    return decode_image(data, shown)


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
