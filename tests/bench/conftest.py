"""A tiny synthetic data root in the real layouts (split lists patched in) and model folders built from the
session's tiny exports, for benchmarking without the real models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tumorscope.datasets import CLASS_NAMES
from tumorscope.runtime.spec import spec_path_for

LEVELS = {"glioma": 40, "meningioma": 100, "notumor": 160, "pituitary": 220}
IMAGE_SHAPE = (40, 36)
"""Synthetic image (height, width): not the tiny models' 32x32, so the preprocessing resizes."""


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def _classification(root: Path, rng: np.random.Generator) -> dict[str, list[str]]:
    """Two Training (train/val) and two Testing JPEGs per class: a gray level per class plus a bright blob."""
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": [], "test-dedup": []}
    for part in ("Training", "Testing"):
        for name in CLASS_NAMES:
            for i in range(2):
                gray = np.clip(LEVELS[name] + rng.normal(0, 12, IMAGE_SHAPE), 0, 255).astype(np.uint8)
                cv2.circle(gray, (int(rng.integers(8, 28)), int(rng.integers(8, 32))), 6, 250, -1)
                rel = f"{part}/{name}/{name}_{i}.jpg"
                _write(root / "brain-tumor-mri" / rel, gray)
                if part == "Testing":
                    splits["test"].append(rel)
                else:
                    splits["train" if i == 0 else "val"].append(rel)
    splits["test-dedup"] = splits["test"][::2]
    return splits


def _segmentation(root: Path, rng: np.random.Generator) -> dict[str, list[int]]:
    """Eight slices: a bright disc on a dark textured background, the mask a slightly shifted disc."""
    for i in range(1, 9):
        image = np.clip(30 + rng.normal(0, 10, IMAGE_SHAPE), 0, 255).astype(np.uint8)
        center, radius = (int(rng.integers(10, 26)), int(rng.integers(10, 30))), int(rng.integers(4, 9))
        cv2.circle(image, center, radius, 220, -1)
        mask = np.zeros(IMAGE_SHAPE, np.uint8)
        cv2.circle(mask, (center[0] + 1, center[1]), radius, 255, -1)
        _write(root / "brain-tumor-seg" / "images" / f"{i}.png", image)
        _write(root / "brain-tumor-seg" / "masks" / f"{i}.png", mask)
    return {"train": [1, 2, 3], "val": [4, 5], "test": [3, 4, 5, 6, 7, 8]}


@pytest.fixture(scope="session")
def bench_data(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """``(root, {"classifier": splits, "segmenter": splits})`` of a synthetic data root."""
    root = tmp_path_factory.mktemp("bench_data")
    rng = np.random.default_rng(3)
    return root, {"classifier": _classification(root, rng), "segmenter": _segmentation(root, rng)}


@pytest.fixture(scope="module")
def bench_root(bench_data):
    """The synthetic data root with ``tumorscope.datasets.load_split`` returning its own split lists."""
    root, splits = bench_data
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tumorscope.datasets.load_split", lambda task, split: splits[task][split])
        yield root


def copy_artifact(source: Path, target: Path) -> Path:
    """Copy a model file and its ``.spec.json`` sidecar to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    shutil.copyfile(spec_path_for(source), spec_path_for(target))
    return target


@pytest.fixture(scope="session")
def make_model_dir(tiny_exports, tmp_path_factory):
    """``make_model_dir(task, formats)``: a fresh ``--model-dir`` with ``<task>.keras`` and the given tiny
    exports under their format-table names."""
    from tumorscope.export.formats import artifact_path

    def make(task: str, formats: tuple[str, ...] | list[str]) -> Path:
        folder = tmp_path_factory.mktemp("models")
        keras = copy_artifact(tiny_exports[task]["keras"], folder / f"{task}.keras")
        for name in formats:
            if name != "keras":
                copy_artifact(tiny_exports[task][name], artifact_path(keras, name, folder))
        return folder

    return make


@pytest.fixture(scope="session")
def gate_thresholds(tmp_path_factory) -> Path:
    """The committed limits without the ground-truth floors (the tiny models are untrained)."""
    from tumorscope.assess.limits import LIMITS_FILE

    raw = json.loads(LIMITS_FILE.read_text(encoding="utf-8"))
    del raw["agreement_with_ground_truth"]
    path = tmp_path_factory.mktemp("gate") / "thresholds.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def negate_last_weights(path: Path) -> Path:
    """Rewrite an int8 ONNX model with the int8 weights of the layer that computes its probabilities negated,
    keeping its spec sidecar: the file still loads and looks valid, but its top-1 class turns into the bottom-1
    class.

    Works on both layouts: integer operators (the weights are an int8 initializer input of QLinearMatMul,
    QGemm, QLinearConv) and QDQ (they reach MatMul/Gemm/Conv through a DequantizeLinear).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    producers = {out: node for node in model.graph.node for out in node.output}
    initializers = {init.name: init for init in model.graph.initializer}
    weighted = ("MatMul", "Gemm", "Conv", "QLinearMatMul", "QGemm", "QLinearConv")
    last = producers[model.graph.output[0].name]  # the probabilities: walk back to the layer that weighs them
    while last.op_type not in weighted:
        last = producers[last.input[0]]
    candidates = [producers[name].input[0] if name in producers and producers[name].op_type == "DequantizeLinear"
                  else name for name in last.input]
    weights = next(initializers[name] for name in candidates if name in initializers
                   and initializers[name].data_type == onnx.TensorProto.INT8 and len(initializers[name].dims) >= 2)
    values = numpy_helper.to_array(weights)
    weights.CopyFrom(numpy_helper.from_array(np.clip(-values.astype(np.int16), -127, 127).astype(np.int8),
                                             weights.name))
    onnx.save(model, path)
    return path


@pytest.fixture(scope="session")
def broken_model_dir(make_model_dir) -> Path:
    """A classifier ``--model-dir`` whose ``classifier.int8.onnx`` has negated last-layer weights (same spec)."""
    folder = make_model_dir("classifier", ("onnx-int8",))
    negate_last_weights(folder / "classifier.int8.onnx")
    return folder
