"""The one limits file: the committed values hold the shipped models' measured levels; bad files are refused."""

from __future__ import annotations

import json

import pytest

from tumorscope.assess.limits import LIMITS_FILE, Limits, limit_failures, load_limits


def test_committed_limits_are_package_data_and_complete():
    limits = load_limits()
    assert LIMITS_FILE.name == "limits.json" and LIMITS_FILE.is_file() and limits.source == str(LIMITS_FILE)
    for task in ("classifier", "segmenter"):
        assert set(limits.parity[task]) == {"onnx", "onnx-int8", "tflite", "tflite-fp16", "tflite-dynamic",
                                            "tflite-int8"}
    assert limits.ground_truth == {"classifier": {"min_accuracy": 0.97}, "segmenter": {"min_dice": 0.72}}
    assert limits.across_platforms == {"min_agreement": 1.0, "max_prob_delta": 0.02, "min_parity_dice": 0.98}
    assert limits.across_backends == {"min_agreement": 1.0, "min_parity_dice": 0.975}


def test_committed_limits_pass_the_shipped_models_measured_parity():
    """Measured on the shipped int8 models (README 'Limits'): export validation (200 val images) and bench (test)."""
    limits = load_limits()
    measured = {  # (task, format): lowest agreement / parity Dice and highest max |dp| of both measurements
        ("classifier", "onnx-int8"): {"agreement": 0.990, "max_prob_delta": 0.361, "accuracy_drop": -0.0008},
        ("classifier", "tflite-int8"): {"agreement": 0.9985, "max_prob_delta": 0.207, "accuracy_drop": 0.0015},
        ("segmenter", "onnx-int8"): {"parity_dice": 0.966, "dice_drop": -0.0015},
        ("segmenter", "tflite-int8"): {"parity_dice": 0.977, "dice_drop": -0.0009},
    }
    for (task, fmt), values in measured.items():
        assert limit_failures(limits.parity_for(task, fmt), values) == [], (task, fmt)


def test_float_formats_are_held_tighter_than_int8():
    parity = load_limits().parity
    assert parity["classifier"]["onnx"]["min_agreement"] > parity["classifier"]["onnx-int8"]["min_agreement"]
    assert parity["segmenter"]["tflite"]["min_parity_dice"] > parity["segmenter"]["tflite-int8"]["min_parity_dice"]


def test_parity_for_can_drop_the_keys_that_need_labels():
    limits = load_limits()
    assert "max_accuracy_drop" in limits.parity_for("classifier", "onnx-int8")
    assert "max_accuracy_drop" not in limits.parity_for("classifier", "onnx-int8", without_ground_truth=True)
    assert Limits().parity_for("segmenter", "onnx") == {}


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('{"detector": {}}', "unknown section 'detector'"),
    ('{"agreement_with_ground_truth": {"classifier": {"min_dice": 0.5}}}', "unknown keys ['min_dice']"),
    ('{"parity_with_keras": {"classifier": {"onnx-int8": {"min_parity_dice": 0.9}}}}',
     "unknown keys ['min_parity_dice']"),
    ('{"parity_with_keras": {"classifier": {"onnx-int4": {}}}}', "unknown model format 'onnx-int4'"),
    ('{"parity_with_keras": {"detector": {}}}', "unknown tasks ['detector']"),
    ('{"agreement_with_ground_truth": {"segmenter": {"min_dice": -1}}}', "must be a finite number >= 0"),
    ('{"across_platforms": {"max_accuracy_drop": 0.1}}', "unknown keys ['max_accuracy_drop']"),
])
def test_bad_limits_files_are_refused(tmp_path, content, message):
    path = tmp_path / "limits.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_limits(path)


def test_missing_limits_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_limits(tmp_path / "nope.json")


def test_sections_are_optional_and_comments_dropped(tmp_path):
    path = tmp_path / "l.json"
    path.write_text(json.dumps({"_about": "x", "across_backends": {"_why": "y", "min_parity_dice": 0.9}}))
    limits = load_limits(path)
    assert limits.across_backends == {"min_parity_dice": 0.9} and limits.parity == {} and limits.ground_truth == {}


def test_limit_failures_min_max_and_unavailable():
    limits = {"min_agreement": 0.99, "max_prob_delta": 0.2, "min_parity_dice": 0.9}
    assert limit_failures(limits, {"agreement": 0.99, "max_prob_delta": 0.2, "parity_dice": 0.95}) == []
    assert limit_failures(limits, {"agreement": 0.5, "max_prob_delta": float("nan")}) == [
        "agreement 0.5000 < min_agreement 0.99", "max_prob_delta unavailable (needs max_prob_delta 0.2)",
        "parity_dice unavailable (needs min_parity_dice 0.9)"]
