"""Shared fixtures: the real-data root (skip with a reason when unset, fail when set but missing)
and tiny Keras models, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tumorscope.datasets import CLASS_NAMES, DATA_ENV

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
TINY_SIZE = (32, 32)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data root from $TUMORSCOPE_DATA; skips when unset, fails when set but absent."""
    value = os.environ.get(DATA_ENV)
    if not value:
        pytest.skip(f"real-data test: set {DATA_ENV}=../shared/data (CI does) to run it")
    root = Path(value)
    if not (root / "brain-tumor-mri").is_dir() or not (root / "brain-tumor-seg").is_dir():
        pytest.fail(f"{DATA_ENV}={value} is set but brain-tumor-mri/ or brain-tumor-seg/ is missing there")
    return root


@pytest.fixture(scope="session")
def tiny_classifier_keras(tmp_path_factory) -> Path:
    """A small CNN with the classifier's contract (32x32 RGB [0,1] -> 4 softmax), saved with its spec."""
    keras = pytest.importorskip("keras")
    from keras import layers

    from tumorscope.runtime.spec import ModelSpec, save_spec

    keras.utils.set_random_seed(0)
    inputs = keras.Input((*TINY_SIZE, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(len(CLASS_NAMES), activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs)
    path = tmp_path_factory.mktemp("tiny") / "classifier.keras"
    model.save(path)
    save_spec(ModelSpec(task="classifier", input_size=TINY_SIZE, labels=CLASS_NAMES, output_name="probabilities"), path)
    return path


@pytest.fixture(scope="session")
def tiny_segmenter_keras(tmp_path_factory) -> Path:
    """The real U-Net builder at 32x32, 4 base filters, depth 2, saved with its spec."""
    keras = pytest.importorskip("keras")

    from tumorscope.runtime.spec import ModelSpec, save_spec
    from tumorscope.training.models import build_segmenter

    keras.utils.set_random_seed(0)
    model = build_segmenter(TINY_SIZE, base_filters=4, depth=2)
    path = tmp_path_factory.mktemp("tiny") / "segmenter.keras"
    model.save(path)
    save_spec(ModelSpec(task="segmenter", input_size=TINY_SIZE, labels=("tumor",), output_name="mask"), path)
    return path


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_exports(tmp_path_factory, tiny_classifier_keras, tiny_segmenter_keras) -> dict[str, dict[str, Path]]:
    """Every export format of the tiny Keras models, calibrated and validated on synthetic images.

    Returns ``{"classifier": {format: path}, "segmenter": {format: path}}`` (``keras`` included:
    the original), each artifact with its ``.spec.json`` sidecar. The random-weight U-Net's
    probabilities all sit near 0.5, so thresholded Dice is noise there: the segmenter is held to
    its probability deltas (tests/export) rather than to Dice.
    """
    pytest.importorskip("tf2onnx")
    from tumorscope.export import FORMAT_NAMES, export_model, synthetic_images

    out = tmp_path_factory.mktemp("tiny_exports")
    calibration, validation = synthetic_images(32, TINY_SIZE, seed=1), synthetic_images(16, TINY_SIZE, seed=2)
    lenient_dice = {name: {"max_prob_delta": 0.25, "min_parity_dice": 0.0} for name in FORMAT_NAMES}
    exports = {}
    for task, keras_path, limits in (("classifier", tiny_classifier_keras, None),
                                         ("segmenter", tiny_segmenter_keras, lenient_dice)):
        results = export_model(keras_path, FORMAT_NAMES, out_dir=out, calibration=calibration,
                               validation=validation, limits=limits)
        failed = [r.error for r in results if not r.passed]
        if failed:
            pytest.fail(f"tiny {task} export failed: {failed}")
        exports[task] = {r.format: r.path for r in results}
    return exports
