"""`tumorscope evaluate`: --json prints exactly one JSON object, readable summary, report, one-line errors."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tumorscope import DISCLAIMER
from tumorscope.cli import main


def _run(*args: str):
    return CliRunner().invoke(main, ["evaluate", *map(str, args)])


def test_json_output_is_one_object_with_the_metrics(fake_root, brightness_classifier_onnx):
    result = _run("classifier", "--model", brightness_classifier_onnx, "--data", fake_root, "--json",
                  "--threads", "1")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # fails on anything but exactly one JSON document
    assert {"split", "n", "accuracy", "macro_auc", "per_class", "confusion_matrix", "ece", "model",
            "format", "seconds"} <= set(data)
    assert data["n"] == 13 and "report" not in data


def test_json_with_report_keeps_stdout_clean(fake_root, brightness_segmenter_onnx, tmp_path):
    result = _run("segmenter", "--model", brightness_segmenter_onnx, "--data", fake_root, "--split", "val",
                  "--json", "--report", tmp_path / "rep")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["split"] == "val" and data["n"] == 2 and {"dice", "iou", "dice_median", "area_pct_mae"} <= set(data)
    assert data["report"] == str(tmp_path / "rep" / "report.md")
    assert (tmp_path / "rep" / "area_scatter.png").is_file()
    assert f"report written to {data['report']}" in result.stderr


def test_summary_ends_with_disclaimer_and_report_line(fake_root, brightness_classifier_onnx, tmp_path):
    result = _run("classifier", "--model", brightness_classifier_onnx, "--data", fake_root, "--limit", "4",
                  "--report", tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # the even picker keeps both ends of the split: its last image, the dark pituitary, is misclassified
    assert "4 images" in lines[0] and "accuracy 0.7500" in lines[1]
    assert lines[-2] == DISCLAIMER
    assert lines[-1] == f"report written to {tmp_path / 'report.md'}"


def test_errors_are_one_line_and_exit_2(fake_root, brightness_classifier_onnx, tmp_path):
    cases = [
        (["classifier", "--model", tmp_path / "nope.onnx", "--data", fake_root], "not found"),
        (["classifier", "--model", brightness_classifier_onnx, "--data", tmp_path / "nodata"], "does not exist"),
        (["segmenter", "--model", brightness_classifier_onnx, "--data", fake_root], "classifier model"),
        (["classifier", "--model", brightness_classifier_onnx, "--data", fake_root, "--split", "bogus"],
         "unknown classifier split"),
    ]
    for args, message in cases:
        result = _run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
