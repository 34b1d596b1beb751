"""Export of the tiny Keras models: artifacts, quantization, spec round-trip, agreement and failure handling."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest

from tumorscope.export import ExportValidationError, artifact_path, export_model, synthetic_images
from tumorscope.export.deps import require
from tumorscope.export.exporter import raise_on_failure
from tumorscope.export.formats import FORMAT_NAMES, get_format
from tumorscope.runtime.spec import SPEC_METADATA_KEY, ModelSpec, load_spec, save_spec, spec_path_for

pytest.importorskip("tf2onnx")

TASKS = ("classifier", "segmenter")
SIZE = (32, 32)


def _onnx_ops(path) -> set[str]:
    onnx = pytest.importorskip("onnx")
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def _tflite_details(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


@pytest.mark.parametrize("task", TASKS)
def test_every_format_is_written_with_its_sidecar(tiny_exports, task, tiny_classifier_keras, tiny_segmenter_keras):
    keras_path = tiny_classifier_keras if task == "classifier" else tiny_segmenter_keras
    paths = tiny_exports[task]
    assert set(paths) == set(FORMAT_NAMES)
    assert paths["keras"] == keras_path
    for name, path in paths.items():
        assert path.is_file() and path.stat().st_size > 0, name
        assert spec_path_for(path).is_file(), name
        if name != "keras":
            assert path == artifact_path(keras_path, name, path.parent)
    leftovers = [p.name for p in paths["onnx"].parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # temporary work folders are gone


@pytest.mark.parametrize("task", TASKS)
def test_int8_onnx_really_runs_integer_convolutions(tiny_exports, task):
    onnx = pytest.importorskip("onnx")
    quantized = _onnx_ops(tiny_exports[task]["onnx-int8"])
    float_convs = [n for n in onnx.load(str(tiny_exports[task]["onnx-int8"])).graph.node if n.op_type == "Conv"]
    assert "QLinearConv" in quantized
    assert len(float_convs) == (1 if task == "segmenter" else 0)  # a segmenter's first 3x3 convolution stays float
    assert not {"QLinearConv", "QuantizeLinear", "DequantizeLinear"} & _onnx_ops(tiny_exports[task]["onnx"])


def test_onnx_qdq_layout_is_available_and_formats_are_validated(tiny_exports, tmp_path):
    from tumorscope.export.onnx_export import quantize_onnx_int8

    fp32 = tiny_exports["classifier"]["onnx"]
    spec = load_spec(fp32)
    images = synthetic_images(8, spec.input_size)
    with pytest.raises(ValueError, match="unknown ONNX int8 format 'bogus'"):
        quantize_onnx_int8(fp32, tmp_path / "x.onnx", spec, images, quant_format="bogus")
    qdq = quantize_onnx_int8(fp32, tmp_path / "qdq.onnx", spec, images, quant_format="qdq")
    ops = _onnx_ops(qdq)
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops and "QLinearConv" not in ops
    import onnxruntime as ort

    float_run, qdq_run = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32, qdq))
    expected, got = (s.run(None, {"image": images}) for s in (float_run, qdq_run))
    assert [o.name for o in qdq_run.get_outputs()] == [o.name for o in float_run.get_outputs()]
    assert np.abs(got[0] - expected[0]).max() < 0.05  # the probabilities


@pytest.mark.parametrize("task", TASKS)
def test_onnx_io_names_and_dynamic_batch(tiny_exports, task):
    import onnxruntime as ort

    spec = load_spec(tiny_exports[task]["keras"])
    for name in ("onnx", "onnx-int8"):
        session = ort.InferenceSession(str(tiny_exports[task][name]), providers=["CPUExecutionProvider"])
        (inp,), (out, *extra) = session.get_inputs(), session.get_outputs()
        assert inp.name == spec.input_name == "image"
        assert out.name == spec.output_name
        assert [o.name for o in extra] == (["features", "class_maps", "check_features"] if task == "classifier" else [])
        assert not isinstance(inp.shape[0], int) and inp.shape[1:] == [*SIZE, 3]
        batch = synthetic_images(3, SIZE, seed=5)
        assert session.run(None, {inp.name: batch})[0].shape[0] == 3


@pytest.mark.parametrize("task", TASKS)
def test_int8_tflite_really_has_int8_tensors(tiny_exports, task):
    interpreter = _tflite_details(tiny_exports[task]["tflite-int8"])
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    dtypes = [t["dtype"] for t in interpreter.get_tensor_details()]
    assert sum(d == np.int8 for d in dtypes) > len(dtypes) / 2
    assert np.float32 not in {d for d in dtypes}
    fp32 = _tflite_details(tiny_exports[task]["tflite"])
    assert np.int8 not in {t["dtype"] for t in fp32.get_tensor_details()}
    fp16 = _tflite_details(tiny_exports[task]["tflite-fp16"])
    assert np.float16 in {t["dtype"] for t in fp16.get_tensor_details()}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", ["tflite", "tflite-fp16", "tflite-dynamic", "tflite-int8"])
def test_tflite_input_is_static_batch_one(tiny_exports, task, name):
    detail = _tflite_details(tiny_exports[task][name]).get_input_details()[0]
    assert list(detail["shape"]) == [1, *SIZE, 3]
    assert list(detail["shape_signature"]) == [1, *SIZE, 3]  # no -1: XNNPACK gets one static partition


@pytest.mark.parametrize("task", TASKS)
def test_spec_round_trips_through_sidecar_and_onnx_metadata(tiny_exports, task):
    import onnxruntime as ort

    keras_path = tiny_exports[task]["keras"]
    source = load_spec(keras_path)
    sha = hashlib.sha256(keras_path.read_bytes()).hexdigest()
    for name, path in tiny_exports[task].items():
        if name == "keras":
            continue
        spec = load_spec(path)
        assert spec.format == name and spec.source_sha256 == sha
        assert {"tensorflow", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert"} <= set(spec.versions)
        trust = {k: getattr(source, k) for k in (
            "features_name", "cam_name", "cam_weights", "check_name", "input_check", "confident_area_pct")}
        assert spec.replace(**trust) == source.replace(format=name, source_sha256=sha, versions=spec.versions)
        if get_format(name).backend == "onnx":
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            meta = session.get_modelmeta().custom_metadata_map[SPEC_METADATA_KEY]
            assert ModelSpec.from_json(meta) == spec


def test_artifacts_agree_with_keras_on_fresh_synthetic_images(tiny_exports):
    from tumorscope.assess.models import open_model
    from tumorscope.assess.parity import compare_outputs
    from tumorscope.export.exporter import run_batched

    images = synthetic_images(24, SIZE, seed=11)  # not the calibration/validation images
    max_delta = {"none": 1e-4, "fp16": 5e-3, "dynamic": 0.02, "int8": 0.05}
    for task in TASKS:
        reference = run_batched(open_model(tiny_exports[task]["keras"]), images)
        for name, path in tiny_exports[task].items():
            if name == "keras":
                continue
            backend = open_model(path)
            checks = compare_outputs(task, reference, run_batched(backend, images))
            backend.close()
            assert checks["max_prob_delta"] <= max_delta[get_format(name).quantization], (task, name, checks)
            if task == "classifier":
                assert checks["agreement"] >= 0.95, (name, checks)


@pytest.fixture(scope="module")
def tiny_images():
    return synthetic_images(8, SIZE, seed=1), synthetic_images(8, SIZE, seed=2)


def test_failing_tolerance_fails_that_format_and_writes_nothing(tiny_classifier_keras, tiny_images, tmp_path):
    calibration, validation = tiny_images
    impossible = {"min_agreement": 1.01, "max_prob_delta": 1.0}
    results = export_model(tiny_classifier_keras, ["onnx", "tflite"], out_dir=tmp_path, calibration=calibration,
                           validation=validation, limits={"onnx": impossible})
    onnx, tflite = results
    assert not onnx.passed and "agreement 1.0000 < min_agreement 1.01" in onnx.error and onnx.checks["agreement"] == 1.0
    assert not onnx.path.exists() and not spec_path_for(onnx.path).exists()
    assert tflite.passed and tflite.error is None and tflite.path.is_file()
    with pytest.raises(ExportValidationError, match=r"1 of 2 formats: onnx: .*agreement"):
        raise_on_failure(results)
    raise_on_failure([tflite])  # all passed: no error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classifier.tflite", "classifier.tflite.spec.json"]


def test_corrupted_artifact_fails_and_keeps_the_previous_good_one(tiny_classifier_keras, tiny_images, tmp_path,
                                                                   monkeypatch):
    import tumorscope.export.exporter as exporter

    def broken(model, spec, path, quantization="none", calibration=None):
        path.write_bytes(b"not a flatbuffer")
        return path

    monkeypatch.setattr(exporter, "export_tflite", broken)
    previous = tmp_path / "classifier.int8.tflite"
    previous.write_bytes(b"the good one")
    calibration, validation = tiny_images
    (result,) = export_model(tiny_classifier_keras, "tflite-int8", out_dir=tmp_path, calibration=calibration,
                             validation=validation)
    assert not result.passed and result.error.startswith("tflite-int8: ") and "LiteRT cannot load" in result.error
    assert "\n" not in result.error
    assert previous.read_bytes() == b"the good one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classifier.int8.tflite"]


def test_keras_row_points_at_the_original_and_needs_no_data(tiny_classifier_keras, tmp_path, monkeypatch):
    monkeypatch.delenv("TUMORSCOPE_DATA", raising=False)
    (result,) = export_model(tiny_classifier_keras, ["keras"], out_dir=tmp_path)
    assert result.passed and result.path == tiny_classifier_keras and result.size_mb > 0
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_raise_clear_errors(tiny_classifier_keras, tiny_images, tmp_path, monkeypatch):
    calibration, validation = tiny_images
    with pytest.raises(ValueError, match=r"validation images must be \(N, 32, 32, 3\)"):
        export_model(tiny_classifier_keras, "onnx", out_dir=tmp_path, validation=validation[:, :16])
    with pytest.raises(TypeError, match="float"):
        export_model(tiny_classifier_keras, "onnx", out_dir=tmp_path, validation=(validation * 255).astype(np.uint8))
    monkeypatch.delenv("TUMORSCOPE_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="TUMORSCOPE_DATA"):
        export_model(tiny_classifier_keras, "onnx-int8", out_dir=tmp_path, validation=validation)
    with pytest.raises(FileNotFoundError, match="model file not found"):
        export_model(tmp_path / "missing.keras", "onnx", out_dir=tmp_path, validation=validation)
    with pytest.raises(ValueError, match="unknown model format"):
        export_model(tiny_classifier_keras, "onnx-int4", out_dir=tmp_path, validation=validation)
    assert list(tmp_path.iterdir()) == []


def test_missing_optional_dependency_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(ImportError, match=r"tf2onnx .*`pip install tumorscope\[export\]"):
        require("tf2onnx")


@pytest.fixture(scope="module")
def normalized_keras(tmp_path_factory):
    """A tiny classifier that normalizes inside the graph exactly like build_classifier (ImageNet mean, x255)."""
    import keras
    from keras import layers

    from tumorscope.runtime.spec import save_spec
    from tumorscope.training.models import IMAGENET_MEAN_RGB

    keras.utils.set_random_seed(0)
    inputs = keras.Input((*SIZE, 3), name="image")
    mean = np.array(IMAGENET_MEAN_RGB, np.float32) / 255.0
    x = layers.Normalization(mean=mean, variance=(1.0 / 255.0) ** 2 * np.ones(3), name="imagenet_norm")(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.Flatten()(layers.MaxPooling2D(4)(layers.Conv2D(8, 3, padding="same", activation="relu")(x)))
    outputs = layers.Dense(4, activation="softmax", name="probabilities")(layers.Dense(16, activation="relu")(x))
    path = tmp_path_factory.mktemp("normalized") / "normalized.keras"
    keras.Model(inputs, outputs).save(path)
    spec = ModelSpec(task="classifier", input_size=SIZE, labels=("a", "b", "c", "d"), output_name="probabilities")
    save_spec(spec, path)
    return path


def test_in_graph_normalization_survives_every_backend(normalized_keras, tmp_path):
    """Captured constants must not become ONNX inputs; TFLite int8 must not collapse the normalized input."""
    import onnxruntime as ort

    calibration, validation = synthetic_images(32, SIZE, seed=1), synthetic_images(32, SIZE, seed=2)
    loose = {"min_agreement": 0.9, "max_prob_delta": 0.25}  # random weights: tiny margins
    results = export_model(normalized_keras, ["onnx", "onnx-int8", "tflite-int8"], out_dir=tmp_path,
                           calibration=calibration, validation=validation,
                           limits={name: loose for name in ("onnx", "onnx-int8", "tflite-int8")})
    for result in results:
        assert result.passed, result.error  # the collapsed int8 input gave ~0.5 agreement
    for result in results[:2]:
        session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["image"]
        assert [o.name for o in session.get_outputs()] == ["probabilities", "features", "class_maps", "check_features"]


def test_affine_normalization_is_equivalent_and_shares_weights(normalized_keras):
    import keras

    from tumorscope.export.tflite_export import affine_normalization

    model = keras.models.load_model(normalized_keras, compile=False)
    rewritten = affine_normalization(model)
    kinds = [type(layer).__name__ for layer in rewritten.layers]
    assert "Normalization" not in kinds and "Rescaling" in kinds
    images = synthetic_images(4, SIZE, seed=9)
    np.testing.assert_allclose(np.asarray(rewritten(images)), np.asarray(model(images)), atol=1e-5)
    assert rewritten.get_layer("probabilities") is model.get_layer("probabilities")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert affine_normalization(plain) is plain


def test_onnx_calibration_batches_all_hold_the_same_number_of_images():
    from tumorscope.export.onnx_export import ImageCalibrationReader

    for count, size in ((200, 8), (10, 5), (13, 1), (3, 3)):
        reader = ImageCalibrationReader(np.zeros((count, 4, 4, 3)), "image")
        batches = [feed["image"] for feed in iter(reader.get_next, None)]
        assert {len(batch) for batch in batches} == {size} and sum(map(len, batches)) == count == size * len(reader)


def test_onnx_calibration_method_is_validated_and_used(tiny_exports, tmp_path):
    onnx = pytest.importorskip("onnx")
    from tumorscope.export.onnx_export import quantize_onnx_int8

    fp32 = tiny_exports["segmenter"]["onnx"]
    spec = load_spec(fp32)
    images = synthetic_images(10, spec.input_size)  # batches of 5: the histogram calibrators stack equal batches
    with pytest.raises(ValueError, match="unknown ONNX calibration method 'bogus'"):
        quantize_onnx_int8(fp32, tmp_path / "x.onnx", spec, images, method="bogus")
    out = quantize_onnx_int8(fp32, tmp_path / "entropy.onnx", spec, images, method="entropy")
    assert "QuantizeLinear" in {node.op_type for node in onnx.load(str(out)).graph.node}


def test_a_mirror_channel_segmenter_exports_to_int8_and_keeps_its_asymmetry(tmp_path):
    """The mirror channel's fixed layers (channel mean, anti-identity Dense) convert to both int8 formats, and the
    exported graphs still tell an image from its mirror image as Keras does."""
    keras = pytest.importorskip("keras")
    from tumorscope.assess.models import open_model
    from tumorscope.export.exporter import run_batched
    from tumorscope.training.models import build_segmenter

    keras.utils.set_random_seed(6)
    model = build_segmenter(SIZE, base_filters=4, depth=2, mirror=True)
    kernel = model.get_layer("enc1_conv1").kernel.numpy()
    kernel[:, :, 3] *= 8.0  # make the mirrored channel matter
    model.get_layer("enc1_conv1").kernel.assign(kernel)
    path = tmp_path / "segmenter.keras"
    model.save(path)
    save_spec(ModelSpec(task="segmenter", input_size=SIZE, labels=("tumor",), output_name="mask"), path)
    lenient_dice = {name: {"max_prob_delta": 0.25, "min_parity_dice": 0.0} for name in FORMAT_NAMES}  # conftest
    raise_on_failure(export_model(path, ["onnx-int8", "tflite-int8"], out_dir=tmp_path, limits=lenient_dice,
                                  calibration=synthetic_images(16, SIZE, seed=1),
                                  validation=synthetic_images(8, SIZE, seed=2)))
    images = synthetic_images(8, SIZE, seed=12)
    images[:, :, : SIZE[1] // 2] *= 0.3  # left-right asymmetric
    mirrored = images[:, :, ::-1].copy()
    reference = run_batched(open_model(path), images)
    keras_gap = np.abs(reference - run_batched(open_model(path), mirrored)[:, :, ::-1]).mean()
    for name in ("onnx-int8", "tflite-int8"):
        backend = open_model(artifact_path(path, name, tmp_path))
        out, flipped = run_batched(backend, images), run_batched(backend, mirrored)[:, :, ::-1]
        backend.close()
        assert np.abs(out - reference).max() <= 0.05, name
        assert np.abs(out - flipped).mean() == pytest.approx(keras_gap, rel=0.25), name
    assert keras_gap > 0.005


def test_first_spatial_conv_skips_one_by_one_convolutions():
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    from tumorscope.export.onnx_export import first_spatial_conv

    weights = [numpy_helper.from_array(np.zeros(shape, np.float32), name)
               for name, shape in (("w1", (1, 3, 1, 1)), ("w3", (4, 4, 3, 3)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["g"], name="gray"),
             helper.make_node("Conv", ["g", "w3"], ["y"], name="enc1"),
             helper.make_node("Conv", ["y", "w3"], ["z"], name="enc2")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)], weights)
    assert first_spatial_conv(helper.make_model(graph)) == "enc1"
    assert first_spatial_conv(helper.make_model(helper.make_graph(nodes[:1], "g", graph.input, graph.output,
                                                                  weights))) is None
