"""The bench gate (``bench --check``) on hand-made rows against the one limits file."""

from __future__ import annotations

import json

from tumorscope.assess.limits import Limits, load_limits
from tumorscope.bench.gate import check_rows, parity_failures


def _row(fmt: str, status: str = "ok", **values) -> dict:
    return {"format": fmt, "status": status, "error": None, **values}


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
    limits = Limits(ground_truth={"classifier": {"min_accuracy": 0.9}},
                    parity={"classifier": {"onnx-int8": {"min_agreement": 0.99}}})
    rows = [
        _row("keras", accuracy=0.95, agreement=1.0),
        _row("onnx-int8", "parity failed", accuracy=0.85, agreement=0.9),
        _row("tflite-int8", "export failed", error="tflite-int8: converter crashed"),
        _row("onnx", accuracy=0.95, agreement=1.0),
    ]
    assert check_rows("classifier", rows, limits) == [
        "classifier onnx-int8: accuracy 0.8500 < min_accuracy 0.9",
        "classifier onnx-int8: agreement 0.9000 < min_agreement 0.99",
        "classifier tflite-int8: status 'export failed' (tflite-int8: converter crashed)",
    ]
    assert check_rows("classifier", rows[:1] + rows[3:], limits) == []


def test_check_rows_without_a_section_only_checks_statuses(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"agreement_with_ground_truth": {"segmenter": {"min_dice": 0.5}}}))
    rows = [_row("keras", accuracy=0.1), _row("onnx", "error: boom", error="boom")]
    assert check_rows("classifier", rows, load_limits(path)) == ["classifier onnx: status 'error: boom' (boom)"]
