"""`tumorscope predict` and its library: input expansion, per-input errors, exit codes, JSON, overlays, no TF."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tumorscope import DISCLAIMER
from tumorscope.cli import main
from tumorscope.predict import expand_inputs, format_table
from tumorscope.runtime import MODELS_ENV, RESULT_KEYS
from tumorscope.runtime.spec import load_spec, save_spec

REPO = Path(__file__).resolve().parents[1]


def _png(path: Path, size: tuple[int, int] = (80, 96), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    gray = np.zeros(size, np.uint8)
    cv2.circle(gray, (size[1] // 2, size[0] // 2), min(size) // 3, 120, -1)
    gray = np.clip(gray + rng.integers(0, 30, size), 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), gray)
    return path


def _huge_png_header(path: Path) -> Path:
    """A PNG whose header claims 100000 x 100000 pixels (refused before decoding)."""
    data = bytearray(_png(path).read_bytes())
    data[16:24] = struct.pack(">II", 100_000, 100_000)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def model_dir(tiny_exports) -> Path:
    """The folder holding the tiny classifier.int8.* and segmenter.int8.* artifacts."""
    folder = tiny_exports["classifier"]["onnx-int8"].parent
    assert (folder / "segmenter.int8.tflite").is_file()
    return folder


@pytest.fixture()
def batch(tmp_path) -> dict[str, Path]:
    """Two good images in a folder plus one file for every bad-input case."""
    good = tmp_path / "good"
    good.mkdir()
    files = {"a": _png(good / "a.png", seed=1), "b": _png(good / "b.jpg", (120, 100), seed=2)}
    (good / "notes.txt").write_text("skipped: not an image suffix")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.png").write_bytes(b"")
    (bad / "text.jpg").write_text("this is not an image")
    corrupt = _png(bad / "corrupt.png", seed=3)
    corrupt.write_bytes(corrupt.read_bytes()[:60])
    _huge_png_header(bad / "huge.png")
    files.update(good_dir=good, missing=bad / "missing.png", empty=bad / "empty.png", text=bad / "text.jpg",
                 corrupt=corrupt, huge=bad / "huge.png")
    return files


BAD_CASES = {
    "missing": "file not found",
    "empty": "file is empty",
    "text": "not a readable image",
    "corrupt": "not a readable image",
    "huge": "over the 16.8 MP limit",
}


def test_expand_inputs_folders_globs_files(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    for name in ("b.png", "a.JPG", "c.dcm", "skip.txt"):
        (folder / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    got = expand_inputs([folder, str(tmp_path / "f" / "*.png"), tmp_path / "nope.png", tmp_path / "empty",
                         str(tmp_path / "*.xyz")])
    paths = [p for p, _ in got]
    assert paths[:3] == [str(folder / "a.JPG"), str(folder / "b.png"), str(folder / "c.dcm")]
    assert paths.count(str(folder / "b.png")) == 1, "duplicates from the glob are dropped"
    assert paths[3] == str(tmp_path / "nope.png") and got[3][1] is None, "missing files are kept for the analysis"
    assert "folder has no image files" in got[4][1]
    assert "no files match" in got[5][1]
    assert len(got) == 6


def test_cli_batch_reports_each_bad_input_and_keeps_going(model_dir, batch):
    """Fresh interpreter: bad inputs get one-line errors, good ones results, exit code 1."""
    args = [str(batch["good_dir"])] + [str(batch[k]) for k in BAD_CASES]
    done = subprocess.run(
        [sys.executable, "-m", "tumorscope.cli", "predict", *args, "--model-dir", str(model_dir), "--json",
         "--threads", "1"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert done.returncode == 1, done.stderr
    rows = json.loads(done.stdout)
    assert [r["path"] for r in rows] == [str(batch["a"]), str(batch["b"])] + [str(batch[k]) for k in BAD_CASES]
    for row in rows:
        assert tuple(row) == RESULT_KEYS and row["disclaimer"] == DISCLAIMER
    for row in rows[:2]:
        assert row["error"] is None and row["label"] in row["probabilities"] and row["backend"] == "onnx"
        assert 0.0 <= row["tumor_area_pct"] <= 100.0
    assert rows[1]["image_size"] == [120, 100]
    for row, (case, message) in zip(rows[2:], BAD_CASES.items(), strict=True):
        assert message in row["error"], case
        assert "\n" not in row["error"] and row["label"] is None and row["tumor_area_pct"] is None
    assert "Traceback" not in done.stderr


def test_predict_library_runs_without_tensorflow(model_dir, batch):
    script = (
        "import json, sys\n"
        "from tumorscope.predict import expand_inputs, open_pipeline, predict_rows\n"
        f"with open_pipeline({str(model_dir)!r}, 'onnx', 1) as pipe:\n"
        f"    rows = list(predict_rows(expand_inputs([{str(batch['a'])!r}]), pipe))\n"
        "assert rows[0]['error'] is None, rows\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert "onnxruntime" in modules
    assert not [m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx")]
    assert not [m for m in modules if m.startswith(("tumorscope.training", "tumorscope.export", "tumorscope.web"))]


def test_cli_table_with_overlays_and_tflite(model_dir, batch, tmp_path):
    out = tmp_path / "overlays"
    result = CliRunner().invoke(main, ["predict", str(batch["good_dir"]), str(batch["empty"]), "--model-dir",
                                       str(model_dir), "--backend", "tflite", "--overlay-dir", str(out)])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["path", "label", "confidence", "tumor", "%", "input", "error"]
    assert "file is empty" in result.stdout and "3 input(s), 1 failed" in result.stdout
    assert lines[-1] == DISCLAIMER
    written = sorted(p.name for p in out.iterdir())
    assert written == ["a.overlay.png", "b.overlay.png"]
    overlay = cv2.imread(str(out / "b.overlay.png"))
    assert overlay.shape[1] == 100 and overlay.shape[0] > 120


def test_cli_all_good_exits_zero_and_same_stems_do_not_collide(model_dir, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    first, second = _png(tmp_path / "x" / "s.png"), _png(tmp_path / "y" / "s.png", seed=5)
    result = CliRunner().invoke(main, ["predict", str(first), str(second), "--model-dir", str(model_dir),
                                       "--json", "--overlay-dir", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [Path(r["overlay"]).name for r in rows] == ["s.overlay.png", "s-2.overlay.png"]


def test_format_table_marks_missing_values():
    row = dict.fromkeys(RESULT_KEYS)
    row.update(path="x.png", error="x.png: file is empty", disclaimer=DISCLAIMER)
    text = format_table([row])
    assert "x.png" in text and "file is empty" in text and text.endswith(DISCLAIMER)


def _broken_model_dir(model_dir: Path, tmp_path: Path, what: str) -> Path:
    broken = tmp_path / what
    broken.mkdir()
    for name in ("classifier.int8.onnx", "segmenter.int8.onnx"):
        shutil.copy(model_dir / name, broken / name)
        shutil.copy(model_dir / f"{name}.spec.json", broken / f"{name}.spec.json")
    target = broken / "classifier.int8.onnx"
    if what == "mismatch":
        save_spec(load_spec(target).replace(input_size=(64, 64)), target)
    elif what == "corrupt":
        target.write_bytes(b"garbage")
    elif what == "wrong-task":
        shutil.copy(model_dir / "segmenter.int8.onnx", target)
        shutil.copy(model_dir / "segmenter.int8.onnx.spec.json", broken / "classifier.int8.onnx.spec.json")
    return broken


@pytest.mark.parametrize(
    ("what", "message"),
    [("mismatch", "disagrees with the model input shape"), ("corrupt", "cannot load this model"),
     ("wrong-task", "segmenter model, not a classifier")],
)
def test_unusable_models_exit_2_with_one_line(model_dir, batch, tmp_path, what, message):
    broken = _broken_model_dir(model_dir, tmp_path, what)
    result = CliRunner().invoke(main, ["predict", str(batch["a"]), "--model-dir", str(broken)])
    assert result.exit_code == 2
    assert message in result.stderr and "classifier.int8.onnx" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_models_exit_2(tmp_path, batch, monkeypatch):
    monkeypatch.delenv(MODELS_ENV, raising=False)
    result = CliRunner().invoke(main, ["predict", str(batch["a"]), "--model-dir", str(tmp_path)])
    assert result.exit_code == 2 and "missing classifier.int8.onnx, segmenter.int8.onnx" in result.stderr
    result = CliRunner().invoke(main, ["predict", str(batch["a"]), "--model-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "not found" in result.stderr and MODELS_ENV in result.stderr


def test_models_env_is_used_without_model_dir(model_dir, batch, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, str(model_dir))
    result = CliRunner().invoke(main, ["predict", str(batch["a"]), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["error"] is None

