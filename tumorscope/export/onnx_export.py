"""Keras -> ONNX (tf2onnx, opset 17, dynamic batch) and ONNX fp32 -> static QDQ int8 (ONNX Runtime)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tumorscope.export.deps import require
from tumorscope.runtime.spec import SPEC_METADATA_KEY, ModelSpec

__all__ = ["OPSET", "export_onnx", "quantize_onnx_int8", "set_spec_metadata", "ImageCalibrationReader"]

OPSET = 17
CALIBRATION_FLUSH = 16
"""Calibration batches held in memory before ONNX Runtime folds them into running min/max."""


def set_spec_metadata(model: Any, spec: ModelSpec) -> None:
    """Write ``spec`` as JSON into ``model.metadata_props[SPEC_METADATA_KEY]`` (an ``onnx.ModelProto``)."""
    for prop in list(model.metadata_props):
        if prop.key == SPEC_METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = SPEC_METADATA_KEY, spec.to_json()


def export_onnx(model: Any, spec: ModelSpec, path: str | Path) -> Path:
    """Convert a Keras model to fp32 ONNX with the spec's input/output names and the spec in its metadata.

    Args:
        model: a loaded ``keras.Model`` taking ``(N, H, W, 3)`` float32.
        spec: the artifact's spec (input size, ``input_name``, ``output_name``).
        path: the ``.onnx`` file to write.

    Returns:
        ``path``; the graph has input ``spec.input_name`` ``(N, H, W, 3)`` float32 with a dynamic
        batch and one output ``spec.output_name``.
    """
    tf = require("tensorflow")
    tf2onnx = require("tf2onnx")
    onnx = require("onnx")
    height, width = spec.input_size
    signature = [tf.TensorSpec([None, height, width, 3], tf.float32, name=spec.input_name)]

    @tf.function(input_signature=signature)
    def forward(image):
        return {spec.output_name: model(image, training=False)}

    proto, _ = tf2onnx.convert.from_function(forward, input_signature=signature, opset=OPSET)
    outputs = [o.name for o in proto.graph.output]
    if outputs != [spec.output_name]:
        raise RuntimeError(f"tf2onnx named the outputs {outputs}, expected [{spec.output_name!r}]")
    set_spec_metadata(proto, spec)
    path = Path(path)
    onnx.save(proto, str(path))
    return path


class ImageCalibrationReader:
    """ONNX Runtime ``CalibrationDataReader`` over preprocessed images; re-iterable via ``rewind``.

    Args:
        images: ``(N, H, W, 3)`` float32 calibration inputs.
        input_name: the graph input to feed.
        batch_size: images per calibration batch.
    """

    def __init__(self, images: np.ndarray, input_name: str, batch_size: int = 8):
        self.images = np.asarray(images, dtype=np.float32)
        self.input_name = input_name
        self.batch_size = batch_size
        self._batches: Iterator[dict[str, np.ndarray]] = iter(())
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next ``{input_name: (B, H, W, 3) float32}`` feed, or None when done."""
        return next(self._batches, None)

    def rewind(self) -> None:
        """Start again from the first image."""
        starts = range(0, len(self.images), self.batch_size)
        self._batches = ({self.input_name: self.images[s : s + self.batch_size]} for s in starts)

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)


def quantize_onnx_int8(fp32_path: str | Path, path: str | Path, spec: ModelSpec, calibration: np.ndarray) -> Path:
    """Static QDQ int8 quantization of an fp32 ONNX model.

    ``quant_pre_process`` (shape inference + graph optimization), then ``quantize_static`` with
    QInt8 activations and weights, per-channel weights and MinMax calibration over ``calibration``
    (``(N, H, W, 3)`` float32 TRAINING images). Intermediate files live in a temporary directory;
    only ``path`` is written, with ``spec`` in its metadata.
    """
    onnx = require("onnx")
    quantization = require("onnxruntime.quantization")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if len(calibration) == 0:
        raise ValueError("ONNX int8 quantization needs at least one calibration image")
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="tumorscope-onnx-int8-") as work:
        prepared = Path(work) / "prepared.onnx"
        quantized = Path(work) / "quantized.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantization.quantize_static(
            str(prepared),
            str(quantized),
            ImageCalibrationReader(calibration, spec.input_name),
            quant_format=quantization.QuantFormat.QDQ,
            activation_type=quantization.QuantType.QInt8,
            weight_type=quantization.QuantType.QInt8,
            per_channel=True,
            calibrate_method=quantization.CalibrationMethod.MinMax,
            extra_options={"CalibMaxIntermediateOutputs": CALIBRATION_FLUSH},
        )
        proto = onnx.load(str(quantized))
    set_spec_metadata(proto, spec)
    onnx.save(proto, str(path))
    return path
