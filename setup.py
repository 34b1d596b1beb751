"""Build hook: wheels carry the int8 deployables of ``models/`` as ``tumorscope/_models/``.

The repository's ``models/`` folder is the single source of truth: at build time ``build_py`` copies
``classifier.int8.{onnx,tflite}``, ``segmenter.int8.{onnx,tflite}``, their ``.spec.json`` sidecars and
``manifest.json`` into the built package (the Keras originals stay in the repository). A build that lacks one of
them fails with a message naming it. Editable installs copy nothing: the runtime finds the checkout's ``models/``.
All metadata lives in pyproject.toml. For research and education only - not for clinical diagnosis.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODELS = Path(__file__).resolve().parent / "models"
PACKAGED_MODELS = ("tumorscope", "_models")
"""Where the models go inside the package (``tumorscope.runtime.locate.PACKAGED_MODELS`` reads them there)."""
SHIPPED = [f"{task}.int8.{ext}{sidecar}" for task in ("classifier", "segmenter") for ext in ("onnx", "tflite")
           for sidecar in ("", ".spec.json")] + ["manifest.json"]
"""Every file a wheel carries from ``models/``."""


class BuildPyWithModels(build_py):
    """``build_py`` that also copies the shipped models into ``<build_lib>/tumorscope/_models/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        missing = [name for name in SHIPPED if not (MODELS / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"cannot build tumorscope: {MODELS} lacks {', '.join(missing)}; the wheel ships these int8 models "
                "(export them with `tumorscope export`, or build from a checkout that has them)"
            )
        target = Path(self.build_lib, *PACKAGED_MODELS)
        shutil.rmtree(target, ignore_errors=True)  # no stale files from an earlier build
        target.mkdir(parents=True)
        for name in SHIPPED:
            shutil.copyfile(MODELS / name, target / name)


setup(cmdclass={"build_py": BuildPyWithModels})
