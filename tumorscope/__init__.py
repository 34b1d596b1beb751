"""tumorscope: brain-tumor MRI classification and segmentation that runs on the edge.

For research and education only. Not a medical device; not for diagnosis.
"""

from __future__ import annotations

import os

__all__ = ["__version__", "DISCLAIMER", "MAX_IMAGE_PIXELS"]

__version__ = "0.1.0"

DISCLAIMER = "For research and education only - not for clinical diagnosis."

MAX_IMAGE_PIXELS = 4096 * 4096
"""Largest accepted image, in pixels (height x width), for every format: checked from the file header
before anything is decoded. Also handed to OpenCV as ``OPENCV_IO_MAX_IMAGE_PIXELS`` (below), which OpenCV
reads once when ``cv2`` is first imported, so its own decoders refuse bigger images before allocating."""

os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))
# onnxruntime's telemetry writes ~/.cache/Microsoft/DeveloperTools/.onnxruntime/* and $TMPDIR/.ses when it is
# imported; this variable (read at import) turns it off. Set ORT_DISABLE_TELEMETRY=0 beforehand to keep it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
