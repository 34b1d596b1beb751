"""The per-format worker: timing statistics, outputs identical to a direct backend run, recorded failures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tumorscope.assess.models import open_model
from tumorscope.bench.worker import PREDICTIONS_FILE, RESULT_FILE, latency_stats, main, peak_rss_mb, run_worker
from tumorscope.runtime.preprocess import load_image, preprocess


def test_latency_stats_drop_the_slowest_five_percent():
    seconds = [i / 1000 for i in range(1, 20)] + [1.0]  # 1..19 ms and one 1 s outlier
    stats = latency_stats(seconds)
    assert stats["latency_runs"] == 19
    assert stats["latency_ms_p50"] == pytest.approx(10.0)
    assert stats["latency_ms_p90"] == pytest.approx(np.percentile(np.arange(1, 20), 90))
    assert latency_stats([0.002])["latency_ms_p50"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="runs"):
        latency_stats([])


def test_peak_rss_is_positive_megabytes():
    assert 1 < peak_rss_mb() < 1e6


@pytest.fixture()
def test_images(bench_root, tmp_path) -> list[str]:
    from tumorscope.datasets import classification_items

    paths = [str(item.image) for item in classification_items(bench_root, "test")[:4]]
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 not a jpeg")
    return paths[:2] + [str(corrupt)] + paths[2:]


def test_worker_outputs_match_a_direct_run_and_skip_unreadable_images(tiny_exports, test_images, tmp_path):
    model_path = tiny_exports["classifier"]["onnx-int8"]
    result = run_worker(model_path, test_images, tmp_path, runs=4, warmup=1, threads=1, batch=3)
    assert result["ok"] and result["kept"] == [0, 1, 3, 4]
    assert len(result["errors"]) == 1 and "corrupt.jpg" in result["errors"][0]["path"]
    for key in ("load_ms", "first_inference_ms", "latency_ms_p50", "throughput_ips", "peak_rss_mb"):
        assert result[key] > 0, key
    assert result["latency_ms_p50"] <= result["latency_ms_p90"]
    assert result["labels"] == ["glioma", "meningioma", "notumor", "pituitary"]
    predictions = np.load(tmp_path / PREDICTIONS_FILE)
    model = open_model(model_path)
    try:
        kept = [p for i, p in enumerate(test_images) if i != 2]
        expected = model.run(np.stack([preprocess(load_image(p), model.spec.input_size) for p in kept]))
    finally:
        model.close()
    np.testing.assert_allclose(predictions, expected, atol=1e-6)
    assert -1 < result["extra_outputs_share"] < 10 and "extra_outputs_ms_p50" in result  # trust outputs timed


def test_keep_outputs_prunes_the_trust_branches_and_keeps_the_probabilities(tiny_exports, test_images):
    import onnxruntime as ort

    from tumorscope.export.onnx_export import keep_outputs

    path = tiny_exports["classifier"]["onnx-int8"]
    full = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pruned = ort.InferenceSession(keep_outputs(path, ["probabilities"]), providers=["CPUExecutionProvider"])
    assert [o.name for o in pruned.get_outputs()] == ["probabilities"] and len(full.get_outputs()) == 4
    images = np.stack([preprocess(load_image(p), (32, 32)) for p in test_images[:2]])
    np.testing.assert_array_equal(pruned.run(None, {"image": images})[0], full.run(None, {"image": images})[0])
    with pytest.raises(ValueError, match="no graph output named nope"):
        keep_outputs(path, ["nope"])


def test_worker_segmenter_saves_probability_maps(tiny_exports, bench_root, tmp_path):
    from tumorscope.datasets import segmentation_items

    paths = [str(item.image) for item in segmentation_items(bench_root, "test")]
    result = run_worker(tiny_exports["segmenter"]["onnx"], paths, tmp_path, runs=2, warmup=0, threads=1, batch=4)
    maps = np.load(tmp_path / PREDICTIONS_FILE)
    assert maps.shape == (len(paths), *result["input_size"]) and maps.dtype == np.float32
    assert 0 <= maps.min() and maps.max() <= 1 and result["mask_threshold"] == 0.5


def test_worker_main_records_a_corrupt_model(tiny_exports, test_images, tmp_path):
    bad = tmp_path / "classifier.int8.onnx"
    bad.write_bytes(b"this is not an onnx file")
    bad.with_name(bad.name + ".spec.json").write_text(
        tiny_exports["classifier"]["onnx-int8"].with_name("classifier.int8.onnx.spec.json").read_text())
    items = tmp_path / "items.json"
    items.write_text(json.dumps({"images": test_images}))
    assert main(["--model", str(bad), "--items", str(items), "--out", str(tmp_path), "--runs", "2"]) == 1
    result = json.loads((tmp_path / RESULT_FILE).read_text())
    assert result["ok"] is False and str(bad) in result["error"] and "\n" not in result["error"]
