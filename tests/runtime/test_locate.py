"""Model lookup: --model-dir > $TUMORSCOPE_MODELS > the packaged models (or the checkout's models/), and the
one-line error for a folder that lacks one backend's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tumorscope.runtime import MODELS_ENV, Pipeline, locate_models, resolve_model_dir
from tumorscope.runtime import locate as locate_module
from tumorscope.runtime.locate import require_model_files

REPO = Path(__file__).resolve().parents[2]


def _folder(path: Path, backends: tuple[str, ...] = ("onnx", "tflite")) -> Path:
    """A models folder with placeholder files (lookup never opens them)."""
    path.mkdir(parents=True, exist_ok=True)
    for backend in backends:
        for task in ("classifier", "segmenter"):
            (path / f"{task}.int8.{backend}").write_bytes(b"model")
            (path / f"{task}.int8.{backend}.spec.json").write_text("{}")
    return path


@pytest.fixture()
def places(tmp_path, monkeypatch) -> dict[str, Path]:
    """Distinct folders for each lookup level; the packaged and checkout folders patched in, the env cleared."""
    folders = {name: _folder(tmp_path / name) for name in ("option", "env", "packaged", "checkout")}
    monkeypatch.setattr(locate_module, "PACKAGED_MODELS", folders["packaged"])
    monkeypatch.setattr(locate_module, "REPO_MODELS", folders["checkout"])
    (tmp_path / "pyproject.toml").write_text("")  # the checkout marker beside REPO_MODELS
    monkeypatch.delenv(MODELS_ENV, raising=False)
    return folders


def test_lookup_order(places, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, str(places["env"]))
    assert locate_models(places["option"]) == locate_module.ModelLocation(places["option"], "--model-dir")
    assert locate_models() == locate_module.ModelLocation(places["env"], f"${MODELS_ENV}")
    monkeypatch.delenv(MODELS_ENV)
    assert locate_models() == locate_module.ModelLocation(places["packaged"], "installed with the package")
    assert resolve_model_dir() == places["packaged"]


def test_checkout_models_when_nothing_is_packaged(places, monkeypatch, tmp_path):
    monkeypatch.setattr(locate_module, "PACKAGED_MODELS", tmp_path / "not-installed")
    assert locate_models() == locate_module.ModelLocation(places["checkout"], "the source checkout's models/")
    (tmp_path / "pyproject.toml").unlink()  # a models/ folder beside site-packages is not a checkout
    with pytest.raises(FileNotFoundError, match="no models installed with the package") as error:
        locate_models()
    assert "--model-dir" in str(error.value) and MODELS_ENV in str(error.value)


def test_a_named_folder_that_does_not_exist_is_an_error_not_a_fallback(places, monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\(--model-dir\) not found"):
        locate_models(tmp_path / "nowhere")
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=rf"\(\${MODELS_ENV}\) not found"):
        locate_models()


def test_this_checkout_finds_its_models(monkeypatch):
    """The editable/dev install: no tumorscope/_models, so the repository's models/ is used."""
    monkeypatch.delenv(MODELS_ENV, raising=False)
    assert not locate_module.PACKAGED_MODELS.exists(), "tumorscope/_models must only exist in built wheels"
    assert locate_models() == locate_module.ModelLocation(REPO / "models", "the source checkout's models/")


def test_a_folder_without_one_backends_files_names_them_and_the_fix(tmp_path):
    folder = _folder(tmp_path / "onnx-only", backends=("onnx",))
    assert set(require_model_files(folder, "onnx")) == {"classifier", "segmenter"}
    with pytest.raises(FileNotFoundError) as error:
        Pipeline.from_model_dir(folder, backend="tflite")
    message = str(error.value)
    assert "missing classifier.int8.tflite, segmenter.int8.tflite (needed by --backend tflite)" in message
    assert "--model-dir" in message and MODELS_ENV in message and "--backend onnx" in message
    assert "\n" not in message


def test_a_missing_spec_sidecar_is_named(tmp_path):
    folder = _folder(tmp_path / "models", backends=("onnx",))
    (folder / "segmenter.int8.onnx.spec.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing segmenter\.int8\.onnx\.spec\.json \(needed by --backend"):
        require_model_files(folder, "onnx")
