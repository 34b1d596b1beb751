"""Inputs for the hot-path benchmarks: the committed synthetic slice and tiny hand-built ONNX models
(NHWC in, the real models' output contracts), so the suite needs neither real data nor trained weights."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tumorscope.datasets import CLASS_NAMES

SLICE = Path(__file__).resolve().parents[1] / "examples" / "synthetic_slice.png"
MODEL_SIZE = (64, 64)


@pytest.fixture(scope="session")
def slice_rgb() -> np.ndarray:
    """The synthetic 256x256 slice as ``(H, W, 3)`` uint8 RGB."""
    gray = cv2.imread(str(SLICE), cv2.IMREAD_GRAYSCALE)
    assert gray is not None, f"{SLICE} missing"
    return np.repeat(gray[..., None], 3, axis=2)


@pytest.fixture(scope="session")
def slice_jpeg(slice_rgb) -> bytes:
    """The slice resized to the Kaggle set's 224x224 and JPEG-encoded, as an upload would arrive."""
    ok, data = cv2.imencode(".jpg", cv2.resize(slice_rgb, (224, 224), interpolation=cv2.INTER_AREA))
    assert ok
    return data.tobytes()


def _save(graph, path: Path, spec) -> Path:
    import onnx

    from tumorscope.runtime.spec import save_spec

    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    save_spec(spec, path)
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """``{"classifier": path, "segmenter": path}``: small conv nets as ONNX with spec sidecars.

    Classifier: NHWC -> Conv 3x3 (8) -> ReLU -> global average -> Gemm (4) -> Softmax.
    Segmenter: NHWC -> Conv 3x3 (8) -> ReLU -> Conv 1x1 (1) -> Sigmoid -> NHWC ``(N, h, w, 1)``.
    """
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from tumorscope.runtime.spec import ModelSpec

    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("bench_models")

    def weights(name: str, *shape: int) -> object:
        return numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", *MODEL_SIZE, 3])
    stem = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w1", "b1"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["features"]),
    ]
    stem_weights = [weights("w1", 8, 3, 3, 3), weights("b1", 8)]
    classifier = helper.make_graph(
        stem + [
            helper.make_node("GlobalAveragePool", ["features"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("Gemm", ["flat", "w2", "b2"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "classifier", [image],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(CLASS_NAMES)])],
        stem_weights + [weights("w2", 8, len(CLASS_NAMES)), weights("b2", len(CLASS_NAMES))],
    )
    segmenter = helper.make_graph(
        stem + [
            helper.make_node("Conv", ["features", "w2", "b2"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["probability"]),
            helper.make_node("Transpose", ["probability"], ["mask"], perm=[0, 2, 3, 1]),
        ],
        "segmenter", [image], [helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", *MODEL_SIZE, 1])],
        stem_weights + [weights("w2", 1, 8, 1, 1), weights("b2", 1)],
    )
    return {
        "classifier": _save(classifier, folder / "classifier.onnx", ModelSpec(
            task="classifier", input_size=MODEL_SIZE, labels=CLASS_NAMES, output_name="probabilities",
            format="onnx")),
        "segmenter": _save(segmenter, folder / "segmenter.onnx", ModelSpec(
            task="segmenter", input_size=MODEL_SIZE, labels=("tumor",), output_name="mask", format="onnx")),
    }
