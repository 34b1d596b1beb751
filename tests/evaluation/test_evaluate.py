"""evaluate_classifier / evaluate_segmenter on a synthetic data root, checked against hand counts and
a manual numpy computation of the same model outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tumorscope.datasets import CLASS_NAMES
from tumorscope.evaluation.evaluate import evaluate, evaluate_classifier, evaluate_segmenter
from tumorscope.runtime.preprocess import load_image, preprocess

MODEL_LABELS = ("pituitary", "glioma", "notumor", "meningioma")  # the ONNX classifier's order (conftest)
CLASSIFIER_KEYS = {"split", "n", "accuracy", "macro_auc", "per_class", "confusion_matrix", "ece", "model",
                   "format", "seconds"}
SEGMENTER_KEYS = {"split", "n", "dice", "iou", "dice_median", "area_pct_mae", "model", "format"}


def _inputs(paths: list[str], size: tuple[int, int]) -> np.ndarray:
    return np.stack([preprocess(load_image(p), size) for p in paths])


def _manual_segmentation(paths: list[str], probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """Per-slice Dice, IoU and area % from model probabilities ``(N, h, w)``, written out with numpy/OpenCV."""
    out: dict[str, list[float]] = {"dice": [], "iou": [], "true": [], "pred": []}
    for path, probability in zip(paths, probabilities, strict=True):
        true = cv2.imread(path.replace("/images/", "/masks/"), cv2.IMREAD_GRAYSCALE) > 127
        height, width = true.shape
        pred = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR) > 0.5
        inter, p, t = (pred & true).sum(), pred.sum(), true.sum()
        out["dice"].append(2 * inter / (p + t))
        out["iou"].append(inter / (pred | true).sum())
        out["true"].append(100 * t / true.size)
        out["pred"].append(100 * p / true.size)
    return {k: np.array(v) for k, v in out.items()}


def test_onnx_classifier_matches_hand_counts(fake_root, brightness_classifier_onnx):
    result = evaluate_classifier(brightness_classifier_onnx, fake_root, "test")
    assert CLASSIFIER_KEYS <= set(result)
    json.dumps(result, allow_nan=False)  # JSON-ready: no NaN, no numpy types
    # 12 images at their class level + 1 pituitary image at the meningioma level
    assert result["n"] == 13 and result["errors"] == []
    assert result["accuracy"] == pytest.approx(12 / 13)
    assert result["labels"] == list(MODEL_LABELS) and result["format"] == "onnx-test"
    cm = np.array(result["confusion_matrix"])  # rows/columns in the model's label order
    expected = np.diag([3, 3, 3, 3])
    expected[0, 0], expected[0, 3] = 3, 1  # pituitary (4 images): 3 right, 1 called meningioma
    np.testing.assert_array_equal(cm, expected)
    pituitary = result["per_class"]["pituitary"]
    assert {k: pituitary[k] for k in ("precision", "recall", "f1", "support")} == pytest.approx(
        {"precision": 1.0, "recall": 0.75, "f1": 2 * 0.75 / 1.75, "support": 4})
    assert 0.5 < pituitary["auc"] < 1.0  # the dark pituitary image scores like the meningioma ones
    assert result["per_class"]["meningioma"]["precision"] == pytest.approx(0.75)
    assert result["per_class"]["glioma"]["auc"] == 1.0 and result["macro_auc"] < 1.0
    assert 0.0 <= result["ece"] <= 1.0


def test_unreadable_images_are_recorded_and_skipped(fake_root, brightness_classifier_onnx):
    result = evaluate_classifier(brightness_classifier_onnx, fake_root, "val")
    assert result["n"] == 12 and result["accuracy"] == 1.0
    assert len(result["errors"]) == 1 and result["errors"][0]["path"].endswith("corrupt.jpg")


def test_limit_takes_an_even_spread_over_the_split(fake_root, brightness_classifier_onnx):
    evaluation = evaluate("classifier", brightness_classifier_onnx, fake_root, "test", limit=4)
    assert evaluation.result["n"] == 4
    assert sorted(evaluation.raw["labels"].tolist()) == [0, 1, 2, 3]  # one image of every class
    with pytest.raises(ValueError, match="limit"):
        evaluate_classifier(brightness_classifier_onnx, fake_root, limit=0)


def test_batches_do_not_change_the_result(fake_root, brightness_classifier_onnx):
    one = evaluate("classifier", brightness_classifier_onnx, fake_root, batch_size=1)
    many = evaluate("classifier", brightness_classifier_onnx, fake_root, batch_size=5)
    np.testing.assert_allclose(one.raw["probabilities"], many.raw["probabilities"], atol=1e-6)
    assert one.result["confusion_matrix"] == many.result["confusion_matrix"]


def test_keras_classifier_matches_manual_computation(fake_root, tiny_classifier_keras):
    import keras

    evaluation = evaluate("classifier", tiny_classifier_keras, fake_root, "test")
    paths = evaluation.raw["paths"]
    labels = np.array([CLASS_NAMES.index(Path(p).parent.name) for p in paths])
    model = keras.models.load_model(tiny_classifier_keras, compile=False)
    probabilities = np.asarray(model(_inputs(paths, (32, 32)), training=False))
    np.testing.assert_allclose(evaluation.raw["probabilities"], probabilities, atol=1e-6)
    np.testing.assert_array_equal(evaluation.raw["labels"], labels)
    assert evaluation.result["accuracy"] == pytest.approx(np.mean(probabilities.argmax(1) == labels))
    assert evaluation.result["format"] == "keras"


def test_onnx_segmenter_matches_manual_computation(fake_root, brightness_segmenter_onnx):
    evaluation = evaluate("segmenter", brightness_segmenter_onnx, fake_root, "test")
    result, raw = evaluation.result, evaluation.raw
    assert SEGMENTER_KEYS <= set(result) and result["n"] == 6
    json.dumps(result, allow_nan=False)
    x = _inputs(raw["paths"], (24, 24))
    probabilities = 1 / (1 + np.exp(-20 * (x.mean(axis=-1) - 0.5)))  # the model, in numpy
    manual = _manual_segmentation(raw["paths"], probabilities.astype(np.float32))
    np.testing.assert_allclose(raw["dice"], manual["dice"], atol=1e-9)
    assert result["dice"] == pytest.approx(manual["dice"].mean())
    assert result["dice_median"] == pytest.approx(np.median(manual["dice"]))
    assert result["iou"] == pytest.approx(manual["iou"].mean())
    assert result["area_pct_mae"] == pytest.approx(np.abs(manual["pred"] - manual["true"]).mean())
    assert 0.5 < result["dice"] < 0.99  # the mask discs are shifted and larger than the bright ones


def test_keras_segmenter_matches_manual_computation(fake_root, tiny_segmenter_keras):
    import keras

    evaluation = evaluate("segmenter", tiny_segmenter_keras, fake_root, "val")
    paths = evaluation.raw["paths"]
    assert [Path(p).name for p in paths] == ["7.png", "8.png"]
    model = keras.models.load_model(tiny_segmenter_keras, compile=False)
    probabilities = np.asarray(model(_inputs(paths, (32, 32)), training=False))[..., 0]
    manual = _manual_segmentation(paths, probabilities)
    np.testing.assert_allclose(evaluation.raw["dice"], manual["dice"], atol=1e-9)
    np.testing.assert_allclose(evaluation.raw["pred_area_pct"], manual["pred"], atol=1e-9)
    assert evaluation.result["dice"] == pytest.approx(manual["dice"].mean())


def test_bad_inputs_raise_one_clear_error(fake_root, brightness_classifier_onnx, tmp_path):
    with pytest.raises(ValueError, match="classifier model"):
        evaluate_segmenter(brightness_classifier_onnx, fake_root)
    with pytest.raises(ValueError, match="unknown segmenter split"):
        evaluate("segmenter", brightness_classifier_onnx, fake_root, "test-dedup")
    with pytest.raises(FileNotFoundError, match="not found"):
        evaluate_classifier(tmp_path / "missing.onnx", fake_root)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate_classifier(brightness_classifier_onnx, tmp_path / "no-data")
    with pytest.raises(ValueError, match="unknown task"):
        evaluate("detector", brightness_classifier_onnx, fake_root)


def test_onnx_evaluation_does_not_import_tensorflow(fake_data, brightness_classifier_onnx):
    root, splits = fake_data
    code = (
        "import json, sys\n"
        "import tumorscope.datasets as d\n"
        f"splits = json.loads({json.dumps(json.dumps(splits))})\n"
        "d.load_split = lambda task, split: splits[task][split]\n"
        "from tumorscope.evaluation.evaluate import evaluate_classifier\n"
        f"result = evaluate_classifier({str(brightness_classifier_onnx)!r}, {str(root)!r})\n"
        "print(result['n'], sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["13", "[]"]
