"""write_report / format_summary: files exist and are valid PNG / JSON / markdown with the disclaimer."""

from __future__ import annotations

import json

import cv2
import pytest

from tumorscope import DISCLAIMER
from tumorscope.evaluation.evaluate import evaluate
from tumorscope.evaluation.report import PLOTS, format_summary, write_report

pytest.importorskip("matplotlib")


def _check_report(report, result, task):
    out = report.parent
    assert json.loads((out / "metrics.json").read_text()) == result
    markdown = report.read_text()
    assert DISCLAIMER in markdown and f"`{result['split']}`" in markdown
    for name, _, _ in PLOTS[task]:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
        image = cv2.imread(str(out / name))
        assert image is not None and min(image.shape[:2]) >= 300 and image.std() > 1, name  # drawn, not blank
        assert f"]({name})" in markdown
    return markdown


def test_classifier_report(fake_root, brightness_classifier_onnx, tmp_path):
    evaluation = evaluate("classifier", brightness_classifier_onnx, fake_root, "test")
    report = write_report(evaluation.result, evaluation.raw, tmp_path / "new" / "dir")
    assert report.name == "report.md"
    markdown = _check_report(report, evaluation.result, "classifier")
    assert "| pituitary | 1.0000 | 0.7500 |" in markdown  # per-class table row
    assert "| pituitary | 3 | 0 | 0 | 1 |" in markdown  # confusion matrix row (model label order)


def test_segmenter_report(fake_root, brightness_segmenter_onnx, tmp_path):
    evaluation = evaluate("segmenter", brightness_segmenter_onnx, fake_root, "test")
    markdown = _check_report(write_report(evaluation.result, evaluation.raw, tmp_path), evaluation.result, "segmenter")
    assert f"| dice | {evaluation.result['dice']:.4f} |" in markdown


def test_report_with_absent_classes_shows_na(fake_root, brightness_classifier_onnx, tmp_path):
    evaluation = evaluate("classifier", brightness_classifier_onnx, fake_root, "test", limit=2)
    assert sum(row["auc"] is None for row in evaluation.result["per_class"].values()) == 2
    markdown = _check_report(write_report(evaluation.result, evaluation.raw, tmp_path),
                             evaluation.result, "classifier")
    assert "n/a" in markdown


def test_format_summary_lists_metrics_classes_and_disclaimer(fake_root, brightness_classifier_onnx):
    result = evaluate("classifier", brightness_classifier_onnx, fake_root, "val").result
    text = format_summary(result)
    assert text.splitlines()[-1] == DISCLAIMER
    assert "accuracy 1.0000" in text and "12 images" in text
    assert all(name in text for name in result["labels"])
    assert "1 unreadable files skipped" in text
