"""`bench --task pipeline`: model latency next to end-to-end throughput, per thread count, identical results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tumorscope.bench.pipeline import PIPELINE_FIELDS, parse_backends, pipeline_markdown
from tumorscope.cli import main

MODELS = Path(__file__).resolve().parents[2] / "models"


def test_parse_backends_accepts_backends_and_int8_format_names():
    assert parse_backends(None) == ["onnx", "tflite"]
    assert parse_backends("onnx-int8, tflite,onnx") == ["onnx", "tflite"]
    with pytest.raises(ValueError, match="int8 models of onnx, tflite"):
        parse_backends("keras")


def test_thread_sweep_is_for_the_pipeline_task_only():
    result = CliRunner().invoke(main, ["bench", "--task", "classifier", "--threads", "1,2"])
    assert result.exit_code == 2 and "--task pipeline" in result.output
    result = CliRunner().invoke(main, ["bench", "--task", "pipeline", "--threads", "0,2"])
    assert result.exit_code == 2 and "comma-separated sweep" in result.output


@pytest.mark.realdata
def test_pipeline_bench_on_real_images(data_root, tmp_path):
    out = tmp_path / "pipeline.json"
    result = CliRunner().invoke(main, ["bench", "--task", "pipeline", "--model-dir", str(MODELS), "--data",
                                       str(data_root), "--limit", "6", "--runs", "3", "--warmup", "1",
                                       "--threads", "1,2", "--formats", "onnx", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["header"]["threads"] == [1, 2] and report["header"]["n_images"] == 6
    rows = report["rows"]
    assert [(r["backend"], r["threads"], r["workers"], r["worker_threads"]) for r in rows] == [
        ("onnx", 1, 1, 1), ("onnx", 2, 2, 1)]
    for row in rows:
        assert tuple(row) == PIPELINE_FIELDS and row["error"] is None
        assert row["identical"] is True, "pipelined results must equal the sequential ones"
        bound = 1000 / (row["classifier_p50_ms"] + row["segmenter_p50_ms"])
        assert row["model_bound_ips"] == pytest.approx(bound, abs=0.006)  # rounded to 0.01 img/s
        assert row["pipeline_vs_model_bound"] == pytest.approx(row["pipeline_ips"] / bound, rel=0.05, abs=0.002)
        assert row["sequential_ips"] > 0 and row["pipeline_ips"] > 0
    assert "Pipeline / model-bound" in result.stdout and "not for clinical diagnosis" in result.stdout
    assert "Pipeline / model-bound" in pipeline_markdown(rows)
