"""Short real-data training runs: a few steps on a small real subset, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
from click.testing import CliRunner  # noqa: E402

from tumorscope.cli import main  # noqa: E402
from tumorscope.runtime.spec import load_spec  # noqa: E402

VGG16_WEIGHTS = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.mark.realdata
@pytest.mark.slow
def test_classifier_training_smoke_on_real_images(data_root, tmp_path):
    weights = data_root.parent / "weights" / VGG16_WEIGHTS
    assert weights.is_file(), f"{weights} missing next to the data root"
    out = tmp_path / "run"
    args = ["train", "classifier", "--data", str(data_root), "--out", str(out), "--backbone-weights", str(weights),
            "--head-epochs", "1", "--finetune-epochs", "1", "--aug-copies", "1", "--limit", "48"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'classifier.keras'}" in result.output
    summary = json.loads((out / "training.json").read_text())
    assert summary["n_train"] == 48 and summary["epochs"] == 2 and 0.0 <= summary["val_accuracy"] <= 1.0
    assert load_spec(out / "classifier.keras").labels == ("glioma", "meningioma", "notumor", "pituitary")
    assert (out / "phase2_history.csv").read_text().count("\n") == 2  # header + one epoch
    # Rerunning resumes: both phases are complete, so no epoch runs again.
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "0 epochs" in again.output


@pytest.mark.realdata
@pytest.mark.slow
def test_attention_guided_fine_tune_from_the_shipped_classifier(data_root, tmp_path):
    shipped = Path(__file__).resolve().parents[2] / "models" / "classifier.keras"
    out = tmp_path / "guided"
    args = ["train", "classifier", "--data", str(data_root), "--out", str(out), "--init-from", str(shipped),
            "--head-epochs", "0", "--finetune-epochs", "1", "--aug-copies", "1", "--limit", "48",
            "--attention-weight", "0.3", "--learning-rate", "3e-5"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "training.json").read_text())
    assert summary["epochs"] == 1 and summary["attention_weight"] == 0.3 and summary["n_attention_masks"] > 0
    assert summary["init_from"] == str(shipped) and not (out / "phase1_history.csv").exists()
    assert "pointing_loss" in (out / "phase2_history.csv").read_text().splitlines()[0]
    cells = np.load(out / "cache" / "features_1_cells.npy")
    assert cells.shape == (48, 8, 8) and 0 < cells.any(axis=(1, 2)).sum() == summary["n_attention_masks"]


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(("encoder", "mirror"), [("plain", False), ("vgg16", False), ("plain", True)])
def test_segmenter_training_smoke_on_real_slices(data_root, tmp_path, encoder, mirror):
    out = tmp_path / "run"
    args = ["train", "segmenter", "--data", str(data_root), "--out", str(out), "--epochs", "1", "--limit", "32",
            "--base-filters", "4", "--encoder", encoder] + (["--mirror"] if mirror else [])
    if encoder == "vgg16":
        args += ["--depth", "3", "--backbone-weights", str(data_root.parent / "weights" / VGG16_WEIGHTS)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "training.json").read_text())
    assert summary["epochs"] == 1 and summary["base_filters"] == 4 and summary["encoder"] == encoder
    assert summary["mirror"] is mirror
    spec = load_spec(out / "segmenter.keras")
    assert spec.task == "segmenter" and 0 < spec.min_region_pct == summary["min_region_pct"] < 0.5
