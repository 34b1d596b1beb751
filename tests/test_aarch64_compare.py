"""The cross-platform comparison of scripts/compare_predictions.py (used by scripts/check_aarch64.sh)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "compare_predictions.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_predictions", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _row(path: str, probs: tuple[float, ...], area: float = 1.0, error: str | None = None) -> dict:
    names = ("glioma", "meningioma", "notumor", "pituitary")
    if error:
        return {"path": path, "label": None, "probabilities": None, "tumor_area_pct": None, "timings_ms": {},
                "error": error}
    return {"path": path, "label": names[int(np.argmax(probs))], "probabilities": dict(zip(names, probs, strict=True)),
            "tumor_area_pct": area, "timings_ms": {"total": 10.0}, "error": None}


def _mask(box: tuple[int, int, int, int], size: int = 20) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def _check(compare, ref_probs, other_probs, ref_mask, other_mask, **kwargs):
    ref, other = {"a.jpg": _row("a.jpg", ref_probs)}, {"a.jpg": _row("a.jpg", other_probs)}
    return compare.compare_backend("onnx", ref, other, {"a.jpg": ref_mask}, {"a.jpg": other_mask}, **kwargs)[0]


def test_identical_results_pass(compare):
    check = _check(compare, (0.7, 0.1, 0.1, 0.1), (0.7, 0.1, 0.1, 0.1), _mask((2, 12, 2, 12)), _mask((2, 12, 2, 12)))
    assert check.passed and check.prob_delta == 0.0 and check.dice == 1.0


def test_small_probability_shift_within_tolerance_passes(compare):
    check = _check(compare, (0.70, 0.10, 0.10, 0.10), (0.685, 0.115, 0.10, 0.10), _mask((0, 5, 0, 5)),
                   _mask((0, 5, 0, 5)))
    assert check.passed
    assert check.prob_delta == pytest.approx(0.015)


def test_probability_shift_beyond_tolerance_fails(compare):
    check = _check(compare, (0.70, 0.10, 0.10, 0.10), (0.67, 0.13, 0.10, 0.10), _mask((0, 5, 0, 5)),
                   _mask((0, 5, 0, 5)), prob_tol=0.02)
    assert not check.passed
    assert any("probability delta 0.0300" in p for p in check.problems)


def test_label_flip_fails(compare):
    check = _check(compare, (0.51, 0.49, 0.0, 0.0), (0.49, 0.51, 0.0, 0.0), _mask((0, 5, 0, 5)), _mask((0, 5, 0, 5)))
    assert not check.passed
    assert "label glioma != meningioma" in check.problems


def test_mask_dice_is_hand_computed_and_thresholded(compare):
    # 10x10 box vs the same box shifted by one column: overlap 90, sizes 100 + 100 -> Dice 0.9.
    ref, other = _mask((0, 10, 0, 10)), _mask((0, 10, 1, 11))
    probs = (0.7, 0.1, 0.1, 0.1)
    check = _check(compare, probs, probs, ref, other)
    assert check.dice == pytest.approx(0.9)
    assert not check.passed and any("mask Dice 0.9000 < 0.98" in p for p in check.problems)
    assert _check(compare, probs, probs, ref, other, min_dice=0.85).passed


def test_two_empty_masks_agree(compare):
    empty = np.zeros((8, 8), bool)
    check = _check(compare, (0.1, 0.1, 0.7, 0.1), (0.1, 0.1, 0.7, 0.1), empty, empty)
    assert check.passed and check.dice == 1.0


def test_missing_failed_and_mismatched_inputs_fail(compare):
    ok = _row("a.jpg", (0.7, 0.1, 0.1, 0.1))
    ref = {"a.jpg": ok, "b.jpg": _row("b.jpg", (0.7, 0.1, 0.1, 0.1))}
    other = {"a.jpg": ok, "b.jpg": _row("b.jpg", (), error="b.jpg: cannot decode")}
    masks = {"a.jpg": _mask((0, 4, 0, 4)), "b.jpg": _mask((0, 4, 0, 4))}
    checks = compare.compare_backend("tflite", ref, other, masks, {"a.jpg": _mask((0, 4, 0, 4), size=30)})
    a, b = checks
    assert not a.passed and math.isnan(a.dice) and "masks not comparable" in a.problems[0]
    assert not b.passed and b.problems == ("other failed: b.jpg: cannot decode",)
    only_other = compare.compare_backend("onnx", {}, {"c.jpg": ok}, {}, {})
    assert [c.path for c in only_other] == ["c.jpg"] and only_other[0].problems == ("no reference result",)


def test_report_says_pass_or_fail_and_labels_emulated_latency(compare):
    probs = (0.7, 0.1, 0.1, 0.1)
    good = _check(compare, probs, probs, _mask((0, 5, 0, 5)), _mask((0, 5, 0, 5)))
    bad = _check(compare, probs, (0.1, 0.7, 0.1, 0.1), _mask((0, 5, 0, 5)), _mask((0, 5, 0, 5)))
    names = ("x86_64", "aarch64")
    passing = compare.format_report([good], 0.02, 0.98, names)
    assert "PASS: 1/1 checks passed" in passing and "emulated, not Pi speed" in passing
    failing = compare.format_report([good, bad], 0.02, 0.98, names)
    assert "FAIL: 1/2 checks passed" in failing and "label glioma != meningioma" in failing
    assert "FAIL" in compare.format_report([], 0.02, 0.98, names)


def test_command_line_exit_codes(compare, tmp_path):
    for side, probs in (("x86", (0.7, 0.1, 0.1, 0.1)), ("arm", (0.69, 0.11, 0.1, 0.1)), ("bad", (0.2, 0.6, 0.1, 0.1))):
        folder = tmp_path / side
        folder.mkdir()
        rows = [_row("a.jpg", probs)]
        (folder / "predict.onnx.json").write_text(json.dumps(rows))
        np.savez_compressed(folder / "masks.onnx.npz", paths=np.array(["a.jpg"]), mask_0=_mask((1, 6, 1, 6)))

    def run(ref: str, other: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / ref), str(tmp_path / other),
                               "--backends", "onnx", "--json", str(tmp_path / "report.json")],
                              capture_output=True, text=True)

    passed = run("x86", "arm")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert json.loads((tmp_path / "report.json").read_text())[0]["passed"] is True
    assert run("x86", "bad").returncode == 1
    missing = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "x86"), str(tmp_path / "nowhere"),
                              "--backends", "onnx"], capture_output=True, text=True)
    assert missing.returncode == 1 and "cannot read predictions" in missing.stderr


def test_default_tolerances_are_the_across_platforms_limits(compare):
    from tumorscope.assess.limits import load_limits

    limits = load_limits().across_platforms
    assert compare.PROB_TOL == limits["max_prob_delta"] and compare.MIN_DICE == limits["min_parity_dice"]
