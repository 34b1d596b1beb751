"""The built wheel carries the int8 models: installed into a fresh venv, `tumorscope predict` works from any folder
with no model option and no TUMORSCOPE_MODELS.

Builds the wheel with `pip wheel --no-deps` (setup.py copies models/ into tumorscope/_models/; with this
environment's setuptools when it has one, so no build environment is downloaded), installs it with
--no-deps into a new venv that sees this environment's site-packages through a .pth file (numpy, OpenCV, ONNX
Runtime, LiteRT and click come from there: offline and fast), and runs the console script from a temporary folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tumorscope import DISCLAIMER, __version__
from tumorscope.runtime import MODELS_ENV

REPO = Path(__file__).resolve().parents[1]
MAX_WHEEL_MB = 45
"""Largest accepted wheel, in MiB (the unit of the README's model sizes)."""
SHIPPED = sorted([f"{task}.int8.{ext}{sidecar}" for task in ("classifier", "segmenter") for ext in ("onnx", "tflite")
                  for sidecar in ("", ".spec.json")] + ["manifest.json"])

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    offline = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", *offline, "-w", str(out),
                           str(REPO)], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = out.glob("tumorscope-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin/ folder."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                           "--quiet", str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # The runtime dependencies from this environment (added after the install, so pip saw an empty venv).
    (site_packages,) = (env_dir / "lib").glob("python*/site-packages")
    (site_packages / "_tumorscope_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return env_dir / "bin"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in (MODELS_ENV, "PYTHONPATH", "VIRTUAL_ENV")}


def test_wheel_carries_the_int8_models_and_not_the_keras_originals(wheel):
    size_mib = wheel.stat().st_size / 2**20
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size} bytes = {size_mib:.1f} MiB (limit {MAX_WHEEL_MB} MiB)")
    assert size_mib <= MAX_WHEEL_MB
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        packaged = sorted(n.removeprefix("tumorscope/_models/") for n in names if n.startswith("tumorscope/_models/"))
        assert packaged == SHIPPED
        assert not [n for n in names if n.endswith(".keras")]
        for name in SHIPPED:  # the very bytes of the repository's models/, taken at build time
            shipped = hashlib.sha256(archive.read(f"tumorscope/_models/{name}")).hexdigest()
            assert shipped == hashlib.sha256((REPO / "models" / name).read_bytes()).hexdigest(), name


def test_installed_wheel_predicts_from_anywhere(installed, tmp_path):
    work = tmp_path / "scans"
    work.mkdir()
    shutil.copy(REPO / "examples" / "synthetic_slice.png", work / "scan.png")
    env = _clean_env()
    for backend in ("onnx", "tflite"):
        done = subprocess.run([str(installed / "tumorscope"), "predict", "--json", "--backend", backend, "scan.png"],
                              capture_output=True, text=True, timeout=300, cwd=work, env=env)
        assert done.returncode == 0, done.stderr
        (row,) = json.loads(done.stdout)
        assert row["error"] is None and row["label"] in row["probabilities"], row
        assert row["backend"] == backend
    done = subprocess.run([str(installed / "tumorscope"), "predict", "scan.png"], capture_output=True, text=True,
                          timeout=300, cwd=work, env=env)
    assert done.returncode == 0 and row["label"] in done.stdout and DISCLAIMER in done.stdout


def test_installed_wheel_uses_its_own_models(installed, tmp_path):
    done = subprocess.run([str(installed / "python"), "-m", "tumorscope", "models", "--json"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, env=_clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["source"] == "installed with the package"
    assert Path(report["model_dir"]).is_relative_to(installed.parent.resolve()), report["model_dir"]
    assert len(report["models"]) == 4 and all(m["sha256_matches"] for m in report["models"])
    done = subprocess.run([str(installed / "tumorscope"), "--version"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=_clean_env())
    assert done.stdout.strip() == f"tumorscope, version {__version__}"
