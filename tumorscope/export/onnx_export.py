"""Keras -> ONNX (tf2onnx, opset 17, dynamic batch) and ONNX fp32 -> static int8 (ONNX Runtime)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tumorscope.export.deps import require
from tumorscope.runtime.spec import SPEC_METADATA_KEY, ModelSpec

__all__ = ["OPSET", "output_names", "CALIBRATION_METHODS", "QUANT_FORMATS", "export_onnx", "quantize_onnx_int8",
           "first_spatial_conv",
           "set_spec_metadata", "ImageCalibrationReader", "keep_outputs"]

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


def _rename_tensor(graph: Any, old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new`` everywhere in an ``onnx.GraphProto``."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in (*graph.input, *graph.output):
        if value.name == old:
            value.name = new


def output_names(spec: ModelSpec) -> list[str]:
    """Graph output names in order: the main output, then the trust outputs the spec names (if any)."""
    return [spec.output_name] + [name for name in (spec.features_name, spec.cam_name, spec.check_name) if name]


def _frozen_graph(model: Any, spec: ModelSpec) -> tuple[Any, str, list[str]]:
    """``(graph_def, input tensor, output tensors)`` of ``model`` traced with a dynamic-batch input.

    Variables and captured constants (e.g. a Normalization layer's mean) are folded into the
    graph; converting the ``tf.function`` directly would leave captured constants as extra inputs.
    """
    tf = require("tensorflow")
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    height, width = spec.input_size

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name=spec.input_name)])
    def forward(image):
        return model(image, training=False)

    frozen = convert_variables_to_constants_v2(forward.get_concrete_function())
    wanted = len(output_names(spec))
    if len(frozen.inputs) != 1 or len(frozen.outputs) != wanted:
        raise RuntimeError(
            f"expected a model with one input and {wanted} output(s), got {len(frozen.inputs)} and "
            f"{len(frozen.outputs)}"
        )
    return frozen.graph.as_graph_def(), frozen.inputs[0].name, [t.name for t in frozen.outputs]


def export_onnx(model: Any, spec: ModelSpec, path: str | Path) -> Path:
    """Convert a Keras model to fp32 ONNX with the spec's input/output names and the spec in its metadata.

    Args:
        model: a loaded ``keras.Model`` taking ``(N, H, W, 3)`` float32.
        spec: the artifact's spec (input size, ``input_name``, ``output_name``).
        path: the ``.onnx`` file to write.

    Returns:
        ``path``; the graph has one input ``spec.input_name`` ``(N, H, W, 3)`` float32 with a
        dynamic batch and the outputs ``output_names(spec)`` (``spec.output_name`` first).
    """
    tf2onnx = require("tf2onnx")
    onnx = require("onnx")
    graph_def, input_tensor, output_tensors = _frozen_graph(model, spec)
    proto, _ = tf2onnx.convert.from_graph_def(
        graph_def, input_names=[input_tensor], output_names=output_tensors, opset=OPSET
    )
    _rename_tensor(proto.graph, input_tensor, spec.input_name)
    for tensor, name in zip(output_tensors, output_names(spec), strict=True):
        _rename_tensor(proto.graph, tensor, name)
    names = ([i.name for i in proto.graph.input], [o.name for o in proto.graph.output])
    if names != ([spec.input_name], output_names(spec)):
        raise RuntimeError(f"ONNX graph has inputs/outputs {names}, expected [{spec.input_name!r}], "
                           f"{output_names(spec)!r}")
    set_spec_metadata(proto, spec)
    path = Path(path)
    onnx.save(proto, str(path))
    return path


class ImageCalibrationReader:
    """ONNX Runtime ``CalibrationDataReader`` over preprocessed images; re-iterable via ``rewind``.

    Args:
        images: ``(N, H, W, 3)`` float32 calibration inputs.
        input_name: the graph input to feed.
        batch_size: most images per calibration batch. Every batch holds the same number (the largest divisor of
            N up to ``batch_size``): the entropy and percentile calibrators stack the batches' activations and
            fail on a shorter last batch.
    """

    def __init__(self, images: np.ndarray, input_name: str, batch_size: int = 8):
        self.images = np.asarray(images, dtype=np.float32)
        self.input_name = input_name
        self.batch_size = max(size for size in range(1, max(batch_size, 1) + 1) if len(self.images) % size == 0)
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


CALIBRATION_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
"""ONNX Runtime calibration methods by CLI name -> ``onnxruntime.quantization.CalibrationMethod`` member."""

QUANT_FORMATS = {"qoperator": ("QOperator", "QUInt8"), "qdq": ("QDQ", "QInt8")}
"""int8 graph layouts by CLI name -> (``QuantFormat`` member, activation ``QuantType`` member).

``qoperator`` (default) writes the integer operators themselves (QLinearConv, QLinearMatMul, ...) with uint8
activations: ONNX Runtime's CPU provider runs them as written. ``qdq`` writes float operators between
QuantizeLinear/DequantizeLinear pairs (int8 activations) and leaves the fusion to the runtime: what
GPU providers (TensorRT) expect, but ONNX Runtime's CPU provider does not fuse a convolution whose
quantized output is read twice, so the classifier's extra outputs (input check, class maps) cost it
about a third of its latency.
"""


def first_spatial_conv(proto: Any) -> str | None:
    """Name of the first ``Conv`` node (graph order) with a kernel larger than 1x1, None when there is none."""
    shapes = {t.name: list(t.dims) for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Conv" and len(node.input) > 1 and shapes.get(node.input[1], [0, 0, 1, 1])[2:] != [1, 1]:
            return node.name
    return None


def quantize_onnx_int8(
    fp32_path: str | Path, path: str | Path, spec: ModelSpec, calibration: np.ndarray, method: str = "minmax",
    quant_format: str = "qoperator",
) -> Path:
    """Static int8 quantization of an fp32 ONNX model.

    ``quant_pre_process`` (shape inference + graph optimization), then ``quantize_static`` in the
    ``quant_format`` layout (one of ``QUANT_FORMATS``) with int8 per-channel 7-bit-range weights
    (``reduce_range``: x86-64 CPUs without VNNI, AVX2 only, multiply u8 x s8 pairs into saturating int16
    sums, so full-range weights give results that differ from VNNI and ARM machines; 7-bit weights cannot
    saturate) and ``method`` calibration (one of ``CALIBRATION_METHODS``; entropy fits the U-Net's
    activations better than min-max) over ``calibration``
    (``(N, H, W, 3)`` float32 TRAINING images). A segmenter's first 3x3 convolution stays float
    (``first_spatial_conv``): it reads the image beside its mirror channel, and rounding that pair to int8 cost the
    mirror-channel U-Net ONNX-vs-TFLite mask parity (Dice 0.973 -> 0.981 on the 500 test slices with it float).
    Intermediate files live in a temporary directory; only ``path`` is written, with ``spec`` in its metadata.
    """
    onnx = require("onnx")
    quantization = require("onnxruntime.quantization")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if len(calibration) == 0:
        raise ValueError("ONNX int8 quantization needs at least one calibration image")
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"unknown ONNX calibration method {method!r}; choose one of {', '.join(CALIBRATION_METHODS)}")
    if quant_format not in QUANT_FORMATS:
        raise ValueError(f"unknown ONNX int8 format {quant_format!r}; choose one of {', '.join(QUANT_FORMATS)}")
    layout, activations = QUANT_FORMATS[quant_format]
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="tumorscope-onnx-int8-") as work:
        prepared = Path(work) / "prepared.onnx"
        quantized = Path(work) / "quantized.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        first = first_spatial_conv(onnx.load(str(prepared))) if spec.task == "segmenter" else None
        quantization.quantize_static(
            str(prepared),
            str(quantized),
            ImageCalibrationReader(calibration, spec.input_name),
            quant_format=getattr(quantization.QuantFormat, layout),
            activation_type=getattr(quantization.QuantType, activations),
            weight_type=quantization.QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            calibrate_method=getattr(quantization.CalibrationMethod, CALIBRATION_METHODS[method]),
            nodes_to_exclude=[first] if first else [],
            extra_options={"CalibMaxIntermediateOutputs": CALIBRATION_FLUSH},
        )
        proto = onnx.load(str(quantized))
    set_spec_metadata(proto, spec)
    onnx.save(proto, str(path))
    return path


def keep_outputs(path: str | Path, names: list[str]) -> bytes:
    """The ONNX model at ``path`` with only the graph outputs ``names`` and the nodes they need, serialized.

    The bench times it beside the full model to measure what the extra (trust) outputs cost.
    """
    onnx = require("onnx")
    model = onnx.load(str(path))
    graph = model.graph
    missing = set(names) - {o.name for o in graph.output}
    if missing:
        raise ValueError(f"{path}: no graph output named {', '.join(sorted(missing))}")
    kept_outputs = [type(o).FromString(o.SerializeToString()) for o in graph.output if o.name in names]
    del graph.output[:]
    graph.output.extend(kept_outputs)
    nodes = list(graph.node)
    producer = {out: i for i, node in enumerate(nodes) for out in node.output}
    needed, stack = set(), list(names)
    while stack:
        index = producer.get(stack.pop())
        if index is not None and index not in needed:
            needed.add(index)
            stack.extend(nodes[index].input)
    kept_nodes = [type(n).FromString(n.SerializeToString()) for i, n in enumerate(nodes) if i in needed]
    used = {name for node in kept_nodes for name in node.input}
    kept_inits = [type(t).FromString(t.SerializeToString()) for t in graph.initializer if t.name in used]
    del graph.node[:]
    graph.node.extend(kept_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    return model.SerializeToString()
