"""`tumorscope bench --check`, the CI gate: passes on good int8 artifacts, fails on a perturbed one."""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner

from tumorscope.bench.harness import ROW_FIELDS
from tumorscope.cli import main

FAST = ["--runs", "3", "--warmup", "1", "--threads", "1", "--batch", "4"]


def _bench(*args) -> object:
    return CliRunner().invoke(main, ["bench", *map(str, args)])


def test_gate_passes_on_good_artifacts_and_writes_every_output(bench_root, make_model_dir, gate_thresholds, tmp_path):
    model_dir = make_model_dir("classifier", ("onnx-int8", "tflite-int8"))
    out = {kind: tmp_path / f"bench.{kind}" for kind in ("json", "md", "csv", "png")}
    result = _bench("--task", "classifier", "--formats", "keras,onnx-int8,tflite-int8", "--model-dir", model_dir,
                    "--data", bench_root, "--cache-dir", tmp_path / "cache", "--check", "--thresholds",
                    gate_thresholds, "--json", out["json"], "--markdown", out["md"], "--csv", out["csv"],
                    "--plot", out["png"], *FAST)
    assert result.exit_code == 0, result.output
    assert "check: passed" in result.stdout and "FAIL" not in result.stdout
    assert "| onnx-int8 | ok |" in result.stdout and "benchmarking classifier keras" in result.stderr
    data = json.loads(out["json"].read_text())
    assert [r["format"] for r in data["rows"]] == ["keras", "onnx-int8", "tflite-int8"]
    assert all(r["status"] == "ok" and r["agreement"] >= 0.99 for r in data["rows"])
    assert {"cpu", "cores", "flags"} <= set(data["machine"]) and data["check"]["passed"] is True
    rows = list(csv.DictReader(out["csv"].open()))
    assert len(rows) == 3 and tuple(rows[0]) == ROW_FIELDS["classifier"]
    assert sum(line.startswith("| ") for line in out["md"].read_text().splitlines()) == 2 + 3  # head, rule, rows
    assert out["png"].read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "cache").exists()  # nothing needed exporting


def test_gate_fails_on_a_perturbed_int8_artifact(bench_root, broken_model_dir, gate_thresholds, tmp_path):
    out = tmp_path / "bench.json"
    result = _bench("--task", "classifier", "--formats", "keras,onnx-int8", "--model-dir", broken_model_dir,
                    "--data", bench_root, "--cache-dir", tmp_path / "cache", "--check", "--thresholds",
                    gate_thresholds, "--json", out, *FAST)
    assert result.exit_code == 1, result.output
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert failures and all(line.startswith("FAIL classifier onnx-int8: ") for line in failures)
    limit = json.loads(gate_thresholds.read_text())["parity_with_keras"]["classifier"]["onnx-int8"]["min_agreement"]
    assert any(line.endswith(f"< min_agreement {limit}") for line in failures), failures
    assert f"check: {len(failures)} thresholds failed" in result.stdout
    rows = {r["format"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["keras"]["status"] == "ok" and rows["onnx-int8"]["status"] == "parity failed"
    assert rows["onnx-int8"]["agreement"] < 0.5 and f"< min_agreement {limit}" in rows["onnx-int8"]["error"]


def test_bad_input_exits_2_with_one_line(bench_root, tmp_path):
    result = _bench("--task", "classifier", "--model-dir", tmp_path / "missing", "--data", bench_root)
    assert result.exit_code == 2 and result.stderr.startswith("error: models folder") and "Traceback" not in (
        result.output)
    tmp_path.joinpath("models").mkdir()
    result = _bench("--task", "classifier", "--formats", "onnx-int4", "--model-dir", tmp_path / "models",
                    "--data", bench_root)
    assert result.exit_code == 2 and "unknown model format 'onnx-int4'" in result.stderr
    result = _bench("--task", "classifier", "--model-dir", tmp_path / "models", "--data", bench_root,
                    "--thresholds", tmp_path / "none.json")
    assert result.exit_code == 2 and "limits file not found" in result.stderr
