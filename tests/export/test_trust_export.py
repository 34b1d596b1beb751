"""Classifier exports carry the trust outputs and a fitted input check; the runtime uses them on both backends."""

from __future__ import annotations

import numpy as np
import pytest

from tumorscope.export import synthetic_images
from tumorscope.runtime import Classifier, Pipeline
from tumorscope.runtime.inputcheck import STATUS_OK, STATUS_UNAVAILABLE, InputCheckModel
from tumorscope.runtime.spec import load_spec

SIZE = (32, 32)
DEPLOY = ("onnx-int8", "tflite-int8")


@pytest.mark.parametrize("name", ["onnx", "onnx-int8", "tflite", "tflite-int8"])
def test_classifier_artifacts_have_trust_outputs_and_a_fitted_input_check(tiny_exports, name):
    path = tiny_exports["classifier"][name]
    spec = load_spec(path)
    assert spec.features_name == "features" and spec.cam_name == "class_maps"
    assert spec.check_name == spec.check_output == "check_features"
    model = InputCheckModel.from_spec(spec.input_check)
    assert model is not None and np.isfinite(model.threshold) and spec.input_check["fit_images"] == 32
    assert model.dim == 8  # the tiny CNN's first conv block (8 filters), averaged over space
    assert spec.input_check["val_rejected"] <= 0.01  # 16 val images: the threshold accepts all of them
    images = [(i * 255).astype(np.uint8) for i in synthetic_images(4, SIZE, seed=2)]  # validation images
    with Classifier.create_from_path(path) as clf:
        results = clf.classify_batch(images)
    assert [r.input_check.status for r in results] == [STATUS_OK] * 4
    for r in results:
        assert r.class_map is not None and r.class_map.ndim == 2 and r.class_map.shape[0] > 1
        assert r.input_check.score <= r.input_check.threshold


def test_segmenter_artifacts_are_unchanged_by_the_trust_outputs(tiny_exports):
    spec = load_spec(tiny_exports["segmenter"]["onnx-int8"])
    assert spec.features_name == "" and spec.cam_name == "" and spec.input_check == {}
    assert spec.confident_area_pct is None  # measured on real tumour-free val slices only


def test_pipeline_json_has_input_check_warnings_and_peak(tiny_exports, tmp_path):
    import shutil

    for task in ("classifier", "segmenter"):
        for name, suffix in (("onnx-int8", ".int8.onnx"), ("tflite-int8", ".int8.tflite")):
            source = tiny_exports[task][name]
            shutil.copy(source, tmp_path / f"{task}{suffix}")
            shutil.copy(f"{source}.spec.json", tmp_path / f"{task}{suffix}.spec.json")
    image = (synthetic_images(1, SIZE, seed=2)[0] * 255).astype(np.uint8)
    for backend in ("onnx", "tflite"):
        with Pipeline.from_model_dir(tmp_path, backend) as pipe:
            analysis = pipe.analyze(image, "slice")
            row = analysis.to_dict()
            assert row["input_check"]["status"] == STATUS_OK and isinstance(row["warnings"], list)
            x, y = row["explanation_peak"]
            assert 0 <= x < SIZE[1] and 0 <= y < SIZE[0]
            assert analysis.explanation_image().shape[1] == SIZE[1]
            if row["label"] == "notumor":
                assert row["tumor_area_pct"] == 0 or "segmenter_disagrees" in row["warnings"]


def test_older_exports_without_trust_outputs_report_unavailable(normalized_free_export):
    with Classifier.create_from_path(normalized_free_export) as clf:
        result = clf.classify(np.zeros((20, 20, 3), np.uint8))
    assert result.input_check.status == STATUS_UNAVAILABLE and result.class_map is None
    assert result.input_check.to_dict() == {"status": "unavailable", "score": None, "threshold": None}


@pytest.fixture(scope="module")
def normalized_free_export(tiny_classifier_keras, tmp_path_factory):
    """The tiny classifier exported with ``trust_count=0``: probabilities only, like exports before #13."""
    from tumorscope.export import export_model

    out = tmp_path_factory.mktemp("plain")
    (result,) = export_model(tiny_classifier_keras, ["onnx"], out_dir=out, calibration=synthetic_images(8, SIZE),
                             validation=synthetic_images(8, SIZE, seed=3), trust_count=0)
    assert result.passed, result.error
    assert load_spec(result.path).features_name == ""
    return result.path


def _dense_head_classifier(hidden_layers: int = 1):
    """A tiny CNN with VGG16's head shape: conv maps -> 2x2 max-pool -> flatten -> ReLU Dense -> dropout -> softmax."""
    keras = pytest.importorskip("keras")
    from keras import layers

    keras.utils.set_random_seed(3)
    inputs = keras.Input((*SIZE, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(12, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    for _ in range(hidden_layers):
        x = layers.Dense(16, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(inputs, layers.Dense(4, activation="softmax")(x))


def test_exported_class_maps_are_each_images_grad_cam():
    keras = pytest.importorskip("keras")
    from tumorscope.export.trust import grad_cam_maps, trust_model
    from tumorscope.runtime.explain import cam_head, class_maps_from_outputs

    model = _dense_head_classifier()
    images = synthetic_images(6, SIZE, seed=5)
    rebuilt, cam_weights = trust_model(model, images)
    assert cam_weights["gated"] is True
    fresh = synthetic_images(5, SIZE, seed=9)  # not the probes trust_model checked itself on
    _, features, maps, check = rebuilt.predict(fresh, verbose=0)
    got = class_maps_from_outputs(maps, features, *cam_head(cam_weights))
    first_block = keras.Model(model.inputs, model.layers[1].output)  # input of the last pooling before the last conv
    assert np.allclose(check, first_block.predict(fresh, verbose=0).mean(axis=(1, 2)), atol=1e-5)
    want = grad_cam_maps(model, fresh)
    assert got.shape == want.shape == (5, SIZE[0] // 2, SIZE[1] // 2, 4)
    assert np.allclose(got, want, atol=1e-5 * np.abs(want).max())
    per_image = want.reshape(5, -1, 4)
    assert np.ptp(per_image.mean(axis=1), axis=0).max() > 0, "maps differ per image, not one averaged weighting"


def test_class_map_export_refuses_a_head_it_cannot_project():
    from tumorscope.export.trust import trust_model

    with pytest.raises(ValueError, match="at most one hidden Dense"):
        trust_model(_dense_head_classifier(hidden_layers=2), synthetic_images(4, SIZE, seed=5))
