"""Keras -> TFLite traced with a batch-1 static input signature: fp32, fp16, dynamic-range and full-integer int8.

A static batch of 1 matters: a dynamic batch dimension splits XNNPACK's delegate partitions and
roughly doubles latency. The runtime's ``LiteRTBackend`` runs images one by one and (de)quantizes
int8 input/output tensors from their quantization parameters.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tumorscope.export.deps import require
from tumorscope.runtime.spec import ModelSpec

__all__ = ["TFLITE_QUANTIZATIONS", "affine_normalization", "export_tflite"]

TFLITE_QUANTIZATIONS = ("none", "fp16", "dynamic", "int8")


def affine_normalization(model: Any) -> Any:
    """``model`` with every Keras ``Normalization`` layer replaced by the equivalent ``Rescaling``.

    ``(x - mean) / std`` becomes ``x * (1 / std) + (-mean / std)``; all other layers (and their
    weights) are shared. Needed for int8: the TFLite quantizer gives the ``Sub`` output of a
    Normalization layer the scale of the following ``Mul`` (about 1.0 for a ``[0, 1] -> [0, 255]``
    normalization), which zeroes the input and made the int8 classifier output a constant.
    """
    keras = require("keras")
    from keras import ops

    def swap(layer):
        if not isinstance(layer, keras.layers.Normalization) or layer.invert:
            return layer
        mean = ops.convert_to_numpy(layer.mean).astype(np.float32)
        std = np.maximum(np.sqrt(ops.convert_to_numpy(layer.variance).astype(np.float32)), keras.backend.epsilon())
        return keras.layers.Rescaling(scale=1.0 / std, offset=-mean / std, name=layer.name)

    def has_normalization(layer) -> bool:
        nested = getattr(layer, "layers", ())
        return isinstance(layer, keras.layers.Normalization) or any(has_normalization(n) for n in nested)

    if not has_normalization(model):
        return model
    return keras.models.clone_model(model, clone_function=swap, recursive=True)


def _configure(converter: Any, quantization: str, calibration: np.ndarray | None) -> None:
    """Set the converter's optimization options for ``quantization``."""
    tf = require("tensorflow")
    if quantization == "none":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        images = np.asarray(calibration, dtype=np.float32)

        def representative_dataset():
            for image in images:
                yield [image[None]]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8


def export_tflite(
    model: Any, spec: ModelSpec, path: str | Path, quantization: str = "none", calibration: np.ndarray | None = None
) -> Path:
    """Convert a Keras model to a batch-1 TFLite flatbuffer.

    Args:
        model: a loaded ``keras.Model`` taking ``(N, H, W, 3)`` float32.
        spec: the artifact's spec (input size, input name).
        path: the ``.tflite`` file to write.
        quantization: ``none`` (fp32), ``fp16`` (float16 weights), ``dynamic`` (int8 weights,
            float activations) or ``int8`` (int8 ops, int8 input/output; needs ``calibration``).
        calibration: ``(N, H, W, 3)`` float32 TRAINING images, the representative dataset for ``int8``.

    Returns:
        ``path``; input ``(1, H, W, 3)`` float32 (int8 for ``int8``), static (no -1 in the shape
        signature). The intermediate SavedModel lives in a temporary directory.
    """
    if quantization not in TFLITE_QUANTIZATIONS:
        raise ValueError(f"unknown TFLite quantization {quantization!r}; choose from {TFLITE_QUANTIZATIONS}")
    if quantization == "int8" and (calibration is None or len(calibration) == 0):
        raise ValueError("TFLite int8 export needs calibration images (the representative dataset)")
    tf = require("tensorflow")
    with tempfile.TemporaryDirectory(prefix="tumorscope-tflite-") as work:
        height, width = spec.input_size
        signature = [tf.TensorSpec([1, height, width, 3], tf.float32, name=spec.input_name)]
        affine_normalization(model).export(work, format="tf_saved_model", verbose=False, input_signature=signature)
        converter = tf.lite.TFLiteConverter.from_saved_model(work)
        _configure(converter, quantization, calibration)
        try:
            flatbuffer = converter.convert()
        except Exception as exc:  # the converter raises assorted internal error types
            raise RuntimeError(f"TFLite conversion ({quantization}) failed: {exc}") from exc
    path = Path(path)
    path.write_bytes(flatbuffer)
    return path
