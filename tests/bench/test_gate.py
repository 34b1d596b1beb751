"""The committed gate config and the threshold checks on hand-made rows."""

from __future__ import annotations

import json

import pytest

from tumorscope.bench.thresholds import DEFAULT_THRESHOLDS, check_rows, load_thresholds, parity_failures


def _row(fmt: str, status: str = "ok", **values) -> dict:
    return {"format": fmt, "status": status, "error": None, **values}


def test_committed_thresholds_hold_the_issue_int8_tolerances():
    limits = load_thresholds()
    for fmt in ("onnx-int8", "tflite-int8"):
        classifier = limits["classifier"]["formats"][fmt]
        assert classifier["min_agreement"] >= 0.99 and classifier["max_accuracy_drop"] <= 0.01
        assert limits["segmenter"]["formats"][fmt]["max_dice_drop"] <= 0.01
    assert limits["classifier"]["min_accuracy"] > 0.9 and limits["segmenter"]["min_dice"] > 0.5
    assert "_about" not in limits


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('{"detector": {}}', "unknown section 'detector'"),
    ('{"classifier": {"min_dice": 0.5}}', "classifier.min_dice is not a known limit"),
    ('{"classifier": {"formats": {"onnx-int8": {"min_parity_dice": 0.9}}}}', "unknown keys ['min_parity_dice']"),
    ('{"classifier": {"formats": {"onnx-int4": {}}}}', "unknown model format 'onnx-int4'"),
    ('{"segmenter": {"min_dice": -1}}', "must be a finite number >= 0"),
])
def test_bad_thresholds_files_are_refused(tmp_path, content, message):
    path = tmp_path / "thresholds.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_thresholds(path)


def test_missing_thresholds_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_thresholds(tmp_path / "nope.json")


def test_parity_failures_classifier():
    keras = _row("keras", accuracy=0.980)
    limits = {"min_agreement": 0.99, "max_accuracy_drop": 0.01, "max_prob_delta": 0.2}
    assert parity_failures("classifier", _row("onnx-int8", accuracy=0.975, agreement=0.995, max_prob_delta=0.1),
                           keras, limits) == []
    reasons = parity_failures("classifier", _row("onnx-int8", accuracy=0.965, agreement=0.98, max_prob_delta=0.3),
                              keras, limits)
    assert reasons == ["agreement 0.9800 < min_agreement 0.99", "accuracy_drop 0.0150 > max_accuracy_drop 0.01",
                       "max_prob_delta 0.3000 > max_prob_delta 0.2"]
    # exactly at the limit passes (float round-off of 0.98 - 0.97 is tolerated)
    assert parity_failures("classifier", _row("x", accuracy=0.97, agreement=0.99), keras,
                           {"min_agreement": 0.99, "max_accuracy_drop": 0.01}) == []


def test_parity_failures_segmenter_and_missing_reference():
    limits = {"min_parity_dice": 0.9, "max_dice_drop": 0.01}
    row = _row("tflite-int8", dice=0.80, parity_dice=0.85)
    assert parity_failures("segmenter", row, _row("keras", dice=0.805), limits) == [
        "parity_dice 0.8500 < min_parity_dice 0.9"]
    assert parity_failures("segmenter", row, None, {"max_dice_drop": 0.01}) == [
        "dice_drop unavailable (needs max_dice_drop 0.01)"]


def test_check_rows_lists_every_failure_once():
    thresholds = {"classifier": {"min_accuracy": 0.9, "formats": {"onnx-int8": {"min_agreement": 0.99}}}}
    rows = [
        _row("keras", accuracy=0.95, agreement=1.0),
        _row("onnx-int8", "parity failed", accuracy=0.85, agreement=0.9),
        _row("tflite-int8", "export failed", error="tflite-int8: converter crashed"),
        _row("onnx", accuracy=0.95, agreement=1.0),
    ]
    assert check_rows("classifier", rows, thresholds) == [
        "classifier onnx-int8: accuracy 0.8500 < min_accuracy 0.9",
        "classifier onnx-int8: agreement 0.9000 < min_agreement 0.99",
        "classifier tflite-int8: status 'export failed' (tflite-int8: converter crashed)",
    ]
    assert check_rows("classifier", rows[:1] + rows[3:], thresholds) == []


def test_check_rows_without_a_section_only_checks_statuses(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"segmenter": {"min_dice": 0.5}}))
    rows = [_row("keras", accuracy=0.1), _row("onnx", "error: boom", error="boom")]
    assert check_rows("classifier", rows, load_thresholds(path)) == ["classifier onnx: status 'error: boom' (boom)"]


def test_default_thresholds_file_is_package_data():
    assert DEFAULT_THRESHOLDS.name == "thresholds.json" and DEFAULT_THRESHOLDS.is_file()
