"""The one table of model formats: it drives the export functions, the bench rows and the CLI choices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ExportFormat",
    "FORMATS",
    "FORMAT_NAMES",
    "EXPORT_FORMAT_NAMES",
    "DEPLOY_FORMAT_NAMES",
    "get_format",
    "parse_formats",
    "artifact_path",
]


@dataclass(frozen=True)
class ExportFormat:
    """One row of the format table.

    Attributes:
        name: CLI/bench name, e.g. ``onnx-int8``.
        suffix: file suffix appended to the Keras file's stem, e.g. ``.int8.onnx``.
        backend: ``keras`` (the original), ``onnx`` or ``tflite``.
        quantization: ``none`` (fp32), ``fp16`` (float16 weights), ``dynamic`` (int8 weights,
            float activations) or ``int8`` (int8 weights and activations, calibrated).
        description: one line for tables and ``--help``.
    """

    name: str
    suffix: str
    backend: str
    quantization: str
    description: str

    @property
    def calibrated(self) -> bool:
        """True when the export needs calibration images (static int8)."""
        return self.quantization == "int8"


FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("keras", ".keras", "keras", "none", "the trained Keras original (TensorFlow), not exported"),
    ExportFormat("onnx", ".onnx", "onnx", "none", "ONNX fp32, opset 17, dynamic batch"),
    ExportFormat("onnx-int8", ".int8.onnx", "onnx", "int8",
                 "ONNX static int8 (integer operators or QDQ), per-channel weights"),
    ExportFormat("tflite", ".tflite", "tflite", "none", "TFLite fp32, batch 1"),
    ExportFormat("tflite-fp16", ".fp16.tflite", "tflite", "fp16", "TFLite float16 weights, batch 1"),
    ExportFormat("tflite-dynamic", ".dynamic.tflite", "tflite", "dynamic", "TFLite dynamic-range int8 weights"),
    ExportFormat("tflite-int8", ".int8.tflite", "tflite", "int8", "TFLite full-integer int8, batch 1"),
)
FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in FORMATS)
EXPORT_FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in FORMATS if f.backend != "keras")
"""Formats ``export`` produces (everything but the original)."""
DEPLOY_FORMAT_NAMES: tuple[str, ...] = ("onnx-int8", "tflite-int8")
"""The shipped deployables in ``models/``."""

_BY_NAME = {f.name: f for f in FORMATS}


def get_format(name: str | ExportFormat) -> ExportFormat:
    """The table row called ``name`` (an ``ExportFormat`` passes through).

    Raises:
        ValueError: unknown name; the message lists the known ones.
    """
    if isinstance(name, ExportFormat):
        return name
    key = str(name).strip().lower()
    if key not in _BY_NAME:
        raise ValueError(f"unknown model format {name!r}; choose from {', '.join(FORMAT_NAMES)}")
    return _BY_NAME[key]


def parse_formats(value: str | Iterable[str | ExportFormat] | None) -> tuple[ExportFormat, ...]:
    """``"onnx,tflite-int8"`` or a list of names -> table rows, in the given order, without repeats.

    ``None`` or ``"all"`` gives every exportable format (all but ``keras``).
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        names: Iterable[str | ExportFormat] = EXPORT_FORMAT_NAMES
    elif isinstance(value, str):
        names = [part for part in value.split(",") if part.strip()]
    else:
        names = value
    formats = tuple(dict.fromkeys(get_format(n) for n in names))
    if not formats:
        raise ValueError(f"no model format given; choose from {', '.join(FORMAT_NAMES)}")
    return formats


def artifact_path(keras_path: str | Path, fmt: str | ExportFormat, out_dir: str | Path) -> Path:
    """Where format ``fmt`` of ``keras_path`` goes: ``out_dir/<stem><suffix>``.

    Example: ``artifact_path("models/classifier.keras", "onnx-int8", "models")`` ->
    ``models/classifier.int8.onnx``.
    """
    return Path(out_dir) / (Path(keras_path).stem + get_format(fmt).suffix)
