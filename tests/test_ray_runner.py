"""`tumorscope ray-predict` on a local Ray with 2 actors gives exactly the records of `predict` (real images)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tumorscope.cli import main
from tumorscope.predict import expand_inputs, open_pipeline, predict_rows
from tumorscope.records import read_records

MODELS = Path(__file__).resolve().parents[1] / "models"
N_IMAGES = 50


def _without_timings(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "timings_ms"}


@pytest.mark.realdata
@pytest.mark.slow
def test_ray_predict_matches_predict_on_real_images(data_root, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed; `pip install tumorscope[ray]` (CI installs it)")
    testing = sorted((data_root / "brain-tumor-mri" / "Testing").glob("*/*.jpg"))
    assert len(testing) > 1000, f"expected the 1,311 Testing images under {data_root}"
    images = [str(p) for p in testing[:: len(testing) // N_IMAGES][:N_IMAGES]]
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [*images, str(tmp_path / "missing.jpg"), str(empty)]  # one failure per side: actor and driver
    with open_pipeline(MODELS, "onnx", 2) as pipeline:
        expected = [_without_timings(r) for r in predict_rows(expand_inputs(args), pipeline)]
    out = tmp_path / "ray.jsonl"
    try:
        result = CliRunner().invoke(main, ["ray-predict", *args, "--output", str(out), "--model-dir", str(MODELS),
                                           "--workers", "2", "--threads", "1", "--batch-size", "8"])
    finally:
        ray.shutdown()
    assert result.exit_code == 1, result.output  # the two bad inputs
    assert f"{N_IMAGES + 2} record(s) written (2 failed)" in result.stdout
    assert "not for clinical diagnosis" in result.stdout
    got = {r["path"]: _without_timings(r) for r in read_records(out)}
    assert len(got) == len(expected) == N_IMAGES + 2
    assert [got[r["path"]] for r in expected] == expected
