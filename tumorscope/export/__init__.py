"""Export the Keras models to ONNX and TFLite (fp32 and quantized), validated against the originals.

Needs ``pip install tumorscope[export]``; TensorFlow, tf2onnx and onnx are imported only when used.
Names are loaded on first access, so importing the format table (``tumorscope.export.formats``,
standard library only) stays instant for the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "formats": ("ExportFormat", "FORMATS", "FORMAT_NAMES", "EXPORT_FORMAT_NAMES", "DEPLOY_FORMAT_NAMES",
                "get_format", "parse_formats", "artifact_path"),
    "calibration": ("calibration_images", "validation_images", "synthetic_images"),
    "validation": ("default_limits", "parity_limits", "ExportValidationError"),
    "exporter": ("ExportResult", "export_model", "raise_on_failure", "results_table"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
__all__ = list(_HOME)  # every lazily loaded name, in _MODULES order


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'tumorscope.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tumorscope.export.{_HOME[name]}"), name)
