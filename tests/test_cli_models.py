"""`tumorscope models` (path, format, sha256, manifest metrics), `tumorscope --version` and `python -m tumorscope`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tumorscope import DISCLAIMER, __version__
from tumorscope.cli import main
from tumorscope.runtime import MODELS_ENV

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def models(tmp_path) -> Path:
    """The four int8 files (placeholder bytes), their specs and a manifest with checksums and metrics."""
    folder = tmp_path / "models"
    folder.mkdir()
    entries = {}
    for backend in ("onnx", "tflite"):
        for task in ("classifier", "segmenter"):
            name = f"{task}.int8.{backend}"
            data = f"{name} weights".encode()
            (folder / name).write_bytes(data)
            (folder / f"{name}.spec.json").write_text(json.dumps({"task": task, "format": f"{backend}-int8"}))
            metrics = {"accuracy": 0.975, "n": 1311} if task == "classifier" else {"dice": 0.7234, "n": 500}
            entries[name] = {"file": name, "sha256": hashlib.sha256(data).hexdigest(), "format": f"{backend}-int8",
                             "metrics": {"test": metrics}}
    (folder / "manifest.json").write_text(json.dumps({"models": entries}))
    return folder


def test_models_lists_path_format_sha256_and_metrics(models, monkeypatch):
    monkeypatch.delenv(MODELS_ENV, raising=False)
    result = CliRunner().invoke(main, ["models", "--model-dir", str(models)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"models in use: {models.resolve()} (--model-dir)" in out
    digest = hashlib.sha256(b"classifier.int8.tflite weights").hexdigest()
    assert f"  path    {models.resolve() / 'classifier.int8.tflite'}" in out
    assert f"  sha256  {digest}  matches manifest.json" in out
    assert "classifier.int8.onnx  (onnx-int8," in out and "segmenter.int8.tflite  (tflite-int8," in out
    assert "accuracy 0.9750" in out and "dice 0.7234" in out
    assert out.strip().endswith(DISCLAIMER)


def test_models_json_and_env(models, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, str(models))
    result = CliRunner().invoke(main, ["models", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["source"] == f"${MODELS_ENV}" and report["model_dir"] == str(models.resolve())
    assert [m["file"] for m in report["models"]] == [
        "classifier.int8.onnx", "segmenter.int8.onnx", "classifier.int8.tflite", "segmenter.int8.tflite"]
    first = report["models"][0]
    assert first["sha256"] == hashlib.sha256(b"classifier.int8.onnx weights").hexdigest()
    assert first["sha256_matches"] is True and first["metrics"]["test"]["accuracy"] == 0.975
    assert report["missing"] == [] and report["disclaimer"] == DISCLAIMER


def test_models_flags_a_changed_file_and_missing_backend(models):
    (models / "segmenter.int8.onnx").write_bytes(b"retrained but manifest not updated")
    for name in ("classifier.int8.tflite", "classifier.int8.tflite.spec.json"):
        (models / name).unlink()
    result = CliRunner().invoke(main, ["models", "--model-dir", str(models)])
    assert result.exit_code == 1
    assert "DIFFERS from manifest.json" in result.stdout
    assert "missing: classifier.int8.tflite, classifier.int8.tflite.spec.json" in result.stdout


def test_models_without_a_folder_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["models", "--model-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_version_and_python_dash_m():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"tumorscope, version {__version__}"
    done = subprocess.run([sys.executable, "-m", "tumorscope", "--version"], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 0 and done.stdout.strip() == f"tumorscope, version {__version__}"
    done = subprocess.run([sys.executable, "-m", "tumorscope", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Usage: tumorscope" in done.stdout and " models " in done.stdout


def test_the_version_has_one_definition():
    """pyproject.toml reads the version from tumorscope.__version__ instead of repeating it."""
    text = (REPO / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'version = { attr = "tumorscope.__version__" }' in text
