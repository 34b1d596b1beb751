"""The BRISC splits: specificity and per-plane numbers (classifier), per-plane Dice and false positives on
tumour-free slices (segmenter), with the brightness models of conftest on a synthetic BRISC layout."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tumorscope.cli import main
from tumorscope.evaluation.evaluate import evaluate, evaluate_classifier, evaluate_segmenter
from tumorscope.evaluation.report import write_report

SHAPE = (40, 48)


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture()
def brisc_root(fake_data, monkeypatch) -> Path:
    """BRISC-named files in the synthetic root, and split lists for notumor-indep, brisc-test, notumor-official."""
    import tumorscope.datasets

    root, splits = fake_data
    base = "brisc2025"
    indep = []
    # classifier: ax slices at the notumor level (right), co: one right and one at the glioma level (wrong)
    for i, (plane, level) in enumerate([("ax", 160), ("ax", 160), ("co", 160), ("co", 40)]):
        rel = f"{base}/no_tumor/test/brisc2025_test_{i:05d}_no_{plane}_t1.jpg"
        _write(root / rel, np.full(SHAPE, level, np.uint8))
        indep.append(rel)
    # segmenter with masks: ax slices match their mask exactly, the sa slice misses half of it
    brisc_test = []
    for i, (plane, kind) in enumerate([("ax", "gl"), ("ax", "gl"), ("sa", "me")]):
        rel = f"{base}/segmentation/test/images/brisc2025_test_{i:05d}_{kind}_{plane}_t1.jpg"
        image = np.full(SHAPE, 20, np.uint8)
        image[10:20, 10:20] = 230
        mask = np.zeros(SHAPE, np.uint8)
        mask[10:20, 10:20] = 255
        if plane == "sa":
            mask[10:20, 20:30] = 255  # twice the predicted area: Dice 2*100/(100+200)
        _write(root / rel, image)
        _write(root / rel.replace("/images/", "/masks/").replace(".jpg", ".png"), mask)
        brisc_test.append(rel)
    # tumour-free slices: two dark (no prediction), one co slice with a bright 10x12 spot (a false positive)
    official = []
    for i, plane in enumerate(["ax", "co", "co"]):
        rel = f"{base}/no_tumor/test/brisc2025_test_{i + 10:05d}_no_{plane}_t1.jpg"
        image = np.full(SHAPE, 20, np.uint8)
        if i == 2:
            image[0:10, 0:12] = 230
        _write(root / rel, image)
        official.append(rel)
    lists = {"classifier": {**splits["classifier"], "notumor-indep": indep},
             "segmenter": {**splits["segmenter"], "brisc-test": brisc_test, "notumor-official": official}}
    monkeypatch.setattr(tumorscope.datasets, "load_split", lambda task, split: lists[task][split])
    return root


def test_notumor_indep_reports_specificity_per_plane(brisc_root, brightness_classifier_onnx):
    result = evaluate_classifier(brightness_classifier_onnx, brisc_root, "notumor-indep")
    assert result["n"] == 4 and result["accuracy"] == 0.75 and result["specificity"] == 0.75
    assert result["per_plane"] == {"ax": {"n": 2, "accuracy": 1.0, "specificity": 1.0},
                                   "co": {"n": 2, "accuracy": 0.5, "specificity": 0.5}}


def test_figshare_splits_have_no_planes(fake_root, brightness_classifier_onnx):
    result = evaluate_classifier(brightness_classifier_onnx, fake_root, "test")
    assert result["per_plane"] == {} and result["specificity"] == 1.0  # all 3 notumor images called notumor


def test_brisc_test_reports_dice_per_plane(brisc_root, brightness_segmenter_onnx):
    result = evaluate_segmenter(brightness_segmenter_onnx, brisc_root, "brisc-test")
    assert result["tumor_free"] is False and result["n"] == 3
    ax, sa = result["per_plane"]["ax"], result["per_plane"]["sa"]
    assert set(result["per_plane"]) == {"ax", "sa"} and ax["n"] == 2 and sa["n"] == 1
    assert ax["dice"] == pytest.approx(1.0, abs=0.05) and sa["dice"] == pytest.approx(2 / 3, abs=0.05)
    assert result["dice"] == pytest.approx((2 * ax["dice"] + sa["dice"]) / 3)
    assert result["per_type"] == {"glioma": {**ax}, "meningioma": {**sa}}  # the tumour type from the file name


def test_figshare_slices_are_scored_per_tumour_type_from_labels_csv(fake_root, brightness_segmenter_onnx, tmp_path):
    result = evaluate_segmenter(brightness_segmenter_onnx, fake_root, "test")  # ids 1..6: labels 2, 3, 1, 2, 3, 1
    types = result["per_type"]
    assert set(types) == {"glioma", "meningioma", "pituitary"} and all(t["n"] == 2 for t in types.values())
    assert result["dice"] == pytest.approx(np.mean([t["dice"] for t in types.values()]))
    pytest.importorskip("matplotlib")
    evaluation = evaluate("segmenter", brightness_segmenter_onnx, fake_root, "test")
    text = write_report(evaluation.result, evaluation.raw, tmp_path / "report").read_text()
    assert "## Per tumour type" in text and "| glioma | 2 |" in text


def test_tumor_free_split_reports_false_positives(brisc_root, brightness_segmenter_onnx):
    evaluation = evaluate("segmenter", brightness_segmenter_onnx, brisc_root, "notumor-official")
    result = evaluation.result
    assert result["tumor_free"] is True and result["n"] == 3 and "dice" not in result and "per_type" not in result
    assert result["any_tumor_share"] == pytest.approx(1 / 3)
    spot = 100 * 10 * 12 / (SHAPE[0] * SHAPE[1])
    assert result["false_area_pct_max"] == pytest.approx(spot, rel=0.2)
    assert result["false_area_pct_mean"] == pytest.approx(result["false_area_pct_max"] / 3)
    assert result["per_plane"]["ax"] == {"n": 1, "any_tumor_share": 0.0, "false_area_pct_mean": 0.0}
    assert result["per_plane"]["co"]["any_tumor_share"] == 0.5


def test_tumor_free_report_and_cli_json(brisc_root, brightness_segmenter_onnx, tmp_path):
    pytest.importorskip("matplotlib")
    evaluation = evaluate("segmenter", brightness_segmenter_onnx, brisc_root, "notumor-official")
    report = write_report(evaluation.result, evaluation.raw, tmp_path / "report")
    text = report.read_text()
    assert "any_tumor_share" in text and "Per imaging plane" in text
    assert (tmp_path / "report/false_area_hist.png").is_file()
    out = CliRunner().invoke(main, ["evaluate", "segmenter", "--model", str(brightness_segmenter_onnx), "--data",
                                    str(brisc_root), "--split", "notumor-official", "--json"])
    assert out.exit_code == 0, out.output
    row = json.loads(out.stdout)
    assert row["any_tumor_share"] == pytest.approx(1 / 3) and set(row["per_plane"]) == {"ax", "co"}
    wrong = CliRunner().invoke(main, ["evaluate", "classifier", "--model", str(brightness_segmenter_onnx), "--data",
                                      str(brisc_root)])
    assert wrong.exit_code == 2 and "segmenter model, not a classifier" in wrong.stderr
