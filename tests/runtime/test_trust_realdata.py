"""Real data, shipped int8 models: the trust layer's targets (issue #13).

Needs a classifier exported with the trust outputs (``tumorscope export`` after #13); an older export
skips these tests and says how to re-export. ``scripts/measure_trust.py`` prints the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tumorscope.assess.items import pick_evenly
from tumorscope.evaluation.evaluate import evaluate_classifier
from tumorscope.runtime import Classifier, Pipeline, load_image, model_files
from tumorscope.runtime.notices import SEGMENTER_DISAGREES
from tumorscope.runtime.spec import load_spec
from tumorscope.trust.measure import flag_rates, independent_tumor_free

MODELS = Path(__file__).resolve().parents[2] / "models"
BACKENDS = ("onnx", "tflite")
# The targets: OOD >= 0.95, test <= 0.01, notumor-indep <= 0.05, pointing game >= 0.80. The input check
# (block-4 features, threshold at 0.5 % of val) measures OOD 1.000 on both backends, test 0.0069 ONNX (1,311) /
# 0.0067 LiteRT (300 of them), notumor-indep 0.0033 / 0.0, val 0.0047 / 0.0067.
MIN_OOD_FLAGGED = 0.95
MAX_TEST_FLAGGED = 0.01
MAX_INDEP_FLAGGED = 0.05
MAX_VAL_FLAGGED = 0.01  # the threshold is set at <= 0.5 % of val on the full split (LiteRT scores 300 of them)
MIN_POINTING = {"figshare-test": 0.80, "figshare-test-unseen": 0.70}
"""Pointing game on the first 100 (evenly spaced) slices: on ``figshare-test`` the issue's target (measured 0.86
ONNX, 0.87 LiteRT, 0.87 Keras; 0.870 ONNX on all 500; random 0.06); on the slices the classifier never trained on,
a regression floor (measured 0.77 / 0.76 / 0.78 on 100, 0.78 Keras on all 210)."""

pytestmark = pytest.mark.realdata


def _classifier(backend: str) -> Path:
    path = model_files(MODELS, backend)["classifier"]
    if not path.is_file():
        pytest.skip(f"{path} missing (run `tumorscope export` first)")
    if not load_spec(path).input_check:
        pytest.skip(f"{path.name} was exported without the input check: run `tumorscope export --model "
                    f"models/classifier.keras --formats onnx-int8,tflite-int8 --out models --data ../shared/data`")
    return path


# ONNX scores every image of each split; LiteRT (several times slower on x86 CPUs) 300 evenly spaced ones
# per split, enough to catch a backend whose input check drifts from the ONNX one.
SPLIT_LIMIT = {"onnx": None, "tflite": 300}


@pytest.mark.parametrize("backend", BACKENDS)
def test_input_check_flags_ood_images_and_accepts_real_slices(data_root, backend):
    with Classifier.create_from_path(_classifier(backend)) as clf:
        rows = {row["set"]: row for row in flag_rates(clf, data_root, limit=SPLIT_LIMIT[backend])}
    ood, test = rows.pop("ood"), rows.pop("test")
    indep = rows.get("notumor-indep") or rows["brisc-no_tumor"]
    assert ood["images"] >= 100 and ood["flagged_rate"] >= MIN_OOD_FLAGGED, (ood["by_category"], ood["missed"])
    assert test["images"] == (SPLIT_LIMIT[backend] or 1311) and test["flagged_rate"] <= MAX_TEST_FLAGGED, test
    assert indep["flagged_rate"] <= MAX_INDEP_FLAGGED, indep
    assert rows["val"]["flagged_rate"] <= MAX_VAL_FLAGGED, rows["val"]


@pytest.mark.parametrize("split", MIN_POINTING)
@pytest.mark.parametrize("backend", (*BACKENDS, "keras"))
def test_explanation_peaks_fall_on_the_tumour(data_root, backend, split):
    if backend == "keras":
        pytest.importorskip("tensorflow")
    path = MODELS / "classifier.keras" if backend == "keras" else _classifier(backend)
    result = evaluate_classifier(path, data_root, split, limit=100)["pointing_game"]
    assert result["slices"] == 100
    assert result["rate_predicted"] >= MIN_POINTING[split], result
    assert result["rate_random"] < 0.2  # the target zone is small: a random peak rarely hits it


def test_notumor_results_never_report_an_unconfirmed_area(data_root):
    _classifier("tflite")
    name, paths = independent_tumor_free(data_root)
    checked = 0
    with Pipeline.from_model_dir(MODELS, "tflite") as pipe:
        for path in pick_evenly(paths, 120):
            row = pipe.analyze(load_image(path), str(path)).to_dict()
            assert isinstance(row["warnings"], list) and row["input_check"]["status"] in ("ok", "out_of_distribution")
            if row["label"] == "notumor":
                checked += 1
                assert row["tumor_area_pct"] == 0 or SEGMENTER_DISAGREES in row["warnings"], row
                assert (row["bbox"] is None) == (row["tumor_area_pct"] == 0)
    assert checked > 0, f"no {name} slice was classified notumor"
