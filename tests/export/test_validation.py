"""The export's parity limits: the committed ``parity_with_keras`` values, overrides, and the failure lines."""

from __future__ import annotations

import pytest

from tumorscope.assess.limits import load_limits
from tumorscope.export.validation import default_limits, limit_failures, parity_limits


def test_defaults_are_the_label_free_committed_limits():
    committed = load_limits().parity["classifier"]["onnx-int8"]
    assert default_limits("classifier", "onnx-int8") == {k: v for k, v in committed.items() if k != "max_accuracy_drop"}
    assert set(default_limits("segmenter", "tflite-int8")) == {"min_parity_dice"}


def test_defaults_are_stricter_for_float_than_int8():
    for task, key in (("classifier", "min_agreement"), ("segmenter", "min_parity_dice")):
        assert default_limits(task, "onnx")[key] >= default_limits(task, "onnx-int8")[key]
    assert default_limits("classifier", "tflite")["max_prob_delta"] <= default_limits("classifier",
                                                                                       "tflite-int8")["max_prob_delta"]


def test_overrides_apply_per_format_and_per_task():
    limits = parity_limits("classifier", "onnx-int8", {"onnx-int8": {"min_agreement": 0.5}}, max_prob_delta=0.9)
    assert limits["min_agreement"] == 0.5 and limits["max_prob_delta"] == 0.9
    # a segmenter ignores the classifier-only key, so one set of CLI flags serves both
    assert parity_limits("segmenter", "onnx-int8", {"onnx-int8": {"min_agreement": 0.5, "min_parity_dice": 0.7}}) == {
        "min_parity_dice": 0.7}
    with pytest.raises(ValueError, match="need labels"):
        parity_limits("classifier", "onnx", {"onnx": {"max_accuracy_drop": 0.1}})


def test_failures_name_the_broken_limit():
    limits = {"min_agreement": 0.97, "max_prob_delta": 0.1}
    assert limit_failures(limits, {"images": 10, "agreement": 0.98, "max_prob_delta": 0.05}) == []
    assert limit_failures(limits, {"images": 10, "agreement": 0.9, "max_prob_delta": 0.3}) == [
        "agreement 0.9000 < min_agreement 0.97", "max_prob_delta 0.3000 > max_prob_delta 0.1"]
    assert limit_failures({"min_parity_dice": 0.95}, {"images": 3, "parity_dice": 0.9}) == [
        "parity_dice 0.9000 < min_parity_dice 0.95"]
