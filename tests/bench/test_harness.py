"""benchmark() end to end on the tiny exports and a synthetic data root: one worker process per format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tumorscope.assess.limits import Limits
from tumorscope.bench.harness import ROW_FIELDS, _artifacts, benchmark
from tumorscope.evaluation.evaluate import evaluate_classifier, evaluate_segmenter
from tumorscope.export.formats import parse_formats

SETTINGS = {"runs": 3, "warmup": 1, "threads": 1, "batch": 4}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench_cache")


@pytest.fixture(scope="module")
def classifier_run(bench_root, make_model_dir, cache_dir, gate_thresholds):
    """keras, onnx (absent: exported on demand), onnx-int8, tflite (a corrupt file), tflite-int8."""
    model_dir = make_model_dir("classifier", ("onnx-int8", "tflite-int8", "tflite"))
    (model_dir / "classifier.tflite").write_bytes(b"TFL3 but truncated")
    lines: list[str] = []
    report = benchmark("classifier", "tflite-int8,onnx,onnx-int8,tflite", model_dir=model_dir, data_root=bench_root,
                       cache_dir=cache_dir, thresholds=gate_thresholds, log=lines.append, **SETTINGS)
    return report, model_dir, lines


def test_rows_keras_first_with_every_key(classifier_run):
    report, _, _ = classifier_run
    assert [r["format"] for r in report.rows] == ["keras", "tflite-int8", "onnx", "onnx-int8", "tflite"]
    for row in report.rows:
        assert tuple(row) == ROW_FIELDS["classifier"]
    assert report.header["n_images"] == 8 and report.header["threads"] == 1
    assert {"cpu", "cores", "flags"} <= set(report.header["machine"])


def test_statuses_and_a_corrupt_artifact_does_not_stop_the_others(classifier_run):
    report, model_dir, _ = classifier_run
    rows = {r["format"]: r for r in report.rows}
    assert {name: rows[name]["status"] for name in ("keras", "onnx", "onnx-int8", "tflite-int8")} == dict.fromkeys(
        ("keras", "onnx", "onnx-int8", "tflite-int8"), "ok")
    corrupt = rows["tflite"]
    assert corrupt["status"].startswith("error: ") and "classifier.tflite" in corrupt["error"]
    assert corrupt["latency_ms_p50"] is None and corrupt["accuracy"] is None and corrupt["size_mb"] is not None
    assert report.failures == [f"classifier tflite: status {corrupt['status']!r} ({corrupt['error']})"]
    for name in ("keras", "onnx", "onnx-int8", "tflite-int8"):
        row = rows[name]
        assert row["n_images"] == 8 and row["size_mb"] > 0 and row["peak_rss_mb"] > 10
        assert 0 < row["latency_ms_p50"] <= row["latency_ms_p90"] and row["throughput_ips"] > 0
        assert row["load_ms"] > 0 and row["first_inference_ms"] > 0
    assert rows["keras"]["source"] == "model dir" and rows["onnx-int8"]["path"] == str(
        model_dir / "classifier.int8.onnx")


def test_missing_artifact_is_exported_into_the_cache_not_cwd(classifier_run, cache_dir, bench_root):
    report, model_dir, lines = classifier_run
    onnx = next(r for r in report.rows if r["format"] == "onnx")
    assert onnx["source"] == "exported" and Path(onnx["path"]).parent.parent == cache_dir
    assert not (model_dir / "classifier.onnx").exists() and not Path("classifier.onnx").exists()
    assert any(line.startswith("exporting onnx into") for line in lines)
    # the next run finds it in the cache (keyed by the Keras file's sha256) without exporting again
    again: list[str] = []
    found = _artifacts(model_dir / "classifier.keras", list(parse_formats("onnx")), model_dir, cache_dir,
                       bench_root, again.append)
    assert found["onnx"] == (Path(onnx["path"]), "cache", None) and again == []


def test_accuracy_and_parity_match_evaluate(classifier_run, bench_root):
    report, _, _ = classifier_run
    keras = report.rows[0]
    assert (keras["agreement"], keras["max_prob_delta"], keras["accuracy_delta"]) == (1.0, 0.0, 0.0)
    for row in report.rows:
        if row["status"] != "ok":
            continue
        assert row["accuracy"] == pytest.approx(evaluate_classifier(row["path"], bench_root, "test")["accuracy"])
        assert row["accuracy_delta"] == pytest.approx(row["accuracy"] - keras["accuracy"])
        assert 0.0 <= row["agreement"] <= 1.0 and 0.0 <= row["mean_prob_delta"] <= row["max_prob_delta"]
    onnx = next(r for r in report.rows if r["format"] == "onnx")
    assert onnx["agreement"] == 1.0 and onnx["max_prob_delta"] < 1e-4  # fp32 export: numerically the original


def test_segmenter_dice_at_the_original_mask_size_matches_evaluate(bench_root, make_model_dir, cache_dir):
    model_dir = make_model_dir("segmenter", ("onnx", "onnx-int8", "tflite-int8"))
    report = benchmark("segmenter", ["onnx", "onnx-int8", "tflite-int8"], model_dir=model_dir, data_root=bench_root,
                       cache_dir=cache_dir, thresholds=Limits(), **SETTINGS)
    assert [r["format"] for r in report.rows] == ["keras", "onnx", "onnx-int8", "tflite-int8"]
    assert [r["status"] for r in report.rows] == ["ok"] * 4 and report.passed
    keras = report.rows[0]
    assert keras["parity_dice"] == 1.0 and keras["max_prob_delta"] == 0.0
    for row in report.rows:
        assert tuple(row) == ROW_FIELDS["segmenter"]
        assert row["dice"] == pytest.approx(evaluate_segmenter(row["path"], bench_root, "test")["dice"])
        assert row["dice_delta"] == pytest.approx(row["dice"] - keras["dice"])
        assert 0.0 <= row["parity_dice"] <= 1.0
    assert report.rows[1]["max_prob_delta"] < 1e-3


def test_without_the_keras_original_parity_is_unavailable_and_the_gate_fails(bench_root, make_model_dir,
                                                                             tmp_path, gate_thresholds):
    model_dir = make_model_dir("classifier", ("onnx-int8",))
    (model_dir / "classifier.keras").unlink()
    report = benchmark("classifier", "onnx-int8,tflite-int8", model_dir=model_dir, data_root=bench_root,
                       cache_dir=tmp_path, thresholds=gate_thresholds, **SETTINGS)
    keras, int8, missing = report.rows
    assert keras["status"].startswith("error: ") and "classifier.keras" in keras["error"]
    assert int8["status"] == "ok" and int8["agreement"] is None and np.isfinite(int8["accuracy"])
    assert missing["status"] == "export failed" and "not found" in missing["error"]
    assert "classifier onnx-int8: agreement unavailable (needs min_agreement 0.98)" in report.failures
    assert not any(tmp_path.iterdir())  # nothing exported without an original


def test_bad_arguments_raise_before_any_work(bench_root, make_model_dir):
    model_dir = make_model_dir("classifier", ())
    with pytest.raises(ValueError, match="unknown task"):
        benchmark("detector", model_dir=model_dir, data_root=bench_root)
    with pytest.raises(ValueError, match="unknown model format 'onnx-int4'"):
        benchmark("classifier", "onnx-int4", model_dir=model_dir, data_root=bench_root)
    with pytest.raises(ValueError, match="runs"):
        benchmark("classifier", model_dir=model_dir, data_root=bench_root, runs=0)
    with pytest.raises(FileNotFoundError, match="models folder"):
        benchmark("classifier", model_dir=model_dir / "nope", data_root=bench_root)
