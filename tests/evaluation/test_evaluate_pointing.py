"""The pointing game on Figshare-style slices (``figshare-test``), with a Keras classifier whose Grad-CAM peaks
on the brightest spot: a hit where the expert mask covers that spot, a miss where it covers a dimmer one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tumorscope.evaluation.evaluate import evaluate_classifier
from tumorscope.evaluation.report import format_summary

SIZE = (32, 32)
SHAPE = (64, 64)


@pytest.fixture()
def figshare_root(tmp_path, monkeypatch) -> Path:
    """Four slices, each with a bright (230) and a dim (120) disc, placed differently in each; slices 1-2 have the
    mask on the bright disc, 3-4 on the dim one. Slices 1 and 3 are gliomas, 2 and 4 pituitary tumours. The
    classifier's train split holds a copy of slice 1."""
    import tumorscope.datasets

    root = tmp_path / "data"
    for folder in ("images", "masks"):
        (root / "brain-tumor-seg" / folder).mkdir(parents=True)
    for part in ("Training/glioma", "Testing"):
        (root / "brain-tumor-mri" / part).mkdir(parents=True)
    layouts = {1: ((16, 16), (48, 48)), 2: ((48, 16), (16, 48)), 3: ((16, 48), (48, 16)), 4: ((48, 48), (16, 16))}
    for i, (bright, dim) in layouts.items():
        image, mask = np.full(SHAPE, 20, np.uint8), np.zeros(SHAPE, np.uint8)
        cv2.circle(image, bright, 6, 230, -1)
        cv2.circle(image, dim, 6, 120, -1)
        cv2.circle(mask, bright if i <= 2 else dim, 7, 255, -1)
        assert cv2.imwrite(str(root / "brain-tumor-seg" / "images" / f"{i}.png"), image)
        assert cv2.imwrite(str(root / "brain-tumor-seg" / "masks" / f"{i}.png"), mask)
        if i == 1:  # the classifier trained on a copy of slice 1 (Nickparvar re-publishes Figshare)
            assert cv2.imwrite(str(root / "brain-tumor-mri" / "Training" / "glioma" / "copy.jpg"), image)
    (root / "brain-tumor-seg" / "labels.csv").write_text("id,label,tumor_type\n1,2,\n2,3,\n3,2,\n4,3,\n",
                                                          encoding="utf-8")
    lists = {"classifier": {"train": ["Training/glioma/copy.jpg"], "val": []}}
    monkeypatch.setattr(tumorscope.datasets, "load_split",
                        lambda task, split: lists.get(task, {}).get(split, [1, 2, 3, 4]))
    return root


@pytest.fixture()
def brightness_keras(tmp_path) -> Path:
    """1x1 conv ``relu(mean RGB - 0.1)`` -> global mean -> Dense that always favours glioma."""
    keras = pytest.importorskip("keras")
    from keras import layers

    from tumorscope.datasets import CLASS_NAMES
    from tumorscope.runtime.spec import ModelSpec, save_spec

    inputs = keras.Input((*SIZE, 3))
    conv = layers.Conv2D(1, 1, activation="relu", name="conv")
    dense = layers.Dense(len(CLASS_NAMES), activation="softmax", name="probabilities")
    model = keras.Model(inputs, dense(layers.GlobalAveragePooling2D()(conv(inputs))))
    conv.set_weights([np.full((1, 1, 3, 1), 1 / 3, np.float32), np.array([-0.1], np.float32)])
    dense.set_weights([np.array([[4.0, 1.0, 0.0, 2.0]], np.float32), np.array([1.0, 0, 0, 0], np.float32)])
    path = tmp_path / "classifier.keras"
    model.save(path)
    save_spec(ModelSpec(task="classifier", input_size=SIZE, labels=CLASS_NAMES, output_name="probabilities"), path)
    return path


def test_a_hit_needs_the_peak_inside_the_dilated_expert_mask(figshare_root, brightness_keras):
    result = evaluate_classifier(brightness_keras, figshare_root, "figshare-test")
    assert result["n"] == 4 and result["accuracy"] == 0.5  # all called glioma; two of them are
    game = result["pointing_game"]
    # predicted class (glioma) and true class (pituitary, also positive evidence on bright pixels): the peak is
    # on the bright disc, inside the mask of slices 1-2 only
    assert (game["slices"], game["hits_predicted"], game["hits_true"]) == (4, 2, 2)
    assert game["rate_predicted"] == 0.5 and 0.02 < game["rate_random"] < 0.2
    assert "pointing game (4 slices" in format_summary(result)


def test_splits_without_masks_report_no_pointing_game(fake_root, brightness_classifier_onnx):
    assert "pointing_game" not in evaluate_classifier(brightness_classifier_onnx, fake_root, "test")


def test_unseen_split_drops_the_slices_the_classifier_trained_on(figshare_root, brightness_keras):
    result = evaluate_classifier(brightness_keras, figshare_root, "figshare-test-unseen")
    assert result["n"] == 3 and result["pointing_game"]["hits_predicted"] == 1  # slice 1 (a hit) is gone
