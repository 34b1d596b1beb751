"""JSON, CSV, markdown and plot outputs of a hand-made report parse and carry the machine header."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tumorscope import DISCLAIMER
from tumorscope.bench.harness import ROW_FIELDS, BenchReport
from tumorscope.bench.machine import library_versions, machine_info
from tumorscope.bench.render import to_csv, to_json, to_markdown, write_csv, write_json, write_markdown, write_plot


def _report(failures: list[str] | None = None) -> BenchReport:
    header = {"task": "classifier", "split": "test", "n_images": 1311, "limit": None, "runs": 50, "warmup": 5,
              "threads": 2, "batch": 16, "date": "2026-01-01T00:00:00+00:00", "model_dir": "models",
              "thresholds": "thresholds.json", "machine": machine_info(), "versions": library_versions(),
              "tumorscope": "0.1.0", "disclaimer": DISCLAIMER}
    base = dict.fromkeys(ROW_FIELDS["classifier"])
    rows = [
        base | {"format": "keras", "status": "ok", "size_mb": 56.1, "latency_ms_p50": 41.25, "latency_ms_p90": 44.0,
                "accuracy": 0.9813, "accuracy_delta": 0.0, "agreement": 1.0, "max_prob_delta": 0.0,
                "peak_rss_mb": 812.4, "throughput_ips": 30.2},
        base | {"format": "onnx-int8", "status": "ok", "size_mb": 14.2, "latency_ms_p50": 9.5, "latency_ms_p90": 10.1,
                "accuracy": 0.9790, "accuracy_delta": -0.0023, "agreement": 0.996, "max_prob_delta": float("nan"),
                "peak_rss_mb": 120.0, "throughput_ips": 150.0},
        base | {"format": "tflite-int8", "status": "error: boom | bang", "error": "boom | bang"},
    ]
    return BenchReport(header, rows, failures or [])


def test_json_has_machine_header_rows_and_check():
    data = json.loads(to_json(_report(["classifier tflite-int8: status 'error: boom'"])))
    assert {"cpu", "cores", "flags", "os", "arch"} <= set(data["machine"])
    assert data["versions"]["numpy"] and data["split"] == "test" and data["n_images"] == 1311
    assert data["check"] == {"passed": False, "failures": ["classifier tflite-int8: status 'error: boom'"]}
    required = {"format", "status", "size_mb", "latency_ms_p50", "latency_ms_p90", "peak_rss_mb", "accuracy",
                "agreement"}
    assert all(required <= set(row) for row in data["rows"])
    assert data["rows"][1]["max_prob_delta"] is None  # NaN is written as null


def test_csv_one_line_per_format():
    rows = list(csv.DictReader(io.StringIO(to_csv(_report()))))
    assert [r["format"] for r in rows] == ["keras", "onnx-int8", "tflite-int8"]
    assert tuple(rows[0]) == ROW_FIELDS["classifier"]
    assert float(rows[1]["accuracy"]) == pytest.approx(0.979) and rows[2]["accuracy"] == ""


def test_markdown_table_with_machine_header():
    text = to_markdown(_report(["classifier tflite-int8: status 'error: boom'"]))
    lines = text.splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 3 and len({line.count(" | ") for line in table}) == 1  # same column count
    assert "| onnx-int8 | ok | 14.20 |" in text and "| -0.23 | 0.9960 | - |" in text
    assert "error: boom / bang" in text  # a pipe inside a cell would break the table
    assert f"- Machine: {machine_info()['cpu']}" in text and "- CPU flags:" in text and "img/s @16" in text
    assert "1 thresholds failed" in text and "- classifier tflite-int8: status 'error: boom'" in text
    assert DISCLAIMER in text


def test_writers_create_files(tmp_path):
    report = _report()
    paths = [write_json(report, tmp_path / "a" / "b.json"), write_csv(report, tmp_path / "b.csv"),
             write_markdown(report, tmp_path / "b.md")]
    assert all(p.is_file() and p.stat().st_size > 100 for p in paths)
    assert json.loads(paths[0].read_text())["rows"][0]["format"] == "keras"


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = write_plot(_report(), tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_plot_needs_a_point(tmp_path):
    pytest.importorskip("matplotlib")
    report = _report()
    report.rows = report.rows[2:]
    with pytest.raises(ValueError, match="no format has both"):
        write_plot(report, tmp_path / "plot.png")
