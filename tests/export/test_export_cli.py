"""`tumorscope export`: table, written files, exit codes and one-line errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tumorscope import DISCLAIMER
from tumorscope.cli import main
from tumorscope.export import synthetic_images

pytest.importorskip("tf2onnx")


@pytest.fixture()
def synthetic_data(monkeypatch, tmp_path):
    """A data root whose calibration/validation images are synthetic (the real loaders are bypassed).

    It holds no labelled images, so these exports pass ``--trust-count 0`` (no input-check fit; that path is
    tested in test_trust_export.py)."""
    import tumorscope.export.exporter as exporter

    monkeypatch.setattr(exporter, "calibration_images", lambda root, task, count, size, scale: synthetic_images(
        count, size, seed=1))
    monkeypatch.setattr(exporter, "validation_images", lambda root, task, count, size, scale: synthetic_images(
        count, size, seed=2))
    root = tmp_path / "data"
    root.mkdir()
    return root


def _export(*args):
    return CliRunner().invoke(main, ["export", *map(str, args)])


def test_export_writes_artifacts_and_prints_the_table(tiny_classifier_keras, synthetic_data, tmp_path):
    out = tmp_path / "models"
    result = _export("--model", tiny_classifier_keras, "--formats", "onnx-int8,tflite-int8", "--out", out,
                     "--data", synthetic_data, "--calibration-count", 8, "--validation-count", 6, "--trust-count", 0)
    assert result.exit_code == 0, result.output
    assert "| onnx-int8 | ok |" in result.stdout and "| tflite-int8 | ok |" in result.stdout
    assert "(n=6)" in result.stdout
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(f"wrote 2 artifacts (each + .spec.json) to {out}: classifier.int8.onnx, "
                           "classifier.int8.tflite") and last.endswith(DISCLAIMER)
    assert sorted(p.name for p in out.iterdir()) == ["classifier.int8.onnx", "classifier.int8.onnx.spec.json",
                                                     "classifier.int8.tflite", "classifier.int8.tflite.spec.json"]


def test_exceeded_tolerance_exits_1_with_one_error_line(tiny_classifier_keras, synthetic_data, tmp_path):
    result = _export("--model", tiny_classifier_keras, "--formats", "onnx,onnx-int8", "--out", tmp_path / "m",
                     "--data", synthetic_data, "--calibration-count", 8, "--validation-count", 6,
                     "--max-prob-delta", 0, "--trust-count", 0)
    assert result.exit_code == 1, result.output
    assert "| onnx-int8 | FAILED |" in result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: export failed for ") and "onnx-int8: " in errors[0]
    assert "max_prob_delta" in errors[0] and "Traceback" not in result.output
    assert not (tmp_path / "m" / "classifier.int8.onnx").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--formats", "onnx-int4"], "unknown model format 'onnx-int4'"),
     (["--min-agreement", "1.5"], "1.5 is not in the range"),
     (["--data", "{missing}"], "does not exist")],
)
def test_bad_options_exit_2(tiny_classifier_keras, tmp_path, args, message):
    args = [a.format(missing=tmp_path / "nope") for a in args]
    result = _export("--model", tiny_classifier_keras, "--out", tmp_path / "m", *args)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "m").exists()


def test_missing_model_exits_2_with_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    result = _export("--model", tmp_path / "none.keras", "--out", tmp_path / "m", "--data", data)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'none.keras'}: model file not found; "
                                                  "train it first or fix --model"]
