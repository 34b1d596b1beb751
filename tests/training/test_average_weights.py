"""scripts/average_weights.py: the weighted mean of checkpoints, saved with the task's spec."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tumorscope.runtime.spec import load_spec, save_spec  # noqa: E402
from tumorscope.training.models import build_classifier, build_segmenter  # noqa: E402
from tumorscope.training.train import segmenter_spec  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "average_weights.py"


def _script():
    spec = importlib.util.spec_from_file_location("average_weights", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _average_and_check(inputs: list[Path], mix: list[str], out: Path, models: tuple, shares: tuple[float, float],
                       *options: str) -> None:
    """Run the script on ``inputs`` with ``--mix``; assert each weight is the ``shares``-weighted average of
    ``models``'."""
    assert _script().main([*map(str, inputs), "--mix", *mix, *options, "--out", str(out)]) == 0
    averaged = keras.models.load_model(out, compile=False)
    for got, a, b in zip(averaged.get_weights(), models[0].get_weights(), models[1].get_weights(), strict=True):
        assert np.allclose(got, shares[0] * a + shares[1] * b, atol=1e-6)


def test_weighted_average_of_a_checkpoint_and_a_model(tmp_path):
    keras.utils.set_random_seed(1)
    first, second = build_segmenter(), build_segmenter()
    first.save_weights(tmp_path / "a.weights.h5")
    second.save(tmp_path / "b.keras")
    out = tmp_path / "avg" / "segmenter.keras"
    _average_and_check([tmp_path / "a.weights.h5", tmp_path / "b.keras"], ["1", "3"], out, (first, second),
                       (0.25, 0.75))
    assert load_spec(out).task == "segmenter" and load_spec(out).output_name == "mask"
    assert load_spec(out).min_region_pct == 0.0  # b.keras has no spec to inherit it from


def test_a_segmenter_average_inherits_min_region_pct_from_the_first_input_spec(tmp_path):
    keras.utils.set_random_seed(3)
    first, second = build_segmenter(), build_segmenter()
    first.save_weights(tmp_path / "a.weights.h5")
    second.save(tmp_path / "b.keras")
    save_spec(segmenter_spec((128, 128), 0.031), tmp_path / "b.keras")
    out = tmp_path / "avg" / "segmenter.keras"
    _average_and_check([tmp_path / "a.weights.h5", tmp_path / "b.keras"], ["1", "1"], out, (first, second),
                       (0.5, 0.5))
    assert load_spec(out).min_region_pct == 0.031


def test_classifier_soup_keeps_the_classifier_contract(tmp_path):
    keras.utils.set_random_seed(2)
    first, second = build_classifier(), build_classifier()
    first.save(tmp_path / "guided.keras")
    second.save(tmp_path / "previous.keras")
    out = tmp_path / "mix" / "classifier.keras"
    _average_and_check([tmp_path / "guided.keras", tmp_path / "previous.keras"], ["0.85", "0.15"], out,
                       (first, second), (0.85, 0.15), "--task", "classifier")
    spec = load_spec(out)
    assert spec.task == "classifier" and spec.output_name == "probabilities" and spec.input_size == (128, 128)
    assert spec.labels == ("glioma", "meningioma", "notumor", "pituitary")


def test_checkpoints_of_another_architecture_are_averaged_like_a_reference_model(tmp_path):
    keras.utils.set_random_seed(5)
    first, second = build_segmenter(mirror=True), build_segmenter(mirror=True)
    first.save_weights(tmp_path / "epoch_01.weights.h5")
    second.save_weights(tmp_path / "epoch_02.weights.h5")
    first.save(tmp_path / "run.keras")
    save_spec(segmenter_spec((128, 128), 0.02), tmp_path / "run.keras")
    out = tmp_path / "swa" / "segmenter.keras"
    _average_and_check([tmp_path / "epoch_01.weights.h5", tmp_path / "epoch_02.weights.h5"], ["1", "1"], out,
                       (first, second), (0.5, 0.5), "--like", str(tmp_path / "run.keras"))
    averaged = keras.models.load_model(out, compile=False)
    assert averaged.get_layer("with_mirror") is not None and load_spec(out).min_region_pct == 0.02


def test_mismatched_shares_and_missing_inputs_are_one_line_errors(tmp_path, capsys):
    script = _script()
    assert script.main([str(tmp_path / "x.keras"), "--out", str(tmp_path / "o.keras")]) == 2
    assert "x.keras not found" in capsys.readouterr().err
    (tmp_path / "x.keras").write_bytes(b"")
    assert script.main([str(tmp_path / "x.keras"), "--mix", "1", "2", "--out", str(tmp_path / "o.keras")]) == 2
    assert "2 --mix shares for 1 inputs" in capsys.readouterr().err
