"""The shipped deployables in models/ were exported from the shipped Keras models (same bytes, same contract)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tumorscope.export.formats import DEPLOY_FORMAT_NAMES, artifact_path
from tumorscope.manifest import file_sha256
from tumorscope.runtime.spec import load_spec

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.mark.parametrize("task", ["classifier", "segmenter"])
@pytest.mark.parametrize("name", DEPLOY_FORMAT_NAMES)
def test_deployable_matches_its_keras_source(task, name):
    keras_path = MODELS / f"{task}.keras"
    if not keras_path.is_file():
        pytest.skip(f"{keras_path} not trained yet")
    path = artifact_path(keras_path, name, MODELS)
    hint = f"tumorscope export --model models/{keras_path.name} --formats {','.join(DEPLOY_FORMAT_NAMES)} --out models"
    assert path.is_file(), f"{path} missing: run `{hint}`"
    spec, source = load_spec(path), load_spec(keras_path)
    stale = f"{path.name} was exported from another {keras_path.name}: run `{hint}`"
    assert spec.source_sha256 == file_sha256(keras_path), stale
    fitted = {k: getattr(spec, k) for k in (
        "features_name", "cam_name", "cam_weights", "check_name", "input_check", "confident_area_pct")}
    assert spec == source.replace(format=name, source_sha256=spec.source_sha256, versions=spec.versions, **fitted)
