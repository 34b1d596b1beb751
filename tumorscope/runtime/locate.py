"""Where the deployable models are: ``--model-dir`` > ``$TUMORSCOPE_MODELS`` > the models installed with the package.

A wheel carries the int8 deployables (``classifier.int8.{onnx,tflite}``, ``segmenter.int8.{onnx,tflite}``, their
``.spec.json`` sidecars and ``manifest.json``) as ``tumorscope/_models/`` (copied from the repository's
``models/`` at build time by ``setup.py``); a source checkout (editable install) uses its ``models/`` directly.
Opens no model; ``tumorscope.inventory`` lists what a folder holds (``tumorscope models``).

Example:
    >>> location = locate_models()                      # the folder a plain `tumorscope predict` uses
    >>> require_model_files(location.path, "tflite")    # FileNotFoundError naming what is missing

For research and education only; not for clinical diagnosis.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tumorscope.runtime.backends import BACKEND_SUFFIXES
from tumorscope.runtime.spec import spec_path_for

__all__ = [
    "MODELS_ENV",
    "PACKAGED_MODELS",
    "REPO_MODELS",
    "TASKS",
    "ModelLocation",
    "locate_models",
    "model_files",
    "require_model_files",
    "resolve_model_dir",
]

MODELS_ENV = "TUMORSCOPE_MODELS"
"""Environment variable naming the folder with the deployable models."""
PACKAGED_MODELS = Path(__file__).resolve().parents[1] / "_models"
"""``tumorscope/_models/``: the int8 deployables a built wheel carries (absent in a source checkout)."""
REPO_MODELS = Path(__file__).resolve().parents[2] / "models"
"""``models/`` of a source checkout, next to the package (used only when ``pyproject.toml`` is beside it)."""
TASKS = ("classifier", "segmenter")
"""The two models a pipeline loads, in order."""


@dataclass(frozen=True)
class ModelLocation:
    """A models folder and how it was chosen.

    Attributes:
        path: the folder.
        source: ``"--model-dir"``, ``"$TUMORSCOPE_MODELS"``, ``"installed with the package"`` or
            ``"the source checkout's models/"``.
    """

    path: Path
    source: str


def model_files(model_dir: str | Path, backend: str = "onnx") -> dict[str, Path]:
    """The deployable artifacts a pipeline loads: ``{task: model_dir / f"{task}.int8.{ext}"}``."""
    backends = tuple(BACKEND_SUFFIXES.values())
    if backend not in backends:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(backends)}")
    ext = next(s for s, b in BACKEND_SUFFIXES.items() if b == backend)
    return {task: Path(model_dir) / f"{task}.int8{ext}" for task in TASKS}


def _is_checkout() -> bool:
    return REPO_MODELS.is_dir() and (REPO_MODELS.parent / "pyproject.toml").is_file()


def locate_models(model_dir: str | Path | None = None) -> ModelLocation:
    """The models folder: ``model_dir`` if given, else ``$TUMORSCOPE_MODELS``, else the packaged models.

    The packaged models are ``tumorscope/_models/`` of an installed wheel, or in a source checkout (editable
    install) the repository's ``models/``.

    Raises:
        FileNotFoundError: the chosen folder does not exist, or no models came with the package (the one-line
            message says how to point at a folder).
    """
    if model_dir is not None:
        location = ModelLocation(Path(model_dir), "--model-dir")
    elif os.environ.get(MODELS_ENV):
        location = ModelLocation(Path(os.environ[MODELS_ENV]), f"${MODELS_ENV}")
    elif PACKAGED_MODELS.is_dir():
        location = ModelLocation(PACKAGED_MODELS, "installed with the package")
    elif _is_checkout():
        location = ModelLocation(REPO_MODELS, "the source checkout's models/")
    else:
        raise FileNotFoundError(
            f"no models installed with the package ({PACKAGED_MODELS} not found); reinstall tumorscope from a wheel "
            f"built with the models (`pip install .` in the repository), or pass --model-dir DIR or set {MODELS_ENV} "
            "to the folder holding classifier.int8.onnx/.tflite and segmenter.int8.onnx/.tflite"
        )
    if not location.path.is_dir():
        raise FileNotFoundError(
            f"models folder {location.path} ({location.source}) not found; pass --model-dir DIR or set {MODELS_ENV} "
            "to the folder holding classifier.int8.onnx/.tflite and segmenter.int8.onnx/.tflite"
        )
    return location


def resolve_model_dir(model_dir: str | Path | None = None) -> Path:
    """The folder of :func:`locate_models` (``--model-dir`` > ``$TUMORSCOPE_MODELS`` > packaged models)."""
    return locate_models(model_dir).path


def require_model_files(model_dir: str | Path, backend: str = "onnx") -> dict[str, Path]:
    """``model_files(model_dir, backend)`` after checking that each model and its ``.spec.json`` exist.

    Raises:
        FileNotFoundError: one line naming the missing files, the backend that needs them and the fix.
        ValueError: unknown backend.
    """
    files = model_files(model_dir, backend)
    missing = [path.name if not path.is_file() else spec_path_for(path).name for path in files.values()
               if not path.is_file() or not spec_path_for(path).is_file()]
    if missing:
        others = [b for b in BACKEND_SUFFIXES.values() if b != backend]
        raise FileNotFoundError(
            f"{model_dir}: missing {', '.join(missing)} (needed by --backend {backend}); pass --model-dir / set "
            f"{MODELS_ENV} to a folder that has them (`tumorscope export --formats {backend}-int8` writes them), "
            f"or try --backend {others[0]}"
        )
    return files
