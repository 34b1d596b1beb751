"""Classifier, Segmenter and Pipeline on tiny exported models: results, batching, backends, validation."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from tumorscope.runtime import (
    RESULT_KEYS,
    Analysis,
    BackendOptions,
    Classification,
    Classifier,
    Pipeline,
    Segmentation,
    Segmenter,
)
from tumorscope.runtime.spec import load_spec, save_spec, spec_path_for


def _slice(height: int = 90, width: int = 120, seed: int = 0) -> np.ndarray:
    """A synthetic MRI-like RGB slice: a textured disc with a bright blob."""
    rng = np.random.default_rng(seed)
    gray = np.zeros((height, width), np.uint8)
    cv2.ellipse(gray, (width // 2, height // 2), (width // 3, height // 3), 0, 0, 360, 110, -1)
    cv2.circle(gray, (width // 2 + 8, height // 2 - 6), min(height, width) // 8, 230, -1)
    gray = np.clip(gray.astype(np.int16) + rng.integers(-20, 20, gray.shape), 0, 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


def _copy_with_spec(src, dst_dir, **changes):
    """Copy an artifact and give it a spec with ``changes`` applied."""
    dst = dst_dir / src.name
    shutil.copy(src, dst)
    save_spec(load_spec(src).replace(**changes), dst)
    return dst


@pytest.fixture(scope="module")
def onnx_pipeline(tiny_exports):
    pipe = Pipeline(
        Classifier.create_from_path(tiny_exports["classifier"]["onnx-int8"], BackendOptions(threads=1)),
        Segmenter.create_from_path(tiny_exports["segmenter"]["onnx-int8"], BackendOptions(threads=1)),
    )
    yield pipe
    pipe.close()


def test_classify_gives_spec_labels_and_normalised_probabilities(tiny_exports):
    path = tiny_exports["classifier"]["onnx-int8"]
    with Classifier.create_from_path(path) as clf:
        result = clf.classify(_slice())
    assert isinstance(result, Classification)
    assert tuple(result.probabilities) == load_spec(path).labels
    assert result.label == max(result.probabilities, key=result.probabilities.get)
    assert result.confidence == result.probabilities[result.label]
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("fmt", ["onnx-int8", "tflite-int8"])
def test_batches_of_mixed_sizes_match_single_calls(tiny_exports, fmt):
    images = [_slice(90, 120, 0), _slice(64, 64, 1), _slice(200, 150, 2)]
    with Classifier.create_from_path(tiny_exports["classifier"][fmt]) as clf:
        batch = clf.classify_batch(images)
        singles = [clf.classify(i) for i in images]
        assert clf.classify_batch([]) == []
    assert [b.label for b in batch] == [s.label for s in singles]
    for b, s in zip(batch, singles, strict=True):
        assert b.probabilities == pytest.approx(s.probabilities, abs=1e-5)
    with Segmenter.create_from_path(tiny_exports["segmenter"][fmt]) as seg:
        masks = seg.segment_batch(images)
        assert [np.array_equal(m.mask, seg.segment(i).mask) for m, i in zip(masks, images, strict=True)] == [True] * 3


def test_segment_returns_mask_and_measures_at_the_original_size(tiny_exports):
    image = _slice(90, 120)
    with Segmenter.create_from_path(tiny_exports["segmenter"]["onnx-int8"]) as seg:
        result = seg.segment(image)
        gray = seg.segment(image[..., 0])
    assert isinstance(result, Segmentation)
    assert result.mask.shape == (90, 120) and result.mask.dtype == bool
    assert np.array_equal(gray.mask, result.mask)
    assert result.tumor_area_pct == pytest.approx(100.0 * result.mask.mean())
    assert 0.0 <= result.max_probability <= 1.0
    if result.mask.any():
        x, y, w, h = result.bbox
        rows, cols = np.nonzero(result.mask)
        assert (x, y, x + w - 1, y + h - 1) == (cols.min(), rows.min(), cols.max(), rows.max())
        assert result.brain_area_pct >= result.tumor_area_pct
    else:
        assert result.bbox is None


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / float(total)


def test_onnx_and_tflite_agree(tiny_exports):
    """fp32 artifacts of one model agree closely; int8 ones within quantization noise."""
    images = [_slice(96, 96, s) for s in range(6)]
    results = {}
    for fmt in ("onnx", "tflite", "onnx-int8", "tflite-int8"):
        with Classifier.create_from_path(tiny_exports["classifier"][fmt]) as clf, Segmenter.create_from_path(
            tiny_exports["segmenter"][fmt]
        ) as seg:
            results[fmt] = (clf.classify_batch(images), seg.segment_batch(images))
    (c_onnx, s_onnx), (c_tfl, s_tfl) = results["onnx"], results["tflite"]
    assert [c.label for c in c_onnx] == [c.label for c in c_tfl]
    assert np.mean([_dice(a.mask, b.mask) for a, b in zip(s_onnx, s_tfl, strict=True)]) >= 0.99
    (c_onnx, s_onnx), (c_tfl, s_tfl) = results["onnx-int8"], results["tflite-int8"]
    for a, b in zip(c_onnx, c_tfl, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=0.08)
    assert np.mean([abs(a.max_probability - b.max_probability) for a, b in zip(s_onnx, s_tfl, strict=True)]) < 0.08


def test_loading_the_wrong_task_names_the_file(tiny_exports):
    path = tiny_exports["segmenter"]["onnx-int8"]
    with pytest.raises(ValueError, match="segmenter model, not a classifier") as info:
        Classifier.create_from_path(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match="Classifier.create_from_path"):
        Segmenter.create_from_path(tiny_exports["classifier"]["tflite-int8"])


@pytest.mark.parametrize("fmt", ["onnx-int8", "tflite-int8"])
def test_spec_input_size_must_match_the_graph(tiny_exports, tmp_path, fmt):
    path = _copy_with_spec(tiny_exports["classifier"][fmt], tmp_path, input_size=(64, 64))
    with pytest.raises(ValueError, match="disagrees with the model input shape") as info:
        Classifier.create_from_path(path)
    assert str(path) in str(info.value)


def test_spec_labels_must_match_the_classifier_output(tiny_exports, tmp_path):
    path = _copy_with_spec(tiny_exports["classifier"]["onnx-int8"], tmp_path, labels=("a", "b"))
    with pytest.raises(ValueError, match="2 labels"):
        Classifier.create_from_path(path)


def test_unsupported_missing_and_corrupt_model_files(tiny_exports, tmp_path):
    with pytest.raises(ValueError, match="unsupported model file '.h5'"):
        Classifier.create_from_path(tmp_path / "model.h5")
    with pytest.raises(FileNotFoundError, match="not found"):
        Classifier.create_from_path(tmp_path / "missing.onnx")
    bogus = tmp_path / "classifier.onnx"
    bogus.write_bytes(b"not a model")
    shutil.copy(spec_path_for(tiny_exports["classifier"]["onnx"]), spec_path_for(bogus))
    with pytest.raises(RuntimeError, match="cannot load this model"):
        Classifier.create_from_path(bogus)


def test_closed_models_refuse_work(tiny_exports):
    clf = Classifier.create_from_path(tiny_exports["classifier"]["onnx-int8"])
    clf.close()
    clf.close()
    with pytest.raises(RuntimeError, match="closed"):
        clf.classify(_slice())


def test_bad_arrays_are_rejected_clearly(tiny_exports):
    with Classifier.create_from_path(tiny_exports["classifier"]["onnx-int8"]) as clf:
        with pytest.raises(TypeError, match="uint8"):
            clf.classify(_slice().astype(np.float32))
        with pytest.raises(ValueError, match="shape"):
            clf.classify(np.zeros((8, 8, 4), np.uint8))


def test_pipeline_analysis_and_its_dict(onnx_pipeline):
    image = _slice(90, 120)
    analysis = onnx_pipeline.analyze(image, name="x.png")
    assert isinstance(analysis, Analysis) and analysis.ok and analysis.error is None
    assert analysis.image_size == (90, 120) and analysis.backend == "onnx"
    assert {"classify", "segment", "total"} <= set(analysis.timings_ms)
    row = analysis.to_dict()
    assert tuple(row) == RESULT_KEYS
    assert row["path"] == "x.png" and row["label"] == analysis.classification.label
    assert set(row["probabilities"]) == set(analysis.classification.probabilities)
    assert row["image_size"] == [90, 120] and row["error"] is None and "not for clinical" in row["disclaimer"]
    assert row["bbox"] is None or len(row["bbox"]) == 4


def test_pipeline_decodes_files_and_bytes_the_same_way(onnx_pipeline, tmp_path):
    image = _slice(90, 120)
    path = tmp_path / "s.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    from_path, from_bytes = onnx_pipeline.analyze_path(path), onnx_pipeline.analyze_bytes(path.read_bytes(), "s.png")
    assert from_path.ok and from_bytes.ok and "decode" in from_path.timings_ms
    assert from_path.classification == from_bytes.classification
    assert np.array_equal(from_path.segmentation.mask, onnx_pipeline.analyze(image).segmentation.mask)


@pytest.mark.parametrize(
    ("call", "message", "kind"),
    [
        (lambda p, tmp: p.analyze_bytes(b"", "empty.png"), "empty.png: file is empty", "decode"),
        (lambda p, tmp: p.analyze_bytes(b"GIF89a nonsense", "x.gif"), "x.gif: not a readable image", "decode"),
        (lambda p, tmp: p.analyze_path(tmp / "missing.png"), "missing.png: file not found", "decode"),
        (lambda p, tmp: p.analyze(np.zeros((9, 9), np.float64), "arr"), "arr: expected a uint8", "input"),
    ],
)
def test_pipeline_failures_are_results_not_exceptions(onnx_pipeline, tmp_path, call, message, kind):
    analysis = call(onnx_pipeline, tmp_path)
    assert not analysis.ok and message in analysis.error and "\n" not in analysis.error
    assert analysis.error.kind == kind
    row = analysis.to_dict()
    assert tuple(row) == RESULT_KEYS and row["error_kind"] == kind and type(row["error"]) is str
    assert all(row[k] is None for k in ("label", "confidence", "probabilities", "tumor_area_pct", "bbox"))
    with pytest.raises(ValueError, match="nothing to draw|no decoded image"):
        analysis.overlay()


def test_describe_lists_models_and_notes_unavailable_providers(tiny_exports):
    options = BackendOptions(threads=1, providers=("NoSuchExecutionProvider", "CPUExecutionProvider"))
    with Pipeline(
        Classifier.create_from_path(tiny_exports["classifier"]["onnx-int8"], options),
        Segmenter.create_from_path(tiny_exports["segmenter"]["onnx-int8"], options),
        options,
    ) as pipe:
        info = pipe.describe()
    assert info["backend"] == "onnx" and info["providers"] == ["CPUExecutionProvider"]
    assert info["models"]["classifier"]["task"] == "classifier"
    expected_size = list(load_spec(tiny_exports["segmenter"]["onnx-int8"]).input_size)
    assert info["models"]["segmenter"]["input_size"] == expected_size
    assert any("NoSuchExecutionProvider is not available" in n for n in info["notes"])
