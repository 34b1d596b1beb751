"""A small synthetic data root in both real layouts, its split lists, and tiny hand-made ONNX models
whose outputs are known in closed form (brightness decides the class / the tumor pixels)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tumorscope.datasets import CLASS_NAMES

LEVELS = {"glioma": 40, "meningioma": 100, "notumor": 160, "pituitary": 220}
"""Gray level of each synthetic class; the brightness classifier picks the nearest level."""
MODEL_LABELS = ("pituitary", "glioma", "notumor", "meningioma")
"""The ONNX classifier's output order, deliberately not CLASS_NAMES order."""
ONNX_SIZE = (24, 24)
SEG_SHAPE = (48, 40)
"""Synthetic slice (height, width): not the model size, so masks are compared after resizing back."""


def _write(path: Path, image: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path.name


def _classification(root: Path, rng: np.random.Generator) -> dict[str, list[str]]:
    """3 Training + 3 Testing images per class, plus one Testing pituitary image as dark as meningioma."""
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": [], "test-dedup": []}
    for part, split in (("Training", "val"), ("Testing", "test")):
        for name in CLASS_NAMES:
            for i in range(3):
                gray = np.clip(LEVELS[name] + rng.integers(-6, 7, (40, 52)), 0, 255).astype(np.uint8)
                image = gray if i % 2 else cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)  # mixed gray/colour JPEGs
                file = _write(root / "brain-tumor-mri" / part / name / f"{name}_{i}.jpg", image)
                splits[split].append(f"{part}/{name}/{file}")
    dark = np.full((40, 52), LEVELS["meningioma"], np.uint8)
    splits["test"].append(f"Testing/pituitary/{_write(root / 'brain-tumor-mri/Testing/pituitary/dark.jpg', dark)}")
    corrupt = root / "brain-tumor-mri/Training/glioma/corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    splits["val"].append("Training/glioma/corrupt.jpg")
    splits["test-dedup"] = splits["test"][::2]
    return splits


def _segmentation(root: Path, rng: np.random.Generator) -> dict[str, list[int]]:
    """8 slices: a bright disc on a dark background; the mask disc is shifted so Dice is below 1."""
    height, width = SEG_SHAPE
    for i in range(1, 9):
        center = (int(rng.integers(12, width - 12)), int(rng.integers(12, height - 12)))
        radius = int(rng.integers(4, 10))
        image = np.full(SEG_SHAPE, 20, np.uint8)
        cv2.circle(image, center, radius, 230, -1)
        mask = np.zeros(SEG_SHAPE, np.uint8)
        cv2.circle(mask, (center[0] + i % 3, center[1]), radius + 1, 255, -1)
        _write(root / "brain-tumor-seg/images" / f"{i}.png", image)
        _write(root / "brain-tumor-seg/masks" / f"{i}.png", mask)
    rows = [f"{i},{i % 3 + 1},x" for i in range(1, 9)]  # Figshare labels: 1 meningioma, 2 glioma, 3 pituitary
    (root / "brain-tumor-seg/labels.csv").write_text("\n".join(["id,label,tumor_type", *rows]) + "\n")
    return {"train": [1, 2], "val": [7, 8], "test": [1, 2, 3, 4, 5, 6]}


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """``(root, {"classifier": splits, "segmenter": splits})`` of a synthetic data root."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(7)
    return root, {"classifier": _classification(root, rng), "segmenter": _segmentation(root, rng)}


@pytest.fixture()
def fake_root(fake_data, monkeypatch) -> Path:
    """The synthetic data root, with the committed split lists replaced by its own (unknown names still raise)."""
    import tumorscope.datasets

    root, splits = fake_data
    committed = tumorscope.datasets.load_split

    def load_split(task: str, split: str) -> list:
        return splits[task][split] if split in splits[task] else committed(task, split)

    monkeypatch.setattr(tumorscope.datasets, "load_split", load_split)
    return root


def _save_onnx(graph, path: Path, spec) -> Path:
    import onnx

    from tumorscope.runtime.spec import save_spec

    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    save_spec(spec, path)
    return path


@pytest.fixture(scope="session")
def brightness_classifier_onnx(tmp_path_factory) -> Path:
    """ONNX classifier, labels in ``MODEL_LABELS`` order: ``softmax(40 * (2 m c - c^2))`` of the mean input
    brightness ``m`` and the class levels ``c``, so the nearest level wins."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from tumorscope.runtime.spec import ModelSpec

    centers = np.array([LEVELS[name] / 255.0 for name in MODEL_LABELS], np.float32)
    weight = numpy_helper.from_array((40.0 * 2 * centers)[None].astype(np.float32), "w")
    bias = numpy_helper.from_array((-40.0 * centers**2).astype(np.float32), "b")
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["mean", "axis"], ["column"]),
        helper.make_node("MatMul", ["column", "w"], ["scaled"]),
        helper.make_node("Add", ["scaled", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "brightness_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", *ONNX_SIZE, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(MODEL_LABELS)])],
        [weight, bias, numpy_helper.from_array(np.array([1], np.int64), "axis")],
    )
    spec = ModelSpec(task="classifier", input_size=ONNX_SIZE, labels=MODEL_LABELS, output_name="probabilities",
                     format="onnx-test")
    return _save_onnx(graph, tmp_path_factory.mktemp("onnx") / "brightness_classifier.onnx", spec)


@pytest.fixture(scope="session")
def brightness_segmenter_onnx(tmp_path_factory) -> Path:
    """ONNX segmenter: ``sigmoid(20 * (channel mean - 0.5))`` per pixel, ``(N, h, w, 1)``."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from tumorscope.runtime.spec import ModelSpec

    nodes = [
        helper.make_node("ReduceMean", ["image"], ["gray"], axes=[3], keepdims=1),
        helper.make_node("Sub", ["gray", "half"], ["centered"]),
        helper.make_node("Mul", ["centered", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["mask"]),
    ]
    graph = helper.make_graph(
        nodes, "brightness_segmenter",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", *ONNX_SIZE, 3])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", *ONNX_SIZE, 1])],
        [numpy_helper.from_array(np.array(0.5, np.float32), "half"),
         numpy_helper.from_array(np.array(20.0, np.float32), "gain")],
    )
    spec = ModelSpec(task="segmenter", input_size=ONNX_SIZE, labels=("tumor",), output_name="mask", format="onnx-test")
    return _save_onnx(graph, tmp_path_factory.mktemp("onnx") / "brightness_segmenter.onnx", spec)
